// The control plane's merged mirror of the shards, fed real events from real
// shards (two of them, as two workers would be).
#include <gtest/gtest.h>

#include <set>

#include "control/record_store.hpp"
#include "dataplane/table/shard.hpp"
#include "dataplane/table/test_util.hpp"

using namespace updproxy;
using namespace updproxy::control;
using namespace updproxy::table;
using namespace updproxy::table::testing;

namespace {

struct Two {
    EventRing r0{1 << 16}, r1{1 << 16};
    Shard s0, s1;
    RecordStore store;
    std::vector<Applied> last;
    Two() : s0(cfg(0), &r0), s1(cfg(1), &r1) {}
    static ShardConfig cfg(uint16_t id) {
        ShardConfig c;
        c.shard_id = id;
        return c;
    }
    void feed(Shard& s, const std::vector<Rr>& rrs, uint64_t now) {
        auto wire = response(rrs);
        auto m = codec::Message::parse(wire);
        s.ingest(*m, Origin{}, now);
        s.flush_events();
    }
    // Applies all pending events; returns the changes as (change, owner) pairs.
    std::vector<std::pair<Change, std::string>> pump() {
        std::vector<std::pair<Change, std::string>> out;
        for (EventRing* r : {&r0, &r1}) {
            r->consume([&](std::span<const uint8_t> b) {
                auto e = decode_event(b);
                ASSERT_TRUE(e.has_value());
                last.clear();
                store.apply(*e, &last);
                for (const auto& a : last) out.emplace_back(a.change, a.record->owner.to_string());
            });
        }
        return out;
    }
};

constexpr uint64_t T0 = 1'000'000;

}  // namespace

TEST(RecordStore, AddTtlChangeRemove) {
    Two t;
    t.feed(t.s0, {{"printer1.local.", codec::rrtype::A, 120, a(10)}}, T0);
    auto ch = t.pump();
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch[0].first, Change::added);
    EXPECT_EQ(ch[0].second, "printer1.local.");
    t.feed(t.s0, {{"printer1.local.", codec::rrtype::A, 4500, a(10)}}, T0 + 1000);
    ch = t.pump();
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch[0].first, Change::ttl_changed);
    t.feed(t.s0, {{"printer1.local.", codec::rrtype::A, 0, a(10)}}, T0 + 2000);
    t.s0.advance(T0 + 3100);
    t.s0.flush_events();
    ch = t.pump();
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch[0].first, Change::removed);
    EXPECT_EQ(ch[0].second, "printer1.local.");  // the removed record is still readable
    EXPECT_EQ(t.store.size(), 0u);
}

TEST(RecordStore, ARecordInTwoShardsIsAddedOnceAndRemovedWithTheLast) {
    Two t;
    t.feed(t.s0, {{"printer1.local.", codec::rrtype::A, 120, a(10)}}, T0);
    t.feed(t.s1, {{"PRINTER1.local.", codec::rrtype::A, 120, a(10)}}, T0);
    auto ch = t.pump();
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(t.store.size(), 1u);
    t.feed(t.s0, {{"printer1.local.", codec::rrtype::A, 0, a(10)}}, T0 + 1000);
    t.s0.advance(T0 + 2100);
    t.s0.flush_events();
    EXPECT_TRUE(t.pump().empty());  // shard 1 still has it
    t.s1.advance(T0 + 121'000);
    t.s1.flush_events();
    ch = t.pump();
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch[0].first, Change::removed);
}

TEST(RecordStore, ResyncRepairsLostEvents) {
    Two t;
    t.feed(t.s0, {{"a.local.", codec::rrtype::A, 120, a(1)}, {"b.local.", codec::rrtype::A, 120, a(2)}},
           T0);
    t.pump();
    ASSERT_EQ(t.store.size(), 2u);
    // Lose events: b goes away and c arrives while nobody reads the ring.
    t.feed(t.s0, {{"b.local.", codec::rrtype::A, 0, a(2)}}, T0 + 1000);
    t.s0.advance(T0 + 2100);
    t.feed(t.s0, {{"c.local.", codec::rrtype::A, 120, a(3)}}, T0 + 2200);
    t.r0.consume([](std::span<const uint8_t>) {});  // dropped on the floor
    t.s0.request_resync();
    t.s0.advance(T0 + 2300);
    t.s0.flush_events();
    auto ch = t.pump();
    std::set<std::pair<Change, std::string>> got(ch.begin(), ch.end());
    EXPECT_TRUE(got.count({Change::added, "c.local."}));
    EXPECT_TRUE(got.count({Change::removed, "b.local."}));
    EXPECT_EQ(t.store.size(), 2u);
}

TEST(RecordStore, CanonicalRdataComparesNamesCaseInsensitively) {
    const auto p1 = codec::rdata::name(name("Lab\\032Printer._ipp._tcp.local."));
    const auto p2 = codec::rdata::name(name("lab\\032printer._IPP._tcp.local."));
    EXPECT_EQ(canonical_rdata(codec::rrtype::PTR, p1), canonical_rdata(codec::rrtype::PTR, p2));
    const auto s1 = codec::rdata::srv(0, 0, 0x4141, name("Host.local."));
    const auto s2 = codec::rdata::srv(0, 0, 0x6161, name("host.local."));
    EXPECT_NE(canonical_rdata(codec::rrtype::SRV, s1), canonical_rdata(codec::rrtype::SRV, s2));
    const std::vector<uint8_t> txt = {3, 'A', '=', 'B'}, txt2 = {3, 'a', '=', 'b'};
    EXPECT_NE(canonical_rdata(codec::rrtype::TXT, txt), canonical_rdata(codec::rrtype::TXT, txt2));
}
