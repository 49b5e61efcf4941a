// System tests: the update engine against a real BIND named (Debian's 9.18),
// over UDP, TCP and DNS over TLS, with TSIG. Each test publishes under its
// own subtree of lab.example.test. and checks the zone's content by AXFR.
//
// What BIND 9.18 does that the tests pin down:
//   - it ignores the Update Lease option (RFC 9664) and does not echo it, so
//     lease_echoed stays false: the proxy keeps the records alive itself
//     (refresh, reconcile) and removes them itself;
//   - it stores TIMEOUT RRs (a private-use type) as opaque records;
//   - wrong secret: NOTAUTH with TSIG error BADSIG, unknown key: BADKEY,
//     both unsigned (RFC 8945 §5.3.2).
//
// Set UPDPROXY_UPDATE_BENCH_N=10000 to run the throughput comparison at
// that size (default 2000: the suite stays well under a minute).
#include <gtest/gtest.h>
#include <poll.h>
#include <time.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include "codec/builder.hpp"
#include "codec/types.hpp"
#include "control/update/named_fixture.hpp"
#include "control/update/record_key.hpp"
#include "control/update/update_engine.hpp"

namespace updproxy::control {
namespace {

using codec::Name;
using testing::NamedOptions;
using testing::NamedServer;
using testing::ZoneRecord;
namespace rrtype = codec::rrtype;
namespace rcode = codec::rcode;

Name N(const std::string& s) { return *Name::parse(s); }
const Name kZone = N("lab.example.test.");

uint64_t mono_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

// Runs the engines' poll loop until pred() or the timeout.
bool drive(const std::vector<UpdateEngine*>& engines, const std::function<bool()>& pred,
           int timeout_ms = 20'000) {
    const uint64_t deadline = mono_ms() + static_cast<uint64_t>(timeout_ms);
    for (;;) {
        uint64_t now = mono_ms();
        for (UpdateEngine* e : engines) e->on_ready(now);
        if (pred()) return true;
        if (now >= deadline) return false;
        std::vector<pollfd> p;
        uint64_t wake = now + 50;
        for (UpdateEngine* e : engines) {
            for (const auto& f : e->fds()) p.push_back({f.fd, f.events, 0});
            wake = std::min(wake, e->next_wakeup_ms(now));
        }
        ::poll(p.data(), p.size(), static_cast<int>(wake > now ? wake - now : 0));
    }
}

bool converged(const UpdateEngine& e) {
    if (!e.idle()) return false;
    for (const Name& z : e.zones()) {
        if (e.stats(z).pending != 0) return false;
    }
    return true;
}

// The set a zone (subtree) should hold: record key -> TTL.
using Content = std::map<std::string, uint32_t>;

std::string key_of(const Name& owner, uint16_t type, const std::vector<uint8_t>& rdata) {
    return upd::record_key(owner, type, upd::canonical_rdata(type, rdata));
}

// Readable form of a key for failure messages.
std::string show(const Content& c, size_t max = 10) {
    std::string s = std::to_string(c.size()) + " records";
    size_t n = 0;
    for (const auto& [k, ttl] : c) {
        if (n++ == max) break;
        codec::Result<Name> owner = Name::from_wire(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(k.data()), k.size()));
        s += "\n  " + (owner.ok() ? owner->to_string() : "?") + " ttl " + std::to_string(ttl);
    }
    return s;
}

class NamedUpdate : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        skip_ = NamedServer::missing_tools(true);
        if (!skip_.empty()) return;
        named_ = new NamedServer();
        NamedOptions o;
        o.tls = true;
        std::string err;
        if (!named_->setup(o, &err) || !named_->start(&err)) setup_error_ = err;
    }
    static void TearDownTestSuite() {
        delete named_;
        named_ = nullptr;
    }
    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        ASSERT_TRUE(setup_error_.empty()) << setup_error_;
        if (!named_->running()) {
            std::string err;
            ASSERT_TRUE(named_->start(&err)) << err;
        }
    }
    void TearDown() override {
        if (HasFailure() && named_ != nullptr) {
            std::cerr << "---- named.log (tail) ----\n" << named_->log_tail() << "\n";
        }
    }

    UpdateConfig config(Transport t = Transport::udp) const {
        UpdateConfig c;
        ZoneServer zs;
        zs.zone = kZone;
        zs.address = "127.0.0.1";
        zs.transport = t;
        zs.port = t == Transport::tls ? named_->tls_port() : named_->port();
        if (t == Transport::tls) {
            zs.ca_file = named_->ca_file();
            zs.tls_name = "ns.lab.example.test";
        }
        c.zones = {zs};
        c.key = named_->key();
        c.batch_window_ms = 20;
        c.retry_initial_ms = 100;
        c.retry_max_ms = 400;
        c.response_timeout_ms = 1000;
        c.reconcile_interval_s = 0;
        return c;
    }

    static std::unique_ptr<UpdateEngine> make(const UpdateConfig& c) {
        std::string err;
        auto e = UpdateEngine::create(c, &err);
        EXPECT_TRUE(e) << err;
        return e;
    }

    // What the server holds under `sub` (TIMEOUT records of type 65280 apart).
    static Content server_content(const Name& sub, std::vector<ZoneRecord>* timeouts = nullptr) {
        std::string err;
        std::vector<ZoneRecord> all = named_->axfr(&err);
        EXPECT_TRUE(err.empty()) << err;
        Content c;
        for (const ZoneRecord& r : all) {
            if (!r.owner.is_subdomain_of(sub)) continue;
            if (r.type == rrtype::TIMEOUT_DEFAULT) {
                if (timeouts != nullptr) timeouts->push_back(r);
                continue;
            }
            const bool fresh = c.emplace(key_of(r.owner, r.type, r.rdata), r.ttl).second;
            EXPECT_TRUE(fresh) << "duplicate record at " << r.owner.to_string();
        }
        return c;
    }

    static void add_all(UpdateEngine& e, const std::vector<PubRecord>& rs, Content* want) {
        for (const PubRecord& r : rs) {
            ASSERT_TRUE(e.add(kZone, r));
            (*want)[key_of(r.owner, r.type, r.rdata)] = r.ttl;
        }
    }
    static void remove_all(UpdateEngine& e, const std::vector<PubRecord>& rs, Content* want) {
        for (const PubRecord& r : rs) {
            ASSERT_TRUE(e.remove(kZone, r));
            want->erase(key_of(r.owner, r.type, r.rdata));
        }
    }

    static inline std::string skip_;
    static inline std::string setup_error_;
    static inline NamedServer* named_ = nullptr;
};

