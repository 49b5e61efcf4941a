#include "dataplane/table/shard.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "dataplane/table/ascii8.hpp"
#include "dataplane/table/fast_hash.hpp"

namespace updproxy::table {

using codec::Message;
using codec::RrView;
using codec::Section;

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;
static_assert(kNone == OpenIndex::kEmpty);
// Timer ticks are 1/16 s: 32 bits of them last 8.5 years, and 62.5 ms is far
// finer than any deadline here (1 s goodbye, 5-10 s refresh lead).
constexpr uint64_t kTickMs = 64;

// Record ids (events, timer heap, re-read cursor) map to arena references
// through a table in chunks of 4096 (16 KiB): never copied when it grows.
constexpr unsigned kIdChunkShift = 12;
constexpr uint32_t kIdChunk = 1u << kIdChunkShift;

// The ingest pipeline (see "ingest" below): each record staged moves the one
// kDistB behind it through stage B, the one kDistC behind through stage C
// and the one kDistD behind through stage D. The rings hold the records,
// owner groups and messages not yet through stage D. Key bytes (lowercased
// owners, canonical RDATA of types that hold names) go to a scratch buffer,
// emptied (after draining the pipeline) when it could not take one more
// worst-case record.
constexpr uint32_t kDistB = 6, kDistC = 12, kDistD = 18;
constexpr uint32_t kRing = 64;
constexpr uint32_t kMaxGroupSearch = 32;  // owners of one message looked at
// A record not through stage D uses a group at most kMaxGroupSearch behind
// the newest when it was staged, and at most kDistD records were staged since.
static_assert(kRing >= kMaxGroupSearch + kDistD + 2 && (kRing & (kRing - 1)) == 0);
static_assert(kDistB < kDistC && kDistC < kDistD);

// A record whose owner group is already known (an earlier record of the
// message found or added the owner name) is looked for in the owner's list of
// records when that list is at most this long, instead of through the index.
constexpr uint32_t kWalkMax = 8;
// Stage B prefetches this much past a candidate record and its RDATA: a
// device's records, owner names and host are allocated one after another,
// so what stage C and D read next is usually there (one memory round trip
// less per record; measured best at 192 bytes).
constexpr size_t kAhead = 192;
constexpr size_t kKeyAlign = 8;
// One record's key bytes at most: an owner and the canonical RDATA, each with
// the 7 bytes flatten_name_lower may write past it, aligned.
constexpr size_t kItemMax =
    codec::kMaxNameWire + kKeyAlign + 0xFFFF + 2 * codec::kMaxNameWire + kKeyAlign;
constexpr size_t kScratch = 2 * kItemMax;

constexpr uint64_t kNameSeed = 0x5157;
constexpr uint64_t kHostSeed = 0x4057;

enum Flags : uint8_t {
    kLive = 1,
    kCacheFlush = 2,
    kPendingRemoval = 4,
    kRefreshSent = 8,
};

uint64_t name_seed(uint16_t link) {
    return kNameSeed + (uint64_t{link} + 1) * 0x9E3779B97F4A7C15ULL;
}

uint64_t record_seed(uint64_t owner_hash, uint16_t type, uint16_t cls) {
    return owner_hash ^ hash_mix((uint64_t{type} << 16 | cls) + 0x9E37);
}

// Types whose RDATA holds a name the codec expands (RrView::rdata_uncompressed);
// the RDATA of every other type is its own uncompressed and canonical form.
bool rdata_has_names(uint16_t type) {
    switch (type) {
        case codec::rrtype::NS:
        case codec::rrtype::CNAME:
        case codec::rrtype::PTR:
        case codec::rrtype::MX:
        case codec::rrtype::SRV:
        case codec::rrtype::SOA:
        case codec::rrtype::NSEC:
            return true;
        default:
            return false;
    }
}

// Where the name of a one-name RDATA starts: that part compares
// case-insensitively (RFC 4343), the fixed fields before it exactly.
// SIZE_MAX: not a one-name RDATA (SOA: see rdata_equal; NSEC's next name is
// not lowercased, RFC 6840 §5.1).
size_t name_offset(uint16_t type) {
    switch (type) {
        case codec::rrtype::PTR:
        case codec::rrtype::CNAME:
        case codec::rrtype::NS:
            return 0;
        case codec::rrtype::MX:
            return 2;
        case codec::rrtype::SRV:
            return 6;
        default:
            return SIZE_MAX;
    }
}

// `canon` is the canonical form (RrView::rdata_uncompressed(.., true)),
// `stored` the form first announced.
bool rdata_equal(uint16_t type, const uint8_t* stored, const uint8_t* canon, size_t n) {
    if (type == codec::rrtype::SOA && n >= 20) {
        // Two names, lowercased in the canonical form, then 20 bytes of
        // numbers that are not.
        return equal_folded(stored, canon, n - 20) &&
               std::memcmp(stored + n - 20, canon + n - 20, 20) == 0;
    }
    const size_t from = name_offset(type);
    if (from == SIZE_MAX || from >= n) return std::memcmp(stored, canon, n) == 0;
    return std::memcmp(stored, canon, from) == 0 &&
           equal_folded(stored + from, canon + from, n - from);
}

inline void prefetch_lines(const void* p, size_t n, size_t max_lines) {
    auto a = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63};
    const auto end = reinterpret_cast<uintptr_t>(p) + n;
    for (size_t k = 0; k < max_lines && a < end; ++k, a += 64) {
        __builtin_prefetch(reinterpret_cast<const void*>(a));
    }
}

}  // namespace

