// The RFC 6762 cache rules, driven by real packet sequences (built with the
// codec, and from the shared corpus). Time is injected, never slept.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "dataplane/table/shard.hpp"
#include "dataplane/table/test_util.hpp"

namespace fs = std::filesystem;
using namespace updproxy;
using namespace updproxy::table;
using namespace updproxy::table::testing;
using codec::Message;
using codec::rrtype::A;
using codec::rrtype::PTR;
using codec::rrtype::SRV;
using codec::rrtype::TXT;

namespace {

constexpr uint64_t T0 = 1'700'000'000'000ULL;  // any epoch: the shard's clock is ours

struct Fixture {
    EventRing ring{1 << 16};
    Shard shard;
    Origin origin;
    explicit Fixture(ShardConfig cfg = {}) : shard(cfg, &ring) {
        const uint8_t ip[4] = {192, 0, 2, 10};
        origin.host = HostAddr::from_v4(ip);
    }
    uint32_t feed(const std::vector<uint8_t>& wire, uint64_t now) {
        auto m = Message::parse(wire);
        EXPECT_TRUE(m.ok()) << codec::reason_name(m.reason());
        const uint32_t n = shard.ingest(*m, origin, now);
        shard.flush_events();
        return n;
    }
    std::vector<Ev> at(uint64_t now) {
        shard.advance(now);
        shard.flush_events();
        return drain(ring);
    }
    std::vector<Ev> events() { return drain(ring); }
};

std::vector<uint8_t> read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(Shard, AnnounceThreeTimesIsOneAdd) {
    Fixture f;
    const auto pkt = response({{"printer1.local.", A, 120, a(10), true}});
    // RFC 6762 §8.3: announcements repeat, 1 s then 2 s apart.
    EXPECT_EQ(f.feed(pkt, T0), 1u);
    EXPECT_EQ(f.feed(pkt, T0 + 1000), 1u);
    EXPECT_EQ(f.feed(pkt, T0 + 3000), 1u);
    auto ev = f.events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::add);
    EXPECT_EQ(ev[0].owner, "printer1.local.");
    EXPECT_EQ(ev[0].ttl, 120u);
    EXPECT_EQ(ev[0].rdata, a(10));
    EXPECT_EQ(f.shard.size(), 1u);
    EXPECT_EQ(f.shard.counters().adds, 1u);
    EXPECT_EQ(f.shard.counters().refreshes, 2u);
}

TEST(Shard, OwnerCaseDoesNotMakeANewRecord) {
    Fixture f;
    f.feed(response({{"Printer1.local.", A, 120, a(10)}}), T0);
    f.feed(response({{"PRINTER1.LOCAL.", A, 120, a(10)}}), T0 + 1000);
    EXPECT_EQ(f.shard.size(), 1u);
    auto ev = f.events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].owner, "Printer1.local.");  // case as first announced
}

TEST(Shard, GoodbyeRemovesOneSecondLater) {
    Fixture f;
    f.feed(response({{"printer1.local.", A, 120, a(10)}}), T0);
    f.events();
    f.feed(response({{"printer1.local.", A, 0, a(10)}}), T0 + 5000);
    EXPECT_TRUE(f.at(T0 + 5000 + 900).empty());
    auto ev = f.at(T0 + 5000 + 1000 + 64);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::remove);
    EXPECT_EQ(ev[0].cause, RemoveCause::goodbye);
    EXPECT_EQ(f.shard.size(), 0u);
    EXPECT_EQ(f.shard.counters().goodbyes, 1u);
}

TEST(Shard, GoodbyeCancelledByReannouncement) {
    Fixture f;
    f.feed(response({{"printer1.local.", A, 120, a(10)}}), T0);
    f.feed(response({{"printer1.local.", A, 0, a(10)}}), T0 + 5000);
    f.feed(response({{"printer1.local.", A, 120, a(10)}}), T0 + 5500);
    auto ev = f.at(T0 + 8000);
    EXPECT_EQ(ev.size(), 1u);  // only the add
    EXPECT_EQ(f.shard.size(), 1u);
}

