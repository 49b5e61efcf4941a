#include "dataplane/table/shard.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "dataplane/table/fast_hash.hpp"

namespace updproxy::table {

using codec::Message;
using codec::NameView;
using codec::RrView;
using codec::Section;

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;
// Timer ticks are 1/16 s: 32 bits of them last 8.5 years, and 62.5 ms is far
// finer than any deadline here (1 s goodbye, 5-10 s refresh lead).
constexpr uint64_t kTickMs = 64;
constexpr size_t kMaxKey = codec::kMaxNameWire + 0xFFFF + 2 * codec::kMaxNameWire;

enum Flags : uint8_t {
    kLive = 1,
    kCacheFlush = 2,
    kPendingRemoval = 4,
    kRefreshSent = 8,
};

// RDATA that names another name compares case-insensitively there (RFC 4343);
// the fixed fields before the name compare exactly.
size_t name_offset(uint16_t type) {
    switch (type) {
        case codec::rrtype::PTR:
        case codec::rrtype::CNAME:
        case codec::rrtype::NS:
        case codec::rrtype::SOA:
            return 0;
        case codec::rrtype::MX:
            return 2;
        case codec::rrtype::SRV:
            return 6;
        default:
            return SIZE_MAX;
    }
}

bool rdata_equal(uint16_t type, const uint8_t* stored, const uint8_t* canon, size_t n) {
    const size_t from = name_offset(type);
    if (from == SIZE_MAX) return std::memcmp(stored, canon, n) == 0;
    // SOA's 20 trailing bytes are numbers; lowercasing them could only merge
    // two SOA serials that differ by 32 in one byte, and SOA is not an mDNS
    // record, so the simple rule is kept.
    if (std::memcmp(stored, canon, std::min(from, n)) != 0) return false;
    for (size_t i = from; i < n; ++i) {
        if (codec::ascii_lower(stored[i]) != canon[i]) return false;
    }
    return true;
}

bool name_equal_ci(const uint8_t* stored, const uint8_t* lower, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (codec::ascii_lower(stored[i]) != lower[i]) return false;
    }
    return true;
}

}  // namespace

struct Shard::Record {
    uint8_t* rdata;
    uint64_t last_seen_ms;
    uint32_t owner;
    uint32_t host;
    uint32_t rrset_prev;
    uint32_t rrset_next;
    uint32_t ttl;
    uint32_t hash_lo;
    uint32_t heap_tick;  // tick of this record's armed heap entry; 0 = none
    uint16_t link;
    uint16_t type;
    uint16_t rrclass;
    uint16_t rdlen;
    uint8_t flags;
    RemoveCause cause;
};

struct Shard::Slot {
    uint32_t hash_lo;
    uint32_t idx;  // kNone = empty
};

struct Shard::HeapEntry {
    uint32_t tick;
    uint32_t idx;
};

struct Shard::NameEntry {
    uint8_t* wire;  // original case, uncompressed
    uint64_t hash;  // of the lowercased wire form
    uint32_t refs;
    uint8_t len;
};

