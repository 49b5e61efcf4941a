// ZoneStore: serials, IXFR history, re-rendering of dependents, snapshots.
#include "control/zone/zone_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "control/zone/answer.hpp"
#include "control/zone/test_util.hpp"

namespace updproxy::control::zone {
namespace {

using namespace test;
namespace rt = codec::rrtype;

PubRecord rec(const std::string& owner, uint16_t type, std::vector<uint8_t> rd, uint32_t ttl = 120) {
    return PubRecord{N(owner), type, ttl, std::move(rd)};
}
std::vector<uint8_t> a4(uint8_t last) { return {192, 0, 2, last}; }

ZoneConfig lab() {
    ZoneConfig c;
    c.apex = N("lab.example.edu.");
    c.mname = N("ns1.lab.example.edu.");
    c.rname = N("hostmaster.lab.example.edu.");
    c.serial = 100;
    c.history = 3;
    return c;
}

Parsed ask(const ZoneSnapshot& s, const std::string& name, uint16_t type) {
    std::vector<uint8_t> out(4096);
    auto q = make_query(name, type);
    ClientInfo tcp;
    tcp.tcp = true;
    auto r = answer_wire(q, s, tcp, out);
    return parse_response(std::span<const uint8_t>(out.data(), r.size));
}

TEST(ZoneStore, SerialBumpsOncePerChangingCommit) {
    ZoneStore s({lab()});
    std::vector<std::pair<std::string, uint32_t>> changes;
    s.on_change([&](const codec::Name& apex, uint32_t serial) {
        changes.push_back({apex.to_string(), serial});
    });
    EXPECT_EQ(s.snapshot()->zone(0).serial, 100u);
    EXPECT_TRUE(s.add(rec("a.lab.example.edu.", rt::A, a4(1))));
    EXPECT_TRUE(s.add(rec("b.lab.example.edu.", rt::A, a4(2))));
    s.commit();
    EXPECT_EQ(s.snapshot()->zone(0).serial, 101u);
    s.commit();  // nothing changed
    EXPECT_EQ(s.snapshot()->zone(0).serial, 101u);
    // Added and removed within one batch: no change, no serial.
    s.add(rec("c.lab.example.edu.", rt::A, a4(3)));
    s.remove(rec("c.lab.example.edu.", rt::A, a4(3)));
    s.commit();
    EXPECT_EQ(s.snapshot()->zone(0).serial, 101u);
    // Re-adding an existing record with the same TTL is no change either.
    s.add(rec("a.lab.example.edu.", rt::A, a4(1)));
    s.commit();
    EXPECT_EQ(s.snapshot()->zone(0).serial, 101u);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].second, 101u);
    // The SOA served follows.
    Parsed p = ask(*s.snapshot(), "lab.example.edu.", rt::SOA);
    ASSERT_EQ(p.an.size(), 1u);
    EXPECT_NE(p.an[0].find("00000065"), std::string::npos) << p.an[0];  // 101
}

TEST(ZoneStore, RejectsOutsideAndBadRdata) {
    ZoneStore s({lab()});
    EXPECT_FALSE(s.add(rec("x.example.com.", rt::A, a4(1))));
    EXPECT_FALSE(s.add(rec("x.lab.example.edu.", rt::A, {1, 2, 3})));
    EXPECT_FALSE(s.add(rec("x.lab.example.edu.", rt::SOA, {0})));
    EXPECT_FALSE(s.add(rec("x.lab.example.edu.", rt::PTR, {3, 'a'})));
    EXPECT_EQ(s.stats().rejected_outside, 1u);
    EXPECT_EQ(s.stats().rejected_type, 3u);
}

TEST(ZoneStore, HistoryRecordsNetDifferencesAndIsBounded) {
    ZoneStore s({lab()});
    s.add(rec("a.lab.example.edu.", rt::A, a4(1)));
    s.commit();  // 101
    s.remove(rec("a.lab.example.edu.", rt::A, a4(1)));
    s.add(rec("a.lab.example.edu.", rt::A, a4(9)));
    s.commit();  // 102
    auto snap = s.snapshot();
    const auto& h = snap->zone(0).history;
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[1]->from, 101u);
    EXPECT_EQ(h[1]->to, 102u);
    ASSERT_EQ(h[1]->removed.size(), 1u);
    ASSERT_EQ(h[1]->added.size(), 1u);
    EXPECT_EQ(h[1]->removed[0].rdata, a4(1));
    EXPECT_EQ(h[1]->added[0].rdata, a4(9));
    // A TTL change is a delete and an add of the whole RRset.
    s.add(rec("a.lab.example.edu.", rt::A, a4(9), 30));
    s.commit();  // 103
    const auto& h3 = s.snapshot()->zone(0).history;
    EXPECT_EQ(h3.back()->removed[0].ttl, 120u);
    EXPECT_EQ(h3.back()->added[0].ttl, 30u);
    for (int i = 0; i < 5; ++i) {
        s.add(rec("n" + std::to_string(i) + ".lab.example.edu.", rt::A, a4(static_cast<uint8_t>(i))));
        s.commit();
    }
    auto last = s.snapshot();
    EXPECT_EQ(last->zone(0).history.size(), 3u);  // history = 3
    EXPECT_EQ(last->zone(0).history.back()->to, last->zone(0).serial);
    for (size_t i = 1; i < 3; ++i) {
        EXPECT_EQ(last->zone(0).history[i]->from, last->zone(0).history[i - 1]->to);
    }
}