// A record: 48 bytes in the arena, followed by its RDATA as first announced
// (uncompressed, original case). A device's records, owner names and host
// entry are allocated one after the other, so a refresh finds them in a few
// neighbouring cache lines.
struct Shard::Record {
    uint32_t seen_lo, seen_hi;  // last_seen_ms (two halves: the arena is 4-byte aligned)
    uint32_t id;                // this record's id
    uint32_t owner;             // arena reference of the NameHead: link and owner name
    uint32_t host;              // arena reference of the HostEntry
    uint32_t prev;              // the other records of the same (link, owner),
    uint32_t next;              // doubly linked: the RRset's members are among them
    uint32_t ttl;
    uint32_t hash;              // low 32 bits of the key hash: index home, refresh jitter
    uint32_t heap_tick;         // tick of this record's armed heap entry; 0 = none
    uint16_t type;
    uint16_t rrclass;
    uint16_t rdlen;
    uint8_t flags;
    RemoveCause cause;

    uint64_t last_seen() const { return (uint64_t{seen_hi} << 32) | seen_lo; }
    void set_last_seen(uint64_t ms) {
        seen_lo = static_cast<uint32_t>(ms);
        seen_hi = static_cast<uint32_t>(ms >> 32);
    }
    uint8_t* rdata() { return reinterpret_cast<uint8_t*>(this + 1); }
    const uint8_t* rdata() const { return reinterpret_cast<const uint8_t*>(this + 1); }
};

// In the arena, followed by the owner name in uncompressed wire form, case as
// first announced. One per (link, owner) in use.
struct Shard::NameHead {
    uint32_t refs;  // records with this owner on this link
    uint32_t head;  // first of them (Record::prev/next)
    uint16_t link;
    uint8_t len;
    uint8_t pad;
    uint8_t* wire() { return reinterpret_cast<uint8_t*>(this + 1); }
};

// In the arena: an announcing address, interned.
struct Shard::HostEntry {
    HostAddr addr;
    uint32_t refs;
};

struct Shard::HeapEntry {
    uint32_t tick;
    uint32_t id;
};

// One record in the pipeline: its key, built (and for a leader, hashed) in
// stage A. The leader is the first record of its owner group in the message;
// a follower is found through its owner's list when it can be (see apply).
struct Shard::Item {
    RrView rr;
    const uint8_t* canon;  // canonical RDATA: in the message or in scratch
    uint32_t hash;         // low 32 bits of the record key hash (followers: when needed)
    uint32_t cand;         // stage B: the first record filed under `hash` (a hint)
    uint16_t canon_len;
    uint8_t group;         // ring positions
    uint8_t msg;
    bool follower;
};

// One distinct owner name of a message in the pipeline.
struct Shard::Group {
    const uint8_t* key;  // lowercased uncompressed wire form, in scratch
    uint64_t hash;       // of key, seeded with the link
    uint32_t name;       // the interned name once known (kNone: not known yet)
    uint32_t offset;     // where its labels start in the message
    uint16_t link;
    uint8_t len;
};

// One message in the pipeline: where it came from and its host.
struct Shard::MsgCtx {
    const Origin* origin;
    uint32_t host;      // the interned host once known (kNone: not known yet)
    uint32_t host_gen;  // hosts_gen_ when `host` was looked up and absent
};

struct Shard::Batch {
    Item items[kRing];
    Group groups[kRing];
    MsgCtx msgs[kRing];
    // Running counts (ring position = count % kRing): records staged, and
    // through stages B, C and D; owner groups and messages made.
    uint32_t head = 0, next_b = 0, next_c = 0, done = 0;
    uint32_t group_head = 0, group_begin = 0, msg_head = 0;
    size_t used = 0;  // of scratch
    // The names of the current message already flattened (lowercased, in
    // scratch), by where their labels start in it: an mDNS message names
    // the same instance and host several times (PTR target = SRV/TXT owner,
    // SRV target = A/AAAA owner), always by pointer to the same labels.
    struct Flat {
        uint32_t off;
        uint32_t len;
        const uint8_t* key;
    };
    static constexpr uint32_t kFlatMemo = 16;
    Flat flat[kFlatMemo];
    uint32_t flat_n = 0;
    uint8_t scratch[kScratch];
    const Flat* find_flat(uint32_t start) const {
        for (uint32_t i = 0; i < flat_n; ++i) {
            if (flat[i].off == start) return &flat[i];
        }
        return nullptr;
    }
    void remember(uint32_t start, const uint8_t* key, size_t len) {
        if (flat_n < kFlatMemo) flat[flat_n++] = {start, static_cast<uint32_t>(len), key};
    }
    // The lowercased wire form of the validated name whose labels start at
    // msg[start]: from the memo, or flattened into scratch (and taken).
    const uint8_t* flat_name(const uint8_t* msg, uint32_t start, size_t* len) {
        if (const Flat* f = find_flat(start)) {
            *len = f->len;
            return f->key;
        }
        uint8_t* out = scratch + used;
        *len = flatten_name_lower(msg, start, out);
        take(*len);
        remember(start, out, *len);
        return out;
    }
    uint8_t* take(size_t n) {
        uint8_t* p = scratch + used;
        used += (n + kKeyAlign - 1) & ~(kKeyAlign - 1);
        return p;
    }
};

const char* refusal_name(Refusal r) {
    switch (r) {
        case Refusal::not_response: return "not_response";
        case Refusal::bad_opcode: return "bad_opcode";
        case Refusal::bad_source_port: return "bad_source_port";
        case Refusal::legacy_unicast: return "legacy_unicast";
        case Refusal::link_limit: return "link_limit";
        case Refusal::global_limit: return "global_limit";
        case Refusal::damaged_record: return "damaged_record";
        case Refusal::rdata_too_large: return "rdata_too_large";
        case Refusal::count_: break;
    }
    return "unknown";
}

