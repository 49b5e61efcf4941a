// The engine driven through its poll loop against a scripted fake server
// (fake_dns_server.hpp) on loopback. The engine's clock is a fake one the
// test advances, so windows, timeouts, backoff and lease refresh are exact;
// only the loopback I/O runs in real time.
#include "control/update/update_engine.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <array>
#include <chrono>
#include <map>
#include <set>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"
#include "control/update/fake_dns_server.hpp"
#include "control/update/record_key.hpp"

namespace updproxy::control {
namespace {

using codec::Name;
using testing::FakeAnswer;
using testing::FakeDnsServer;
using testing::FakeRequest;
namespace rrtype = codec::rrtype;
namespace rcode = codec::rcode;

Name N(const std::string& s) { return *Name::parse(s); }

const Name kZone = N("lab.example.test.");
constexpr uint16_t kTimeoutType = 65280;

codec::TsigKey test_key() {
    codec::TsigKey k;
    k.name = N("upd.lab.example.test.");
    k.algorithm = codec::TsigAlgorithm::hmac_sha256;
    for (int i = 0; i < 32; ++i) k.secret.push_back(static_cast<uint8_t>(i * 7 + 1));
    return k;
}

PubRecord rec_a(const std::string& host, uint8_t last, uint32_t ttl = 120) {
    return {N(host + ".lab.example.test."), rrtype::A, ttl,
            codec::rdata::a(std::array<uint8_t, 4>{192, 0, 2, last})};
}
PubRecord rec_ptr(const std::string& owner, const std::string& target, uint32_t ttl = 120) {
    return {N(owner + ".lab.example.test."), rrtype::PTR, ttl,
            codec::rdata::name(N(target + ".lab.example.test."))};
}
PubRecord rec_txt(const std::string& owner, size_t len) {
    std::vector<std::string_view> parts;
    std::vector<std::string> store;
    for (size_t done = 0; done < len; done += 255) store.emplace_back(std::min<size_t>(255, len - done), 'x');
    for (const auto& p : store) parts.emplace_back(p);
    return {N(owner + ".lab.example.test."), rrtype::TXT, 120, codec::rdata::txt(parts)};
}

// One update record of a request, decoded.
struct Upd {
    Name owner;
    uint16_t type;
    uint16_t cls;
    uint32_t ttl;
    std::vector<uint8_t> rdata;
};
std::vector<Upd> updates_of(const FakeRequest& r) {
    std::vector<Upd> out;
    codec::ParseOptions po;
    po.timeout_type = kTimeoutType;
    codec::Result<codec::Message> m = codec::Message::parse(r.wire, po);
    EXPECT_TRUE(m.ok());
    if (!m.ok()) return out;
    std::vector<uint8_t> buf(70000);
    for (const codec::RrView& rr : m->authority()) {
        codec::Result<size_t> n = rr.rdata_uncompressed(buf);
        out.push_back({rr.owner.to_name(), rr.type, rr.rrclass(), rr.ttl,
                       std::vector<uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n.ok() ? *n : 0))});
    }
    return out;
}
size_t data_updates(const FakeRequest& r) {
    size_t n = 0;
    for (const Upd& u : updates_of(r)) n += u.type != kTimeoutType;
    return n;
}

class EngineTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_NE(server.port(), 0);
        ZoneServer zs;
        zs.zone = kZone;
        zs.address = "127.0.0.1";
        zs.port = server.port();
        cfg.zones = {zs};
        cfg.key = key;
        cfg.clock_ms = [this] { return now; };
        cfg.random_seed = 7;
        cfg.reconcile_interval_s = 0;
        cfg.lease_s = 3600;
        server.policy = [this](const codec::Message& m, const FakeRequest& r) {
            request_times.push_back(now);
            return answer(m, r);
        };
    }

    void make() {
        std::string err;
        eng = UpdateEngine::create(cfg, &err);
        ASSERT_TRUE(eng) << err;
    }

    // Lets loopback I/O between engine and server run until quiet, without
    // moving the fake clock.
    void settle() {
        const auto stop = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        int quiet = 0;
        while (quiet < 2 && std::chrono::steady_clock::now() < stop) {
            std::vector<pollfd> p;
            server.append_fds(p);
            for (const auto& f : eng->fds()) p.push_back({f.fd, f.events, 0});
            const int n = ::poll(p.data(), p.size(), 15);
            server.serve();
            eng->on_ready(now);
            quiet = n == 0 ? quiet + 1 : 0;
        }
    }

    // Runs, jumping the fake clock to each wakeup, until pred() holds.
    bool run_until(const std::function<bool()>& pred, int max_steps = 200) {
        for (int i = 0; i < max_steps; ++i) {
            settle();
            if (pred()) return true;
            now = std::max(now + 1, eng->next_wakeup_ms(now));
            eng->on_ready(now);
        }
        return pred();
    }
    bool run_idle() {
        return run_until([this] { return eng->idle() && eng->stats(kZone).pending == 0; });
    }

    ZoneStats st() const { return eng->stats(kZone); }

    codec::TsigKey key = test_key();
    FakeDnsServer server{key};
    std::function<FakeAnswer(const codec::Message&, const FakeRequest&)> answer =
        [](const codec::Message&, const FakeRequest&) { return FakeAnswer{}; };
    std::vector<uint64_t> request_times;
    uint64_t now = 1'000'000;
    UpdateConfig cfg;
    std::unique_ptr<UpdateEngine> eng;
};

