// The zones the proxy serves itself: the embedded authoritative service
// (issue 6: answering unicast DNS queries, zone transfer).
//
// The control thread owns a ZoneStore and applies the service model's
// changes to it (the same publish/unpublish stream the UPDATE engine gets).
// Readers never lock: after a batch of changes the control thread calls
// commit(), which bumps the SOA serial of every zone whose content changed,
// records the difference in a bounded history (for IXFR), re-renders the
// affected nodes and publishes a new immutable ZoneSnapshot.
//
// Two ways to read the published snapshot:
//   - snapshot(): a shared_ptr, from any thread (std::atomic<std::shared_ptr>;
//     libstdc++ 12 implements it with a lock bit inside the pointer, so a load
//     may spin for the few instructions of a concurrent store). For holders
//     that need a snapshot for long (a zone transfer) and for tests.
//   - a Reader (one per thread, from make_reader()): RCU-style, for the
//     per-packet path. enter() costs two atomic operations and no reference
//     count (whose shared cache line every worker would fight over);
//     leave() marks a quiescent state. The control thread frees a retired
//     snapshot once every reader has left or entered a newer one.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "codec/name.hpp"
#include "control/update/update_engine.hpp"
#include "control/zone/snapshot.hpp"
#include "control/zone/zone_config.hpp"

namespace updproxy::control::zone {

struct StoreStats {
    uint64_t adds = 0, removes = 0;       // calls that changed the working copy
    uint64_t rejected_outside = 0;        // owner in no served zone
    uint64_t rejected_type = 0;           // SOA, or RDATA that does not fit its type
    uint64_t commits = 0;                 // snapshots published
    uint64_t nodes_rendered = 0;
    uint64_t snapshots_retired = 0, snapshots_freed = 0;
};

class ZoneStore {
public:
    // Zones are fixed for the store's life. Apexes must be distinct.
    explicit ZoneStore(std::vector<ZoneConfig> zones, uint64_t now_unix = 0);
    ~ZoneStore();
    ZoneStore(const ZoneStore&) = delete;
    ZoneStore& operator=(const ZoneStore&) = delete;

    // The zone that holds `owner` (longest apex match), or nullopt.
    std::optional<size_t> zone_of(const codec::Name& owner) const;
    size_t zone_count() const;
    const ZoneConfig& zone_config(size_t i) const;

    // Changes, control thread only; visible to readers after commit().
    // add(): a record already present with another TTL takes the new TTL.
    // False (and counted) when the owner is outside every zone or the type is
    // SOA (the store owns the SOA) or the RDATA does not fit its type.
    bool add(const PubRecord& r);
    bool remove(const PubRecord& r);
    // Publishes a new snapshot if anything changed (serial +1 per changed zone),
    // calls the on_change hooks, and frees retired snapshots no reader holds.
    // `initial`: the content loaded at start-up (a zone file) — published
    // under the configured serial, no history step, no hooks.
    void commit(bool initial = false);
    // Frees retired snapshots that no reader holds any more (commit() does it
    // too); cheap, for the control loop's idle ticks.
    void reclaim();

    // The current snapshot (never null). Any thread.
    std::shared_ptr<const ZoneSnapshot> snapshot() const;
    // Called (control thread) with each zone whose serial changed in commit():
    // the NOTIFY sender hooks here.
    void on_change(std::function<void(const codec::Name& apex, uint32_t serial)> f);

    // The records currently in the working copy of zone `i`, as published
    // (zone files reload by diffing against this). SOA and config NS excluded.
    std::vector<PubRecord> records(size_t zone) const;

    // Per-thread lock-free access to the current snapshot (see above).
    class Reader {
    public:
        ~Reader();
        Reader(const Reader&) = delete;
        Reader& operator=(const Reader&) = delete;
        // The current snapshot; valid until leave() or the next enter().
        const ZoneSnapshot* enter();
        // Quiescent state: the caller holds no pointer from enter().
        void leave();

    private:
        friend class ZoneStore;
        Reader(const ZoneStore* store, size_t slot) : store_(store), slot_(slot) {}
        const ZoneStore* store_;
        size_t slot_;
    };
    // At most kMaxReaders at once; nullptr beyond. The store must outlive it.
    static constexpr size_t kMaxReaders = 64;
    std::unique_ptr<Reader> make_reader();

    StoreStats stats() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace updproxy::control::zone