// A DNS-SD service instance as the proxy publishes it: 5 records.
std::vector<PubRecord> instance(const std::string& sub, int i, uint32_t ttl = 120) {
    const std::string base = sub + ".lab.example.test.";
    const Name inst = N("Printer\\032" + std::to_string(i) + "._ipp._tcp." + base);
    const Name host = N("host-" + std::to_string(i) + "." + base);
    const std::string tx = "txtvers=1 rp=queue" + std::to_string(i);
    const std::string_view txt[] = {"txtvers=1", tx};
    std::array<uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
    v6[14] = static_cast<uint8_t>(i >> 8);
    v6[15] = static_cast<uint8_t>(i);
    return {
        {N("_ipp._tcp." + base), rrtype::PTR, ttl, codec::rdata::name(inst)},
        {inst, rrtype::SRV, ttl, codec::rdata::srv(0, 0, 631, host)},
        {inst, rrtype::TXT, ttl, codec::rdata::txt(txt)},
        {host, rrtype::A, ttl,
         codec::rdata::a(std::array<uint8_t, 4>{198, 51, static_cast<uint8_t>(100 + i / 250),
                                                static_cast<uint8_t>(i % 250 + 1)})},
        {host, rrtype::AAAA, ttl, codec::rdata::aaaa(v6)},
    };
}