Shard::Shard(const ShardConfig& cfg, EventRing* ring)
    : cfg_(cfg),
      ring_(ring),
      batch_(std::make_unique<Batch>()),
      link_live_(cfg.link_count, 0),
      index_(1024),
      name_index_(1024),
      host_index_(256),
      purge_link_(new std::atomic<bool>[cfg.link_count]()) {
    static_assert(sizeof(Record) == 48 && alignof(Record) <= Arena::kUnit);
    static_assert(sizeof(NameHead) == 12 && alignof(NameHead) <= Arena::kUnit);
    static_assert(sizeof(HostEntry) == 28 && alignof(HostEntry) <= Arena::kUnit);
}

Shard::~Shard() {
    for (uint32_t* c : id_chunks_) std::free(c);
}

// ---- records, ids, names, hosts ------------------------------------------------------

inline Shard::Record& Shard::rec(uint32_t ref) const {
    return *std::launder(reinterpret_cast<Record*>(arena_.at(ref)));
}

inline uint32_t& Shard::id_ref(uint32_t id) const {
    return id_chunks_[id >> kIdChunkShift][id & (kIdChunk - 1)];
}

inline Shard::NameHead* Shard::name_head(uint32_t ref) const {
    return std::launder(reinterpret_cast<NameHead*>(arena_.at(ref)));
}

inline Shard::HostEntry* Shard::host_entry(uint32_t ref) const {
    return std::launder(reinterpret_cast<HostEntry*>(arena_.at(ref)));
}

uint32_t Shard::alloc_id() {
    if (!free_ids_.empty()) {
        const uint32_t id = free_ids_.back();
        free_ids_.pop_back();
        return id;
    }
    if (id_top_ == kNone) return kNone;
    if (id_top_ == id_chunks_.size() * kIdChunk) {
        auto* c = static_cast<uint32_t*>(std::malloc(sizeof(uint32_t) * kIdChunk));
        if (c == nullptr) return kNone;
        id_chunks_.push_back(c);
    }
    id_ref(id_top_) = 0;
    return id_top_++;
}

uint32_t Shard::lookup_name(const Group& g) const {
    return name_index_.find(static_cast<uint32_t>(g.hash), [&](uint32_t ref) {
        NameHead* h = name_head(ref);
        return h->link == g.link && h->len == g.len && equal_folded(h->wire(), g.key, g.len);
    });
}

uint32_t Shard::new_name(const Group& g, const RrView& rr) {
    const uint32_t ref = arena_.alloc(sizeof(NameHead) + g.len);
    if (ref == 0) return kNone;
    auto* h = new (arena_.at(ref)) NameHead{1, kNone, g.link, g.len, 0};
    rr.owner.to_wire(h->wire(), false);
    name_index_.insert(static_cast<uint32_t>(g.hash), ref);
    return ref;
}

void Shard::release_name(uint32_t ref) {
    NameHead* h = name_head(ref);
    if (--h->refs > 0) return;
    uint8_t lower[codec::kMaxNameWire];
    std::memcpy(lower, h->wire(), h->len);
    lower_in_place(lower, h->len);
    const uint64_t hash = hash_bytes(lower, h->len, name_seed(h->link));
    name_index_.erase(static_cast<uint32_t>(hash), ref);
    arena_.free(ref, sizeof(NameHead) + h->len);
}

uint32_t Shard::host_hash(const HostAddr& a) {
    return static_cast<uint32_t>(
        hash_bytes(reinterpret_cast<const uint8_t*>(&a), sizeof(HostAddr), kHostSeed));
}

uint32_t Shard::intern_host(MsgCtx& c) {
    if (c.host == kNone && c.host_gen != hosts_gen_) {
        const HostAddr& a = c.origin->host;
        c.host = host_index_.find(host_hash(a),
                                  [&](uint32_t ref) { return host_entry(ref)->addr == a; });
        c.host_gen = hosts_gen_;
    }
    if (c.host != kNone) {
        ++host_entry(c.host)->refs;
        return c.host;
    }
    const uint32_t ref = arena_.alloc(sizeof(HostEntry));
    if (ref == 0) return kNone;
    new (arena_.at(ref)) HostEntry{c.origin->host, 1};
    host_index_.insert(host_hash(c.origin->host), ref);
    if (++hosts_gen_ == kNone) hosts_gen_ = 0;
    c.host = ref;
    c.host_gen = hosts_gen_;
    return ref;
}

void Shard::release_host(uint32_t ref) {
    HostEntry* h = host_entry(ref);
    if (--h->refs > 0) return;
    host_index_.erase(host_hash(h->addr), ref);
    arena_.free(ref, sizeof(HostEntry));
}

// ---- ingest -------------------------------------------------------------------------
//
// A software pipeline over the records of a burst, so that waiting for memory
// overlaps with the work on other records:
// Stage A (while walking the messages): per distinct owner of a message, the
// lowercased wire form and its hash; per record, the canonical RDATA; for the
// first record of each owner (the leader), the key hash and a prefetch of its
// index slot. The other records of that owner (followers) are usually found
// in stage D through the owner's list of records, which the leader found.
// Stage B (kDistB records later): read the slot, prefetch the candidate record,
// its RDATA and what follows it.
// Stage C (kDistC): read the record, prefetch its owner name, host and, for a
// cache-flush record, its neighbours in the owner's list.
// Stage D (kDistD): each record in order, exactly as ingest() of one message at
// a time would: the real lookup (confirmed by bytes), refresh/add/goodbye/
// flush, events. Stages B and C only prefetch: a record added in stage D is
// found by the records after it. The end of a burst drains the pipeline.

