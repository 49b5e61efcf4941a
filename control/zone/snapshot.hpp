// An immutable, read-only view of every zone the proxy serves, built by the
// control thread (ZoneStore::commit) and read by any number of threads
// without locks.
//
// Built for the UDP answer path, which must neither allocate nor lock:
//   - one open-addressing hash table over the lowercased wire form of every
//     owner (and every empty non-terminal) of every zone, so a query costs
//     one hash and usually one probe;
//   - each node carries, per RR type it holds, the whole response body after
//     the question, already encoded with compression pointers that assume
//     the question name sits at offset 12 (it always does: the answer path
//     copies the client's question there). The answer path copies bytes and
//     patches the header; nothing is encoded per query except the SOA of a
//     negative answer, whose owner points into the client's question;
//   - "cuts": the byte lengths (and section counts) at which a body may be
//     ended, so an answer larger than the client's buffer keeps the whole
//     answer section and as many whole additional RRsets as fit (RFC 2181 §9).
//
// Nodes are shared between consecutive snapshots: commit() re-renders only
// the nodes whose records, or whose additional-section sources, changed.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "codec/name.hpp"
#include "control/zone/zone_config.hpp"

namespace updproxy::control::zone {

// Hash of a lowercased uncompressed name (8 bytes at a time; names are short).
inline uint64_t name_hash(const uint8_t* p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n != 0) {
        uint64_t v = 0;
        std::memcpy(&v, p, n);
        h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 29;
    }
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

// One RRset as served: every record carries the RRset's TTL (the smallest
// TTL published for any of its records, RFC 2181 §5.2), RDATA uncompressed
// and sorted in canonical order (so two snapshots compare record by record).
struct RRset {
    uint16_t type = 0;
    uint32_t ttl = 0;
    std::vector<std::vector<uint8_t>> rdata;
};

// A point where a pre-rendered body may end: its length in bytes and the
// section counts up to there.
struct Cut {
    uint32_t len = 0;
    uint16_t an = 0, ns = 0, ar = 0;
};

// One query type's entry in a node's hot block.
struct HotRendered {
    uint16_t qtype = 0;
    uint16_t ncuts = 0;     // 0: not even the answer section fits a message (TC)
    uint32_t cuts_off = 0;  // from the block's start: ncuts Cut entries
    uint32_t body_off = 0;  // from the block's start: the body bytes
};

// The answer path's view of a node: everything a query needs in one
// contiguous block, so a lookup costs the table slot and this block's first
// lines (the body follows the index, read sequentially):
//   [zone u32][ent u8][types u8][owner length u8][0]
//   [lowercased owner wire][pad to 4]
//   [HotRendered x types][Cut x ...][bodies]
// Fields are read with memcpy (no aliasing or alignment assumptions).
class HotNode {
public:
    HotNode() = default;
    explicit HotNode(const uint8_t* p) : p_(p) {}
    explicit operator bool() const { return p_ != nullptr; }
    uint32_t zone() const {
        uint32_t z;
        std::memcpy(&z, p_, 4);
        return z;
    }
    bool ent() const { return p_[4] != 0; }
    size_t types() const { return p_[5]; }
    size_t owner_len() const { return p_[6]; }
    const uint8_t* owner() const { return p_ + 8; }
    HotRendered rendered(size_t i) const {
        HotRendered r;
        std::memcpy(&r, p_ + index_off() + i * sizeof(HotRendered), sizeof r);
        return r;
    }
    Cut cut(const HotRendered& r, size_t i) const {
        Cut c;
        std::memcpy(&c, p_ + r.cuts_off + i * sizeof(Cut), sizeof c);
        return c;
    }
    const uint8_t* body(const HotRendered& r) const { return p_ + r.body_off; }

private:
    size_t index_off() const { return (8 + owner_len() + 3) & ~size_t{3}; }
    const uint8_t* p_ = nullptr;
};

// What the renderer produced for one type, before packing.
struct HotPiece {
    uint16_t qtype = 0;
    std::vector<Cut> cuts;
    std::vector<uint8_t> body;  // up to the last cut
};
std::vector<uint8_t> pack_hot(uint32_t zone, bool ent, const codec::Name& owner_lc,
                              const std::vector<HotPiece>& pieces);

struct Node {
    uint64_t hash = 0;
    std::vector<uint8_t> hot;  // see HotNode
    codec::Name owner_lc;      // lowercased: the lookup key
    uint32_t zone = 0;         // index into ZoneSnapshot::zones
    bool ent = false;          // empty non-terminal: no records, names below it exist
    std::vector<RRset> rrsets; // by type, ascending (transfers)
    codec::Name owner;         // as published (case kept), for transfers