struct Shard::HostEntry {
    HostAddr addr;
    uint32_t refs;
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
    : cfg_(cfg), ring_(ring), link_live_(cfg.link_count, 0) {
    index_.assign(1024, Slot{0, kNone});
    rrsets_.assign(1024, Slot{0, kNone});
    name_index_.assign(1024, Slot{0, kNone});
    scratch_.resize(kMaxKey);
}

Shard::~Shard() {
    for (auto& r : records_) {
        if (r.flags & kLive) std::free(r.rdata);
    }
    for (auto& n : names_) std::free(n.wire);
}

// ---- ingest -------------------------------------------------------------------------

uint32_t Shard::ingest(const Message& m, const Origin& o, uint64_t now_ms) {
    set_base(now_ms);
    const auto& h = m.header();
    if (!h.qr()) {
        ++c_.refused[static_cast<int>(Refusal::not_response)];
        return 0;
    }
    if (h.opcode() != codec::opcode::QUERY) {
        ++c_.refused[static_cast<int>(Refusal::bad_opcode)];
        return 0;
    }
    if (o.src_port != 5353) {
        ++c_.refused[static_cast<int>(Refusal::bad_source_port)];
        return 0;
    }
    if (o.dst_port != 5353) {
        ++c_.refused[static_cast<int>(Refusal::legacy_unicast)];
        return 0;
    }
    if (o.link >= link_live_.size()) link_live_.resize(o.link + 1u, 0);
    ++c_.messages;
    uint32_t taken = 0;
    for (Section s : {Section::answer, Section::additional}) {
        for (const RrView& rr : m.records(s)) {
            if (rr.type == codec::rrtype::OPT || rr.type == codec::rrtype::TSIG) continue;
            ++c_.records_seen;
            if (rr.damaged()) {
                ++c_.refused[static_cast<int>(Refusal::damaged_record)];
                continue;
            }
            taken += ingest_record(rr, o, now_ms);
        }
    }
    return taken;
}

uint32_t Shard::ingest_record(const RrView& rr, const Origin& o, uint64_t now_ms) {
    // Key: lowercased owner, then canonical RDATA (names lowercased).
    uint8_t* key = scratch_.data();
    const size_t olen = rr.owner.to_wire(key, true);
    auto canon = rr.rdata_uncompressed(std::span<uint8_t>(key + olen, scratch_.size() - olen), true);
    if (!canon) {
        ++c_.refused[static_cast<int>(Refusal::rdata_too_large)];
        return 0;
    }
    const uint64_t owner_hash = hash_bytes(key, olen, 0x5157);
    const uint64_t hash = record_key_hash(owner_hash, o.link, rr.type, rr.rrclass(), key + olen,
                                          *canon);
    const uint32_t idx = find(hash, o.link, rr.type, rr.rrclass(), key, olen, key + olen, *canon);

    if (rr.ttl == 0) {  // goodbye (RFC 6762 §10.1)
        if (idx != kNone && !(records_[idx].flags & kPendingRemoval)) {
            ++c_.goodbyes;
            schedule_removal(idx, now_ms, RemoveCause::goodbye);
        }
        return 0;
    }
    uint32_t at = idx;
    if (at == kNone) {
        at = add(hash, owner_hash, rr, o, now_ms);
        if (at == kNone) return 0;
    } else {
        refresh(at, rr, o, now_ms);
    }
    if (rr.cache_flush()) flush_rrset(at, now_ms);
    return 1;
}

uint64_t Shard::record_key_hash(uint64_t owner_hash, uint16_t link, uint16_t type, uint16_t cls,
                                const uint8_t* canon, size_t n) {
    const uint64_t meta = (uint64_t{link} << 32) | (uint64_t{type} << 16) | cls;
    return hash_bytes(canon, n, owner_hash ^ hash_mix(meta + 0x9E37));
}

uint32_t Shard::find(uint64_t hash, uint16_t link, uint16_t type, uint16_t cls,
                     const uint8_t* owner_lc, size_t olen, const uint8_t* canon,
                     size_t n) const {
    const size_t mask = index_.size() - 1;
    const auto lo = static_cast<uint32_t>(hash);
    for (size_t i = lo & mask;; i = (i + 1) & mask) {
        const Slot& s = index_[i];
        if (s.idx == kNone) return kNone;
        if (s.hash_lo != lo) continue;
        const Record& r = records_[s.idx];
        if (r.link != link || r.type != type || r.rrclass != cls || r.rdlen != n) continue;
        const NameEntry& ne = names_[r.owner];
        if (ne.len != olen || !name_equal_ci(ne.wire, owner_lc, olen)) continue;
        if (!rdata_equal(type, r.rdata, canon, n)) continue;
        return s.idx;
    }
}

uint32_t Shard::add(uint64_t hash, uint64_t owner_hash, const RrView& rr, const Origin& o,
                    uint64_t now_ms) {
    if (live_ >= cfg_.max_records) {
        ++c_.refused[static_cast<int>(Refusal::global_limit)];
        return kNone;
    }
    if (link_live_[o.link] >= cfg_.max_records_per_link) {
        ++c_.refused[static_cast<int>(Refusal::link_limit)];
        return kNone;
    }
    // RDATA as announced (original case) for publication; the key buffer holds
    // the canonical form only.
    uint8_t* key = scratch_.data();
    const size_t olen = rr.owner.wire_length();
    auto n = rr.rdata_uncompressed(std::span<uint8_t>(key + olen, scratch_.size() - olen), false);
    if (!n) return kNone;
    auto* rd = static_cast<uint8_t*>(std::malloc(*n ? *n : 1));
    if (rd == nullptr) return kNone;
    std::memcpy(rd, key + olen, *n);

    uint32_t idx;
    if (!free_records_.empty()) {
        idx = free_records_.back();
        free_records_.pop_back();
    } else {
        idx = static_cast<uint32_t>(records_.size());
        records_.emplace_back();
    }
    Record& r = records_[idx];
    r.rdata = rd;
    r.rdlen = static_cast<uint16_t>(*n);
    r.last_seen_ms = now_ms;
    r.owner = intern_name(rr.owner, owner_hash);
    r.host = intern_host(o.host);
    r.ttl = rr.ttl;
    r.hash_lo = static_cast<uint32_t>(hash);
    r.heap_tick = 0;
    r.link = o.link;
    r.type = rr.type;
    r.rrclass = rr.rrclass();
    r.flags = kLive | (rr.cache_flush() ? kCacheFlush : 0);
    r.cause = RemoveCause::none;
    r.rrset_prev = r.rrset_next = kNone;
    index_insert(hash, idx);
    rrset_link(idx);
    ++live_;
    ++link_live_[o.link];
    ++c_.adds;
    arm(idx);
    emit(EventKind::add, idx, now_ms);
    return idx;
}

void Shard::refresh(uint32_t idx, const RrView& rr, const Origin& o, uint64_t now_ms) {
    Record& r = records_[idx];
    ++c_.refreshes;
    r.last_seen_ms = now_ms;
    r.flags = static_cast<uint8_t>((r.flags & ~(kPendingRemoval | kRefreshSent | kCacheFlush)) |
                                   (rr.cache_flush() ? kCacheFlush : 0));
    r.cause = RemoveCause::none;
    if (!(hosts_[r.host].addr == o.host)) {
        const uint32_t h = intern_host(o.host);
        release_host(r.host);
        r.host = h;
    }
    if (r.ttl != rr.ttl) {
        r.ttl = rr.ttl;
        ++c_.ttl_changes;
        emit(EventKind::ttl_change, idx, now_ms);
        arm(idx);  // a shorter TTL moves the deadline earlier
    }
}

void Shard::flush_rrset(uint32_t idx, uint64_t now_ms) {
    // RFC 6762 §10.2: records of the RRset not received in the last second
    // get a TTL of one second.
    const Record& self = records_[idx];
    for (uint32_t j = rrset_head_of(idx); j != kNone;) {
        const uint32_t next = records_[j].rrset_next;
        const Record& r = records_[j];
        if (j != idx && !(r.flags & kPendingRemoval) && r.last_seen_ms + 1000 < now_ms &&
            r.link == self.link) {
            ++c_.flushes;
            schedule_removal(j, now_ms, RemoveCause::cache_flush);
        }
        j = next;
    }
}

void Shard::schedule_removal(uint32_t idx, uint64_t now_ms, RemoveCause cause) {
    Record& r = records_[idx];
    r.flags |= kPendingRemoval;
    r.cause = cause;
    r.last_seen_ms = now_ms;  // expiry is now last_seen + 1 s
    arm(idx);
}

void Shard::erase(uint32_t idx, RemoveCause cause, uint64_t now_ms) {
    Record& r = records_[idx];
    r.cause = cause;
    ++c_.removes;
    if (cause == RemoveCause::expired) ++c_.expiries;
    emit(EventKind::remove, idx, now_ms, cause);
    index_erase(r.hash_lo, idx);
    rrset_unlink(idx);
    release_name(r.owner);
    release_host(r.host);
    std::free(r.rdata);
    r.rdata = nullptr;
    r.flags = 0;
    r.heap_tick = 0;
    --live_;
    --link_live_[r.link];
    free_records_.push_back(idx);
}

// ---- timers -------------------------------------------------------------------------

void Shard::set_base(uint64_t now_ms) {
    if (!base_set_) {
        base_ms_ = now_ms > kTickMs * 2 ? now_ms - kTickMs * 2 : 0;
        base_set_ = true;
    }
}

uint64_t Shard::expire_ms(const Record& r) const {
    if (r.flags & kPendingRemoval) return r.last_seen_ms + 1000;
    return r.last_seen_ms + uint64_t{r.ttl} * 1000;
}

uint64_t Shard::refresh_due_ms(const Record& r) const {
    if ((r.flags & kPendingRemoval) || r.ttl < cfg_.refresh_min_ttl_s) return UINT64_MAX;
    const uint64_t lead =
        cfg_.refresh_lead_min_ms +
        (cfg_.refresh_lead_jitter_ms ? (hash_mix(r.hash_lo) % cfg_.refresh_lead_jitter_ms) : 0);
    const uint64_t exp = expire_ms(r);
    return exp > r.last_seen_ms + lead ? exp - lead : r.last_seen_ms;
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

void Shard::arm(uint32_t idx) {
    Record& r = records_[idx];
    const uint32_t tick = to_tick(next_deadline(r));
    // Lazy: an armed entry that fires too early is re-armed then; only an
    // earlier deadline needs a new entry now.
    if (r.heap_tick != 0 && r.heap_tick <= tick) return;
    r.heap_tick = tick;
    heap_.push_back({tick, idx});
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
        Record& r = records_[e.idx];
        if (!(r.flags & kLive) || r.heap_tick != e.tick) continue;  // stale entry
        r.heap_tick = 0;
        // Compare in ticks, not ms: a deadline is due at its rounded-up tick,
        // however the heap entry that woke us was armed.
        if (now_tick >= to_tick(expire_ms(r))) {
            erase(e.idx, (r.flags & kPendingRemoval) ? r.cause : RemoveCause::expired, now_ms);
            continue;
        }
        if (!(r.flags & kRefreshSent) && now_tick >= to_tick(refresh_due_ms(r))) {
            r.flags |= kRefreshSent;
            ++c_.refresh_due;
            emit(EventKind::refresh_due, e.idx, now_ms);
        }
        arm(e.idx);
    }
    if (resync_requested_.load(std::memory_order_relaxed) != resync_done_ || resync_active_) {
        continue_resync(now_ms);
    }
}

// ---- events -------------------------------------------------------------------------

bool Shard::emit(EventKind k, uint32_t idx, uint64_t now_ms, RemoveCause cause,
                 bool count_drop) {
    if (ring_ == nullptr) return true;
    const Record& r = records_[idx];
    const NameEntry& ne = names_[r.owner];
    const size_t len = sizeof(EventHeader) + ne.len + r.rdlen;
    uint8_t* p = ring_->reserve(len, count_drop);
    if (p == nullptr) {
        if (count_drop) ++c_.events_dropped;
        return false;
    }
    EventHeader h{};
    h.kind = k;
    h.cause = cause;
    h.shard = cfg_.shard_id;
    h.link = r.link;
    h.type = r.type;
    h.rrclass = r.rrclass;
    h.cache_flush = (r.flags & kCacheFlush) ? 1 : 0;
    h.owner_len = ne.len;
    h.ttl = r.ttl;
    h.record_id = idx;
    h.time_ms = now_ms;
    h.expire_ms = expire_ms(r);
    h.host = hosts_[r.host].addr;
    h.rdlen = r.rdlen;
    std::memcpy(p, &h, sizeof h);
    std::memcpy(p + sizeof h, ne.wire, ne.len);
    std::memcpy(p + sizeof h + ne.len, r.rdata, r.rdlen);
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
    // not a drop here, just a pause.
    for (; resync_cursor_ < records_.size(); ++resync_cursor_) {
        if (!(records_[resync_cursor_].flags & kLive)) continue;
        if (!emit(EventKind::resync_record, resync_cursor_, now_ms, RemoveCause::none, false)) {
            return;
        }
    }
    if (emit_marker(EventKind::resync_end, now_ms)) resync_active_ = false;
}

// ---- index --------------------------------------------------------------------------

void Shard::index_insert(uint64_t hash, uint32_t idx) {
    if ((index_used_ + 1) * 8 > index_.size() * 7) index_grow();
    const size_t mask = index_.size() - 1;
    const auto lo = static_cast<uint32_t>(hash);
    size_t i = lo & mask;
    while (index_[i].idx != kNone) i = (i + 1) & mask;
    index_[i] = {lo, idx};
    ++index_used_;
}

void Shard::index_erase(uint32_t hash_lo, uint32_t idx) {
    const size_t mask = index_.size() - 1;
    size_t i = hash_lo & mask;
    while (index_[i].idx != idx) i = (i + 1) & mask;
    // Backward-shift deletion: no tombstones, probes stay short.
    size_t j = i;
    for (;;) {
        index_[i].idx = kNone;
        for (;;) {
            j = (j + 1) & mask;
            if (index_[j].idx == kNone) {
                --index_used_;
                return;
            }
            const size_t home = index_[j].hash_lo & mask;
            // Move j back to i unless its home lies cyclically in (i, j].
            const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) break;
        }
        index_[i] = index_[j];
        i = j;
    }
}