TEST_F(EngineTest, CreateRefusesBadConfiguration) {
    std::string err;
    UpdateConfig c = cfg;
    c.key.reset();
    EXPECT_EQ(UpdateEngine::create(c, &err), nullptr);
    EXPECT_NE(err.find("TSIG"), std::string::npos) << err;
    c.allow_unsigned = true;
    EXPECT_NE(UpdateEngine::create(c, &err), nullptr);

    c = cfg;
    c.zones[0].address = "ns1.example.test";
    EXPECT_EQ(UpdateEngine::create(c, &err), nullptr);
    EXPECT_NE(err.find("literal"), std::string::npos) << err;
    c.zones[0].address = "";
    EXPECT_EQ(UpdateEngine::create(c, &err), nullptr);

    c = cfg;
    c.zones[0].transport = Transport::tls;
    c.zones[0].ca_file = "/nonexistent/ca.pem";
    EXPECT_EQ(UpdateEngine::create(c, &err), nullptr);
    EXPECT_NE(err.find("CA"), std::string::npos) << err;

    c = cfg;
    c.zones.push_back(c.zones[0]);
    EXPECT_EQ(UpdateEngine::create(c, &err), nullptr);

    make();
    EXPECT_FALSE(eng->add(N("other.test."), rec_a("h", 1)));
    PubRecord outside = rec_a("h", 1);
    outside.owner = N("h.elsewhere.test.");
    EXPECT_FALSE(eng->add(kZone, outside));
    ASSERT_EQ(eng->zones().size(), 1u);
    EXPECT_EQ(eng->zones()[0], kZone);
}

TEST_F(EngineTest, BatchWindowHoldsThenSendsOneMessage) {
    cfg.batch_window_ms = 50;
    make();
    const uint64_t t0 = now;
    for (uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), i)));
    EXPECT_FALSE(eng->idle());
    EXPECT_EQ(eng->next_wakeup_ms(now), t0 + 50);
    settle();
    EXPECT_TRUE(server.requests.empty());
    now = t0 + 49;
    settle();
    EXPECT_TRUE(server.requests.empty());
    now = t0 + 50;
    settle();
    ASSERT_EQ(server.requests.size(), 1u);
    EXPECT_EQ(data_updates(server.requests[0]), 3u);
    EXPECT_TRUE(server.requests[0].tsig_ok);
    EXPECT_FALSE(server.requests[0].tcp);
    EXPECT_TRUE(eng->idle());
    const ZoneStats s = st();
    EXPECT_EQ(s.confirmed, 3u);
    EXPECT_EQ(s.desired, 3u);
    EXPECT_EQ(s.pending, 0u);
    EXPECT_EQ(s.messages_sent, 1u);
    EXPECT_EQ(s.records_sent, 3u);
    EXPECT_EQ(s.responses[rcode::NOERROR], 1u);
    EXPECT_TRUE(s.reachable);
    EXPECT_EQ(s.last_success_ms, t0 + 50);
    EXPECT_EQ(eng->failed_changes(), 0u);
}

TEST_F(EngineTest, FullMessageGoesWithoutWaitingForTheWindow) {
    cfg.batch_window_ms = 10'000;
    cfg.udp_limit = 512;
    cfg.max_message = 512;
    make();
    for (int i = 0; i < 40; ++i) {
        ASSERT_TRUE(eng->add(kZone, rec_a("host-number-" + std::to_string(i), static_cast<uint8_t>(i))));
    }
    settle();
    ASSERT_GE(server.requests.size(), 1u);  // no clock movement at all
    for (const FakeRequest& r : server.requests) EXPECT_LE(r.wire.size(), 512u);
}