std::vector<PubRecord> instances(const std::string& sub, int from, int to, uint32_t ttl = 120) {
    std::vector<PubRecord> out;
    for (int i = from; i < to; ++i) {
        for (PubRecord& r : instance(sub, i, ttl)) out.push_back(std::move(r));
    }
    return out;
}

TEST_F(NamedUpdate, Publish500ThenTtlChangeThenRemovals) {
    const Name sub = N("t-publish.lab.example.test.");
    auto e = make(config());
    ASSERT_TRUE(e);
    Content want;
    add_all(*e, instances("t-publish", 0, 100), &want);
    ASSERT_EQ(want.size(), 500u);
    const uint64_t t0 = mono_ms();
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    const uint64_t t1 = mono_ms();
    ZoneStats s = e->stats(kZone);
    EXPECT_EQ(s.confirmed, 500u);
    EXPECT_EQ(e->failed_changes(), 0u);
    EXPECT_EQ(s.responses[rcode::NOERROR], s.messages_sent);
    EXPECT_TRUE(s.reachable);
    // Batched: far fewer messages than records.
    EXPECT_LT(s.messages_sent, 60u);
    std::cout << "[ info ] 500 records in " << s.messages_sent << " messages, " << (t1 - t0)
              << " ms\n";
    EXPECT_EQ(server_content(sub), want) << show(server_content(sub));

    // TTL change of 50 host addresses (each its own RRset).
    std::vector<PubRecord> hosts;
    for (int i = 0; i < 50; ++i) {
        PubRecord a = instance("t-publish", i)[3];
        a.ttl = 60;
        hosts.push_back(a);
    }
    add_all(*e, hosts, &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    EXPECT_EQ(server_content(sub), want);
    EXPECT_EQ(named_->dig("host-7.t-publish.lab.example.test", "A"), "198.51.100.8");

    // Half of the instances go away.
    remove_all(*e, instances("t-publish", 50, 100), &want);
    // (hosts 0..49 keep their TTL-60 A records; instances() gives TTL 120
    // versions of 50..99 only, so the keys match what was published.)
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    EXPECT_EQ(want.size(), 250u);
    EXPECT_EQ(server_content(sub), want);
    EXPECT_EQ(e->stats(kZone).confirmed, 250u);
    EXPECT_EQ(e->failed_changes(), 0u);
}

TEST_F(NamedUpdate, ServerLosesStateMidStreamAndConverges) {
    const Name sub = N("t-restart.lab.example.test.");
    UpdateConfig c = config();
    c.udp_limit = 512;  // many small messages, so the stop lands mid-stream
    c.max_message = 512;
    auto e = make(c);
    ASSERT_TRUE(e);
    Content want;
    add_all(*e, instances("t-restart", 0, 60), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return e->stats(kZone).confirmed >= 50; }));
    ASSERT_LT(e->stats(kZone).confirmed, 300u) << "finished before the stop: not mid-stream";

    // The server dies and comes back with an empty zone (journal gone).
    named_->stop();
    named_->reset_zone();
    // Meanwhile the proxy's view changes: 10 instances go, 12 come.
    remove_all(*e, instances("t-restart", 0, 10), &want);
    add_all(*e, instances("t-restart", 60, 72), &want);
    // Attempts fail: the message named took with it times out (1 s), the
    // next ones meet a closed port (ICMP, at once).
    EXPECT_TRUE(drive({e.get()}, [&] { return e->idle() && e->stats(kZone).connection_failures > 0; },
                      5000));
    const ZoneStats down = e->stats(kZone);
    EXPECT_FALSE(down.reachable);
    EXPECT_GT(down.connection_failures + down.timeouts, 0u);
    EXPECT_GT(down.pending, 0u);
    EXPECT_EQ(e->failed_changes(), 0u);  // unreachable is not a refusal

    std::string err;
    ASSERT_TRUE(named_->start(&err)) << err;
    // The proxy learns of the loss by its reconciliation (periodic, or
    // triggered by an operator / a SOA serial check): here, explicitly.
    e->reconcile(kZone);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    EXPECT_EQ(want.size(), 310u);
    EXPECT_EQ(server_content(sub), want) << show(server_content(sub));
    EXPECT_TRUE(e->stats(kZone).reachable);
    EXPECT_EQ(e->stats(kZone).confirmed, 310u);
}

