// Storage parts of a shard (one thread each, no locks):
//
// Arena      variable-size blocks (records with their RDATA, owner names,
//            hosts) packed into 128 KiB chunks and named by 32-bit references
//            in 4-byte units instead of pointers: no per-block header, no
//            allocator size-class rounding beyond 4 bytes, no malloc per
//            record. A freed block goes on a free list of its exact size and is
//            reused first (what a shard frees it mostly allocates again: the
//            same devices come back). Each chunk counts its live bytes; a chunk
//            whose blocks are all free is given back (its free blocks leave
//            their lists), so churn through ever new sizes - records that come
//            and go with a different RDATA length each time - cannot make the
//            arena grow without bound. Blocks never move: a reference stays
//            valid until its block is freed. Up to 16 GiB.
// OpenIndex  32-bit hash -> 32-bit value, open addressing with linear probing
//            and backward-shift deletion (no tombstones, probes stay short);
//            grows by doubling at 7/8 load. The caller confirms a match.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace updproxy::table {

class Arena {
public:
    static constexpr size_t kUnit = 4;
    static constexpr unsigned kChunkShift = 15;  // units per chunk
    static constexpr uint32_t kChunkUnits = 1u << kChunkShift;
    static constexpr size_t kChunkBytes = size_t{kChunkUnits} * kUnit;
    static constexpr size_t kMaxBlock = kChunkBytes - kUnit;
    // Chunk (1 << 17) - 1 is never made: no reference is ever 0xFFFFFFFF.
    static constexpr size_t kMaxChunks = (size_t{1} << (32 - kChunkShift)) - 1;
    // The smallest block: a free block holds its size and four references
    // (its neighbours on the list of its size and on its chunk's list).
    static constexpr size_t kMinBlock = 20;

    Arena() = default;
    ~Arena() {
        for (const Chunk& c : chunks_) std::free(c.mem);
        std::free(spare_);
    }
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    static uint32_t units(size_t bytes) {
        return static_cast<uint32_t>(((bytes < kMinBlock ? kMinBlock : bytes) + kUnit - 1) / kUnit);
    }

    // A block of `bytes` (1..kMaxBlock), 4-byte aligned; 0 when out of memory
    // or references. Reference 0 is never a block.
    uint32_t alloc(size_t bytes) {
        const uint32_t u = units(bytes);
        uint32_t ref;
        if (u < free_.size() && free_[u] != 0) {
            ref = free_[u];
            unlink(ref);
        } else {
            if (u > end_ - top_ && !new_chunk()) return 0;
            ref = top_;
            top_ += u;
        }
        chunks_[ref >> kChunkShift].live += u;
        return ref;
    }

    // `bytes` as given to alloc().
    void free(uint32_t ref, size_t bytes) {
        if (ref == 0) return;
        const uint32_t u = units(bytes);
        const uint32_t ci = ref >> kChunkShift;
        push_free(ref, u);
        if ((chunks_[ci].live -= u) == 0 && ci != bump_) release(ci);
    }

    uint8_t* at(uint32_t ref) const {
        return chunks_[ref >> kChunkShift].mem + size_t{ref & (kChunkUnits - 1)} * kUnit;
    }

    // Everything held: chunks and the tables.
    size_t reserved_bytes() const {
        return (chunks_in_use() + (spare_ ? 1 : 0)) * kChunkBytes +
               chunks_.capacity() * sizeof(Chunk) + free_chunks_.capacity() * sizeof(uint32_t) +
               free_.capacity() * sizeof(uint32_t);
    }
    size_t chunks_in_use() const { return chunks_.size() - free_chunks_.size(); }

private:
    struct Chunk {
        uint8_t* mem;   // null when given back
        uint32_t live;  // units in live blocks
        uint32_t free;  // its first free block (0 = none)
    };
    enum Field { kSize = 0, kNext = 1, kPrev = 2, kChunkNext = 3, kChunkPrev = 4 };
    uint32_t& field(uint32_t ref, Field f) const {
        return *reinterpret_cast<uint32_t*>(at(ref) + kUnit * f);
    }

    void push_free(uint32_t ref, uint32_t u) {
        if (free_.size() <= u) free_.resize(u + 1, 0);
        Chunk& c = chunks_[ref >> kChunkShift];
        field(ref, kSize) = u;
        field(ref, kNext) = free_[u];
        field(ref, kPrev) = 0;
        if (free_[u] != 0) field(free_[u], kPrev) = ref;
        free_[u] = ref;
        field(ref, kChunkNext) = c.free;
        field(ref, kChunkPrev) = 0;
        if (c.free != 0) field(c.free, kChunkPrev) = ref;
        c.free = ref;
    }

    void unlink(uint32_t ref) {
        const uint32_t next = field(ref, kNext), prev = field(ref, kPrev);
        if (prev != 0) {
            field(prev, kNext) = next;
        } else {
            free_[field(ref, kSize)] = next;
        }
        if (next != 0) field(next, kPrev) = prev;
        Chunk& c = chunks_[ref >> kChunkShift];
        const uint32_t cnext = field(ref, kChunkNext), cprev = field(ref, kChunkPrev);
        if (cprev != 0) {
            field(cprev, kChunkNext) = cnext;
        } else {
            c.free = cnext;
        }
        if (cnext != 0) field(cnext, kChunkPrev) = cprev;
    }