void Shard::index_grow() {
    std::vector<Slot> old;
    old.swap(index_);
    index_.assign(old.size() * 2, Slot{0, kNone});
    const size_t mask = index_.size() - 1;
    for (const Slot& s : old) {
        if (s.idx == kNone) continue;
        size_t i = s.hash_lo & mask;
        while (index_[i].idx != kNone) i = (i + 1) & mask;
        index_[i] = s;
    }
}

// ---- rrsets ---------------------------------------------------------------------------

uint32_t Shard::rrset_key(const Record& r) const {
    const uint64_t meta = (uint64_t{r.link} << 48) | (uint64_t{r.type} << 32) |
                          (uint64_t{r.rrclass} << 16);
    return static_cast<uint32_t>(hash_mix(names_[r.owner].hash ^ meta ^ 0xA5A5));
}

size_t Shard::rrset_slot(const Record& r, uint32_t key) const {
    const size_t mask = rrsets_.size() - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
        const Slot& s = rrsets_[i];
        if (s.idx == kNone) return i;
        if (s.hash_lo != key) continue;
        const Record& h = records_[s.idx];
        if (h.link == r.link && h.owner == r.owner && h.type == r.type && h.rrclass == r.rrclass) {
            return i;
        }
    }
}

uint32_t Shard::rrset_head_of(uint32_t idx) const {
    const Record& r = records_[idx];
    return rrsets_[rrset_slot(r, rrset_key(r))].idx;
}