TEST_F(EngineTest, SizeLimitSplitsIntoMessagesEachUnderItWithOneZone) {
    cfg.batch_window_ms = 20;
    cfg.udp_limit = 512;
    cfg.max_message = 512;  // batches only as large as UDP allows
    make();
    std::set<std::string> want;
    for (int i = 0; i < 200; ++i) {
        PubRecord r;
        switch (i % 4) {
            case 0: r = rec_a("h" + std::to_string(i), static_cast<uint8_t>(i)); break;
            case 1: r = rec_ptr("_ipp._tcp", "P" + std::to_string(i) + "._ipp._tcp"); break;
            case 2: r = rec_txt("P" + std::to_string(i) + "._ipp._tcp", 20 + static_cast<size_t>(i)); break;
            default:
                r = {N("P" + std::to_string(i) + "._ipp._tcp.lab.example.test."), rrtype::SRV, 120,
                     codec::rdata::srv(0, 0, 631, N("h" + std::to_string(i) + ".lab.example.test."))};
        }
        ASSERT_TRUE(eng->add(kZone, r));
        want.insert(upd::record_key(r.owner, r.type, upd::canonical_rdata(r.type, r.rdata)));
    }
    ASSERT_TRUE(run_idle());
    EXPECT_GT(server.requests.size(), 5u);
    std::set<std::string> got;
    size_t total = 0;
    for (const FakeRequest& r : server.requests) {
        EXPECT_LE(r.wire.size(), 512u);
        EXPECT_FALSE(r.tcp);
        EXPECT_TRUE(r.tsig_ok);
        codec::Result<codec::Message> m = codec::Message::parse(r.wire);
        ASSERT_TRUE(m.ok());
        ASSERT_EQ(m->count(codec::Section::question), 1);
        for (const codec::Question& q : m->questions()) EXPECT_TRUE(q.name.equals(kZone));
        for (const Upd& u : updates_of(r)) {
            if (u.type == kTimeoutType) continue;
            EXPECT_EQ(u.cls, codec::rrclass::IN);
            got.insert(upd::record_key(u.owner, u.type, upd::canonical_rdata(u.type, u.rdata)));
            ++total;
        }
    }
    EXPECT_EQ(total, 200u);  // each record sent once
    EXPECT_EQ(got, want);
    EXPECT_EQ(st().confirmed, 200u);
}

TEST_F(EngineTest, BacklogGoesOverTcpInLargeMessagesSmallChangesOverUdp) {
    cfg.batch_window_ms = 20;
    cfg.udp_limit = 512;
    cfg.max_message = 4096;
    make();
    for (int i = 0; i < 300; ++i) {
        ASSERT_TRUE(eng->add(kZone, rec_a("host-" + std::to_string(i), static_cast<uint8_t>(i))));
    }
    ASSERT_TRUE(run_idle());
    size_t total = 0;
    for (const FakeRequest& r : server.requests) {
        EXPECT_LE(r.wire.size(), 4096u);
        EXPECT_EQ(r.tcp, r.wire.size() > 512u);
        total += data_updates(r);
    }
    EXPECT_EQ(total, 300u);
    EXPECT_LE(server.requests.size(), 6u);  // ~4 KB each, not ~512 bytes
    EXPECT_EQ(server.tcp_accepts, 1);       // one connection for the backlog
    const size_t before = server.requests.size();
    ASSERT_TRUE(eng->add(kZone, rec_a("late", 1)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), before + 1);
    EXPECT_FALSE(server.requests.back().tcp);  // a small change: UDP
    EXPECT_EQ(st().confirmed, 301u);
}

TEST_F(EngineTest, RetriesAfterFailureUseUdpSizedMessages) {
    cfg.udp_limit = 512;
    cfg.max_message = 4096;
    bool fail = true;
    answer = [&fail](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.rcode = fail ? rcode::SERVFAIL : rcode::NOERROR;
        return a;
    };
    make();
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(eng->add(kZone, rec_a("host-" + std::to_string(i), static_cast<uint8_t>(i))));
    }
    ASSERT_TRUE(run_until([this] { return server.requests.size() >= 2; }));
    EXPECT_TRUE(server.requests[0].tcp);
    EXPECT_FALSE(server.requests[1].tcp);
    EXPECT_LE(server.requests[1].wire.size(), 512u);
    fail = false;
    ASSERT_TRUE(run_idle());
    EXPECT_EQ(st().confirmed, 100u);
}

TEST_F(EngineTest, AddThenRemoveBeforeSendingSendsOnlyTheDelete) {
    // Another proxy or an earlier run may have added it: delete-RR is
    // idempotent, so it is sent; the add never is.
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(eng->remove(kZone, rec_a("H", 1)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 1u);
    std::vector<Upd> u = updates_of(server.requests[0]);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].cls, codec::rrclass::NONE);
    EXPECT_EQ(st().desired, 0u);
}

TEST_F(EngineTest, TtlChangeIsReAddAndRemovalIsDeleteRr) {
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1, 120)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 1u);
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1, 60)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 2u);
    // Delete then add in one message: Knot ignores a TTL change made by a
    // plain add of an existing record.
    std::vector<Upd> u = updates_of(server.requests[1]);
    ASSERT_EQ(u.size(), 2u);
    EXPECT_EQ(u[0].cls, codec::rrclass::NONE);
    EXPECT_EQ(u[1].cls, codec::rrclass::IN);
    EXPECT_EQ(u[1].ttl, 60u);
    ASSERT_TRUE(eng->remove(kZone, rec_a("h", 1, 60)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 3u);
    u = updates_of(server.requests[2]);
    ASSERT_EQ(u.size(), 1u);
    EXPECT_EQ(u[0].cls, codec::rrclass::NONE);
    EXPECT_EQ(u[0].type, rrtype::A);
    EXPECT_EQ(u[0].rdata, rec_a("h", 1).rdata);
    EXPECT_EQ(st().confirmed, 0u);
}

