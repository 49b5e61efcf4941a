// The SPSC event ring alone, and a worker thread writing a shard while a
// control thread reads its events (run under ASan/UBSan in CI).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "dataplane/table/event_ring.hpp"
#include "dataplane/table/shard.hpp"
#include "dataplane/table/test_util.hpp"

using namespace updproxy;
using namespace updproxy::table;
using namespace updproxy::table::testing;

TEST(EventRing, MessagesComeOutInOrderAndWhole) {
    EventRing ring(4096);
    for (int round = 0; round < 50; ++round) {
        int pushed = 0;
        for (int i = 0; i < 40; ++i) {
            const size_t len = 1 + static_cast<size_t>((round * 7 + i * 13) % 300);
            uint8_t* p = ring.reserve(len);
            if (!p) break;
            for (size_t k = 0; k < len; ++k) p[k] = static_cast<uint8_t>(i + k);
            ring.commit();
            ++pushed;
        }
        ring.flush();
        int seen = 0;
        ring.consume([&](std::span<const uint8_t> m) {
            const size_t len = 1 + static_cast<size_t>((round * 7 + seen * 13) % 300);
            ASSERT_EQ(m.size(), len);
            for (size_t k = 0; k < len; ++k) ASSERT_EQ(m[k], static_cast<uint8_t>(seen + k));
            ++seen;
        });
        EXPECT_EQ(seen, pushed);
        EXPECT_TRUE(ring.empty());
    }
}

TEST(EventRing, FullRingDropsAndCounts) {
    EventRing ring(4096);
    int ok = 0;
    for (int i = 0; i < 100; ++i) {
        if (ring.reserve(200)) {
            ring.commit();
            ++ok;
        }
    }
    EXPECT_LT(ok, 100);
    EXPECT_EQ(ring.dropped(), static_cast<uint64_t>(100 - ok));
    EXPECT_EQ(ring.reserve(5000), nullptr);  // larger than a quarter: refused
    // Unflushed messages are invisible to the consumer.
    EXPECT_EQ(ring.consume([](std::span<const uint8_t>) {}), 0u);
    ring.flush();
    EXPECT_EQ(ring.consume([](std::span<const uint8_t>) {}), static_cast<size_t>(ok));
}

TEST(EventRing, ProducerAndConsumerThreadsWithWakeups) {
    EventRing ring(1 << 14);
    constexpr uint32_t kCount = 200'000;
    std::atomic<bool> done{false};
    uint64_t sum_in = 0;
    std::thread producer([&] {
        std::mt19937 rng(7);
        for (uint32_t i = 0; i < kCount;) {
            const size_t len = 4 + rng() % 60;
            uint8_t* p = ring.reserve(len, false);
            if (!p) {
                ring.flush();
                std::this_thread::yield();
                continue;
            }
            std::memcpy(p, &i, 4);
            for (size_t k = 4; k < len; ++k) p[k] = static_cast<uint8_t>(i);
            ring.commit();
            sum_in += i;
            ++i;
            if (i % 64 == 0) ring.flush();  // once per "burst"
        }
        ring.flush();
        done = true;
    });
    uint32_t expect = 0;
    uint64_t sum_out = 0;
    while (expect < kCount) {
        ring.consume([&](std::span<const uint8_t> m) {
            uint32_t v;
            std::memcpy(&v, m.data(), 4);
            ASSERT_EQ(v, expect);
            for (size_t k = 4; k < m.size(); ++k) ASSERT_EQ(m[k], static_cast<uint8_t>(v));
            sum_out += v;
            ++expect;
        });
        if (expect < kCount) ring.wait(10);
    }
    producer.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(sum_in, sum_out);
}

TEST(ShardThreads, ControlThreadRebuildsTheShardFromEventsAndResync) {
    // The worker ingests random announcements and runs timers; the control
    // thread applies events to its own map, asking for a re-read when the
    // ring dropped something. At the end both hold the same records.
    EventRing ring(1 << 15);
    ShardConfig cfg;
    cfg.link_count = 2;
    Shard shard(cfg, &ring);
    std::atomic<bool> stop{false};
    std::atomic<bool> worker_done{false};

    using Key = std::tuple<uint16_t, std::string, uint16_t, std::vector<uint8_t>>;
    std::map<Key, uint32_t> view;
    std::map<Key, uint32_t> resync_view;
    bool in_resync = false;
    uint64_t seen_drops = 0;
    auto apply = [&](std::span<const uint8_t> bytes) {
        auto e = decode_event(bytes);
        ASSERT_TRUE(e.has_value());
        Key k{e->h.link, e->owner.lowercased().to_string(), e->h.type,
              std::vector<uint8_t>(e->rdata.begin(), e->rdata.end())};
        switch (e->h.kind) {
            case EventKind::add:
            case EventKind::ttl_change:
                view[k] = e->h.ttl;
                if (in_resync) resync_view[k] = e->h.ttl;
                break;
            case EventKind::remove:
                view.erase(k);
                resync_view.erase(k);
                break;
            case EventKind::resync_begin:
                in_resync = true;
                resync_view.clear();
                break;
            case EventKind::resync_record:
                resync_view[k] = e->h.ttl;
                break;
            case EventKind::resync_end:
                in_resync = false;
                view = resync_view;
                break;
            case EventKind::refresh_due:
                break;
        }
    };

    uint64_t now = 1'000'000;
    std::atomic<uint64_t> final_now{0};
    std::thread worker([&] {
        std::mt19937 rng(11);
        for (int burst = 0; burst < 4000; ++burst) {
            std::vector<Rr> rrs;
            for (int i = 0; i < 8; ++i) {
                rrs.push_back({"h" + std::to_string(rng() % 500) + ".local.", codec::rrtype::A,
                               static_cast<uint32_t>(rng() % 10 == 0 ? 0 : 30 + rng() % 60),
                               a(static_cast<uint8_t>(rng() % 3)), rng() % 2 == 0});
            }
            auto wire = response(rrs);
            auto m = codec::Message::parse(wire);
            Origin o;
            o.link = static_cast<uint16_t>(rng() % 2);
            shard.ingest(*m, o, now);
            shard.advance(now);
            shard.flush_events();
            now += rng() % 200;
        }
        // Quiesce: one last advance and a final re-read so the control
        // thread can converge even if it lost events.
        shard.request_resync();
        for (int i = 0; i < 2000 && !stop; ++i) {
            shard.advance(now);
            shard.flush_events();
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        final_now = now;
        worker_done = true;
    });
    while (!worker_done || !ring.empty()) {
        ring.consume(apply);
        if (ring.dropped() != seen_drops) {
            seen_drops = ring.dropped();
            shard.request_resync();  // any thread may ask
        }
        ring.wait(5);
    }
    stop = true;
    worker.join();
    ring.consume(apply);

    std::map<Key, uint32_t> truth;
    shard.for_each([&](const Shard::RecordInfo& r) {
        truth[Key{r.link, r.owner->lowercased().to_string(), r.type,
                  std::vector<uint8_t>(r.rdata.begin(), r.rdata.end())}] = r.ttl;
    });
    EXPECT_GT(truth.size(), 100u);
    EXPECT_EQ(view, truth);
    EXPECT_GE(shard.counters().resyncs, 1u);
}
