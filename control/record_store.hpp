// The control plane's mirror of every shard: what the links hold right now,
// merged across workers.
//
// Records reach the control plane only as events (table::EventView). A
// record can sit in more than one shard at once (packets of one host can
// reach two workers when the NIC's RSS cannot hash on the source alone), so
// the store counts the shards that hold each record and reports a record as
// added when the first shard has it and removed when the last lets it go.
// A shard's re-read (resync_begin ... resync_end) replaces everything that
// shard said before, so a dropped event is repaired by the next re-read.
//
// Single-threaded: the control thread applies events; readers on other
// threads (telemetry) take `mutex()`.
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <array>
#include <string>
#include <unordered_map>
#include <vector>

#include "codec/name.hpp"
#include "dataplane/table/events.hpp"

namespace updproxy::control {

inline constexpr size_t kMaxShards = 64;

struct RecordKey {
    uint16_t link = 0;
    std::string owner;  // lowercased uncompressed wire form
    uint16_t type = 0;
    uint16_t rrclass = 0;
    std::string rdata;  // canonical: names inside lowercased (RFC 4034 §6.2)
    auto operator<=>(const RecordKey&) const = default;
};

struct Record {
    codec::Name owner;  // as announced
    uint16_t link = 0;
    uint16_t type = 0;
    uint16_t rrclass = 0;
    uint32_t ttl = 0;
    std::vector<uint8_t> rdata;  // as announced (uncompressed)
    table::HostAddr host;
    bool cache_flush = false;
    uint64_t expire_ms = 0;
    std::bitset<kMaxShards> shards;
};

enum class Change : uint8_t { none, added, removed, ttl_changed, refresh_due };

struct Applied {
    Change change = Change::none;
    const RecordKey* key = nullptr;  // valid until the next apply()
    const Record* record = nullptr;  // for removed: the record as it was (until next apply)
};

// The canonical form of RDATA for comparison (names lowercased, except
// NSEC's per RFC 6840 §5.1); other types unchanged.
std::string canonical_rdata(uint16_t type, std::span<const uint8_t> rdata);
RecordKey make_key(uint16_t link, const codec::Name& owner, uint16_t type, uint16_t rrclass,
                   std::span<const uint8_t> rdata);

class RecordStore {
public:
    // Applies one event; `out` receives what changed for the union of shards
    // (a resync_end can remove several records: all are appended to `out`).
    void apply(const table::EventView& e, std::vector<Applied>* out);

    size_t size() const { return records_.size(); }
    size_t link_size(uint16_t link) const;
    const std::map<RecordKey, Record>& records() const { return records_; }
    const Record* find(const RecordKey& k) const;
    // The records one host announced on one link (for refresh queries that
    // ask a host for everything of its that is about to expire).
    using HostKey = std::pair<uint16_t, std::array<uint8_t, 16>>;
    const std::set<RecordKey>* by_host(uint16_t link, const std::array<uint8_t, 16>& ip) const;
    std::mutex& mutex() const { return mu_; }

private:
    void add_from(uint16_t shard, uint32_t id, const table::EventView& e, std::vector<Applied>* out);
    void drop_from(uint16_t shard, uint32_t id, std::vector<Applied>* out);

    void index_host(const RecordKey& k, const Record& r, bool add);

    std::map<RecordKey, Record> records_;
    std::map<HostKey, std::set<RecordKey>> hosts_;
    // (shard, shard-local record id) -> key
    std::vector<std::unordered_map<uint32_t, RecordKey>> ids_ =
        std::vector<std::unordered_map<uint32_t, RecordKey>>(kMaxShards);
    // During a shard's resync: the ids it had before, not yet re-confirmed.
    std::vector<std::optional<std::unordered_map<uint32_t, RecordKey>>> stale_ =
        std::vector<std::optional<std::unordered_map<uint32_t, RecordKey>>>(kMaxShards);
    std::vector<Record> removed_;  // keeps removed records alive for Applied
    std::vector<RecordKey> removed_keys_;
    mutable std::mutex mu_;
};

}  // namespace updproxy::control