TEST_F(EngineTest, LeaseOptionSentAndEchoRecorded) {
    cfg.lease_s = 1800;
    cfg.key_lease_s = 7200;
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 1u);
    codec::Result<codec::Message> m = codec::Message::parse(server.requests[0].wire);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(m->opt().has_value());
    auto lease = m->opt()->opt()->lease();
    ASSERT_TRUE(lease.has_value());
    EXPECT_EQ(lease->lease, 1800u);
    EXPECT_EQ(lease->key_lease, 7200u);
    EXPECT_TRUE(st().lease_echoed);

    answer = [](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.echo_lease = false;
        return a;
    };
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 2)));
    ASSERT_TRUE(run_idle());
    EXPECT_FALSE(st().lease_echoed);
}

TEST_F(EngineTest, NoLeaseNoOpt) {
    cfg.lease_s = 0;
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(run_idle());
    codec::Result<codec::Message> m = codec::Message::parse(server.requests.at(0).wire);
    ASSERT_TRUE(m.ok());
    EXPECT_FALSE(m->opt().has_value());
}

TEST_F(EngineTest, TimeoutRrsCoverTheRrsetAndReplaceTheirPredecessor) {
    cfg.timeout_rrs = true;
    cfg.lease_s = 600;
    make();
    ASSERT_TRUE(eng->add(kZone, rec_ptr("_ipp._tcp", "A._ipp._tcp")));
    ASSERT_TRUE(eng->add(kZone, rec_ptr("_ipp._tcp", "b._ipp._tcp")));
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    const uint64_t t = static_cast<uint64_t>(std::time(nullptr));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 1u);
    codec::ParseOptions po;
    po.timeout_type = kTimeoutType;
    codec::Result<codec::Message> m = codec::Message::parse(server.requests[0].wire, po);
    ASSERT_TRUE(m.ok());
    std::map<uint16_t, std::vector<uint8_t>> timeout_by_type;
    for (const codec::RrView& rr : m->authority()) {
        if (rr.type != kTimeoutType) continue;
        EXPECT_EQ(rr.rrclass(), codec::rrclass::IN);
        codec::Result<codec::TimeoutView> tv = rr.timeout(kTimeoutType);
        ASSERT_TRUE(tv.ok());
        EXPECT_EQ(tv->method, 1);
        EXPECT_GE(tv->expiry, t + 600);
        EXPECT_LE(tv->expiry, t + 602);
        EXPECT_EQ(tv->hashes.size(), 16u * tv->count);
        if (tv->covered_type == rrtype::PTR) {
            EXPECT_TRUE(rr.owner.equals(N("_ipp._tcp.lab.example.test.")));
        }
        timeout_by_type[tv->covered_type].assign(rr.rdata().begin(), rr.rdata().end());
    }
    ASSERT_EQ(timeout_by_type.size(), 2u);  // one per RRset touched
    const std::vector<uint8_t>& ptr_to = timeout_by_type[rrtype::PTR];
    ASSERT_EQ(ptr_to[2], 2);  // count
    // Hashes of the canonical RDATA (the target lowercased).
    std::set<std::array<uint8_t, 16>> hashes;
    for (size_t i = 0; i < 2; ++i) {
        std::array<uint8_t, 16> h{};
        std::copy(ptr_to.begin() + 12 + 16 * static_cast<std::ptrdiff_t>(i),
                  ptr_to.begin() + 28 + 16 * static_cast<std::ptrdiff_t>(i), h.begin());
        hashes.insert(h);
    }
    const auto canon_a = upd::canonical_rdata(rrtype::PTR, rec_ptr("x", "a._ipp._tcp").rdata);
    EXPECT_TRUE(hashes.count(upd::timeout_hash(canon_a)));

    // A third PTR: the old TIMEOUT is deleted, a new one covers all three.
    ASSERT_TRUE(eng->add(kZone, rec_ptr("_ipp._tcp", "c._ipp._tcp")));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 2u);
    int deletes = 0, adds = 0;
    for (const Upd& u : updates_of(server.requests[1])) {
        if (u.type != kTimeoutType) continue;
        if (u.cls == codec::rrclass::NONE) {
            ++deletes;
            EXPECT_EQ(u.rdata, ptr_to);
        } else {
            ++adds;
            EXPECT_EQ(u.rdata[2], 3);
        }
    }
    EXPECT_EQ(deletes, 1);
    EXPECT_EQ(adds, 1);
}

