// Active discovery: refresh queries gathered per host, paced, and the
// enumeration cycle with known-answer suppression and TC continuation.
#include <gtest/gtest.h>

#include <set>

#include "codec/message.hpp"
#include "control/discovery.hpp"
#include "dataplane/table/shard.hpp"
#include "dataplane/table/test_util.hpp"

using namespace updproxy;
using namespace updproxy::control;
using namespace updproxy::table;
using namespace updproxy::table::testing;
namespace rt = updproxy::codec::rrtype;

namespace {

struct Sent {
    uint16_t link;
    bool multicast;
    std::array<uint8_t, 16> ip{};
    std::vector<uint8_t> payload;
    uint64_t at;
};

struct FakeSender : QuerySender {
    std::vector<Sent> sent;
    uint64_t now = 0;
    bool send_query(uint16_t link, bool multicast, const uint8_t* ip, const uint8_t*,
                    const std::vector<uint8_t>& payload) override {
        Sent s{link, multicast, {}, payload, now};
        if (ip) std::memcpy(s.ip.data(), ip, 4);
        sent.push_back(std::move(s));
        return true;
    }
};

dataplane::LinkSpec link_v4() {
    dataplane::LinkSpec l;
    l.name = "lab";
    l.prefix = {192, 0, 2, 0};
    l.prefix_len = 24;
    l.has_address = true;
    l.address = {192, 0, 2, 1};
    return l;
}

struct Fixture {
    EventRing ring{1 << 22};
    Shard shard{ShardConfig{}, &ring};
    RecordStore store;
    FakeSender sender;
    DiscoveryOptions opts;
    std::unique_ptr<Discovery> d;
    uint64_t now = 1'000'000;
    std::vector<const Record*> due;

    explicit Fixture(DiscoveryOptions o = {}) : opts(o) {
        d = std::make_unique<Discovery>(opts, std::vector<dataplane::LinkSpec>{link_v4()}, &sender);
    }
    void feed(const std::vector<Rr>& rrs, uint8_t host = 10) {
        auto wire = response(rrs);
        auto m = codec::Message::parse(wire);
        ASSERT_TRUE(m.ok());
        Origin o;
        const uint8_t ip[4] = {192, 0, 2, host};
        o.host = HostAddr::from_v4(ip);
        shard.ingest(*m, o, now);
        pump();
    }
    void pump() {
        shard.flush_events();
        std::vector<Applied> ch;
        ring.consume([&](std::span<const uint8_t> b) {
            auto e = decode_event(b);
            ch.clear();
            store.apply(*e, &ch);
            for (const auto& a : ch) {
                if (a.change == Change::refresh_due) d->refresh_due(*a.record, now);
            }
        });
    }
    void run_until(uint64_t t) {
        while (now < t) {
            now += 50;
            sender.now = now;
            shard.advance(now);
            pump();
            d->tick(store, now);
        }
    }
};

codec::Message parse(const std::vector<uint8_t>& p) {
    auto m = codec::Message::parse(p);
    EXPECT_TRUE(m.ok()) << codec::reason_name(m.reason());
    return *m;
}

}  // namespace

