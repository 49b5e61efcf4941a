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
// Cost: a refresh (the common case: announcements repeat) builds the key
// (each name of a message lowercased once, 8 bytes at a time - the PTR
// target is the SRV/TXT owner, the SRV target the A/AAAA owner; the owner
// hashed once per distinct owner; canonical RDATA; one hash), probes one
// open-addressing index slot, checks
// one record (owner by interned-name reference, RDATA by bytes) and does a
// few stores - no allocation, no lock, no syscall. The other records of the
// same owner in the message are found in that owner's short list of records
// without a hash or an index probe. All records go through a software
// pipeline (ingest_burst: across the whole burst) that prefetches index
// slots, records with their RDATA, owner names, hosts and RRset neighbours a
// few records ahead, so memory latency overlaps with work instead of adding
// up. Timers live in a binary heap whose entries are re-armed lazily: a
// refresh only moves the record's deadline; the heap sees it when the old
// deadline comes up.
//
// Memory (beside the RDATA): a 48-byte record header followed by its RDATA
// in an arena (4-byte granular, no malloc per record, empty chunks given
// back), a 4-byte id, an 8-byte index slot and an 8-byte heap entry; owner
// names interned per (link, owner) with a 12-byte head, and announcing hosts,
// in the same arena next to the records that brought them; RRsets are found
// through the owner's list of records, not a table of their own.
//
// Time is milliseconds on a monotonic clock the caller reads once per burst
// (and a capture's timestamps during replay).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "codec/message.hpp"
#include "dataplane/table/arena.hpp"
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
    uint64_t purged = 0;          // records dropped because their link was removed
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
    // records added or refreshed. (A burst of one.)
    uint32_t ingest(const codec::Message& m, const Origin& o, uint64_t now_ms);

    // Takes the records of several parsed messages (an RX burst) exactly as
    // ingest() on each in turn would - same table, events, counters - but
    // with the memory accesses of all their records overlapped. origins[i] is
    // where msgs[i] came from (the spans must be the same length; extra
    // entries of the longer one are ignored). Returns the number of records
    // added or refreshed.
    uint32_t ingest_burst(std::span<const codec::Message> msgs, std::span<const Origin> origins,
                          uint64_t now_ms);

    // Runs timers up to `now_ms` (removals, expiries, refresh_due) and
    // continues a pending re-read. Call once per burst; cheap when idle.
    void advance(uint64_t now_ms);

    // Any thread: ask for every live record to be sent again, bracketed by
    // resync_begin/resync_end. Carried out by the owner in advance().
    void request_resync() { resync_requested_.fetch_add(1, std::memory_order_relaxed); }

    // Any thread: drop every record of `link` (a reload removed it), each
    // with a remove event (cause link_removed), at the owner's next
    // advance(), before any re-read that call starts. False when `link` is
    // not below the configured link_count. Records of the link that arrive
    // afterwards are kept: the caller stops sending them first (the link is
    // a tombstone in the dataplane's link table).
    bool request_purge(uint16_t link);

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
    struct NameHead;
    struct HostEntry;
    struct HeapEntry;
    struct Item;
    struct Group;
    struct MsgCtx;
    struct Batch;

    // ingest pipeline
    void stage_record(const codec::Message& m, const codec::RrView& rr, const Origin& o,
                      uint64_t now_ms, uint32_t& taken, bool& msg_open);
    void stage_b(Item& it);
    void stage_c(const Item& it);
    uint32_t drain(uint64_t now_ms);
    uint32_t apply(Item& it, uint64_t now_ms);
    uint32_t key_hash(const Item& it) const;
    uint32_t find(const Item& it, Group& g) const;
    uint32_t walk(const Item& it, const NameHead& h) const;
    uint32_t add(const Item& it, Group& g, MsgCtx& c, uint64_t now_ms);
    void refresh(uint32_t ref, const codec::RrView& rr, MsgCtx& c, uint64_t now_ms);
    void flush_rrset(uint32_t ref, uint64_t now_ms);
    void schedule_removal(uint32_t ref, uint64_t now_ms, RemoveCause cause);
    void erase(uint32_t ref, RemoveCause cause, uint64_t now_ms);

    // records (in the arena, named by reference), their ids, owner names
    // (interned per (link, owner), with the list of their records), hosts
    Record& rec(uint32_t ref) const;
    uint32_t& id_ref(uint32_t id) const;
    uint32_t alloc_id();
    NameHead* name_head(uint32_t ref) const;
    uint32_t lookup_name(const Group& g) const;
    uint32_t new_name(const Group& g, const codec::RrView& rr);
    void release_name(uint32_t ref);
    static uint32_t host_hash(const HostAddr& a);
    HostEntry* host_entry(uint32_t ref) const;
    uint32_t intern_host(MsgCtx& c);
    void release_host(uint32_t ref);
    // timers
    void set_base(uint64_t now_ms);
    uint64_t expire_ms(const Record& r) const;
    uint64_t refresh_due_ms(const Record& r) const;
    uint64_t next_deadline(const Record& r) const;
    uint32_t to_tick(uint64_t ms) const;
    void arm(uint32_t ref);
    void heap_pop();
    void heap_sift_down(size_t i);
    void heap_sift_up(size_t i);
    // events
    bool emit(EventKind k, uint32_t ref, uint64_t now_ms, RemoveCause cause = RemoveCause::none,
              bool count_drop = true);
    bool emit_marker(EventKind k, uint64_t now_ms);
    void continue_resync(uint64_t now_ms);
    void run_purges(uint64_t now_ms);

    ShardConfig cfg_;
    EventRing* ring_;
    ShardCounters c_;
    std::unique_ptr<Batch> batch_;  // the ingest pipeline's state and key bytes

    Arena arena_;             // records with their RDATA, owner names, hosts
    size_t rdata_bytes_ = 0;  // of it, live RDATA
    std::vector<uint32_t*> id_chunks_;  // record id -> arena reference (0 = free id)
    uint32_t id_top_ = 0;               // ids handed out so far
    std::vector<uint32_t> free_ids_;
    size_t live_ = 0;
    std::vector<uint32_t> link_live_;

    OpenIndex index_;       // record key hash -> record
    OpenIndex name_index_;  // (link, lowercased owner) hash -> name
    OpenIndex host_index_;  // address hash -> host
    uint32_t hosts_gen_ = 0;  // bumped when a host is interned
    std::vector<HeapEntry> heap_;  // min-heap by tick, re-armed lazily

    uint64_t base_ms_ = 0;
    bool base_set_ = false;

    std::atomic<uint64_t> resync_requested_{0};
    // request_purge(): a flag per link, and a count of requests so the owner
    // looks at the flags only when one came.
    std::unique_ptr<std::atomic<bool>[]> purge_link_;
    std::atomic<uint64_t> purge_requested_{0};
    uint64_t purge_done_ = 0;
    uint64_t resync_done_ = 0;
    bool resync_active_ = false;
    uint32_t resync_cursor_ = 0;
};

}  // namespace updproxy::table