TEST_F(EngineTest, RefusedCountsFailedOnceAndRetriesWithBackoff) {
    cfg.retry_initial_ms = 500;
    cfg.retry_max_ms = 4000;
    answer = [](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.rcode = rcode::REFUSED;
        return a;
    };
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h1", 1)));
    ASSERT_TRUE(eng->add(kZone, rec_a("h2", 2)));
    // The message is split to find which change is refused; each change,
    // refused alone, is counted once (REFUSED is definitive).
    ASSERT_TRUE(run_until([this] { return eng->failed_changes() >= 2 && eng->idle(); }));
    EXPECT_EQ(eng->failed_changes(), 2u);
    EXPECT_EQ(data_updates(server.requests[0]), 2u);
    EXPECT_EQ(data_updates(server.requests[1]), 1u);
    EXPECT_EQ(st().splits, 1u);
    EXPECT_TRUE(eng->idle());  // waiting for a retry is idle
    EXPECT_EQ(st().pending, 2u);
    EXPECT_EQ(st().held, 2u);
    ASSERT_TRUE(run_until([this] { return server.requests.size() >= 20; }));
    EXPECT_EQ(eng->failed_changes(), 2u);  // counted once per change
    const ZoneStats s = st();
    EXPECT_EQ(s.responses[rcode::REFUSED], server.requests.size());
    EXPECT_GE(s.retries, 5u);
    EXPECT_NE(s.last_error.find("REFUSED"), std::string::npos) << s.last_error;
    // Each change alone, with its own exponential backoff: ~500, ~1000,
    // ~2000, then capped at 4000 (-20%); the zone's backoff can only add.
    std::map<std::string, std::vector<uint64_t>> attempts;
    for (size_t i = 1; i < server.requests.size(); ++i) {
        const auto u = updates_of(server.requests[i]);
        ASSERT_EQ(data_updates(server.requests[i]), 1u) << i;
        attempts[u.front().owner.to_string()].push_back(request_times[i]);
    }
    ASSERT_EQ(attempts.size(), 2u);
    const uint64_t lower[] = {400, 800, 1600, 3200, 3200};
    for (const auto& [owner, times] : attempts) {
        ASSERT_GE(times.size(), 4u) << owner;
        for (size_t i = 0; i + 1 < times.size() && i < std::size(lower); ++i) {
            const uint64_t gap = times[i + 1] - times[i];
            EXPECT_GE(gap, lower[i]) << owner << " attempt " << i;
            EXPECT_LE(gap, 8000u) << owner << " attempt " << i;
        }
    }
    // The server comes round: confirmed.
    answer = [](const codec::Message&, const FakeRequest&) { return FakeAnswer{}; };
    ASSERT_TRUE(run_idle());
    EXPECT_EQ(st().confirmed, 2u);
    EXPECT_EQ(st().held, 0u);
    EXPECT_EQ(eng->failed_changes(), 2u);
}

// One change the server will not take (BIND max-records-per-type answers
// SERVFAIL for the whole message): the batch is split until that change is
// alone; every other change lands, the offender is counted once and retried
// later with its own backoff, and lands when the server takes it.
TEST_F(EngineTest, RejectedChangeIsIsolatedAndTheRestLands) {
    cfg.retry_initial_ms = 500;
    cfg.retry_max_ms = 4000;
    bool refuse = true;
    const Name bad = N("h13.lab.example.test.");
    answer = [&](const codec::Message&, const FakeRequest& r) {
        FakeAnswer a;
        for (const Upd& u : updates_of(r)) {
            if (refuse && u.owner == bad) a.rcode = rcode::SERVFAIL;
        }
        return a;
    };
    make();
    for (int i = 0; i < 40; ++i) {
        ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), static_cast<uint8_t>(i))));
    }
    ASSERT_TRUE(run_until([this] { return st().confirmed == 39u && eng->failed_changes() == 1u; }));
    const ZoneStats s = st();
    EXPECT_GE(s.splits, 1u);
    EXPECT_EQ(s.held, 1u);
    EXPECT_EQ(s.pending, 1u);
    EXPECT_NE(s.last_error.find("h13.lab.example.test."), std::string::npos) << s.last_error;
    EXPECT_NE(s.last_error.find("SERVFAIL"), std::string::npos) << s.last_error;
    // Binary splitting: a handful of messages, not one per change.
    EXPECT_LE(server.requests.size(), 20u);
    // Retried alone later, still counted once.
    const size_t before = server.requests.size();
    ASSERT_TRUE(run_until([&] { return server.requests.size() >= before + 3; }));
    for (size_t i = before; i < server.requests.size(); ++i) {
        const auto u = updates_of(server.requests[i]);
        ASSERT_EQ(data_updates(server.requests[i]), 1u);
        EXPECT_EQ(u.front().owner, bad);
    }
    EXPECT_GE(request_times[before + 2] - request_times[before + 1], 800u);
    EXPECT_EQ(eng->failed_changes(), 1u);
    refuse = false;
    ASSERT_TRUE(run_idle());
    EXPECT_EQ(st().confirmed, 40u);
    EXPECT_EQ(st().held, 0u);
    // Back to full batches afterwards.
    for (int i = 40; i < 100; ++i) {
        ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), static_cast<uint8_t>(i))));
    }
    const size_t mark = server.requests.size();
    ASSERT_TRUE(run_idle());
    EXPECT_LE(server.requests.size() - mark, 2u);
}

