#include "control/record_format.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/present.hpp"
#include "codec/types.hpp"

namespace updproxy::control {

std::string rdata_text(uint16_t type, uint16_t rrclass, std::span<const uint8_t> rdata) {
    // One presentation code path: wrap the record in a message and let the
    // codec print it as it prints everything else.
    std::vector<uint8_t> buf(rdata.size() + 600);
    codec::Builder b(buf, codec::BuilderOptions{false, false, 0});
    b.set_flags(codec::flag::QR);
    if (!b.add_rr(codec::Section::answer, codec::Name(), type, rrclass, 0, rdata).ok()) {
        std::string s = "\\# " + std::to_string(rdata.size());
        static constexpr char kHex[] = "0123456789abcdef";
        if (!rdata.empty()) s += ' ';
        for (uint8_t c : rdata) {
            s += kHex[c >> 4];
            s += kHex[c & 15];
        }
        return s;
    }
    auto m = codec::Message::parse(b.wire());
    if (!m) return "; unprintable RDATA";
    std::string out;
    codec::append_rdata(out, *m->answers().begin());
    return out;
}

std::string zone_line(const codec::Name& owner, uint32_t ttl, uint16_t rrclass, uint16_t type,
                      std::span<const uint8_t> rdata) {
    std::string s = owner.to_string();
    s += ' ';
    s += std::to_string(ttl);
    s += ' ';
    s += codec::class_name(rrclass);
    s += ' ';
    s += codec::type_name(type);
    s += ' ';
    s += rdata_text(type, rrclass, rdata);
    return s;
}

std::string address_text(const uint8_t* ip16) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    char buf[INET6_ADDRSTRLEN];
    if (std::memcmp(ip16, kMapped, 12) == 0) {
        inet_ntop(AF_INET, ip16 + 12, buf, sizeof buf);
    } else {
        inet_ntop(AF_INET6, ip16, buf, sizeof buf);
    }
    return buf;
}

}  // namespace updproxy::control
