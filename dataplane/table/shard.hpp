// One worker's part of the service table: what it believes exists on each
// link, kept by the RFC 6762 cache rules (written here and nowhere else).
//
//   new record                    -> add event
//   same RDATA again              -> deadline refreshed, no event
//   same RDATA, new TTL           -> ttl_change event
//   TTL 0 (goodbye)               -> removed 1 s later (§10.1) -> remove event
//   cache-flush bit               -> records of the RRset not seen in the last
//                                    second are removed 1 s later (§10.2)
//   TTL runs out                  -> remove event
//   5-10 s before expiry          -> refresh_due event (draft §4.2), once
//
// Threading: exactly one thread (the worker that owns the shard) calls
// everything except request_resync(), which any thread may call. Nobody else
// reads the shard's memory: the control plane learns everything from events,
// and asks for a full re-read when it lost some (ring overflow, restart).
//
// Cost: a refresh (the common case: announcements repeat) is one hash of the
// owner, type, class and RDATA, one probe of an open-addressing index, one
// compare and a few stores — no allocation, no lock, no syscall. Timers live
// in a binary heap whose entries are re-armed lazily: a refresh only moves the
// record's deadline; the heap sees it when the old deadline comes up.
//
// Time is milliseconds on a monotonic clock the caller reads once per burst
// (and a capture's timestamps during replay).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <unordered_map>
#include <vector>

#include "codec/message.hpp"
#include "dataplane/table/event_ring.hpp"
#include "dataplane/table/events.hpp"

namespace updproxy::table {

struct ShardConfig {
    uint16_t shard_id = 0;
    uint16_t link_count = 1;
    uint32_t max_records = 1u << 20;         // in this shard, all links together
    uint32_t max_records_per_link = 1u << 16;  // in this shard
    // Refresh queries go out this long before expiry: 5 s + per-record jitter
    // in [0, 5 s) (draft §4.2).
    uint32_t refresh_lead_min_ms = 5000;
    uint32_t refresh_lead_jitter_ms = 5000;
    // Records whose announced TTL is shorter than this get no refresh_due.
    uint32_t refresh_min_ttl_s = 15;
};

// Why a record or message was not taken; each is a metrics label.
enum class Refusal : uint8_t {
    not_response,      // QR=0: queries and probes are never a source (draft §4.3)
    bad_opcode,        // opcode != 0
    bad_source_port,   // not from port 5353 (RFC 6762 §11 ... §6)
    legacy_unicast,    // sent to a port other than 5353 (RFC 6762 §6.7)
    link_limit,
    global_limit,
    damaged_record,    // tolerated NSEC quirk: record skipped
    rdata_too_large,
    count_,
};
const char* refusal_name(Refusal r);

struct ShardCounters {
    uint64_t messages = 0;       // responses ingested
    uint64_t records_seen = 0;   // answer + additional records looked at
    uint64_t adds = 0;
    uint64_t refreshes = 0;
    uint64_t ttl_changes = 0;
    uint64_t goodbyes = 0;
    uint64_t flushes = 0;        // records scheduled for removal by cache-flush
    uint64_t removes = 0;
    uint64_t expiries = 0;
    uint64_t refresh_due = 0;
    uint64_t events_dropped = 0;  // ring full
    uint64_t resyncs = 0;
    uint64_t refused[static_cast<int>(Refusal::count_)] = {};
};

// Where a message came from. Ports are host order.
struct Origin {
    uint16_t link = 0;
    HostAddr host;
    uint16_t src_port = 5353;
    uint16_t dst_port = 5353;
};

class Shard {
public:
    // `ring` may be null (tests that only look at the table).
    Shard(const ShardConfig& cfg, EventRing* ring);
    ~Shard();
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;

    // Takes the records of one parsed mDNS message. Returns the number of
    // records added or refreshed.
    uint32_t ingest(const codec::Message& m, const Origin& o, uint64_t now_ms);

    // Runs timers up to `now_ms` (removals, expiries, refresh_due) and
    // continues a pending re-read. Call once per burst; cheap when idle.
    void advance(uint64_t now_ms);

    // Any thread: ask for every live record to be sent again, bracketed by
    // resync_begin/resync_end. Carried out by the owner in advance().
    void request_resync() { resync_requested_.fetch_add(1, std::memory_order_relaxed); }

    // Publishes events to the consumer (EventRing::flush); call once per burst.
    void flush_events() {
        if (ring_) ring_->flush();
    }

    size_t size() const { return live_; }
    size_t link_size(uint16_t link) const { return link < link_live_.size() ? link_live_[link] : 0; }
    const ShardCounters& counters() const { return c_; }
    const ShardConfig& config() const { return cfg_; }

