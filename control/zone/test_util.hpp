// Helpers shared by the zone unit tests: build queries, read responses.
#pragma once

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"
#include "control/zone/zone_file.hpp"
#include "control/zone/zone_store.hpp"

namespace updproxy::control::zone::test {

inline const char* kLabZone = R"(
$ORIGIN lab.example.edu.
$TTL 120
@ 3600 IN SOA ns1 hostmaster 7 3600 600 86400 60
@ 3600 IN NS ns1
ns1 IN A 127.0.0.1
_ipp._tcp IN PTR Printer\032One._ipp._tcp
_ipp._tcp IN PTR dot\.name._ipp._tcp
Printer\032One._ipp._tcp IN SRV 0 0 631 printer1
Printer\032One._ipp._tcp IN TXT "txtvers=1" "rp=ipp/print"
dot\.name._ipp._tcp IN SRV 0 0 631 printer2
dot\.name._ipp._tcp IN TXT ""
printer1 IN A 192.0.2.10
printer1 IN AAAA 2001:db8::10
printer2 IN A 192.0.2.11
_services._dns-sd._udp IN PTR _ipp._tcp
b._dns-sd._udp IN PTR @
)";

inline ZoneFile parse_or_die(const std::string& text) {
    ZoneFileError err;
    auto z = parse_zone_file(text, &err);
    EXPECT_TRUE(z.has_value()) << err.to_string();
    return z ? *z : ZoneFile{};
}

// A store holding the zone files' content (initial commit: their serials).
inline std::unique_ptr<ZoneStore> make_store(const std::vector<std::string>& texts) {
    std::vector<ZoneFile> files;
    std::vector<ZoneConfig> cfgs;
    for (const auto& t : texts) {
        files.push_back(parse_or_die(t));
        cfgs.push_back(files.back().config);
    }
    auto s = std::make_unique<ZoneStore>(cfgs, 1000);
    for (const auto& f : files) {
        for (const auto& r : f.records) EXPECT_TRUE(s->add(r)) << r.owner.to_string();
    }
    s->commit(true);
    return s;
}

inline codec::Name N(const std::string& s) {
    auto n = codec::Name::parse(s);
    EXPECT_TRUE(n.ok()) << s;
    return n.ok() ? *n : codec::Name();
}

struct QueryOpts {
    int edns_size = -1;  // -1: no OPT
    bool dnssec_ok = false;
    uint8_t edns_version = 0;
    uint16_t id = 0x1234;
    uint16_t flags = codec::flag::RD;
    uint16_t qclass = codec::rrclass::IN;
};

inline std::vector<uint8_t> make_query(const std::string& name, uint16_t type, QueryOpts o = {}) {
    std::vector<uint8_t> buf(512);
    codec::Builder b(buf);
    b.set_id(o.id);
    b.set_flags(o.flags);
    b.add_question(N(name), type, o.qclass);
    if (o.edns_size >= 0) {
        b.add_opt(static_cast<uint16_t>(o.edns_size), 0, o.edns_version, o.dnssec_ok);
    }
    buf.resize(b.size());
    return buf;
}

// One record in a comparable text form: "owner TYPE ttl rdata-hex", owner lowercased.
inline std::string rr_text(const codec::RrView& rr) {
    std::vector<uint8_t> rd(70000);
    auto n = rr.rdata_uncompressed(rd, true);
    std::string hex;
    static const char* d = "0123456789abcdef";
    for (size_t i = 0; n.ok() && i < *n; ++i) {
        hex += d[rd[i] >> 4];
        hex += d[rd[i] & 15];
    }
    codec::Name o = rr.owner.to_name().lowercased();
    return o.to_string() + " " + codec::type_name(rr.type) + " " + std::to_string(rr.ttl) + " " + hex;
}

struct Parsed {
    codec::Header h;
    std::vector<uint8_t> wire;
    std::vector<std::string> an, ns, ar;  // in order
    std::set<std::string> an_types, ar_types;  // "owner TYPE"
    bool has_opt = false;
    uint16_t opt_size = 0;
    uint32_t opt_ttl = 0;
};

inline Parsed parse_response(std::span<const uint8_t> wire) {
    Parsed p;
    p.wire.assign(wire.begin(), wire.end());
    auto m = codec::Message::parse(p.wire);
    EXPECT_TRUE(m.ok()) << codec::reason_name(m.reason()) << " at " << m.error().offset;
    if (!m) return p;
    p.h = m->header();
    for (const auto& rr : m->answers()) {
        p.an.push_back(rr_text(rr));
        p.an_types.insert(rr.owner.to_name().lowercased().to_string() + " " + codec::type_name(rr.type));
    }
    for (const auto& rr : m->authority()) p.ns.push_back(rr_text(rr));
    for (const auto& rr : m->additional()) {
        if (rr.type == codec::rrtype::OPT) {
            p.has_opt = true;
            p.opt_size = rr.raw_class;
            p.opt_ttl = rr.ttl;
            continue;
        }
        p.ar.push_back(rr_text(rr));
        p.ar_types.insert(rr.owner.to_name().lowercased().to_string() + " " + codec::type_name(rr.type));
    }
    return p;
}

}  // namespace updproxy::control::zone::test