void Shard::rrset_link(uint32_t idx) {
    if ((rrsets_used_ + 1) * 8 > rrsets_.size() * 7) {
        std::vector<Slot> old;
        old.swap(rrsets_);
        rrsets_.assign(old.size() * 2, Slot{0, kNone});
        const size_t mask = rrsets_.size() - 1;
        for (const Slot& s : old) {
            if (s.idx == kNone) continue;
            size_t i = s.hash_lo & mask;
            while (rrsets_[i].idx != kNone) i = (i + 1) & mask;
            rrsets_[i] = s;
        }
    }
    Record& r = records_[idx];
    const uint32_t key = rrset_key(r);
    const size_t slot = rrset_slot(r, key);
    if (rrsets_[slot].idx == kNone) {
        rrsets_[slot] = {key, idx};
        ++rrsets_used_;
        r.rrset_prev = r.rrset_next = kNone;
        return;
    }
    const uint32_t head = rrsets_[slot].idx;
    r.rrset_prev = kNone;
    r.rrset_next = head;
    records_[head].rrset_prev = idx;
    rrsets_[slot].idx = idx;
}

void Shard::rrset_unlink(uint32_t idx) {
    Record& r = records_[idx];
    if (r.rrset_prev != kNone) {
        records_[r.rrset_prev].rrset_next = r.rrset_next;
        if (r.rrset_next != kNone) records_[r.rrset_next].rrset_prev = r.rrset_prev;
        return;
    }
    // r heads its RRset.
    const uint32_t key = rrset_key(r);
    size_t i = rrset_slot(r, key);
    if (r.rrset_next != kNone) {
        records_[r.rrset_next].rrset_prev = kNone;
        rrsets_[i].idx = r.rrset_next;
        return;
    }
    // Last member: backward-shift delete the rrset slot.
    const size_t mask = rrsets_.size() - 1;
    size_t j = i;
    for (;;) {
        rrsets_[i].idx = kNone;
        for (;;) {
            j = (j + 1) & mask;
            if (rrsets_[j].idx == kNone) {
                --rrsets_used_;
                return;
            }
            const size_t home = rrsets_[j].hash_lo & mask;
            const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) break;
        }
        rrsets_[i] = rrsets_[j];
        i = j;
    }
}