    HotNode view() const { return HotNode(hot.data()); }
};

// One record of a transfer (IXFR differences).
struct XfrRecord {
    codec::Name owner;
    uint16_t type = 0;
    uint32_t ttl = 0;
    std::vector<uint8_t> rdata;
};

// One serial step: what was removed and added going from `from` to `to`.
struct Diff {
    uint32_t from = 0, to = 0;
    std::vector<XfrRecord> removed, added;
};

// The pieces of a zone's SOA needed to write it after a name that is only
// known per query (negative answers): each name either ends in the apex (the
// labels before it, then a pointer to wherever the apex is) or is written whole.
struct RelName {
    std::vector<uint8_t> prefix;  // labels before the apex, or the whole name
    bool under_apex = false;
};

struct ZoneData {
    ZoneConfig cfg;
    codec::Name apex_lc;
    uint32_t serial = 0;
    std::vector<uint8_t> soa_rdata;  // uncompressed, current serial
    uint32_t negative_ttl = 0;       // RFC 2308 §3: min(SOA TTL, MINIMUM)
    RelName mname, rname;
    // Every node with records, apex first; the rest in a stable order. AXFR walks this.
    std::vector<std::shared_ptr<const Node>> nodes;
    std::vector<std::shared_ptr<const Node>> ents;
    // Contiguous serial steps ending at `serial`, oldest first.
    std::vector<std::shared_ptr<const Diff>> history;

    std::vector<uint8_t> soa_rdata_with_serial(uint32_t s) const;
};

class ZoneSnapshot {
public:
    ZoneSnapshot() = default;
    ZoneSnapshot(std::vector<std::shared_ptr<const ZoneData>> zones, uint64_t generation);

    // Lookup by lowercased uncompressed name and its name_hash. Never allocates.
    HotNode find(const uint8_t* lc, size_t len, uint64_t hash) const {
        if (table_.empty()) return HotNode();
        size_t i = hash & mask_;
        // The table is at most half full, so an empty slot ends every probe;
        // the bound is only a guard.
        for (size_t n = 0; n <= mask_; ++n, i = (i + 1) & mask_) {
            const Slot& s = table_[i];
            if (s.hot == nullptr) return HotNode();
            if (s.hash == hash) {
                HotNode h(s.hot);
                if (h.owner_len() == len && std::memcmp(h.owner(), lc, len) == 0) return h;
            }
        }
        return HotNode();
    }
    HotNode find(const codec::Name& lc) const {
        std::span<const uint8_t> w = lc.wire();
        return find(w.data(), w.size(), name_hash(w.data(), w.size()));
    }

    size_t zone_count() const { return zones_.size(); }
    const ZoneData& zone(size_t i) const { return *zones_[i]; }
    std::shared_ptr<const ZoneData> zone_ptr(size_t i) const { return zones_[i]; }
    // The served zone holding `name` (deepest apex), if any.
    std::optional<size_t> zone_of(const codec::Name& name) const;
    // The zone with exactly this apex.
    std::optional<size_t> zone_by_apex(const codec::Name& apex) const;
    uint64_t generation() const { return generation_; }

private:
    struct Slot {
        uint64_t hash = 0;
        const uint8_t* hot = nullptr;  // Node::hot of the owner
    };
    void insert(const Node* n);

    std::vector<std::shared_ptr<const ZoneData>> zones_;
    std::vector<Slot> table_;
    size_t mask_ = 0;
    uint64_t generation_ = 0;
};

}  // namespace updproxy::control::zone