uint32_t Shard::ingest(const Message& m, const Origin& o, uint64_t now_ms) {
    return ingest_burst(std::span<const Message>(&m, 1), std::span<const Origin>(&o, 1), now_ms);
}

uint32_t Shard::ingest_burst(std::span<const Message> msgs, std::span<const Origin> origins,
                             uint64_t now_ms) {
    set_base(now_ms);
    const size_t n = std::min(msgs.size(), origins.size());
    uint32_t taken = 0;
    for (size_t k = 0; k < n; ++k) {
        const Message& m = msgs[k];
        const Origin& o = origins[k];
        const auto& h = m.header();
        if (!h.qr()) {
            ++c_.refused[static_cast<int>(Refusal::not_response)];
            continue;
        }
        if (h.opcode() != codec::opcode::QUERY) {
            ++c_.refused[static_cast<int>(Refusal::bad_opcode)];
            continue;
        }
        if (o.src_port != 5353) {
            ++c_.refused[static_cast<int>(Refusal::bad_source_port)];
            continue;
        }
        if (o.dst_port != 5353) {
            ++c_.refused[static_cast<int>(Refusal::legacy_unicast)];
            continue;
        }
        if (o.link >= link_live_.size()) link_live_.resize(o.link + 1u, 0);
        ++c_.messages;
        bool msg_open = false;
        for (Section s : {Section::answer, Section::additional}) {
            for (const RrView& rr : m.records(s)) {
                if (rr.type == codec::rrtype::OPT || rr.type == codec::rrtype::TSIG) continue;
                ++c_.records_seen;
                if (rr.damaged()) {
                    ++c_.refused[static_cast<int>(Refusal::damaged_record)];
                    continue;
                }
                stage_record(m, rr, o, now_ms, taken, msg_open);
            }
        }
    }
    taken += drain(now_ms);
    return taken;
}

// Stage A for one record, then one step of the pipeline.
void Shard::stage_record(const Message& m, const RrView& rr, const Origin& o, uint64_t now_ms,
                         uint32_t& taken, bool& msg_open) {
    Batch& b = *batch_;
    if (b.used + kItemMax > kScratch) {
        taken += drain(now_ms);
        b.used = 0;
        msg_open = false;
    }
    if (!msg_open) {
        MsgCtx& c = b.msgs[b.msg_head++ % kRing];
        c.origin = &o;
        c.host = kNone;
        c.host_gen = kNone;
        b.group_begin = b.group_head;
        b.flat_n = 0;  // offsets are the message's
        msg_open = true;
    }
    Item& it = b.items[b.head % kRing];
    // The owner: once per distinct name of the message (its records point at
    // the same labels). Only the message's latest owners are looked at: older
    // groups may be reused by the ring (a second group for one owner is only
    // a missed shortcut).
    const uint8_t* wire = m.wire().data();
    const uint32_t off = name_label_start(wire, rr.owner.offset());
    if (b.group_head - b.group_begin > kMaxGroupSearch) {
        b.group_begin = b.group_head - kMaxGroupSearch;
    }
    uint32_t g = b.group_begin;
    while (g != b.group_head && b.groups[g % kRing].offset != off) ++g;
    it.follower = g != b.group_head;
    if (!it.follower) {
        Group& gr = b.groups[b.group_head++ % kRing];
        size_t len;
        const uint8_t* key = b.flat_name(wire, off, &len);
        gr.key = key;
        gr.len = static_cast<uint8_t>(len);
        gr.link = o.link;
        gr.offset = off;
        gr.hash = hash_bytes(key, len, name_seed(o.link));
        gr.name = kNone;
    }
    // Canonical RDATA: names expanded and lowercased; other types as they are.
    size_t n = rr.rdlength();
    const uint8_t* canon = rr.rdata().data();
    if (n > 0 && rdata_has_names(rr.type)) {
        uint8_t* out = b.scratch + b.used;
        const size_t from = name_offset(rr.type);
        if (from == 0) {  // PTR, CNAME, NS: the name alone, often flattened already
            canon = b.flat_name(wire, name_label_start(wire, rr.rdata_offset()), &n);
        } else {
            if (from != SIZE_MAX) {  // MX, SRV: fixed fields, then one name
                std::memcpy(out, canon, from);
                const uint32_t start =
                    name_label_start(wire, static_cast<uint32_t>(rr.rdata_offset() + from));
                size_t len;
                if (const Batch::Flat* f = b.find_flat(start)) {
                    std::memcpy(out + from, f->key, f->len);
                    len = f->len;
                } else {
                    len = flatten_name_lower(wire, start, out + from);
                    b.remember(start, out + from, len);  // taken just below
                }
                n = from + len;
            } else if (rr.type == codec::rrtype::NSEC) {  // next name (case kept), bitmap
                n = nsec_canonical(wire, rr.rdata_offset(), rr.rdlength(), out);
                if (n > 0xFFFF) {
                    ++c_.refused[static_cast<int>(Refusal::rdata_too_large)];
                    return;
                }
            } else {  // SOA: as the codec makes it canonical
                auto r = rr.rdata_uncompressed(std::span<uint8_t>(out, kScratch - b.used), true);
                if (!r || *r > 0xFFFF) {
                    ++c_.refused[static_cast<int>(Refusal::rdata_too_large)];
                    return;
                }
                n = *r;
            }
            b.take(n);
            canon = out;
        }
    }
    it.rr = rr;
    it.canon = canon;
    it.canon_len = static_cast<uint16_t>(n);
    it.group = static_cast<uint8_t>(g % kRing);
    it.msg = static_cast<uint8_t>((b.msg_head - 1) % kRing);
    it.cand = kNone;
    if (!it.follower) {
        it.hash = key_hash(it);
        index_.prefetch(it.hash);
    }
    ++b.head;
    // One step: each stage takes the record its distance behind.
    if (b.head - b.next_b > kDistB) stage_b(b.items[b.next_b++ % kRing]);
    if (b.head - b.next_c > kDistC) stage_c(b.items[b.next_c++ % kRing]);
    if (b.head - b.done > kDistD) taken += apply(b.items[b.done++ % kRing], now_ms);
}