TEST(Shard, GoodbyeForAnUnknownRecordIsIgnored) {
    Fixture f;
    f.feed(response({{"ghost.local.", A, 0, a(10)}}), T0);
    EXPECT_TRUE(f.at(T0 + 5000).empty());
    EXPECT_EQ(f.shard.size(), 0u);
}

TEST(Shard, CacheFlushReplacesTheRRset) {
    Fixture f;
    // Two addresses announced together with cache-flush: both stay (same second).
    f.feed(response({{"printer1.local.", A, 120, a(10), true}, {"printer1.local.", A, 120, a(11), true}}),
           T0);
    EXPECT_EQ(f.shard.size(), 2u);
    f.events();
    // The host moves to .12: the old pair is flushed one second later (§10.2).
    f.feed(response({{"printer1.local.", A, 120, a(12), true}}), T0 + 10'000);
    EXPECT_EQ(f.shard.counters().flushes, 2u);
    auto ev = f.events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::add);
    ev = f.at(T0 + 11'100);
    ASSERT_EQ(ev.size(), 2u);
    for (const auto& e : ev) {
        EXPECT_EQ(e.kind, EventKind::remove);
        EXPECT_EQ(e.cause, RemoveCause::cache_flush);
        EXPECT_NE(e.rdata, a(12));
    }
    EXPECT_EQ(f.shard.size(), 1u);
}

TEST(Shard, CacheFlushSparesRecordsSeenWithinTheLastSecond) {
    Fixture f;
    f.feed(response({{"printer1.local.", A, 120, a(10), true}}), T0);
    // A second packet of the same announcement burst 200 ms later.
    f.feed(response({{"printer1.local.", A, 120, a(11), true}}), T0 + 200);
    EXPECT_EQ(f.shard.counters().flushes, 0u);
    f.at(T0 + 5000);
    EXPECT_EQ(f.shard.size(), 2u);
}

TEST(Shard, SharedRecordsWithoutFlushBitAccumulate) {
    Fixture f;
    f.feed(response({{"_ipp._tcp.local.", PTR, 4500, codec::rdata::name(name("A._ipp._tcp.local."))}}), T0);
    f.feed(response({{"_ipp._tcp.local.", PTR, 4500, codec::rdata::name(name("B._ipp._tcp.local."))}}),
           T0 + 5000);
    EXPECT_EQ(f.shard.size(), 2u);
    // PTR RDATA compares case-insensitively (RFC 4343): no third record.
    f.feed(response({{"_ipp._tcp.local.", PTR, 4500, codec::rdata::name(name("b._IPP._tcp.local."))}}),
           T0 + 6000);
    EXPECT_EQ(f.shard.size(), 2u);
}

TEST(Shard, ProbeQueriesAddNothing) {
    Fixture f;
    // A real Chromecast probe: a query whose authority section holds records.
    auto wire = read_file(fs::path(UPDPROXY_CORPUS) / "mdns/dnssd.js/chromecast_probe.bin");
    auto m = Message::parse(wire);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(f.shard.ingest(*m, f.origin, T0), 0u);
    EXPECT_EQ(f.shard.size(), 0u);
    EXPECT_EQ(f.shard.counters().refused[static_cast<int>(Refusal::not_response)], 1u);
    // A query built here with answers (known-answer list) adds nothing either.
    f.feed(response({{"printer1.local.", A, 120, a(10)}}, false), T0);
    EXPECT_EQ(f.shard.size(), 0u);
}

TEST(Shard, ResponsesNotFromPort5353AreIgnored) {
    Fixture f;
    f.origin.src_port = 40000;
    f.feed(response({{"printer1.local.", A, 120, a(10)}}), T0);
    EXPECT_EQ(f.shard.counters().refused[static_cast<int>(Refusal::bad_source_port)], 1u);
    f.origin.src_port = 5353;
    f.origin.dst_port = 40000;  // a legacy unicast response (§6.7)
    f.feed(response({{"printer1.local.", A, 120, a(10)}}), T0);
    EXPECT_EQ(f.shard.counters().refused[static_cast<int>(Refusal::legacy_unicast)], 1u);
    EXPECT_EQ(f.shard.size(), 0u);
}

TEST(Shard, ExpiryRemovesAndRefreshIsDueFiveToTenSecondsBefore) {
    ShardConfig cfg;
    Fixture f(cfg);
    f.feed(response({{"printer1.local.", A, 120, a(10)}}), T0);
    f.events();
    EXPECT_TRUE(f.at(T0 + 109'000).empty());
    auto ev = f.at(T0 + 115'000);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::refresh_due);
    // Only once.
    EXPECT_TRUE(f.at(T0 + 118'000).empty());
    ev = f.at(T0 + 120'064);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::remove);
    EXPECT_EQ(ev[0].cause, RemoveCause::expired);
    EXPECT_EQ(f.shard.counters().expiries, 1u);
    EXPECT_EQ(f.shard.size(), 0u);
}

TEST(Shard, RefreshDueTimesSpreadOverTheWindow) {
    Fixture f;
    std::vector<Rr> rrs;
    for (int i = 0; i < 200; ++i) {
        rrs.push_back({"host" + std::to_string(i) + ".local.", A, 120, a(10)});
    }
    for (size_t i = 0; i < rrs.size(); i += 20) {
        f.feed(response(std::vector<Rr>(rrs.begin() + static_cast<long>(i),
                                         rrs.begin() + static_cast<long>(i + 20))),
               T0);
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    f.shard.for_each([&](const Shard::RecordInfo& r) {
        lo = std::min(lo, r.expire_ms - r.refresh_due_ms);
        hi = std::max(hi, r.expire_ms - r.refresh_due_ms);
    });
    EXPECT_GE(lo, 5000u);
    EXPECT_LT(hi, 10'000u);
    EXPECT_GT(hi - lo, 2000u);  // jittered, not all at once
}

TEST(Shard, ReannouncementPostponesExpiry) {
    Fixture f;
    const auto pkt = response({{"printer1.local.", A, 120, a(10)}});
    f.feed(pkt, T0);
    f.feed(pkt, T0 + 100'000);
    auto ev = f.at(T0 + 121'000);
    ASSERT_EQ(ev.size(), 1u);  // the add, no remove
    EXPECT_EQ(ev[0].kind, EventKind::add);
    EXPECT_EQ(f.shard.size(), 1u);
    ev = f.at(T0 + 220'100);
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back().kind, EventKind::remove);
}

TEST(Shard, TtlChangeIsReported) {
    Fixture f;
    f.feed(response({{"printer1.local.", A, 120, a(10)}}), T0);
    f.feed(response({{"printer1.local.", A, 4500, a(10)}}), T0 + 1000);
    auto ev = f.events();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[1].kind, EventKind::ttl_change);
    EXPECT_EQ(ev[1].ttl, 4500u);
    // Shorter again: the earlier expiry is honoured.
    f.feed(response({{"printer1.local.", A, 20, a(10)}}), T0 + 2000);
    EXPECT_EQ(f.events().size(), 1u);
    auto later = f.at(T0 + 22'100);
    ASSERT_FALSE(later.empty());
    EXPECT_EQ(later.back().kind, EventKind::remove);
}

TEST(Shard, LimitsRefuseAndCountWithoutEvictingAQuietLink) {
    ShardConfig cfg;
    cfg.link_count = 2;
    cfg.max_records = 150;
    cfg.max_records_per_link = 100;
    Fixture f(cfg);
    // Link 1: a quiet printer.
    f.origin.link = 1;
    f.feed(response({{"printer1.local.", A, 120, a(10)}}), T0);
    // Link 0: a flood of unique names.
    f.origin.link = 0;
    for (int i = 0; i < 50; ++i) {
        std::vector<Rr> rrs;
        for (int j = 0; j < 10; ++j) {
            rrs.push_back({"flood" + std::to_string(i * 10 + j) + ".local.", A, 120, a(1)});
        }
        f.feed(response(rrs), T0 + static_cast<uint64_t>(i));
    }
    EXPECT_EQ(f.shard.link_size(0), 100u);
    EXPECT_EQ(f.shard.link_size(1), 1u);
    EXPECT_EQ(f.shard.counters().refused[static_cast<int>(Refusal::link_limit)], 400u);
    // The quiet link can still refresh and add.
    f.origin.link = 1;
    f.feed(response({{"printer2.local.", A, 120, a(11)}}), T0 + 100);
    EXPECT_EQ(f.shard.link_size(1), 2u);
    // The global limit: a third link fills the rest.
    ShardConfig g = cfg;
    g.link_count = 3;
    g.max_records = 5;
    Fixture small(g);
    std::vector<Rr> rrs;
    for (int j = 0; j < 8; ++j) rrs.push_back({"h" + std::to_string(j) + ".local.", A, 120, a(1)});
    small.feed(response(rrs), T0);
    EXPECT_EQ(small.shard.size(), 5u);
    EXPECT_EQ(small.shard.counters().refused[static_cast<int>(Refusal::global_limit)], 3u);
}

TEST(Shard, RealAnnouncementsFromTheCorpus) {
    Fixture f;
    int responses = 0;
    for (const auto& e : fs::recursive_directory_iterator(fs::path(UPDPROXY_CORPUS) / "mdns")) {
        if (!e.is_regular_file() || e.path().extension() != ".bin") continue;
        const std::string p = e.path().string();
        if (p.find("/malformed/") != std::string::npos) continue;
        auto wire = read_file(e.path());
        auto m = Message::parse(wire);
        if (!m.ok()) continue;
        if (m->header().qr()) ++responses;
        f.shard.ingest(*m, f.origin, T0);
    }
    f.shard.flush_events();
    EXPECT_GT(responses, 20);
    EXPECT_GT(f.shard.size(), 100u);
    // Every add event decodes to a record the table holds.
    auto ev = f.events();
    size_t adds = 0;
    for (const auto& e : ev) adds += e.kind == EventKind::add;
    EXPECT_EQ(adds, f.shard.counters().adds);
    // The Android TV quirk: its NSECs are skipped, its services are kept.
    EXPECT_GE(f.shard.counters().refused[static_cast<int>(Refusal::damaged_record)], 1u);
    bool tv = false;
    f.shard.for_each([&](const Shard::RecordInfo& r) {
        if (r.type == SRV && r.owner->to_string().find("TV\\032Beneden") != std::string::npos) tv = true;
    });
    EXPECT_TRUE(tv);
}

TEST(Shard, ResyncStreamsEveryRecordEvenThroughASmallRing) {
    EventRing ring(4096);
    Shard shard(ShardConfig{}, &ring);
    Origin o;
    for (int i = 0; i < 40; ++i) {
        std::vector<Rr> rrs;
        for (int j = 0; j < 5; ++j) {
            rrs.push_back({"h" + std::to_string(i * 5 + j) + ".local.", TXT, 4500,
                           std::vector<uint8_t>{20, 't', 'x', 't', 'v', 'e', 'r', 's', '=', '1',
                                                'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'}});
        }
        auto wire = response(rrs);
        auto m = Message::parse(wire);
        shard.ingest(*m, o, T0);
        shard.flush_events();
        drain(ring);  // the consumer keeps up
    }
    ASSERT_EQ(shard.size(), 200u);
    shard.request_resync();
    size_t records = 0, begins = 0, ends = 0;
    for (int burst = 0; burst < 100 && ends == 0; ++burst) {
        shard.advance(T0 + 1000 + static_cast<uint64_t>(burst));
        shard.flush_events();
        for (const auto& e : drain(ring)) {
            begins += e.kind == EventKind::resync_begin;
            records += e.kind == EventKind::resync_record;
            ends += e.kind == EventKind::resync_end;
        }
    }
    EXPECT_EQ(begins, 1u);
    EXPECT_EQ(ends, 1u);
    EXPECT_EQ(records, 200u);
    EXPECT_EQ(shard.counters().events_dropped, 0u);  // a pause, not a drop
}

TEST(Shard, PurgeDropsOneLinksRecordsBeforeARereadOfTheSameCall) {
    ShardConfig cfg;
    cfg.link_count = 3;
    Fixture f(cfg);
    // Link 0: two records; link 1: three, one of them with a goodbye
    // pending and the same owner as a link-0 record (names are per link).
    f.feed(response({{"a.local.", A, 120, a(1)}, {"b.local.", A, 120, a(2)}}), T0);
    f.origin.link = 1;
    f.feed(response({{"a.local.", A, 120, a(1)},
                     {"c.local.", A, 120, a(3)},
                     {"d.local.", A, 120, a(4)}}),
           T0);
    f.feed(response({{"d.local.", A, 0, a(4)}}), T0 + 10);  // goodbye: removal in 1 s
    f.events();
    ASSERT_EQ(f.shard.size(), 5u);
    EXPECT_FALSE(f.shard.request_purge(3));  // beyond link_count: refused
    EXPECT_TRUE(f.shard.request_purge(1));
    f.shard.request_resync();
    const auto ev = f.at(T0 + 20);
    // The purge's removals first, then a re-read without them.
    std::vector<std::string> removed, reread;
    size_t i = 0;
    for (; i < ev.size() && ev[i].kind == EventKind::remove; ++i) {
        EXPECT_EQ(ev[i].cause, RemoveCause::link_removed);
        EXPECT_EQ(ev[i].link, 1);
        removed.push_back(ev[i].owner);
    }
    std::sort(removed.begin(), removed.end());
    EXPECT_EQ(removed, (std::vector<std::string>{"a.local.", "c.local.", "d.local."}));
    ASSERT_LT(i, ev.size());
    EXPECT_EQ(ev[i].kind, EventKind::resync_begin);
    for (++i; i < ev.size() && ev[i].kind == EventKind::resync_record; ++i) {
        EXPECT_EQ(ev[i].link, 0);
        reread.push_back(ev[i].owner);
    }
    EXPECT_EQ(reread.size(), 2u);
    ASSERT_LT(i, ev.size());
    EXPECT_EQ(ev[i].kind, EventKind::resync_end);
    EXPECT_EQ(f.shard.size(), 2u);
    EXPECT_EQ(f.shard.link_size(0), 2u);
    EXPECT_EQ(f.shard.link_size(1), 0u);
    EXPECT_EQ(f.shard.counters().purged, 3u);
    // The pending goodbye's timer finds nothing; link 0 is untouched, and
    // expires on its own.
    EXPECT_TRUE(f.at(T0 + 2000).empty());
    // A second purge of the same link has nothing to do; a new record of
    // link 1 (a caller that had not stopped sending) is kept.
    EXPECT_TRUE(f.shard.request_purge(1));
    EXPECT_TRUE(f.at(T0 + 2100).empty());
    f.feed(response({{"e.local.", A, 120, a(5)}}), T0 + 2200);
    EXPECT_EQ(f.shard.link_size(1), 1u);
    f.at(T0 + 121'000);  // link 0's records expire on their own
    EXPECT_EQ(f.shard.link_size(0), 0u);
    EXPECT_EQ(f.shard.counters().purged, 3u);
}

TEST(Shard, PurgeThroughAFullRingCountsTheDrops) {
    EventRing ring(4096);
    ShardConfig cfg;
    cfg.link_count = 2;
    Shard shard(cfg, &ring);
    Origin o;
    o.link = 1;
    for (int i = 0; i < 200; ++i) {
        auto wire = response({{"h" + std::to_string(i) + ".local.", A, 120, a(1)}});
        auto m = Message::parse(wire);
        shard.ingest(*m, o, T0);
        shard.flush_events();
        drain(ring);
    }
    shard.request_purge(1);
    shard.advance(T0 + 1);
    shard.flush_events();
    // The table drops them all; the events that did not fit are counted, so
    // the control plane re-reads the shard (which no longer has them).
    EXPECT_EQ(shard.size(), 0u);
    EXPECT_GT(shard.counters().events_dropped, 0u);
    EXPECT_EQ(ring.dropped(), shard.counters().events_dropped);
}

TEST(Shard, FullRingDropsAreCounted) {
    EventRing ring(4096);
    Shard shard(ShardConfig{}, &ring);
    Origin o;
    for (int i = 0; i < 200; ++i) {
        auto wire = response({{"h" + std::to_string(i) + ".local.", A, 120, a(1)}});
        auto m = Message::parse(wire);
        shard.ingest(*m, o, T0);
    }
    shard.flush_events();
    EXPECT_GT(shard.counters().events_dropped, 0u);
    EXPECT_EQ(ring.dropped(), shard.counters().events_dropped);
    EXPECT_EQ(shard.size(), 200u);  // the table itself lost nothing
}

TEST(Shard, OneOwnerAtTwoPlacesInAMessageIsOneName) {
    // Real responders compress against whichever earlier copy of a name they
    // like, so one owner can sit at two offsets of one message. Here: a
    // goodbye for an unknown x.local. (full name at offset 12), an A record
    // of X.LOCAL. written out again, and the same A record by a pointer to
    // offset 12: one add, then a refresh of the same record.
    std::vector<uint8_t> w = {0, 0, 0x84, 0, 0, 0, 0, 3, 0, 0, 0, 0};
    auto rr = [&](std::initializer_list<uint8_t> owner, uint32_t ttl) {
        w.insert(w.end(), owner);
        const uint8_t rest[] = {0, 1, 0, 1, static_cast<uint8_t>(ttl >> 24),
                                static_cast<uint8_t>(ttl >> 16), static_cast<uint8_t>(ttl >> 8),
                                static_cast<uint8_t>(ttl), 0, 4, 192, 0, 2, 7};
        w.insert(w.end(), std::begin(rest), std::end(rest));
    };
    rr({1, 'x', 5, 'l', 'o', 'c', 'a', 'l', 0}, 0);
    rr({1, 'X', 5, 'L', 'O', 'C', 'A', 'L', 0}, 120);
    rr({0xC0, 12}, 120);
    Fixture f;
    EXPECT_EQ(f.feed(w, T0), 2u);
    EXPECT_EQ(f.shard.size(), 1u);
    EXPECT_EQ(f.shard.counters().adds, 1u);
    EXPECT_EQ(f.shard.counters().refreshes, 1u);
    auto ev = f.events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].owner, "X.LOCAL.");
}

TEST(Shard, BurstIsTheSameAsOneMessageAtATime) {
    // The same announcements, goodbyes and host moves through ingest() one
    // message at a time and through ingest_burst() in bursts of every size:
    // the same records, counters and events.
    std::vector<std::vector<uint8_t>> wires;
    std::vector<Origin> origins;
    for (int i = 0; i < 300; ++i) {
        const int dev = (i * 7) % 50;
        const std::string inst = "Dev " + std::to_string(dev) + "._ipp._tcp.local.";
        const std::string host = "dev" + std::to_string(dev) + ".local.";
        const uint32_t ttl = i % 17 == 0 ? 0 : 120;
        const std::vector<uint8_t> txt = {5, 'n', '=', static_cast<uint8_t>('0' + i % 3), 'x', 'y'};
        wires.push_back(response({{inst, SRV, ttl,
                                   codec::rdata::srv(0, 0, 631, name(host)), true},
                                  {inst, TXT, 4500, txt, true},
                                  {host, A, ttl, a(static_cast<uint8_t>(dev + i % 2)), true},
                                  {"_ipp._tcp.local.", PTR, 4500,
                                   codec::rdata::name(name(inst))}}));
        Origin o;
        const uint8_t ip[4] = {192, 0, 2, static_cast<uint8_t>(dev + (i % 5 == 0))};
        o.host = HostAddr::from_v4(ip);
        o.link = static_cast<uint16_t>(dev % 3);
        origins.push_back(o);
    }
    std::vector<Message> msgs;
    for (const auto& w : wires) msgs.push_back(*Message::parse(w));
    ShardConfig cfg;
    cfg.link_count = 3;
    cfg.max_records = 150;  // some refusals too
    // Bursts of `burst` messages share one clock reading; `single` feeds the
    // same messages at the same times one ingest() each.
    auto run = [&](size_t burst, bool single) {
        EventRing ring(1 << 20);
        Shard s(cfg, &ring);
        uint32_t taken = 0;
        for (size_t i = 0; i < msgs.size(); i += burst) {
            const size_t n = std::min(burst, msgs.size() - i);
            const uint64_t now = T0 + i * 700;
            if (single) {
                for (size_t k = i; k < i + n; ++k) taken += s.ingest(msgs[k], origins[k], now);
            } else {
                taken += s.ingest_burst(std::span(msgs).subspan(i, n),
                                        std::span(origins).subspan(i, n), now);
            }
            s.advance(now);
        }
        s.flush_events();
        std::vector<std::string> out;
        for (const auto& e : drain(ring)) {
            out.push_back(std::to_string(static_cast<int>(e.kind)) + " " + e.owner + " " +
                          std::to_string(e.type) + " " + std::to_string(e.ttl));
        }
        std::sort(out.begin(), out.end());
        s.for_each([&](const Shard::RecordInfo& r) {
            out.push_back(r.owner->to_string() + " " + std::to_string(r.type) + " " +
                          std::to_string(r.host->ip[15]) + " " + std::to_string(r.last_seen_ms));
        });
        const auto& c = s.counters();
        out.push_back(std::to_string(taken) + " " + std::to_string(c.adds) + " " +
                      std::to_string(c.refreshes) + " " + std::to_string(c.flushes) + " " +
                      std::to_string(c.goodbyes) + " " + std::to_string(c.removes) + " " +
                      std::to_string(c.refused[static_cast<int>(Refusal::global_limit)]));
        return out;
    };
    for (size_t burst : {2u, 3u, 16u, 32u, 64u}) {
        const auto one = run(burst, true);
        EXPECT_GT(one.size(), 100u);
        EXPECT_EQ(run(burst, false), one) << "burst " << burst;
    }
}

TEST(Shard, SoaNumbersCompareExactlyAndItsNamesWithoutCase) {
    // The canonical SOA lowercases its two names, not its 20 bytes of numbers:
    // a serial with a byte in 'A'..'Z' is still the same record when
    // announced again, and the names' case does not make a new one.
    Fixture f;
    const auto soa = [](const char* mname) {
        return codec::rdata::soa(name(mname), name("hostmaster.example."), 0x41424344u, 3600, 600,
                                 86400, 60);
    };
    f.feed(response({{"example.local.", codec::rrtype::SOA, 120, soa("ns.example.")}}), T0);
    f.feed(response({{"example.local.", codec::rrtype::SOA, 120, soa("ns.example.")}}), T0 + 1000);
    f.feed(response({{"example.local.", codec::rrtype::SOA, 120, soa("NS.Example.")}}), T0 + 2000);
    EXPECT_EQ(f.shard.size(), 1u);
    EXPECT_EQ(f.shard.counters().refreshes, 2u);
}

TEST(Shard, ChurnWithEverNewRdataSizesDoesNotGrow) {
    // Records that come and go (goodbye, removal a second later) with a new
    // TXT length each round: the memory for one round is all it ever needs.
    Fixture f;
    uint64_t now = T0;
    size_t first = 0, most = 0;
    for (int round = 0; round < 200; ++round) {
        std::vector<Rr> hello, bye;
        for (int i = 0; i < 200; ++i) {
            std::vector<uint8_t> txt(1 + static_cast<size_t>(round), 'x');
            txt[0] = static_cast<uint8_t>(round);
            const std::string owner = "churn" + std::to_string(i) + ".local.";
            hello.push_back({owner, TXT, 120, txt});
            bye.push_back({owner, TXT, 0, txt});
        }
        for (size_t i = 0; i < hello.size(); i += 20) {
            f.feed(response({hello.begin() + static_cast<long>(i),
                             hello.begin() + static_cast<long>(i + 20)}),
                   now);
        }
        now += 100;
        for (size_t i = 0; i < bye.size(); i += 20) {
            f.feed(response({bye.begin() + static_cast<long>(i),
                             bye.begin() + static_cast<long>(i + 20)}),
                   now);
        }
        now += 1200;
        f.at(now);
        ASSERT_EQ(f.shard.size(), 0u);
        if (round == 10) first = f.shard.overhead_bytes();
        most = std::max(most, f.shard.overhead_bytes());
    }
    EXPECT_EQ(f.shard.counters().removes, 200u * 200u);
    EXPECT_LT(most, first + 4 * Arena::kChunkBytes);
}
