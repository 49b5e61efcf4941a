#include "codec/types.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace updproxy::codec {

namespace {

constexpr std::array<std::pair<uint16_t, std::string_view>, 22> kTypes{{
    {rrtype::A, "A"},         {rrtype::NS, "NS"},         {rrtype::CNAME, "CNAME"},
    {rrtype::SOA, "SOA"},     {rrtype::PTR, "PTR"},       {rrtype::HINFO, "HINFO"},
    {rrtype::MX, "MX"},       {rrtype::TXT, "TXT"},       {rrtype::AAAA, "AAAA"},
    {rrtype::SRV, "SRV"},     {rrtype::OPT, "OPT"},       {rrtype::NSEC, "NSEC"},
    {rrtype::TKEY, "TKEY"},   {rrtype::TSIG, "TSIG"},     {rrtype::IXFR, "IXFR"},
    {rrtype::AXFR, "AXFR"},   {rrtype::ANY, "ANY"},       {43, "DS"},
    {46, "RRSIG"},            {48, "DNSKEY"},             {50, "NSEC3"},
    {65, "HTTPS"},
}};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
        if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
        if (x != y) return false;
    }
    return true;
}

std::optional<uint16_t> numeric_suffix(std::string_view s, std::string_view prefix) {
    if (s.size() <= prefix.size() || !iequals(s.substr(0, prefix.size()), prefix)) {
        return std::nullopt;
    }
    unsigned v = 0;
    auto digits = s.substr(prefix.size());
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || p != digits.data() + digits.size() || v > 0xFFFF) {
        return std::nullopt;
    }
    return static_cast<uint16_t>(v);
}

}  // namespace

std::string type_name(uint16_t type) {
    for (const auto& [code, name] : kTypes) {
        if (code == type) return std::string(name);
    }
    return "TYPE" + std::to_string(type);
}

std::string class_name(uint16_t cls) {
    switch (cls) {
        case rrclass::IN: return "IN";
        case rrclass::CH: return "CH";
        case rrclass::NONE: return "NONE";
        case rrclass::ANY: return "ANY";
        default: return "CLASS" + std::to_string(cls);
    }
}

std::string_view opcode_name(uint8_t op) {
    switch (op) {
        case opcode::QUERY: return "QUERY";
        case 1: return "IQUERY";
        case 2: return "STATUS";
        case opcode::NOTIFY: return "NOTIFY";
        case opcode::UPDATE: return "UPDATE";
        default: return "RESERVED";
    }
}

std::string_view rcode_name(uint16_t rc) {
    switch (rc) {
        case rcode::NOERROR: return "NOERROR";
        case rcode::FORMERR: return "FORMERR";
        case rcode::SERVFAIL: return "SERVFAIL";
        case rcode::NXDOMAIN: return "NXDOMAIN";
        case rcode::NOTIMP: return "NOTIMP";
        case rcode::REFUSED: return "REFUSED";
        case rcode::YXDOMAIN: return "YXDOMAIN";
        case rcode::YXRRSET: return "YXRRSET";
        case rcode::NXRRSET: return "NXRRSET";
        case rcode::NOTAUTH: return "NOTAUTH";
        case rcode::NOTZONE: return "NOTZONE";
        case rcode::BADSIG: return "BADSIG";
        case rcode::BADKEY: return "BADKEY";
        case rcode::BADTIME: return "BADTIME";
        case rcode::BADTRUNC: return "BADTRUNC";
        default: return "RESERVED";
    }
}

std::optional<uint16_t> type_from_name(std::string_view s) {
    for (const auto& [code, name] : kTypes) {
        if (iequals(s, name)) return code;
    }
    return numeric_suffix(s, "TYPE");
}

std::optional<uint16_t> class_from_name(std::string_view s) {
    if (iequals(s, "IN")) return rrclass::IN;
    if (iequals(s, "CH")) return rrclass::CH;
    if (iequals(s, "NONE")) return rrclass::NONE;
    if (iequals(s, "ANY")) return rrclass::ANY;
    return numeric_suffix(s, "CLASS");
}

}  // namespace updproxy::codec