TEST(Discovery, RefreshQueriesGatherOneHostsRecords) {
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    Fixture f(o);
    f.d->tick(f.store, f.now);  // start: the first enumeration cycle
    f.run_until(f.now + 10'000);
    f.sender.sent.clear();
    f.feed({{"Lab Printer._ipp._tcp.local.", rt::SRV, 30, codec::rdata::srv(0, 0, 631, name("printer1.local.")), true},
            {"Lab Printer._ipp._tcp.local.", rt::TXT, 30, {0}, true},
            {"printer1.local.", rt::A, 30, a(10), true}});
    f.feed({{"other.local.", rt::A, 30, a(11), true}}, 11);
    f.run_until(f.now + 26'000);  // refresh due 5-10 s before expiry at +30 s
    std::vector<Sent> unicast;
    for (const auto& s : f.sender.sent) {
        if (!s.multicast) unicast.push_back(s);
    }
    ASSERT_EQ(unicast.size(), 2u);  // one per host, not one per record
    size_t three = 0;
    for (const auto& s : unicast) {
        const auto m = parse(s.payload);
        EXPECT_FALSE(m.header().qr());
        EXPECT_EQ(m.header().id, 0);
        EXPECT_EQ(m.count(codec::Section::answer), 0);  // no known answers: we want them back
        if (m.count(codec::Section::question) == 3) {
            ++three;
            EXPECT_EQ(s.ip[3], 10);
        } else {
            EXPECT_EQ(m.count(codec::Section::question), 1);
            EXPECT_EQ(s.ip[3], 11);
        }
    }
    EXPECT_EQ(three, 1u);
    EXPECT_EQ(f.d->stats().refresh_questions, 4u);
}

TEST(Discovery, QueriesArePacedPerLink) {
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    o.link_qps = 10;
    o.burst = 5;
    o.refresh_gather_ms = 0;
    Fixture f(o);
    f.d->tick(f.store, f.now);
    f.run_until(f.now + 10'000);
    f.sender.sent.clear();
    // 100 hosts, all due at the same moment.
    for (int h = 0; h < 100; ++h) {
        f.feed({{"h" + std::to_string(h) + ".local.", rt::A, 60, a(static_cast<uint8_t>(h + 20)), true}},
               static_cast<uint8_t>(h + 20));
    }
    const uint64_t start = f.now;
    f.run_until(start + 60'000);
    ASSERT_EQ(f.sender.sent.size(), 100u);
    // Within any one second: at most the rate plus the bucket depth.
    for (const auto& s : f.sender.sent) {
        size_t in_window = 0;
        for (const auto& t : f.sender.sent) in_window += t.at >= s.at && t.at < s.at + 1000;
        EXPECT_LE(in_window, 15u);
    }
    // And all of them before the records expire.
    for (const auto& s : f.sender.sent) EXPECT_LT(s.at, start + 60'000);
}

TEST(Discovery, EnumerationStepsWithKnownAnswers) {
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    o.enumerate_repeats = 0;
    Fixture f(o);
    f.feed({{"_services._dns-sd._udp.local.", rt::PTR, 4500, codec::rdata::name(name("_ipp._tcp.local."))},
            {"_ipp._tcp.local.", rt::PTR, 4500, codec::rdata::name(name("A._ipp._tcp.local."))},
            {"_ipp._tcp.local.", rt::PTR, 4500, codec::rdata::name(name("B._ipp._tcp.local."))},
            {"A._ipp._tcp.local.", rt::SRV, 120, codec::rdata::srv(0, 0, 631, name("a.local.")), true},
            {"A._ipp._tcp.local.", rt::TXT, 4500, {0}, true},
            {"a.local.", rt::A, 120, a(10), true}});
    f.d->tick(f.store, f.now);
    f.run_until(f.now + 8'000);
    ASSERT_GE(f.sender.sent.size(), 3u);
    // Step 0: the service type enumeration, QU, with our PTR as known answer.
    auto m0 = parse(f.sender.sent[0].payload);
    EXPECT_TRUE(f.sender.sent[0].multicast);
    ASSERT_EQ(m0.count(codec::Section::question), 1);
    EXPECT_EQ(m0.questions().begin()->name.to_string(), "_services._dns-sd._udp.local.");
    EXPECT_TRUE(m0.questions().begin()->qu());
    EXPECT_EQ(m0.count(codec::Section::answer), 1);
    // Step 1: the instances of _ipp._tcp, both known answers listed.
    auto m1 = parse(f.sender.sent[1].payload);
    EXPECT_EQ(m1.questions().begin()->name.to_string(), "_ipp._tcp.local.");
    EXPECT_EQ(m1.count(codec::Section::answer), 2);
    // Step 2: B has neither SRV nor TXT.
    auto m2 = parse(f.sender.sent[2].payload);
    std::set<std::string> asked;
    for (const auto& q : m2.questions()) asked.insert(q.name.to_string() + " " + codec::type_name(q.type));
    EXPECT_EQ(asked, (std::set<std::string>{"B._ipp._tcp.local. SRV", "B._ipp._tcp.local. TXT"}));
}

TEST(Discovery, KnownAnswersSpillIntoContinuationPacketsWithTc) {
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    o.enumerate_repeats = 0;
    o.burst = 100;
    Fixture f(o);
    std::vector<Rr> rrs{{"_services._dns-sd._udp.local.", rt::PTR, 4500,
                         codec::rdata::name(name("_airplay._tcp.local."))}};
    for (int i = 0; i < 300; ++i) {
        rrs.push_back({"_airplay._tcp.local.", rt::PTR, 4500,
                       codec::rdata::name(name("Speaker number " + std::to_string(i) + "._airplay._tcp.local."))});
    }
    for (size_t i = 0; i < rrs.size(); i += 40) {
        f.feed(std::vector<Rr>(rrs.begin() + static_cast<long>(i),
                               rrs.begin() + static_cast<long>(std::min(rrs.size(), i + 40))));
    }
    f.d->tick(f.store, f.now);
    f.run_until(f.now + 3'000);
    std::vector<codec::Message> step1;
    std::vector<std::vector<uint8_t>> keep;
    for (const auto& s : f.sender.sent) {
        keep.push_back(s.payload);
    }
    size_t answers = 0, packets = 0, tc = 0;
    for (size_t i = 1; i < keep.size(); ++i) {
        auto m = parse(keep[i]);
        ++packets;
        EXPECT_LE(keep[i].size(), 1440u);
        answers += m.count(codec::Section::answer);
        tc += m.header().tc();
    }
    EXPECT_EQ(answers, 300u);
    EXPECT_GE(packets, 3u);
    EXPECT_EQ(tc, packets - 1);  // every packet but the last says more follows
    EXPECT_EQ(f.d->stats().continuation_packets, packets - 1);
}

TEST(Discovery, AnswersWithLessThanHalfTheirTtlAreNotListed) {
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    Fixture f(o);
    f.feed({{"_services._dns-sd._udp.local.", rt::PTR, 100, codec::rdata::name(name("_ipp._tcp.local."))}});
    f.now += 60'000;  // 40 s of 100 left
    f.d->tick(f.store, f.now);
    f.run_until(f.now + 1500);
    ASSERT_FALSE(f.sender.sent.empty());
    EXPECT_EQ(parse(f.sender.sent[0].payload).count(codec::Section::answer), 0);
}

TEST(Discovery, EnumerationQueriesAreRetransmittedWithDoublingIntervals) {
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    Fixture f(o);
    const uint64_t t0 = f.now;
    f.d->tick(f.store, f.now);
    // Only the service type query goes out (nothing known yet): 3 times.
    f.run_until(t0 + 4'500);
    ASSERT_EQ(f.sender.sent.size(), 3u);
    for (const auto& s : f.sender.sent) {
        auto m = parse(s.payload);
        EXPECT_EQ(m.questions().begin()->name.to_string(), "_services._dns-sd._udp.local.");
    }
    const uint64_t gap1 = f.sender.sent[1].at - f.sender.sent[0].at;
    const uint64_t gap2 = f.sender.sent[2].at - f.sender.sent[1].at;
    EXPECT_GE(gap1, 1000u);
    EXPECT_LT(gap1, 1100u);
    EXPECT_GE(gap2, 2000u);
    EXPECT_LT(gap2, 2100u);
    EXPECT_EQ(f.d->stats().retransmissions, 2u);
    // An answer that arrives between the repeats (the other family's, say)
    // is listed as a known answer in the next one, and its type asked for.
    Fixture g(o);
    const uint64_t u0 = g.now;
    g.d->tick(g.store, g.now);
    for (int i = 0; i < 100 && g.sender.sent.empty(); ++i) g.run_until(g.now + 50);
    ASSERT_EQ(g.sender.sent.size(), 1u);
    const uint64_t first = g.sender.sent[0].at;
    g.run_until(first + 500);
    g.feed({{"_services._dns-sd._udp.local.", rt::PTR, 4500, codec::rdata::name(name("_ipp._tcp.local."))}});
    g.run_until(first + 1'100);
    ASSERT_EQ(g.sender.sent.size(), 2u);
    auto m = parse(g.sender.sent[1].payload);
    EXPECT_EQ(m.count(codec::Section::answer), 1) << "the PTR learnt meanwhile is a known answer";
    g.run_until(u0 + 8'000);
    bool asked_type = false;
    for (const auto& s : g.sender.sent) {
        auto q = parse(s.payload);
        asked_type |= q.questions().begin()->name.to_string() == "_ipp._tcp.local.";
    }
    EXPECT_TRUE(asked_type);
}

TEST(Discovery, OneRefreshQueryPerHostPerRoundAcrossSilentRefreshes) {
    // A host's SRV and A have their own jittered refresh times; the answer to
    // the first query refreshes both (silently in the shard). Round after
    // round, the second record's refresh_due must not cost a second query.
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    o.enumerate_repeats = 0;
    Fixture f(o);
    const std::vector<Rr> host{
        {"Svc._ipp._tcp.local.", rt::SRV, 120, codec::rdata::srv(0, 0, 631, name("h.local.")), true},
        {"h.local.", rt::A, 120, a(10), true}};
    f.feed(host);
    const uint64_t t0 = f.now;
    size_t answered = 0;
    while (f.now < t0 + 5 * 120'000) {
        f.run_until(f.now + 100);
        for (; answered < f.sender.sent.size(); ++answered) {
            if (!f.sender.sent[answered].multicast) f.feed(host);  // the host answers both
        }
    }
    size_t unicast = 0;
    for (const auto& s : f.sender.sent) unicast += !s.multicast;
    // 600 s at one round per ~110-115 s: 5 rounds (the first after 110 s).
    EXPECT_GE(unicast, 4u);
    EXPECT_LE(unicast, 5u);
    EXPECT_EQ(f.store.size(), 2u) << "kept alive";
}

TEST(Discovery, ShortTtlRecordsAreRefreshedEveryRound) {
    // TTL 20 s: a round every ~12-15 s, shorter than the 15 s horizon; the
    // same-round dedupe must not swallow the next round.
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    o.enumerate_repeats = 0;
    Fixture f(o);
    const std::vector<Rr> host{
        {"Svc._ipp._tcp.local.", rt::SRV, 20, codec::rdata::srv(0, 0, 631, name("h.local.")), true},
        {"h.local.", rt::A, 20, a(10), true}};
    f.feed(host);
    const uint64_t t0 = f.now;
    size_t answered = 0;
    while (f.now < t0 + 100'000) {
        f.run_until(f.now + 100);
        for (; answered < f.sender.sent.size(); ++answered) {
            if (!f.sender.sent[answered].multicast) f.feed(host);
        }
    }
    size_t unicast = 0;
    for (const auto& s : f.sender.sent) unicast += !s.multicast;
    EXPECT_GE(unicast, 6u);  // 100 s / (20 s - 5..10 s lead)
    EXPECT_LE(unicast, 10u);
    EXPECT_EQ(f.store.size(), 2u) << "kept alive";
}

TEST(Discovery, TombstoneLinksAreNeverQueried) {
    // Link 0 was removed by a reload (inactive), link 1 is live: the
    // enumeration cycle and refresh queries go to link 1 only.
    DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    FakeSender sender;
    dataplane::LinkSpec gone = link_v4(), live = link_v4();
    gone.active = false;
    live.name = "lab2";
    Discovery d(o, {gone, live}, &sender);
    RecordStore store;
    uint64_t now = 1'000'000;
    for (int i = 0; i < 200; ++i, now += 50) {
        sender.now = now;
        d.tick(store, now);
    }
    ASSERT_FALSE(sender.sent.empty());
    for (const auto& s : sender.sent) EXPECT_EQ(s.link, 1) << "a query on the removed link";
    // A record of the removed link whose refresh is due (it was learned
    // before the reload) is not asked for.
    Record r;
    r.link = 0;
    r.owner = name("printer1.local.");
    r.type = rt::A;
    r.ttl = 120;
    const uint8_t ip[4] = {192, 0, 2, 10};
    r.host = HostAddr::from_v4(ip);
    const size_t before = sender.sent.size();
    d.refresh_due(r, now);
    for (int i = 0; i < 100; ++i, now += 50) d.tick(store, now);
    for (size_t i = before; i < sender.sent.size(); ++i) EXPECT_EQ(sender.sent[i].link, 1);
    EXPECT_EQ(d.stats().refresh_questions, 0u);
}