// A server that rejects everything: splitting must not turn into one
// message per change at full speed; the zone backs off once nothing lands.
TEST_F(EngineTest, RejectingEverythingBacksOffInsteadOfSplittingForever) {
    cfg.retry_initial_ms = 500;
    cfg.retry_max_ms = 4000;
    answer = [](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.rcode = rcode::SERVFAIL;
        return a;
    };
    make();
    for (int i = 0; i < 64; ++i) {
        ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), static_cast<uint8_t>(i))));
    }
    const uint64_t t0 = now;
    ASSERT_TRUE(run_until([&] { return now >= t0 + 10'000; }, 1000));
    // 1 + 6 splits down to one change, then one single change per backoff.
    EXPECT_LE(server.requests.size(), 7u + 10u);
    EXPECT_EQ(eng->failed_changes(), 0u);  // nothing proves a change guilty
}

// A managed subdomain: the zone is read back (AXFR over TCP, signed) before
// the first UPDATE. A server that refuses the transfer (Knot without a
// transfer rule for the key answers NOTAUTH) gets the records all the same,
// re-sent as without read-back, and the failure is counted.
TEST_F(EngineTest, ReadBackRefusedFallsBackToPublishing) {
    std::vector<uint16_t> opcodes;
    answer = [&opcodes](const codec::Message& m, const FakeRequest&) {
        opcodes.push_back(m.header().opcode());
        FakeAnswer a;
        if (m.header().opcode() != codec::opcode::UPDATE) a.rcode = rcode::NOTAUTH;
        return a;
    };
    make();
    eng->manage(N("x.lab.example.test."));
    ASSERT_TRUE(eng->add(kZone, rec_a("h1.x", 1)));
    ASSERT_TRUE(eng->add(kZone, rec_a("h2.x", 2)));
    EXPECT_FALSE(eng->idle());  // the read-back comes first
    ASSERT_TRUE(run_idle());
    ASSERT_GE(server.requests.size(), 2u);
    EXPECT_TRUE(server.requests[0].tcp);
    EXPECT_TRUE(server.requests[0].tsig_ok);  // the AXFR query is signed
    EXPECT_NE(opcodes[0], codec::opcode::UPDATE);
    const ZoneStats s = st();
    EXPECT_EQ(s.readbacks, 0u);
    EXPECT_EQ(s.readback_failures, 1u);
    EXPECT_EQ(eng->readback_failures(), 1u);
    EXPECT_EQ(s.confirmed, 2u);
    EXPECT_EQ(eng->failed_changes(), 0u);
    EXPECT_EQ(s.last_error.rfind("read-back", 0), 0u) << s.last_error;
    // A triggered resync tries again.
    eng->reconcile(kZone);
    ASSERT_TRUE(run_until([this] { return eng->readback_failures() == 2u && eng->idle(); }));
}

TEST_F(EngineTest, LatencyHistogramCountsAnsweredMessages) {
    make();
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), static_cast<uint8_t>(i))));
        ASSERT_TRUE(run_idle());
    }
    const ZoneStats s = st();
    ASSERT_EQ(s.latency_counts.size(), s.latency_bounds.size() + 1);
    uint64_t n = 0;
    for (uint64_t c : s.latency_counts) n += c;
    EXPECT_EQ(n, 3u);
    EXPECT_EQ(s.messages_sent, 3u);
    EXPECT_GT(s.latency_sum, 0.0);
    EXPECT_LT(s.latency_sum, 3.0);
    for (size_t i = 1; i < s.latency_bounds.size(); ++i) EXPECT_LT(s.latency_bounds[i - 1], s.latency_bounds[i]);
}

TEST_F(EngineTest, ServfailIsRetriedNotFailed) {
    int n = 0;
    answer = [&n](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.rcode = n++ < 2 ? rcode::SERVFAIL : rcode::NOERROR;
        return a;
    };
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(run_idle());
    EXPECT_EQ(st().responses[rcode::SERVFAIL], 2u);
    EXPECT_EQ(st().responses[rcode::NOERROR], 1u);
    EXPECT_EQ(st().confirmed, 1u);
    EXPECT_EQ(eng->failed_changes(), 0u);
}

TEST_F(EngineTest, PrerequisiteOutcomesAreAnswers) {
    answer = [](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.rcode = rcode::YXRRSET;
        return a;
    };
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(run_idle());
    EXPECT_EQ(server.requests.size(), 1u);
    EXPECT_EQ(st().responses[rcode::YXRRSET], 1u);
    EXPECT_EQ(eng->failed_changes(), 0u);
}