    // Every block of chunk `ci` is free: take them off their lists and give
    // the chunk back (one is kept spare for the next new_chunk()).
    void release(uint32_t ci) {
        Chunk& c = chunks_[ci];
        while (c.free != 0) unlink(c.free);
        if (spare_ == nullptr) {
            spare_ = c.mem;
        } else {
            std::free(c.mem);
        }
        c.mem = nullptr;
        free_chunks_.push_back(ci);
    }

    bool new_chunk() {
        const bool reuse = !free_chunks_.empty();
        if (!reuse && chunks_.size() >= kMaxChunks) return false;
        uint8_t* mem = spare_ ? spare_ : static_cast<uint8_t*>(std::malloc(kChunkBytes));
        if (mem == nullptr) return false;
        spare_ = nullptr;
        uint32_t ci;
        if (reuse) {
            ci = free_chunks_.back();
            free_chunks_.pop_back();
            chunks_[ci] = {mem, 0, 0};
        } else {
            ci = static_cast<uint32_t>(chunks_.size());
            chunks_.push_back({mem, 0, 0});
        }
        const uint32_t old = bump_;
        if (end_ != 0) {
            // The unused tail of the chunk left behind becomes a free block
            // (when it can hold one: a few bytes may be lost), and the chunk
            // itself may already be empty.
            if (end_ - top_ >= units(kMinBlock)) push_free(top_, end_ - top_);
            bump_ = ci;
            if (chunks_[old].live == 0) release(old);
        }
        bump_ = ci;
        top_ = ci << kChunkShift;
        end_ = top_ + kChunkUnits;
        if (ci == 0) top_ = 1;  // reference 0 means "none"
        return true;
    }

    std::vector<Chunk> chunks_;
    std::vector<uint32_t> free_chunks_;  // indexes of given-back chunks
    uint8_t* spare_ = nullptr;
    uint32_t bump_ = 0;  // the chunk new blocks are cut from
    uint32_t top_ = 0;   // its next unused unit
    uint32_t end_ = 0;   // its end
    std::vector<uint32_t> free_;  // by size in units: first free block (0 = none)
};

struct IndexSlot {
    uint32_t hash;
    uint32_t val;  // OpenIndex::kEmpty = free slot
};

class OpenIndex {
public:
    static constexpr uint32_t kEmpty = 0xFFFFFFFFu;

    explicit OpenIndex(size_t slots = 1024) : s_(slots, IndexSlot{0, kEmpty}), mask_(slots - 1) {}

    void prefetch(uint32_t h) const { __builtin_prefetch(&s_[h & mask_]); }

    // The first value stored under hash h (a hint for prefetching; the caller
    // confirms), kEmpty if none.
    uint32_t first(uint32_t h) const {
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const IndexSlot& s = s_[i];
            if (s.val == kEmpty || s.hash == h) return s.val;
        }
    }

    // The value stored under hash h for which eq(value) holds, kEmpty if none.
    template <class Eq>
    uint32_t find(uint32_t h, Eq&& eq) const {
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const IndexSlot& s = s_[i];
            if (s.val == kEmpty) return kEmpty;
            if (s.hash == h && eq(s.val)) return s.val;
        }
    }

    void insert(uint32_t h, uint32_t v) {
        if ((used_ + 1) * 8 > s_.size() * 7) grow();
        size_t i = h & mask_;
        while (s_[i].val != kEmpty) i = (i + 1) & mask_;
        s_[i] = {h, v};
        ++used_;
    }

    // `v` must be stored under `h`.
    void erase(uint32_t h, uint32_t v) {
        size_t i = h & mask_;
        while (s_[i].val != v) i = (i + 1) & mask_;
        // Backward shift: move each later entry of the run back into the hole
        // unless its home lies cyclically in (hole, entry].
        size_t j = i;
        for (;;) {
            s_[i].val = kEmpty;
            for (;;) {
                j = (j + 1) & mask_;
                if (s_[j].val == kEmpty) {
                    --used_;
                    return;
                }
                const size_t home = s_[j].hash & mask_;
                const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
                if (!stays) break;
            }
            s_[i] = s_[j];
            i = j;
        }
    }

    size_t size() const { return used_; }
    size_t reserved_bytes() const { return s_.capacity() * sizeof(IndexSlot); }

private:
    void grow() {
        std::vector<IndexSlot> old(s_.size() * 2, IndexSlot{0, kEmpty});
        old.swap(s_);
        mask_ = s_.size() - 1;
        for (const IndexSlot& s : old) {
            if (s.val == kEmpty) continue;
            size_t i = s.hash & mask_;
            while (s_[i].val != kEmpty) i = (i + 1) & mask_;
            s_[i] = s;
        }
    }

    std::vector<IndexSlot> s_;
    size_t mask_;
    size_t used_ = 0;
};

}  // namespace updproxy::table