// ---- names and hosts ------------------------------------------------------------------

uint32_t Shard::intern_name(NameView n, uint64_t h) {
    const auto lo = static_cast<uint32_t>(h);
    uint8_t lower[codec::kMaxNameWire];
    const size_t len = n.to_wire(lower, true);
    size_t mask = name_index_.size() - 1;
    for (size_t i = lo & mask;; i = (i + 1) & mask) {
        const Slot& s = name_index_[i];
        if (s.idx == kNone) break;
        const NameEntry& e = names_[s.idx];
        if (s.hash_lo == lo && e.len == len && name_equal_ci(e.wire, lower, len)) {
            ++names_[s.idx].refs;
            return s.idx;
        }
    }
    uint32_t id;
    if (!free_names_.empty()) {
        id = free_names_.back();
        free_names_.pop_back();
    } else {
        id = static_cast<uint32_t>(names_.size());
        names_.emplace_back();
    }
    NameEntry& e = names_[id];
    e.wire = static_cast<uint8_t*>(std::malloc(len));
    n.to_wire(e.wire, false);
    e.len = static_cast<uint8_t>(len);
    e.hash = h;
    e.refs = 1;
    if ((name_index_used_ + 1) * 8 > name_index_.size() * 7) {
        std::vector<Slot> old;
        old.swap(name_index_);
        name_index_.assign(old.size() * 2, Slot{0, kNone});
        mask = name_index_.size() - 1;
        for (const Slot& s : old) {
            if (s.idx == kNone) continue;
            size_t i = s.hash_lo & mask;
            while (name_index_[i].idx != kNone) i = (i + 1) & mask;
            name_index_[i] = s;
        }
    }
    size_t i = lo & mask;
    while (name_index_[i].idx != kNone) i = (i + 1) & mask;
    name_index_[i] = {lo, id};
    ++name_index_used_;
    return id;
}