// The record key hash: owner (lowercased, with the link), type, class and
// canonical RDATA.
inline uint32_t Shard::key_hash(const Item& it) const {
    return static_cast<uint32_t>(hash_bytes(
        it.canon, it.canon_len,
        record_seed(batch_->groups[it.group].hash, it.rr.type, it.rr.rrclass())));
}

// Stage B: the index slot (prefetched in stage A) gives the candidate record;
// a match has the item's RDATA length, so its lines are known, and the next
// kAhead bytes likely hold its owner name, host and owner-list neighbours.
inline void Shard::stage_b(Item& it) {
    if (it.follower) return;
    it.cand = index_.first(it.hash);
    if (it.cand != kNone) {
        prefetch_lines(&rec(it.cand), sizeof(Record) + it.canon_len + kAhead, 8);
    }
}

// Stage C: the candidate record (prefetched in stage B) gives its owner name,
// host and owner-list neighbours (the RRset for a cache-flush, the followers'
// records).
inline void Shard::stage_c(const Item& it) {
    if (it.cand == kNone) return;
    const Record& r = rec(it.cand);
    prefetch_lines(name_head(r.owner), sizeof(NameHead) + batch_->groups[it.group].len, 2);
    __builtin_prefetch(host_entry(r.host));
    if (r.prev != kNone) prefetch_lines(&rec(r.prev), sizeof(Record) + 16, 2);
    if (r.next != kNone) prefetch_lines(&rec(r.next), sizeof(Record) + 16, 2);
}

// Every staged record through the remaining stages (end of a burst).
uint32_t Shard::drain(uint64_t now_ms) {
    Batch& b = *batch_;
    while (b.next_b != b.head) stage_b(b.items[b.next_b++ % kRing]);
    while (b.next_c != b.head) stage_c(b.items[b.next_c++ % kRing]);
    uint32_t taken = 0;
    while (b.done != b.head) taken += apply(b.items[b.done++ % kRing], now_ms);
    return taken;
}

// The record with the item's key, kNone if none. The owner is compared by
// interned-name reference once the group knows it, else by bytes (and then
// the group learns it: one (link, owner) has one interned name).
inline uint32_t Shard::find(const Item& it, Group& g) const {
    const uint16_t type = it.rr.type, cls = it.rr.rrclass(), n = it.canon_len;
    return index_.find(it.hash, [&](uint32_t ref) {
        const Record& r = rec(ref);
        if (r.type != type || r.rrclass != cls || r.rdlen != n) return false;
        if (g.name != kNone) {
            if (r.owner != g.name) return false;
        } else {
            NameHead* h = name_head(r.owner);
            if (h->link != g.link || h->len != g.len || !equal_folded(h->wire(), g.key, g.len)) {
                return false;
            }
            g.name = r.owner;
        }
        return rdata_equal(type, r.rdata(), it.canon, n);
    });
}

// A follower whose owner name is known and has a short list: the list holds
// every record of that (link, owner), so not being in it is not being here.
inline uint32_t Shard::walk(const Item& it, const NameHead& h) const {
    const uint16_t type = it.rr.type, cls = it.rr.rrclass(), n = it.canon_len;
    for (uint32_t j = h.head; j != kNone;) {
        const Record& r = rec(j);
        if (r.type == type && r.rrclass == cls && r.rdlen == n &&
            rdata_equal(type, r.rdata(), it.canon, n)) {
            return j;
        }
        j = r.next;
    }
    return kNone;
}

inline uint32_t Shard::apply(Item& it, uint64_t now_ms) {
    Batch& b = *batch_;
    Group& g = b.groups[it.group];
    MsgCtx& c = b.msgs[it.msg];
    const RrView& rr = it.rr;
    uint32_t ref;
    if (it.follower && g.name != kNone && name_head(g.name)->refs <= kWalkMax) {
        ref = walk(it, *name_head(g.name));
        if (ref == kNone) it.hash = key_hash(it);  // for the add
    } else {
        if (it.follower) it.hash = key_hash(it);
        ref = find(it, g);
    }

    if (rr.ttl == 0) {  // goodbye (RFC 6762 §10.1)
        if (ref != kNone && !(rec(ref).flags & kPendingRemoval)) {
            ++c_.goodbyes;
            schedule_removal(ref, now_ms, RemoveCause::goodbye);
        }
        return 0;
    }
    uint32_t at = ref;
    if (at == kNone) {
        at = add(it, g, c, now_ms);
        if (at == kNone) return 0;
    } else {
        refresh(at, rr, c, now_ms);
    }
    if (rr.cache_flush()) flush_rrset(at, now_ms);
    return 1;
}