    struct RecordInfo {
        uint16_t link;
        const codec::Name* owner;
        uint16_t type, rrclass;
        uint32_t ttl;
        bool cache_flush;
        bool removal_pending;
        uint64_t last_seen_ms, expire_ms, refresh_due_ms;
        std::span<const uint8_t> rdata;
        const HostAddr* host;
        uint32_t id;
    };
    // Owner thread only (tests, replay's final table dump).
    void for_each(const std::function<void(const RecordInfo&)>& f) const;

    // Bytes this shard holds beside the RDATA itself (index, heap, records,
    // names, hosts), for the memory target.
    size_t overhead_bytes() const;

private:
    struct Record;
    struct Slot;
    struct HeapEntry;
    struct NameEntry;
    struct HostEntry;
    struct HostHash {
        size_t operator()(const HostAddr& a) const {
            uint64_t x, y;
            __builtin_memcpy(&x, a.ip.data(), 8);
            __builtin_memcpy(&y, a.ip.data() + 8, 8);
            return static_cast<size_t>((x * 0x9E3779B97F4A7C15ULL) ^ y ^ a.mac[5]);
        }
    };

    uint32_t ingest_record(const codec::RrView& rr, const Origin& o, uint64_t now_ms);
    static uint64_t record_key_hash(uint64_t owner_hash, uint16_t link, uint16_t type,
                                    uint16_t cls, const uint8_t* canon, size_t n);
    uint32_t find(uint64_t hash, uint16_t link, uint16_t type, uint16_t cls,
                  const uint8_t* owner_lc, size_t olen, const uint8_t* canon, size_t n) const;
    uint32_t add(uint64_t hash, uint64_t owner_hash, const codec::RrView& rr, const Origin& o,
                 uint64_t now_ms);
    void refresh(uint32_t idx, const codec::RrView& rr, const Origin& o, uint64_t now_ms);
    void flush_rrset(uint32_t idx, uint64_t now_ms);
    void schedule_removal(uint32_t idx, uint64_t now_ms, RemoveCause cause);
    void erase(uint32_t idx, RemoveCause cause, uint64_t now_ms);

    // index of records by full key
    void index_insert(uint64_t hash, uint32_t idx);
    void index_erase(uint32_t hash_lo, uint32_t idx);
    void index_grow();
    // RRsets (link, owner, type, class) -> doubly linked member list, for §10.2
    uint32_t rrset_key(const Record& r) const;
    size_t rrset_slot(const Record& r, uint32_t key) const;
    uint32_t rrset_head_of(uint32_t idx) const;
    void rrset_link(uint32_t idx);
    void rrset_unlink(uint32_t idx);
    // owner names and announcing hosts, interned and ref-counted
    uint32_t intern_name(codec::NameView n, uint64_t h);
    void release_name(uint32_t id);
    uint32_t intern_host(const HostAddr& a);
    void release_host(uint32_t id);
    // timers
    void set_base(uint64_t now_ms);
    uint64_t expire_ms(const Record& r) const;
    uint64_t refresh_due_ms(const Record& r) const;
    uint64_t next_deadline(const Record& r) const;
    uint32_t to_tick(uint64_t ms) const;
    void arm(uint32_t idx);
    void heap_pop();
    void heap_sift_down(size_t i);
    void heap_sift_up(size_t i);
    // events
    bool emit(EventKind k, uint32_t idx, uint64_t now_ms, RemoveCause cause = RemoveCause::none,
              bool count_drop = true);
    bool emit_marker(EventKind k, uint64_t now_ms);
    void continue_resync(uint64_t now_ms);

    ShardConfig cfg_;
    EventRing* ring_;
    ShardCounters c_;
    std::vector<uint8_t> scratch_;  // key buffer: owner + canonical RDATA

    std::vector<Record> records_;
    std::vector<uint32_t> free_records_;
    size_t live_ = 0;
    std::vector<uint32_t> link_live_;

    std::vector<Slot> index_;  // open addressing, linear probing, backward-shift delete
    size_t index_used_ = 0;
    std::vector<Slot> rrsets_;
    size_t rrsets_used_ = 0;
    std::vector<HeapEntry> heap_;  // min-heap by tick, re-armed lazily

    std::vector<NameEntry> names_;
    std::vector<uint32_t> free_names_;
    std::vector<Slot> name_index_;
    size_t name_index_used_ = 0;

    std::vector<HostEntry> hosts_;
    std::vector<uint32_t> free_hosts_;
    std::unordered_map<HostAddr, uint32_t, HostHash> host_index_;
    uint32_t last_host_ = 0xFFFFFFFFu;

    uint64_t base_ms_ = 0;
    bool base_set_ = false;

    std::atomic<uint64_t> resync_requested_{0};
    uint64_t resync_done_ = 0;
    bool resync_active_ = false;
    uint32_t resync_cursor_ = 0;
};

}  // namespace updproxy::table
