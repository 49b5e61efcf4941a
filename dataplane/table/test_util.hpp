// Helpers shared by the table tests: mDNS responses built with the codec, and
// draining a shard's event ring.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "dataplane/table/events.hpp"
#include "dataplane/table/event_ring.hpp"

namespace updproxy::table::testing {

struct Rr {
    std::string owner;
    uint16_t type;
    uint32_t ttl;
    std::vector<uint8_t> rdata;
    bool flush = false;
};

inline codec::Name name(const std::string& s) {
    auto n = codec::Name::parse(s);
    EXPECT_TRUE(n.ok()) << s;
    return *n;
}

inline std::vector<uint8_t> a(uint8_t last) {
    const uint8_t addr[4] = {192, 0, 2, last};
    return codec::rdata::a(std::span<const uint8_t, 4>(addr, 4));
}

// An mDNS response (QR, AA, ID 0) carrying `rrs` in the answer section.
inline std::vector<uint8_t> response(const std::vector<Rr>& rrs, bool qr = true) {
    std::vector<uint8_t> buf(9000);
    codec::Builder b(buf, codec::BuilderOptions{true, true, 0});
    b.set_flags(qr ? (codec::flag::QR | codec::flag::AA) : 0);
    for (const auto& rr : rrs) {
        const uint16_t cls = codec::rrclass::IN | (rr.flush ? codec::rrclass::MDNS_TOP_BIT : 0);
        const auto s = b.add_rr(codec::Section::answer, name(rr.owner), rr.type, cls, rr.ttl,
                                rr.rdata);
        EXPECT_TRUE(s.ok()) << codec::reason_name(s.reason());
    }
    buf.resize(b.size());
    return buf;
}

struct Ev {
    EventKind kind;
    RemoveCause cause;
    uint16_t link;
    std::string owner;  // presentation, as announced
    uint16_t type;
    uint32_t ttl;
    std::vector<uint8_t> rdata;
};

inline std::vector<Ev> drain(EventRing& ring) {
    std::vector<Ev> out;
    ring.consume([&](std::span<const uint8_t> bytes) {
        auto e = decode_event(bytes);
        EXPECT_TRUE(e.has_value());
        if (!e) return;
        out.push_back({e->h.kind, e->h.cause, e->h.link, e->h.owner_len ? e->owner.to_string() : "",
                       e->h.type, e->h.ttl,
                       std::vector<uint8_t>(e->rdata.begin(), e->rdata.end())});
    });
    return out;
}

}  // namespace updproxy::table::testing