uint32_t Shard::add(const Item& it, Group& g, MsgCtx& c, uint64_t now_ms) {
    const RrView& rr = it.rr;
    const uint16_t link = c.origin->link;
    if (live_ >= cfg_.max_records) {
        ++c_.refused[static_cast<int>(Refusal::global_limit)];
        return kNone;
    }
    if (link_live_[link] >= cfg_.max_records_per_link) {
        ++c_.refused[static_cast<int>(Refusal::link_limit)];
        return kNone;
    }
    // The record first, then (when new) its owner name and host right after
    // it: a device's records, names and host end up side by side.
    const size_t n = it.canon_len;
    const uint32_t id = alloc_id();
    const uint32_t ref = id == kNone ? 0 : arena_.alloc(sizeof(Record) + n);
    if (ref == 0) {
        if (id != kNone) free_ids_.push_back(id);
        return kNone;
    }
    uint32_t name = g.name != kNone ? g.name : lookup_name(g);
    if (name == kNone) {
        name = new_name(g, rr);
    } else {
        ++name_head(name)->refs;
    }
    const uint32_t host = name == kNone ? kNone : intern_host(c);
    if (host == kNone) {
        if (name != kNone) release_name(name);
        arena_.free(ref, sizeof(Record) + n);
        free_ids_.push_back(id);
        return kNone;
    }
    g.name = name;
    auto* r = new (arena_.at(ref)) Record{};
    // RDATA as announced (original case) for publication.
    if (n > 0) {
        if (rdata_has_names(rr.type)) {
            rr.rdata_uncompressed(std::span<uint8_t>(r->rdata(), n), false);
        } else {
            std::memcpy(r->rdata(), rr.rdata().data(), n);
        }
    }
    NameHead* nh = name_head(name);
    r->set_last_seen(now_ms);
    r->id = id;
    r->owner = name;
    r->host = host;
    r->prev = kNone;
    r->next = nh->head;
    if (nh->head != kNone) rec(nh->head).prev = ref;
    nh->head = ref;
    r->ttl = rr.ttl;
    r->hash = it.hash;
    r->heap_tick = 0;
    r->type = rr.type;
    r->rrclass = rr.rrclass();
    r->rdlen = static_cast<uint16_t>(n);
    r->flags = kLive | (rr.cache_flush() ? kCacheFlush : 0);
    r->cause = RemoveCause::none;
    id_ref(id) = ref;
    index_.insert(it.hash, ref);
    rdata_bytes_ += n;
    ++live_;
    ++link_live_[link];
    ++c_.adds;
    arm(ref);
    emit(EventKind::add, ref, now_ms);
    return ref;
}

inline void Shard::refresh(uint32_t ref, const RrView& rr, MsgCtx& c, uint64_t now_ms) {
    Record& r = rec(ref);
    ++c_.refreshes;
    r.set_last_seen(now_ms);
    r.flags = static_cast<uint8_t>((r.flags & ~(kPendingRemoval | kRefreshSent | kCacheFlush)) |
                                   (rr.cache_flush() ? kCacheFlush : 0));
    r.cause = RemoveCause::none;
    if (r.host != c.host) {
        if (host_entry(r.host)->addr == c.origin->host) {
            c.host = r.host;  // the message's host: its other records compare references
        } else if (const uint32_t h = intern_host(c); h != kNone) {  // another address now
            release_host(r.host);
            r.host = h;
        }
    }
    if (r.ttl != rr.ttl) {
        r.ttl = rr.ttl;
        ++c_.ttl_changes;
        emit(EventKind::ttl_change, ref, now_ms);
        arm(ref);  // a shorter TTL moves the deadline earlier
    }
}

void Shard::flush_rrset(uint32_t ref, uint64_t now_ms) {
    // RFC 6762 §10.2: records of the RRset not received in the last second
    // get a TTL of one second. The RRset's other members are the records of
    // the same (link, owner) - this record's list - with its type and class.
    const Record& self = rec(ref);
    auto visit = [&](uint32_t j) -> const Record& {
        Record& r = rec(j);
        if (r.type == self.type && r.rrclass == self.rrclass && !(r.flags & kPendingRemoval) &&
            r.last_seen() + 1000 < now_ms) {
            ++c_.flushes;
            schedule_removal(j, now_ms, RemoveCause::cache_flush);
        }
        return r;
    };
    for (uint32_t j = self.prev; j != kNone;) j = visit(j).prev;
    for (uint32_t j = self.next; j != kNone;) j = visit(j).next;
}

void Shard::schedule_removal(uint32_t ref, uint64_t now_ms, RemoveCause cause) {
    Record& r = rec(ref);
    r.flags |= kPendingRemoval;
    r.cause = cause;
    r.set_last_seen(now_ms);  // expiry is now last_seen + 1 s
    arm(ref);
}

void Shard::erase(uint32_t ref, RemoveCause cause, uint64_t now_ms) {
    Record& r = rec(ref);
    r.cause = cause;
    ++c_.removes;
    if (cause == RemoveCause::expired) ++c_.expiries;
    emit(EventKind::remove, ref, now_ms, cause);
    index_.erase(r.hash, ref);
    NameHead* nh = name_head(r.owner);
    const uint16_t link = nh->link;
    if (r.prev != kNone) {
        rec(r.prev).next = r.next;
    } else {
        nh->head = r.next;
    }
    if (r.next != kNone) rec(r.next).prev = r.prev;
    release_name(r.owner);
    release_host(r.host);
    id_ref(r.id) = 0;
    free_ids_.push_back(r.id);
    rdata_bytes_ -= r.rdlen;
    r.flags = 0;
    arena_.free(ref, sizeof(Record) + r.rdlen);
    --live_;
    --link_live_[link];
}

// ---- timers -------------------------------------------------------------------------

void Shard::set_base(uint64_t now_ms) {
    if (!base_set_) {
        base_ms_ = now_ms > kTickMs * 2 ? now_ms - kTickMs * 2 : 0;
        base_set_ = true;
    }
}

