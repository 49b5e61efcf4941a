// The shard's building blocks on their own: eight-byte case folding and name
// flattening against the codec's byte-wise versions (every byte value, every
// name in the corpus), the arena (contents kept, empty chunks given back, no
// growth under churn through new sizes), the open-addressing index against a
// model, and the hash reading only its bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "codec/message.hpp"
#include "dataplane/table/arena.hpp"
#include "dataplane/table/ascii8.hpp"
#include "dataplane/table/fast_hash.hpp"

namespace fs = std::filesystem;
using namespace updproxy;
using namespace updproxy::table;

namespace {

std::vector<uint8_t> read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(Ascii8, LowerMatchesTheCodecForEveryByteInEveryLane) {
    std::mt19937_64 rng(1);
    for (int lane = 0; lane < 8; ++lane) {
        for (int b = 0; b < 256; ++b) {
            uint8_t in[8], want[8], got[8];
            const uint64_t noise = rng();
            std::memcpy(in, &noise, 8);
            in[lane] = static_cast<uint8_t>(b);
            for (int i = 0; i < 8; ++i) want[i] = codec::ascii_lower(in[i]);
            uint64_t w;
            std::memcpy(&w, in, 8);
            w = lower8(w);
            std::memcpy(got, &w, 8);
            ASSERT_EQ(0, std::memcmp(got, want, 8)) << "byte " << b << " lane " << lane;
        }
    }
}

TEST(Ascii8, EqualFoldedAndLowerInPlaceMatchByteWise) {
    std::mt19937 rng(2);
    for (int round = 0; round < 20000; ++round) {
        const size_t n = rng() % 70;
        std::vector<uint8_t> a(n), lower(n);
        for (auto& c : a) c = static_cast<uint8_t>(rng() % 4 ? 'A' + rng() % 58 : rng() % 256);
        for (size_t i = 0; i < n; ++i) lower[i] = codec::ascii_lower(a[i]);
        std::vector<uint8_t> b = lower;
        if (n > 0 && rng() % 2) b[rng() % n] ^= static_cast<uint8_t>(1 + rng() % 255);
        bool want = true;
        for (size_t i = 0; i < n; ++i) want = want && codec::ascii_lower(a[i]) == b[i];
        ASSERT_EQ(equal_folded(a.data(), b.data(), n), want) << "round " << round;
        std::vector<uint8_t> c = a;
        lower_in_place(c.data(), n);
        ASSERT_EQ(c, lower);
    }
}

TEST(Ascii8, FlattenMatchesTheCodecOnEveryNameOfTheCorpus) {
    size_t names = 0, nsecs = 0;
    for (const auto& e : fs::recursive_directory_iterator(fs::path(UPDPROXY_CORPUS))) {
        if (!e.is_regular_file() || e.path().extension() != ".bin") continue;
        const auto wire = read_file(e.path());  // exactly sized: ASan sees a read past it
        auto m = codec::Message::parse(wire);
        if (!m.ok()) continue;
        for (auto s : {codec::Section::answer, codec::Section::authority,
                       codec::Section::additional}) {
            for (const auto& rr : m->records(s)) {
                uint8_t want[codec::kMaxNameWire], got[codec::kMaxNameWire + 8];
                size_t n = rr.owner.to_wire(want, true);
                ASSERT_EQ(flatten_name_lower(wire.data(),
                                             name_label_start(wire.data(), rr.owner.offset()),
                                             got),
                          n);
                ASSERT_EQ(0, std::memcmp(got, want, n)) << e.path();
                n = rr.owner.to_wire(want, false);
                ASSERT_EQ(flatten_name(wire.data(), rr.owner.offset(), got), n);
                ASSERT_EQ(0, std::memcmp(got, want, n)) << e.path();
                ++names;
                if (rr.type == codec::rrtype::NSEC && !rr.damaged()) {
                    // The shard's NSEC key: next name as sent, then the bitmap.
                    uint8_t canon[600], mine[600];
                    auto c = rr.rdata_uncompressed(canon, true);
                    ASSERT_TRUE(c.ok());
                    const size_t k = nsec_canonical(wire.data(), rr.rdata_offset(), rr.rdlength(), mine);
                    ASSERT_EQ(k, *c) << e.path();
                    ASSERT_EQ(0, std::memcmp(mine, canon, k)) << e.path();
                    ++nsecs;
                }
                if (rr.type == codec::rrtype::PTR || rr.type == codec::rrtype::SRV) {
                    const uint32_t skip = rr.type == codec::rrtype::SRV ? 6 : 0;
                    if (rr.rdlength() <= skip) continue;
                    uint8_t canon[600];
                    auto c = rr.rdata_uncompressed(canon, true);
                    ASSERT_TRUE(c.ok());
                    n = flatten_name_lower(wire.data(), rr.rdata_offset() + skip, got);
                    ASSERT_EQ(n + skip, *c);
                    ASSERT_EQ(0, std::memcmp(got, canon + skip, n)) << e.path();
                    ++names;
                }
            }
        }
    }
    EXPECT_GT(names, 500u);
    EXPECT_GT(nsecs, 20u);
    // A label in the first eight bytes (only a crafted pointer gets there):
    // read byte by byte, never before the buffer.
    const std::vector<uint8_t> tiny = {3, 'A', 'b', 'C', 0};
    uint8_t out[16];
    ASSERT_EQ(flatten_name_lower(tiny.data(), 0, out), 5u);
    EXPECT_EQ(0, std::memcmp(out, "\x03" "abc", 5));
}

TEST(Arena, RandomAllocationsKeepTheirContents) {
    Arena a;
    std::mt19937 rng(3);
    std::map<uint32_t, std::pair<size_t, uint8_t>> live;  // ref -> size, fill byte
    auto check = [&](uint32_t ref) {
        const auto [size, fill] = live[ref];
        const uint8_t* p = a.at(ref);
        for (size_t i = 0; i < size; ++i) {
            if (p[i] != fill) return false;
        }
        return true;
    };
    for (int step = 0; step < 60000; ++step) {
        if (live.empty() || rng() % 100 < 55) {
            size_t size = 1 + rng() % 300;
            if (rng() % 1000 == 0) size = Arena::kMaxBlock - rng() % 100;
            const uint32_t ref = a.alloc(size);
            ASSERT_NE(ref, 0u);
            ASSERT_EQ(reinterpret_cast<uintptr_t>(a.at(ref)) % Arena::kUnit, 0u);
            ASSERT_EQ(live.count(ref), 0u);
            const auto fill = static_cast<uint8_t>(rng());
            std::memset(a.at(ref), fill, size);
            live[ref] = {size, fill};
        } else {
            auto it = live.begin();
            std::advance(it, rng() % live.size());
            ASSERT_TRUE(check(it->first)) << "step " << step;
            a.free(it->first, it->second.first);
            live.erase(it);
        }
        if (step % 2000 == 0) {
            for (const auto& [ref, v] : live) ASSERT_TRUE(check(ref)) << "step " << step;
        }
    }
    for (const auto& [ref, v] : live) {
        ASSERT_TRUE(check(ref));
        a.free(ref, v.first);
    }
    EXPECT_LE(a.chunks_in_use(), 1u);  // only the chunk blocks are cut from
}

TEST(Arena, ChurnThroughNewSizesDoesNotGrow) {
    // Blocks that come and go with a new size each round: with free lists of
    // exact sizes alone every round would need fresh memory.
    Arena a;
    size_t most = 0;
    for (uint32_t round = 0; round < 400; ++round) {
        std::vector<uint32_t> refs;
        const size_t size = 40 + 4 * round;
        for (int i = 0; i < 3000; ++i) refs.push_back(a.alloc(size));
        most = std::max(most, a.chunks_in_use());
        for (uint32_t r : refs) a.free(r, size);
    }
    // One round at the largest size needs 3000 * 1636 bytes: 38 chunks.
    EXPECT_LE(most, 40u);
    EXPECT_LE(a.chunks_in_use(), 1u);
}

TEST(OpenIndex, MatchesAMultimap) {
    OpenIndex idx(16);
    std::multimap<uint32_t, uint32_t> model;
    std::mt19937 rng(4);
    uint32_t next = 0;
    for (int step = 0; step < 100000; ++step) {
        const uint32_t h = rng() % 64 * 0x9E3779B9u;  // few hashes: long runs
        if (model.empty() || rng() % 100 < 55) {
            idx.insert(h, next);
            model.emplace(h, next++);
        } else {
            auto it = model.begin();
            std::advance(it, rng() % model.size());
            idx.erase(it->first, it->second);
            model.erase(it);
        }
        ASSERT_EQ(idx.size(), model.size());
        const uint32_t q = rng() % 64 * 0x9E3779B9u;
        std::set<uint32_t> want;
        for (auto [b, e] = model.equal_range(q); b != e; ++b) want.insert(b->second);
        for (uint32_t v : want) {
            ASSERT_EQ(idx.find(q, [&](uint32_t x) { return x == v; }), v);
        }
        ASSERT_EQ(idx.find(q, [](uint32_t) { return false; }), OpenIndex::kEmpty);
        const uint32_t first = idx.first(q);
        ASSERT_EQ(first == OpenIndex::kEmpty, want.empty());
        if (!want.empty()) {
            EXPECT_EQ(want.count(first), 1u);
        }
    }
}

TEST(FastHash, ReadsOnlyItsBytesAndSeesEachOfThem) {
    std::mt19937 rng(5);
    for (size_t n = 0; n <= 200; ++n) {
        std::vector<uint8_t> buf(n);  // exactly sized: ASan sees a read past it
        for (auto& b : buf) b = static_cast<uint8_t>(rng());
        const uint64_t h = hash_bytes(buf.data(), n, 7);
        EXPECT_EQ(h, hash_bytes(buf.data(), n, 7));
        EXPECT_NE(h, hash_bytes(buf.data(), n, 8));
        for (size_t i = 0; i < n; ++i) {
            buf[i] ^= 1;
            EXPECT_NE(h, hash_bytes(buf.data(), n, 7)) << n << " " << i;
            buf[i] ^= 1;
        }
    }
}