TEST(ZoneStore, DependentsAreReRenderedAndSnapshotsStayImmutable) {
    ZoneStore s({lab()});
    auto srv = codec::rdata::srv(0, 0, 80, N("host.lab.example.edu."));
    s.add(rec("_http._tcp.lab.example.edu.", rt::PTR, codec::rdata::name(N("web._http._tcp.lab.example.edu."))));
    s.add(rec("web._http._tcp.lab.example.edu.", rt::SRV, srv));
    s.commit();
    auto before = s.snapshot();
    Parsed p0 = ask(*before, "_http._tcp.lab.example.edu.", rt::PTR);
    EXPECT_EQ(p0.ar.size(), 1u);  // SRV only: the host has no address yet
    // The host's address appears: the PTR node (two hops away) is re-rendered.
    s.add(rec("host.lab.example.edu.", rt::AAAA, std::vector<uint8_t>(16, 1)));
    s.commit();
    Parsed p1 = ask(*s.snapshot(), "_http._tcp.lab.example.edu.", rt::PTR);
    EXPECT_EQ(p1.ar_types, (std::set<std::string>{"web._http._tcp.lab.example.edu. SRV",
                                                  "host.lab.example.edu. AAAA"}));
    // The old snapshot still answers as it did.
    Parsed again = ask(*before, "_http._tcp.lab.example.edu.", rt::PTR);
    EXPECT_EQ(again.ar.size(), 1u);
    // The instance goes away: the PTR's additionals shrink, the name is NXDOMAIN.
    s.remove(rec("web._http._tcp.lab.example.edu.", rt::SRV, srv));
    s.commit();
    Parsed p2 = ask(*s.snapshot(), "_http._tcp.lab.example.edu.", rt::PTR);
    EXPECT_TRUE(p2.ar.empty());
    EXPECT_EQ(ask(*s.snapshot(), "web._http._tcp.lab.example.edu.", rt::SRV).h.rcode(),
              codec::rcode::NXDOMAIN);
    // ..and so is its empty non-terminal parent once nothing is below it.
    s.remove(rec("_http._tcp.lab.example.edu.", rt::PTR, codec::rdata::name(N("web._http._tcp.lab.example.edu."))));
    s.commit();
    EXPECT_EQ(ask(*s.snapshot(), "_tcp.lab.example.edu.", rt::PTR).h.rcode(), codec::rcode::NXDOMAIN);
}

TEST(ZoneStore, RrsetTtlIsTheSmallest) {
    ZoneStore s({lab()});
    s.add(rec("m.lab.example.edu.", rt::A, a4(1), 300));
    s.add(rec("m.lab.example.edu.", rt::A, a4(2), 60));
    s.commit();
    Parsed p = ask(*s.snapshot(), "m.lab.example.edu.", rt::A);
    ASSERT_EQ(p.an.size(), 2u);
    EXPECT_NE(p.an[0].find(" A 60 "), std::string::npos);
    EXPECT_NE(p.an[1].find(" A 60 "), std::string::npos);
}

TEST(ZoneStore, ReadersHoldRetiredSnapshots) {
    ZoneStore s({lab()});
    auto r = s.make_reader();
    ASSERT_TRUE(r);
    const ZoneSnapshot* held = r->enter();
    uint64_t g = held->generation();
    s.add(rec("a.lab.example.edu.", rt::A, a4(1)));
    s.commit();
    // Still readable: the reader has not left.
    EXPECT_EQ(held->generation(), g);
    EXPECT_EQ(s.stats().snapshots_freed, 0u);
    r->leave();
    s.reclaim();
    EXPECT_EQ(s.stats().snapshots_freed, 1u);
    const ZoneSnapshot* now = r->enter();
    EXPECT_GT(now->generation(), g);
    r->leave();
    EXPECT_EQ(s.make_reader() != nullptr, true);
}

// A reader thread answering in a loop while the control thread commits:
// under ASan this catches a snapshot freed too early.
TEST(ZoneStore, ConcurrentReaderAndCommits) {
    ZoneStore s({lab()});
    auto r = s.make_reader();
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> answered{0};
    std::thread t([&] {
        std::vector<uint8_t> out(4096);
        auto q = make_query("a.lab.example.edu.", rt::A);
        while (!stop.load()) {
            const ZoneSnapshot* snap = r->enter();
            auto res = answer_wire(q, *snap, ClientInfo{}, out);
            if (res.what == Disposition::reply) answered.fetch_add(1);
            r->leave();
        }
    });
    // At least 300 commits, and on until the reader has answered a few
    // hundred times (it may start late), bounded in time.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0; i < 300 || (answered.load() < 300 && std::chrono::steady_clock::now() < until);
         ++i) {
        if (i % 2 == 0) {
            s.add(rec("a.lab.example.edu.", rt::A, a4(static_cast<uint8_t>(i % 256))));
        } else {
            s.remove(rec("a.lab.example.edu.", rt::A, a4(static_cast<uint8_t>((i - 1) % 256))));
        }
        s.commit();
    }
    stop.store(true);
    t.join();
    EXPECT_GT(answered.load(), 0u);
    s.reclaim();
    EXPECT_EQ(s.stats().snapshots_freed, s.stats().snapshots_retired);
}

TEST(ZoneStore, RecordsListsThePublishedContent) {
    ZoneStore s({lab()});
    s.add(rec("A.lab.example.edu.", rt::A, a4(1)));
    s.add(rec("b.lab.example.edu.", rt::TXT, {3, 'a', 'b', 'c'}));
    auto v = s.records(0);
    EXPECT_EQ(v.size(), 2u);
}

}  // namespace
}  // namespace updproxy::control::zone