uint64_t Shard::expire_ms(const Record& r) const {
    if (r.flags & kPendingRemoval) return r.last_seen() + 1000;
    return r.last_seen() + uint64_t{r.ttl} * 1000;
}

uint64_t Shard::refresh_due_ms(const Record& r) const {
    if ((r.flags & kPendingRemoval) || r.ttl < cfg_.refresh_min_ttl_s) return UINT64_MAX;
    const uint64_t lead =
        cfg_.refresh_lead_min_ms +
        (cfg_.refresh_lead_jitter_ms ? (hash_mix(r.hash) % cfg_.refresh_lead_jitter_ms) : 0);
    const uint64_t exp = expire_ms(r);
    return exp > r.last_seen() + lead ? exp - lead : r.last_seen();
}

uint64_t Shard::next_deadline(const Record& r) const {
    const uint64_t exp = expire_ms(r);
    if (!(r.flags & kRefreshSent)) return std::min(exp, refresh_due_ms(r));
    return exp;
}

uint32_t Shard::to_tick(uint64_t ms) const {
    if (ms <= base_ms_) return 1;
    const uint64_t t = (ms - base_ms_ + kTickMs - 1) / kTickMs;  // round up: never early
    return t >= UINT32_MAX ? UINT32_MAX - 1 : static_cast<uint32_t>(std::max<uint64_t>(t, 1));
}

void Shard::arm(uint32_t ref) {
    Record& r = rec(ref);
    const uint32_t tick = to_tick(next_deadline(r));
    // Lazy: an armed entry that fires too early is re-armed then; only an
    // earlier deadline needs a new entry now.
    if (r.heap_tick != 0 && r.heap_tick <= tick) return;
    r.heap_tick = tick;
    heap_.push_back({tick, r.id});
    heap_sift_up(heap_.size() - 1);
}

void Shard::heap_sift_up(size_t i) {
    const HeapEntry e = heap_[i];
    while (i > 0) {
        const size_t p = (i - 1) / 2;
        if (heap_[p].tick <= e.tick) break;
        heap_[i] = heap_[p];
        i = p;
    }
    heap_[i] = e;
}

void Shard::heap_sift_down(size_t i) {
    const size_t n = heap_.size();
    const HeapEntry e = heap_[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_[c + 1].tick < heap_[c].tick) ++c;
        if (heap_[c].tick >= e.tick) break;
        heap_[i] = heap_[c];
        i = c;
    }
    heap_[i] = e;
}

void Shard::heap_pop() {
    heap_[0] = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) heap_sift_down(0);
}

void Shard::advance(uint64_t now_ms) {
    set_base(now_ms);
    const uint64_t now_tick = now_ms > base_ms_ ? (now_ms - base_ms_) / kTickMs : 0;
    while (!heap_.empty() && heap_[0].tick <= now_tick) {
        const HeapEntry e = heap_[0];
        heap_pop();
        const uint32_t ref = id_ref(e.id);
        if (ref == 0) continue;  // the record is gone
        Record& r = rec(ref);
        if (r.heap_tick != e.tick) continue;  // stale entry (or the id's next record)
        r.heap_tick = 0;
        // Compare in ticks, not ms: a deadline is due at its rounded-up tick,
        // however the heap entry that woke us was armed.
        if (now_tick >= to_tick(expire_ms(r))) {
            erase(ref, (r.flags & kPendingRemoval) ? r.cause : RemoveCause::expired, now_ms);
            continue;
        }
        if (!(r.flags & kRefreshSent) && now_tick >= to_tick(refresh_due_ms(r))) {
            r.flags |= kRefreshSent;
            ++c_.refresh_due;
            emit(EventKind::refresh_due, ref, now_ms);
        }
        arm(ref);
    }
    // Purges first: a re-read the same reload asked for must not carry the
    // removed link's records.
    if (purge_requested_.load(std::memory_order_acquire) != purge_done_) run_purges(now_ms);
    if (resync_requested_.load(std::memory_order_relaxed) != resync_done_ || resync_active_) {
        continue_resync(now_ms);
    }
}

bool Shard::request_purge(uint16_t link) {
    if (link >= cfg_.link_count) return false;
    purge_link_[link].store(true, std::memory_order_relaxed);
    purge_requested_.fetch_add(1, std::memory_order_release);
    return true;
}

void Shard::run_purges(uint64_t now_ms) {
    purge_done_ = purge_requested_.load(std::memory_order_acquire);
    std::vector<bool> gone(cfg_.link_count, false);
    bool any = false;
    for (uint16_t l = 0; l < cfg_.link_count; ++l) {
        if (purge_link_[l].exchange(false, std::memory_order_acq_rel)) {
            gone[l] = true;
            any = any || (l < link_live_.size() && link_live_[l] != 0);
        }
    }
    if (!any) return;
    // Once per reload: a pass over the ids. A remove event the ring cannot
    // take is counted as dropped, so the control plane re-reads the shard.
    for (uint32_t id = 0; id < id_top_; ++id) {
        const uint32_t ref = id_ref(id);
        if (ref == 0) continue;
        const uint16_t link = name_head(rec(ref).owner)->link;
        if (link >= gone.size() || !gone[link]) continue;
        ++c_.purged;
        erase(ref, RemoveCause::link_removed, now_ms);
    }
}

// ---- events -------------------------------------------------------------------------

