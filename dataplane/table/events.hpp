// What a shard tells the control plane, as bytes in an EventRing.
//
// An event is self-contained (the control plane never reads a shard's memory):
// a fixed header, then the owner name in uncompressed wire form, then the
// RDATA as announced (uncompressed, original letter case).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "codec/name.hpp"

namespace updproxy::table {

enum class EventKind : uint8_t {
    add = 1,          // a record appeared
    remove = 2,       // goodbye + 1 s, cache-flush + 1 s, or TTL expiry
    ttl_change = 3,   // same RDATA, new TTL
    refresh_due = 4,  // 5-10 s before expiry: ask the host (draft §4.2)
    resync_begin = 5, // a full re-read follows: forget this shard's records
    resync_record = 6,// one record of the re-read (like add)
    resync_end = 7,
};

enum class RemoveCause : uint8_t {
    none = 0,
    goodbye = 1,
    cache_flush = 2,
    expired = 3,
    limit = 4,
    link_removed = 5,  // a reload removed the record's link (Shard::request_purge)
};

// IPv4 addresses are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d).
struct HostAddr {
    std::array<uint8_t, 16> ip{};
    std::array<uint8_t, 6> mac{};
    bool v4() const {
        static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        return std::memcmp(ip.data(), prefix, 12) == 0;
    }
    static HostAddr from_v4(const uint8_t* a, const uint8_t* mac = nullptr);
    static HostAddr from_v6(const uint8_t* a, const uint8_t* mac = nullptr);
    bool operator==(const HostAddr&) const = default;
};

#pragma pack(push, 1)
struct EventHeader {
    EventKind kind;
    RemoveCause cause;
    uint16_t shard;
    uint16_t link;
    uint16_t type;
    uint16_t rrclass;     // without the cache-flush bit
    uint8_t cache_flush;  // the last announcement carried it
    uint8_t owner_len;
    uint32_t ttl;         // as announced (for remove: the last TTL)
    uint32_t record_id;   // shard-local, stable while the record lives
    uint64_t time_ms;     // shard clock when the event was made
    uint64_t expire_ms;   // when the record expires if not refreshed
    HostAddr host;
    uint16_t rdlen;
};
#pragma pack(pop)

struct EventView {
    EventHeader h;
    codec::Name owner;
    std::span<const uint8_t> rdata;
};

// Decodes one message from an EventRing; nullopt if it is malformed (only a
// bug can make one).
std::optional<EventView> decode_event(std::span<const uint8_t> bytes);

const char* event_kind_name(EventKind k);

}  // namespace updproxy::table