TEST_F(EngineTest, NoResponseTimesOutAndRetries) {
    cfg.response_timeout_ms = 2000;
    bool drop = true;
    answer = [&drop](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.drop = drop;
        return a;
    };
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    now += 100;
    settle();
    ASSERT_EQ(server.requests.size(), 1u);
    EXPECT_FALSE(eng->idle());
    EXPECT_EQ(eng->next_wakeup_ms(now), request_times[0] + 2000);
    now = request_times[0] + 2000;
    eng->on_ready(now);
    ZoneStats s = st();
    EXPECT_EQ(s.timeouts, 1u);
    EXPECT_FALSE(s.reachable);
    EXPECT_TRUE(eng->idle());
    EXPECT_EQ(eng->failed_changes(), 0u);  // unreachable is not a refusal
    drop = false;
    ASSERT_TRUE(run_idle());
    s = st();
    EXPECT_TRUE(s.reachable);
    EXPECT_EQ(s.confirmed, 1u);
    EXPECT_EQ(server.requests.size(), 2u);
}

TEST_F(EngineTest, PortUnreachableFailsFastWithoutWaitingForTimeout) {
    // A bound UDP port that never reads makes no ICMP; a closed port does.
    const uint16_t dead = testing::FakeDnsServer(key).port();  // closed again at once
    cfg.zones[0].port = dead;
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    now += 100;
    settle();
    const ZoneStats s = st();
    EXPECT_EQ(s.connection_failures, 1u);
    EXPECT_EQ(s.timeouts, 0u);
    EXPECT_FALSE(s.reachable);
    EXPECT_TRUE(eng->idle());
}

TEST_F(EngineTest, TruncatedAnswerResendsSameMessageOverTcp) {
    answer = [](const codec::Message&, const FakeRequest& r) {
        FakeAnswer a;
        a.tc = !r.tcp;
        return a;
    };
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 2u);
    EXPECT_FALSE(server.requests[0].tcp);
    EXPECT_TRUE(server.requests[1].tcp);
    EXPECT_EQ(server.requests[0].wire, server.requests[1].wire);
    EXPECT_EQ(st().tcp_fallbacks, 1u);
    EXPECT_EQ(st().confirmed, 1u);
}

TEST_F(EngineTest, MessageLargerThanUdpLimitGoesOverTcp) {
    cfg.udp_limit = 300;
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("small", 1)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 1u);
    EXPECT_FALSE(server.requests[0].tcp);
    // A record that alone is over the UDP limit: TCP, in a message that
    // takes whatever else is queued (up to max_message).
    ASSERT_TRUE(eng->add(kZone, rec_txt("big", 400)));
    ASSERT_TRUE(eng->add(kZone, rec_a("small2", 2)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 2u);
    EXPECT_TRUE(server.requests[1].tcp);
    EXPECT_GT(server.requests[1].wire.size(), 300u);
    EXPECT_EQ(data_updates(server.requests[1]), 2u);
    EXPECT_EQ(st().tcp_fallbacks, 1u);
    EXPECT_EQ(st().confirmed, 3u);
}

TEST_F(EngineTest, TcpConnectionIsKeptAndReopenedAfterServerClose) {
    cfg.zones[0].transport = Transport::tcp;
    make();
    for (uint8_t i = 1; i <= 3; ++i) {
        ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), i)));
        ASSERT_TRUE(run_idle());
    }
    EXPECT_EQ(server.requests.size(), 3u);
    for (const FakeRequest& r : server.requests) EXPECT_TRUE(r.tcp);
    EXPECT_EQ(server.tcp_accepts, 1);
    EXPECT_EQ(st().tcp_connects, 1u);
    // The server closes the idle connection (BIND's tcp-idle-timeout).
    server.close_tcp_connections();
    settle();
    ASSERT_TRUE(eng->add(kZone, rec_a("h4", 4)));
    ASSERT_TRUE(run_idle());
    EXPECT_EQ(server.tcp_accepts, 2);
    EXPECT_EQ(st().connection_failures, 0u);
    EXPECT_EQ(st().confirmed, 4u);
}