bool Shard::emit(EventKind k, uint32_t ref, uint64_t now_ms, RemoveCause cause,
                 bool count_drop) {
    if (ring_ == nullptr) return true;
    const Record& r = rec(ref);
    NameHead* nh = name_head(r.owner);
    const size_t len = sizeof(EventHeader) + nh->len + r.rdlen;
    uint8_t* p = ring_->reserve(len, count_drop);
    if (p == nullptr) {
        if (count_drop) ++c_.events_dropped;
        return false;
    }
    EventHeader h{};
    h.kind = k;
    h.cause = cause;
    h.shard = cfg_.shard_id;
    h.link = nh->link;
    h.type = r.type;
    h.rrclass = r.rrclass;
    h.cache_flush = (r.flags & kCacheFlush) ? 1 : 0;
    h.owner_len = nh->len;
    h.ttl = r.ttl;
    h.record_id = r.id;
    h.time_ms = now_ms;
    h.expire_ms = expire_ms(r);
    h.host = host_entry(r.host)->addr;
    h.rdlen = r.rdlen;
    std::memcpy(p, &h, sizeof h);
    std::memcpy(p + sizeof h, nh->wire(), nh->len);
    std::memcpy(p + sizeof h + nh->len, r.rdata(), r.rdlen);
    ring_->commit();
    return true;
}

bool Shard::emit_marker(EventKind k, uint64_t now_ms) {
    if (ring_ == nullptr) return true;
    uint8_t* p = ring_->reserve(sizeof(EventHeader), false);
    if (p == nullptr) return false;
    EventHeader h{};
    h.kind = k;
    h.shard = cfg_.shard_id;
    h.time_ms = now_ms;
    std::memcpy(p, &h, sizeof h);
    ring_->commit();
    return true;
}

void Shard::continue_resync(uint64_t now_ms) {
    if (!resync_active_) {
        if (!emit_marker(EventKind::resync_begin, now_ms)) return;
        // Requests that arrive while this one runs are served by a later pass.
        resync_done_ = resync_requested_.load(std::memory_order_relaxed);
        resync_active_ = true;
        resync_cursor_ = 0;
        ++c_.resyncs;
    }
    // Stream as much as fits now; the rest on later bursts. A full ring is
    // not a drop here, just a pause. Ids, not places: a record keeps its id.
    for (; resync_cursor_ < id_top_; ++resync_cursor_) {
        const uint32_t ref = id_ref(resync_cursor_);
        if (ref == 0) continue;
        if (!emit(EventKind::resync_record, ref, now_ms, RemoveCause::none, false)) return;
    }
    if (emit_marker(EventKind::resync_end, now_ms)) resync_active_ = false;
}

// ---- inspection -------------------------------------------------------------------------

void Shard::for_each(const std::function<void(const RecordInfo&)>& f) const {
    for (uint32_t i = 0; i < id_top_; ++i) {
        const uint32_t ref = id_ref(i);
        if (ref == 0) continue;
        const Record& r = rec(ref);
        NameHead* nh = name_head(r.owner);
        auto owner = codec::Name::from_wire({nh->wire(), nh->len});
        RecordInfo info{nh->link,
                        &*owner,
                        r.type,
                        r.rrclass,
                        r.ttl,
                        (r.flags & kCacheFlush) != 0,
                        (r.flags & kPendingRemoval) != 0,
                        r.last_seen(),
                        expire_ms(r),
                        refresh_due_ms(r),
                        {r.rdata(), r.rdlen},
                        &host_entry(r.host)->addr,
                        i};
        f(info);
    }
}

size_t Shard::overhead_bytes() const {
    return sizeof(Shard) + sizeof(Batch) + id_chunks_.size() * kIdChunk * sizeof(uint32_t) +
           id_chunks_.capacity() * sizeof(uint32_t*) + free_ids_.capacity() * sizeof(uint32_t) +
           link_live_.capacity() * sizeof(uint32_t) + index_.reserved_bytes() +
           (arena_.reserved_bytes() - rdata_bytes_) + name_index_.reserved_bytes() +
           host_index_.reserved_bytes() + heap_.capacity() * sizeof(HeapEntry);
}

// ---- events helpers ------------------------------------------------------------------------

HostAddr HostAddr::from_v4(const uint8_t* a, const uint8_t* mac) {
    HostAddr h;
    h.ip[10] = 0xFF;
    h.ip[11] = 0xFF;
    std::memcpy(h.ip.data() + 12, a, 4);
    if (mac) std::memcpy(h.mac.data(), mac, 6);
    return h;
}

HostAddr HostAddr::from_v6(const uint8_t* a, const uint8_t* mac) {
    HostAddr h;
    std::memcpy(h.ip.data(), a, 16);
    if (mac) std::memcpy(h.mac.data(), mac, 6);
    return h;
}

std::optional<EventView> decode_event(std::span<const uint8_t> bytes) {
    if (bytes.size() < sizeof(EventHeader)) return std::nullopt;
    EventView v;
    std::memcpy(&v.h, bytes.data(), sizeof v.h);
    if (bytes.size() != sizeof(EventHeader) + v.h.owner_len + v.h.rdlen) return std::nullopt;
    if (v.h.owner_len > 0) {
        auto n = codec::Name::from_wire(bytes.subspan(sizeof(EventHeader), v.h.owner_len));
        if (!n) return std::nullopt;
        v.owner = *n;
    }
    v.rdata = bytes.subspan(sizeof(EventHeader) + v.h.owner_len, v.h.rdlen);
    return v;
}

const char* event_kind_name(EventKind k) {
    switch (k) {
        case EventKind::add: return "add";
        case EventKind::remove: return "remove";
        case EventKind::ttl_change: return "ttl_change";
        case EventKind::refresh_due: return "refresh_due";
        case EventKind::resync_begin: return "resync_begin";
        case EventKind::resync_record: return "resync_record";
        case EventKind::resync_end: return "resync_end";
    }
    return "unknown";
}

}  // namespace updproxy::table