TEST_F(NamedUpdate, ChangesWhileServerDownArriveExactly) {
    const Name sub = N("t-down.lab.example.test.");
    auto e = make(config());
    ASSERT_TRUE(e);
    Content want;
    add_all(*e, instances("t-down", 0, 20), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    EXPECT_EQ(server_content(sub), want);

    named_->stop();  // graceful: the zone and its journal survive
    remove_all(*e, instances("t-down", 0, 5), &want);
    add_all(*e, instances("t-down", 20, 30), &want);
    drive({e.get()}, [&] { return false; }, 500);
    EXPECT_FALSE(e->stats(kZone).reachable);
    std::string err;
    ASSERT_TRUE(named_->start(&err)) << err;
    // No reconcile: the pending difference alone is what was missing.
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    EXPECT_EQ(server_content(sub), want) << show(server_content(sub));
}

TEST_F(NamedUpdate, WrongKeyIsRefusedAndCounted) {
    const Name sub = N("t-badkey.lab.example.test.");
    UpdateConfig c = config();
    for (uint8_t& b : c.key->secret) b = static_cast<uint8_t>(b ^ 0xA5);
    auto e = make(c);
    ASSERT_TRUE(e);
    Content want;
    add_all(*e, instances("t-badkey", 0, 4), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return e->idle(); }));
    ZoneStats s = e->stats(kZone);
    EXPECT_EQ(s.responses[rcode::BADSIG], 1u);
    EXPECT_EQ(s.confirmed, 0u);
    EXPECT_EQ(s.tsig_failures, 0u);  // BADSIG answers are unsigned by design
    EXPECT_EQ(e->failed_changes(), 20u);
    // Retried with backoff, still counted once.
    drive({e.get()}, [&] { return e->stats(kZone).responses[rcode::BADSIG] >= 3; }, 3000);
    EXPECT_GE(e->stats(kZone).responses[rcode::BADSIG], 3u);
    EXPECT_EQ(e->failed_changes(), 20u);
    EXPECT_TRUE(server_content(sub).empty());

    // An unknown key name: BADKEY.
    UpdateConfig c2 = config();
    c2.key->name = N("stranger.lab.example.test.");
    auto e2 = make(c2);
    ASSERT_TRUE(e2);
    ASSERT_TRUE(e2->add(kZone, instance("t-badkey", 9)[3]));
    ASSERT_TRUE(drive({e2.get()}, [&] { return e2->idle(); }));
    EXPECT_EQ(e2->stats(kZone).responses[rcode::BADKEY], 1u);
    EXPECT_EQ(e2->failed_changes(), 1u);
    EXPECT_TRUE(server_content(sub).empty());
}

TEST_F(NamedUpdate, TwoProxiesPublishingTheSameRecords) {
    const Name sub = N("t-two.lab.example.test.");
    auto a = make(config());
    auto b = make(config());
    ASSERT_TRUE(a && b);
    Content want, want_b;
    const auto recs = instances("t-two", 0, 20);
    add_all(*a, recs, &want);
    add_all(*b, recs, &want_b);
    ASSERT_TRUE(drive({a.get(), b.get()}, [&] { return converged(*a) && converged(*b); }));
    EXPECT_EQ(server_content(sub), want);  // no duplicates (checked inside)
    for (UpdateEngine* e : {a.get(), b.get()}) {
        const ZoneStats s = e->stats(kZone);
        EXPECT_EQ(s.confirmed, 100u);
        EXPECT_EQ(s.responses[rcode::NOERROR], s.messages_sent);
        EXPECT_EQ(e->failed_changes(), 0u);
    }
    // One proxy drops 5 instances: they leave the server although the other
    // still wants them (draft §4.7: no coordination)...
    Content want_a = want;
    remove_all(*a, instances("t-two", 0, 5), &want_a);
    ASSERT_TRUE(drive({a.get()}, [&] { return converged(*a); }));
    EXPECT_EQ(server_content(sub), want_a);
    // ...until the other's reconciliation puts them back.
    b->reconcile(kZone);
    ASSERT_TRUE(drive({b.get()}, [&] { return converged(*b); }));
    EXPECT_EQ(server_content(sub), want);
    // Both remove everything: nothing left, no errors.
    Content none = want;
    remove_all(*a, recs, &none);
    remove_all(*b, recs, &none);
    ASSERT_TRUE(drive({a.get(), b.get()}, [&] { return converged(*a) && converged(*b); }));
    EXPECT_TRUE(server_content(sub).empty());
    EXPECT_EQ(a->failed_changes() + b->failed_changes(), 0u);
}