TEST_F(EngineTest, KeptConnectionClosedUnderARequestIsRetriedOnceOnANewOne) {
    cfg.zones[0].transport = Transport::tcp;
    int closes = 0;
    answer = [&closes](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        if (closes > 0) {
            --closes;
            a.close_tcp = true;
        }
        return a;
    };
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h1", 1)));
    ASSERT_TRUE(run_idle());
    // The server drops the kept connection as the next request arrives.
    closes = 1;
    ASSERT_TRUE(eng->add(kZone, rec_a("h2", 2)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 3u);
    EXPECT_EQ(server.requests[1].wire, server.requests[2].wire);  // the same message again
    EXPECT_EQ(server.tcp_accepts, 2);
    ZoneStats s = st();
    EXPECT_EQ(s.connection_failures, 0u);  // not a failure: no backoff
    EXPECT_EQ(s.confirmed, 2u);
    EXPECT_EQ(request_times[2], request_times[1]);
    // A fresh connection closed under a request is a failure (then a retry).
    closes = 2;
    ASSERT_TRUE(eng->add(kZone, rec_a("h3", 3)));
    ASSERT_TRUE(run_idle());
    s = st();
    EXPECT_EQ(s.connection_failures, 1u);
    EXPECT_EQ(s.confirmed, 3u);
    EXPECT_NE(s.last_error.find("closed"), std::string::npos) << s.last_error;
}

TEST_F(EngineTest, ResponseWithBadTsigIsAFailure) {
    bool bad = true;
    answer = [&bad](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.wrong_key = bad;
        return a;
    };
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(run_until([this] { return server.requests.size() >= 1 && eng->idle(); }));
    EXPECT_EQ(st().tsig_failures, 1u);
    EXPECT_EQ(st().confirmed, 0u);
    EXPECT_EQ(st().responses[rcode::NOERROR], 0u);  // not believed
    bad = false;
    ASSERT_TRUE(run_idle());
    EXPECT_EQ(st().confirmed, 1u);
}

TEST_F(EngineTest, UnsignedBadsigAnswerIsCountedAndFailed) {
    answer = [](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.rcode = rcode::NOTAUTH;
        a.tsig_error = rcode::BADSIG;
        return a;
    };
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(run_until([this] { return server.requests.size() >= 1 && eng->idle(); }));
    EXPECT_EQ(st().responses[rcode::BADSIG], 1u);
    EXPECT_EQ(st().tsig_failures, 0u);
    EXPECT_EQ(eng->failed_changes(), 1u);
}

TEST_F(EngineTest, LeaseRefreshResendsEverythingDesired) {
    cfg.lease_s = 10;
    make();
    for (uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), i)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 1u);
    const uint64_t confirmed_at = st().last_success_ms;
    const uint64_t wake = eng->next_wakeup_ms(now);
    EXPECT_GE(wake, confirmed_at + 7200);  // 80% of 10 s, -10%
    EXPECT_LE(wake, confirmed_at + 8800);  // +10%
    ASSERT_TRUE(eng->remove(kZone, rec_a("h3", 3)));
    ASSERT_TRUE(run_idle());  // the removal goes at once
    ASSERT_EQ(server.requests.size(), 2u);
    now = confirmed_at + 8800;
    ASSERT_TRUE(run_until([this] { return server.requests.size() >= 3 && eng->idle(); }));
    std::vector<Upd> u = updates_of(server.requests[2]);
    ASSERT_EQ(u.size(), 2u);  // h1 and h2 re-added; h3 stays gone
    for (const Upd& x : u) EXPECT_EQ(x.cls, codec::rrclass::IN);
}

TEST_F(EngineTest, ReconcileResendsDesiredAndKeepsPendingRemovals) {
    make();
    for (uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), i)));
    ASSERT_TRUE(run_idle());
    bool drop = true;
    answer = [&drop](const codec::Message&, const FakeRequest&) {
        FakeAnswer a;
        a.drop = drop;
        return a;
    };
    ASSERT_TRUE(eng->remove(kZone, rec_a("h3", 3)));
    ASSERT_TRUE(run_until([this] { return st().timeouts >= 1; }));
    drop = false;
    eng->reconcile(kZone);
    const size_t before = server.requests.size();
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), before + 1);
    int adds = 0, deletes = 0;
    for (const Upd& x : updates_of(server.requests.back())) {
        (x.cls == codec::rrclass::IN ? adds : deletes)++;
    }
    EXPECT_EQ(adds, 2);
    EXPECT_EQ(deletes, 1);
    EXPECT_EQ(st().confirmed, 2u);
}

TEST_F(EngineTest, PeriodicReconcile) {
    cfg.reconcile_interval_s = 60;
    cfg.lease_s = 0;
    make();
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(server.requests.size(), 1u);
    now += 66'001;  // interval + 10%
    ASSERT_TRUE(run_until([this] { return server.requests.size() >= 2 && eng->idle(); }));
    EXPECT_EQ(data_updates(server.requests[1]), 1u);
}

TEST_F(EngineTest, MaxPendingRefusesAndCounts) {
    cfg.max_pending = 3;
    make();
    for (uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(eng->add(kZone, rec_a("h" + std::to_string(i), i)));
    EXPECT_FALSE(eng->add(kZone, rec_a("h4", 4)));
    EXPECT_EQ(st().queue_overflow, 1u);
    EXPECT_TRUE(eng->add(kZone, rec_a("h1", 1)));  // already queued: no new change
    EXPECT_TRUE(eng->remove(kZone, rec_a("h2", 2)));  // removals are never refused
    ASSERT_TRUE(run_idle());
    EXPECT_TRUE(eng->add(kZone, rec_a("h4", 4)));  // room again
}

TEST_F(EngineTest, PollInterfaceReportsDescriptors) {
    cfg.zones[0].transport = Transport::tcp;
    make();
    EXPECT_TRUE(eng->fds().empty());
    ASSERT_TRUE(eng->add(kZone, rec_a("h", 1)));
    now += 100;
    eng->on_ready(now);
    ASSERT_EQ(eng->fds().size(), 1u);  // the connection (connecting or waiting)
    ASSERT_TRUE(run_idle());
    ASSERT_EQ(eng->fds().size(), 1u);  // kept open, watched for a close
    EXPECT_EQ(eng->fds()[0].events & POLLIN, POLLIN);
}

}  // namespace
}  // namespace updproxy::control