void Shard::release_name(uint32_t id) {
    NameEntry& e = names_[id];
    if (--e.refs > 0) return;
    const size_t mask = name_index_.size() - 1;
    size_t i = static_cast<uint32_t>(e.hash) & mask;
    while (name_index_[i].idx != id) i = (i + 1) & mask;
    size_t j = i;
    for (;;) {
        name_index_[i].idx = kNone;
        bool done = false;
        for (;;) {
            j = (j + 1) & mask;
            if (name_index_[j].idx == kNone) {
                done = true;
                break;
            }
            const size_t home = name_index_[j].hash_lo & mask;
            const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) break;
        }
        if (done) break;
        name_index_[i] = name_index_[j];
        i = j;
    }
    --name_index_used_;
    std::free(e.wire);
    e.wire = nullptr;
    free_names_.push_back(id);
}

uint32_t Shard::intern_host(const HostAddr& a) {
    // Hosts are few (one per device); a small linear-probed map keyed by the
    // address would do, but most lookups hit the previous host, so check it first.
    if (last_host_ != kNone && hosts_[last_host_].refs > 0 && hosts_[last_host_].addr == a) {
        ++hosts_[last_host_].refs;
        return last_host_;
    }
    auto it = host_index_.find(a);
    if (it != host_index_.end()) {
        ++hosts_[it->second].refs;
        last_host_ = it->second;
        return it->second;
    }
    uint32_t id;
    if (!free_hosts_.empty()) {
        id = free_hosts_.back();
        free_hosts_.pop_back();
    } else {
        id = static_cast<uint32_t>(hosts_.size());
        hosts_.emplace_back();
    }
    hosts_[id] = {a, 1};
    host_index_.emplace(a, id);
    last_host_ = id;
    return id;
}

void Shard::release_host(uint32_t id) {
    if (--hosts_[id].refs > 0) return;
    host_index_.erase(hosts_[id].addr);
    free_hosts_.push_back(id);
    if (last_host_ == id) last_host_ = kNone;
}

// ---- inspection -------------------------------------------------------------------------

void Shard::for_each(const std::function<void(const RecordInfo&)>& f) const {
    for (uint32_t i = 0; i < records_.size(); ++i) {
        const Record& r = records_[i];
        if (!(r.flags & kLive)) continue;
        const NameEntry& ne = names_[r.owner];
        auto owner = codec::Name::from_wire({ne.wire, ne.len});
        RecordInfo info{r.link,
                        &*owner,
                        r.type,
                        r.rrclass,
                        r.ttl,
                        (r.flags & kCacheFlush) != 0,
                        (r.flags & kPendingRemoval) != 0,
                        r.last_seen_ms,
                        expire_ms(r),
                        refresh_due_ms(r),
                        {r.rdata, r.rdlen},
                        &hosts_[r.host].addr,
                        i};
        f(info);
    }
}

size_t Shard::overhead_bytes() const {
    size_t n = records_.capacity() * sizeof(Record) + index_.capacity() * sizeof(Slot) +
               rrsets_.capacity() * sizeof(Slot) + heap_.capacity() * sizeof(HeapEntry) +
               names_.capacity() * sizeof(NameEntry) + name_index_.capacity() * sizeof(Slot) +
               hosts_.capacity() * sizeof(HostEntry) +
               (free_records_.capacity() + free_names_.capacity() + free_hosts_.capacity()) * 4;
    for (const NameEntry& e : names_) {
        if (e.wire) n += e.len;
    }
    n += host_index_.size() * (sizeof(HostAddr) + 32);
    return n;
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