TEST_F(NamedUpdate, LeaseOptionIsIgnoredByBind918) {
    UpdateConfig c = config();
    c.lease_s = 3600;
    c.key_lease_s = 86400;
    auto e = make(c);
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->add(kZone, instance("t-lease", 1)[3]));
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    const ZoneStats s = e->stats(kZone);
    EXPECT_EQ(s.confirmed, 1u);  // accepted (the option is not an error)...
    EXPECT_FALSE(s.lease_echoed);  // ...but not echoed: BIND has no lease support
    EXPECT_EQ(named_->dig("host-1.t-lease.lab.example.test", "A"), "198.51.100.2");
}

TEST_F(NamedUpdate, TimeoutRrsStoredOnePerRrsetAcrossRefreshes) {
    const Name sub = N("t-timeout.lab.example.test.");
    UpdateConfig c = config();
    c.timeout_rrs = true;
    c.lease_s = 600;
    auto e = make(c);
    ASSERT_TRUE(e);
    Content want;
    add_all(*e, instances("t-timeout", 0, 3), &want);  // RRsets: 1 PTR set + 3*(SRV, TXT, A, AAAA)
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    std::vector<ZoneRecord> timeouts;
    EXPECT_EQ(server_content(sub, &timeouts), want);
    EXPECT_EQ(timeouts.size(), 13u);
    // A refresh (same path as the lease refresh) replaces, not piles up.
    e->reconcile(kZone);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    timeouts.clear();
    EXPECT_EQ(server_content(sub, &timeouts), want);
    EXPECT_EQ(timeouts.size(), 13u);
    // Removing an RRset's last record removes its TIMEOUT too.
    remove_all(*e, {instance("t-timeout", 2)[3]}, &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    timeouts.clear();
    EXPECT_EQ(server_content(sub, &timeouts), want);
    EXPECT_EQ(timeouts.size(), 12u);
}

TEST_F(NamedUpdate, LargerThanUdpLimitFallsBackToTcp) {
    UpdateConfig c = config();
    c.udp_limit = 512;
    c.max_message = 4096;
    auto e = make(c);
    ASSERT_TRUE(e);
    // A batch larger than the UDP limit: TCP, in 4 KB messages.
    const Name sub = N("t-tcp.lab.example.test.");
    Content want;
    add_all(*e, instances("t-tcp", 0, 40), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    EXPECT_GE(e->stats(kZone).tcp_fallbacks, 2u);
    EXPECT_EQ(e->stats(kZone).tcp_connects, 1u);
    EXPECT_EQ(server_content(sub), want);
    remove_all(*e, instances("t-tcp", 0, 40), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    EXPECT_TRUE(server_content(sub).empty());
    // One record larger than the UDP limit on its own.
    const uint64_t fallbacks = e->stats(kZone).tcp_fallbacks;
    std::string big(250, 'b');
    const std::string_view parts[] = {big, big, big, big};  // ~1 KB TXT
    const PubRecord r{N("big.t-tcp.lab.example.test."), rrtype::TXT, 120, codec::rdata::txt(parts)};
    ASSERT_TRUE(e->add(kZone, r));
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    const ZoneStats s = e->stats(kZone);
    EXPECT_EQ(s.confirmed, 1u);
    EXPECT_EQ(s.tcp_fallbacks, fallbacks + 1);
    EXPECT_EQ(s.tcp_connects, 1u);  // the connection was kept
    want = {{key_of(r.owner, r.type, r.rdata), 120}};
    EXPECT_EQ(server_content(sub), want);
}

TEST_F(NamedUpdate, PersistentTcp) {
    const Name sub = N("t-ptcp.lab.example.test.");
    UpdateConfig c = config(Transport::tcp);
    c.max_message = 2048;  // several messages
    auto e = make(c);
    ASSERT_TRUE(e);
    Content want;
    add_all(*e, instances("t-ptcp", 0, 40), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    add_all(*e, instances("t-ptcp", 40, 50), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    const ZoneStats s = e->stats(kZone);
    EXPECT_GT(s.messages_sent, 4u);
    EXPECT_EQ(s.tcp_connects, 1u);  // one connection for all of them
    EXPECT_EQ(server_content(sub), want);
}

TEST_F(NamedUpdate, DnsOverTls) {
    const Name sub = N("t-tls.lab.example.test.");
    auto e = make(config(Transport::tls));
    ASSERT_TRUE(e);
    Content want;
    add_all(*e, instances("t-tls", 0, 30), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    ZoneStats s = e->stats(kZone);
    EXPECT_EQ(s.confirmed, 150u);
    EXPECT_EQ(s.tcp_connects, 1u);
    EXPECT_EQ(s.connection_failures, 0u);
    EXPECT_EQ(server_content(sub), want);
    remove_all(*e, instances("t-tls", 0, 10), &want);
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }));
    EXPECT_EQ(server_content(sub), want);
    EXPECT_EQ(e->stats(kZone).tcp_connects, 1u);

    // The certificate does not name what we expect: nothing is sent.
    UpdateConfig bad = config(Transport::tls);
    bad.zones[0].tls_name = "wrong.example.test";
    auto e2 = make(bad);
    ASSERT_TRUE(e2);
    ASSERT_TRUE(e2->add(kZone, instance("t-tls-bad", 1)[3]));
    ASSERT_TRUE(drive({e2.get()}, [&] { return e2->idle(); }));
    s = e2->stats(kZone);
    EXPECT_EQ(s.confirmed, 0u);
    EXPECT_GE(s.connection_failures, 1u);
    EXPECT_NE(s.last_error.find("certificate"), std::string::npos) << s.last_error;
    EXPECT_TRUE(server_content(N("t-tls-bad.lab.example.test.")).empty());

    // An IP address as the name: the certificate carries IP 127.0.0.1.
    UpdateConfig ip = config(Transport::tls);
    ip.zones[0].tls_name = "";  // default: the address
    auto e3 = make(ip);
    ASSERT_TRUE(e3);
    ASSERT_TRUE(e3->add(kZone, instance("t-tls-ip", 1)[3]));
    ASSERT_TRUE(drive({e3.get()}, [&] { return converged(*e3); }));
    EXPECT_EQ(e3->stats(kZone).confirmed, 1u);
}

// Throughput into named: batched versus one record per message (what an
// nsupdate-style client does), same engine, same server, same records.
TEST_F(NamedUpdate, ThroughputBatchedVersusOnePerMessage) {
    int n = 2000;
    if (const char* env = std::getenv("UPDPROXY_UPDATE_BENCH_N")) n = std::max(100, std::atoi(env));
    // One per message is slow (named syncs its journal per UPDATE): sample it.
    const int single_n = std::getenv("UPDPROXY_UPDATE_BENCH_N") != nullptr ? std::min(n, 1000) : 300;
    std::vector<PubRecord> batched, single;
    for (int i = 0; i < n; ++i) {
        batched.push_back({N("b" + std::to_string(i) + ".t-bench.lab.example.test."), rrtype::A, 120,
                           codec::rdata::a(std::array<uint8_t, 4>{203, 0, 113, static_cast<uint8_t>(i % 254 + 1)})});
    }
    for (int i = 0; i < single_n; ++i) {
        single.push_back({N("s" + std::to_string(i) + ".t-bench.lab.example.test."), rrtype::A, 120,
                          codec::rdata::a(std::array<uint8_t, 4>{203, 0, 113, static_cast<uint8_t>(i % 254 + 1)})});
    }
    UpdateConfig c = config();
    c.batch_window_ms = 0;
    c.max_message = c.udp_limit;  // UDP-sized batches (1232 bytes)
    auto e = make(c);
    ASSERT_TRUE(e);
    uint64_t t0 = mono_ms();
    for (const PubRecord& r : batched) ASSERT_TRUE(e->add(kZone, r));
    ASSERT_TRUE(drive({e.get()}, [&] { return converged(*e); }, 120'000));
    const uint64_t batched_ms = std::max<uint64_t>(1, mono_ms() - t0);
    const uint64_t batched_msgs = e->stats(kZone).messages_sent;

    // Larger messages over one persistent TCP connection (16 KB each).
    std::vector<PubRecord> tcp_recs;
    for (int i = 0; i < n; ++i) {
        tcp_recs.push_back({N("t" + std::to_string(i) + ".t-bench.lab.example.test."), rrtype::A, 120,
                            codec::rdata::a(std::array<uint8_t, 4>{203, 0, 113, static_cast<uint8_t>(i % 254 + 1)})});
    }
    UpdateConfig ct = config();  // defaults: a backlog goes over TCP in 16 KB messages
    ct.batch_window_ms = 0;
    auto et = make(ct);
    ASSERT_TRUE(et);
    t0 = mono_ms();
    for (const PubRecord& r : tcp_recs) ASSERT_TRUE(et->add(kZone, r));
    ASSERT_TRUE(drive({et.get()}, [&] { return converged(*et); }, 120'000));
    const uint64_t tcp_ms = std::max<uint64_t>(1, mono_ms() - t0);
    const uint64_t tcp_msgs = et->stats(kZone).messages_sent;

    auto e1 = make(c);
    ASSERT_TRUE(e1);
    t0 = mono_ms();
    for (const PubRecord& r : single) {
        ASSERT_TRUE(e1->add(kZone, r));
        ASSERT_TRUE(drive({e1.get()}, [&] { return converged(*e1); }));
    }
    const uint64_t single_ms = std::max<uint64_t>(1, mono_ms() - t0);
    EXPECT_EQ(e1->stats(kZone).messages_sent, static_cast<uint64_t>(single_n));
    const double rate_b = 1000.0 * n / static_cast<double>(batched_ms);
    const double rate_s = 1000.0 * single_n / static_cast<double>(single_ms);
    std::cout << "[ info ] batched, UDP-sized messages: " << n << " records in " << batched_msgs << " messages, "
              << batched_ms << " ms = " << static_cast<int>(rate_b) << " records/s\n"
              << "[ info ] batched, default (backlog over TCP, 16 KB messages): " << n << " records in " << tcp_msgs
              << " messages, " << tcp_ms << " ms = "
              << static_cast<int>(1000.0 * n / static_cast<double>(tcp_ms)) << " records/s\n"
              << "[ info ] one per message: " << single_n << " records in " << single_ms
              << " ms = " << static_cast<int>(rate_s) << " records/s\n"
              << "[ info ] ratio UDP-sized batches / one per message: " << rate_b / rate_s << "\n";
    EXPECT_GT(rate_b, rate_s);
    EXPECT_EQ(e->failed_changes() + e1->failed_changes() + et->failed_changes(), 0u);
}

}  // namespace
// A restart of the proxy: a new engine finds the zone as an earlier run
// left it (read back by a TSIG-signed AXFR) and converges it exactly: a
// service withdrawn meanwhile goes (after the grace), a TXT changed
// meanwhile is replaced at once (no pile-up), a TTL changed meanwhile is
// applied, a subtype PTR of a live instance stays, nothing else under the
// subdomain is touched outside it.
TEST_F(NamedUpdate, ReadBackAfterRestartConvergesExactly) {
    const Name sub = N("t-readback.lab.example.test.");
    const std::string base = "t-readback.lab.example.test.";
    auto subtype = [&](int i) {
        return PubRecord{N("_color._sub._ipp._tcp." + base), rrtype::PTR, 120,
                         codec::rdata::name(N("Printer\\032" + std::to_string(i) + "._ipp._tcp." + base))};
    };
    auto e1 = make(config());
    ASSERT_TRUE(e1);
    Content first;
    add_all(*e1, instances("t-readback", 0, 4), &first);
    add_all(*e1, {subtype(1), subtype(3)}, &first);
    ASSERT_TRUE(drive({e1.get()}, [&] { return converged(*e1); }));
    ASSERT_EQ(server_content(sub), first);
    e1.reset();  // the proxy stops

    // What the links say after the restart.
    std::vector<PubRecord> now = instances("t-readback", 0, 1);             // unchanged
    for (PubRecord& r : instance("t-readback", 1, 240)) now.push_back(r);   // TTL changed
    std::vector<PubRecord> two = instance("t-readback", 2);
    const std::string_view newtxt[] = {"txtvers=1", "rp=moved"};
    two[2].rdata = codec::rdata::txt(newtxt);                             // TXT changed
    for (PubRecord& r : two) now.push_back(r);
    // Instance 3 was withdrawn while the proxy was down.

    UpdateConfig c = config();
    c.orphan_grace_ms = 1500;
    auto e2 = make(c);
    ASSERT_TRUE(e2);
    e2->manage(sub);
    Content want;
    add_all(*e2, now, &want);
    want[key_of(subtype(1).owner, rrtype::PTR, subtype(1).rdata)] = 120;  // kept: instance 1 lives
    // One TTL per RRset on the server (RFC 2181 §5.2): the shared PTR
    // RRset's TTL is one of its records' (which one is the server's and the
    // order's business), so it is not compared.
    const std::string ptr_rrset = upd::rrset_key(now[0].owner, rrtype::PTR);
    auto unify = [&](Content got) {
        for (auto& [k, ttl] : got) {
            if (k.rfind(ptr_rrset, 0) == 0) ttl = 0;
        }
        return got;
    };
    want = unify(want);
    const uint64_t t0 = mono_ms();
    // Before the grace ends: the new TXT replaced the old one already, the
    // TTL change is applied, nothing piled up; the leftovers still wait.
    ASSERT_TRUE(drive({e2.get()}, [&] { return converged(*e2); }, 5000));
    if (mono_ms() - t0 < 1200) {
        Content mid = server_content(sub);
        const PubRecord old_txt = instance("t-readback", 2)[2];
        EXPECT_EQ(mid.count(key_of(old_txt.owner, rrtype::TXT, old_txt.rdata)), 0u) << show(mid, 40);
        const PubRecord srv3 = instance("t-readback", 3)[1];
        EXPECT_EQ(mid.count(key_of(srv3.owner, rrtype::SRV, srv3.rdata)), 1u) << "removed before the grace";
    }
    // After the grace: exactly the live set, with the new TTLs.
    ASSERT_TRUE(drive({e2.get()}, [&] { return unify(server_content(sub)) == want; }, 8000))
        << show(server_content(sub), 40) << "\nwant " << show(want, 40);
    const ZoneStats s = e2->stats(kZone);
    EXPECT_GE(s.readbacks, 1u);
    EXPECT_EQ(s.readback_failures, 0u) << s.last_error;
    EXPECT_EQ(s.leftovers, 8u);  // instance 3 (5), its subtype PTR, the old TXT, instance 1's subtype PTR
    EXPECT_EQ(e2->failed_changes(), 0u);
}

}  // namespace updproxy::control
