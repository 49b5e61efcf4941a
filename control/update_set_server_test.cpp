// UpdateEngine::set_server (draft §5.1: servers found at run time): a zone
// added after start, the same server again, a new server for a known zone
// (the whole desired state goes to it), a removal routed to the new server,
// and a bad address. Two fake UPDATE servers on 127.0.0.1.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"
#include "control/update/fake_dns_server.hpp"
#include "control/update/update_engine.hpp"

using namespace updproxy;
using namespace updproxy::control;
using updproxy::control::testing::FakeDnsServer;
using updproxy::control::testing::FakeRequest;

namespace {

codec::Name N(const std::string& s) { return *codec::Name::parse(s); }

codec::TsigKey key() {
    codec::TsigKey k;
    k.name = N("upd.example.test.");
    k.algorithm = codec::TsigAlgorithm::hmac_sha256;
    for (int i = 0; i < 32; ++i) k.secret.push_back(static_cast<uint8_t>(i * 5 + 3));
    return k;
}

PubRecord a_rec(const std::string& host, uint8_t last) {
    return {N(host + ".lab.example.test."), codec::rrtype::A, 120,
            codec::rdata::a(std::array<uint8_t, 4>{192, 0, 2, last})};
}

// (adds, deletes) of A records in a server's requests so far.
std::pair<int, int> counts(const FakeDnsServer& s) {
    int adds = 0, dels = 0;
    for (const FakeRequest& r : s.requests) {
        auto m = codec::Message::parse(r.wire);
        if (!m.ok()) continue;
        for (const auto& rr : m->authority()) {
            if (rr.type != codec::rrtype::A) continue;
            if (rr.rrclass() == codec::rrclass::IN) ++adds;
            if (rr.rrclass() == codec::rrclass::NONE) ++dels;
        }
    }
    return {adds, dels};
}

struct Rig {
    codec::TsigKey k = key();
    FakeDnsServer one{k}, two{k};
    uint64_t now = 1'000'000;
    std::unique_ptr<UpdateEngine> eng;
    Rig() {
        UpdateConfig cfg;  // no zones at start
        cfg.key = k;
        cfg.clock_ms = [this] { return now; };
        cfg.random_seed = 3;
        cfg.reconcile_interval_s = 0;
        cfg.lease_s = 0;
        std::string err;
        eng = UpdateEngine::create(cfg, &err);
        EXPECT_TRUE(eng) << err;
    }
    void run(int rounds = 40) {
        for (int i = 0; i < rounds; ++i) {
            std::vector<pollfd> p;
            one.append_fds(p);
            two.append_fds(p);
            for (const auto& f : eng->fds()) p.push_back({f.fd, f.events, 0});
            ::poll(p.data(), p.size(), 5);
            one.serve();
            two.serve();
            now += 20;
            eng->on_ready(now);
        }
    }
};

}  // namespace

TEST(UpdateEngineSetServer, ZoneAddedAtRunTimeThenMovedToAnotherServer) {
    Rig r;
    const codec::Name zone = N("lab.example.test.");
    EXPECT_FALSE(r.eng->add(zone, a_rec("p1", 1))) << "unknown zone";
    ZoneServer zs;
    zs.zone = zone;
    zs.address = "127.0.0.1";
    zs.port = r.one.port();
    std::string err;
    ASSERT_TRUE(r.eng->set_server(zs, &err)) << err;
    EXPECT_EQ(r.eng->zones().size(), 1u);
    ASSERT_TRUE(r.eng->add(zone, a_rec("p1", 1)));
    ASSERT_TRUE(r.eng->add(zone, a_rec("p2", 2)));
    r.run();
    EXPECT_EQ(counts(r.one), std::make_pair(2, 0));
    EXPECT_EQ(r.eng->stats(zone).confirmed, 2u);

    // The same server again: nothing is re-sent.
    const size_t before = r.one.requests.size();
    ASSERT_TRUE(r.eng->set_server(zs, &err)) << err;
    r.run();
    EXPECT_EQ(r.one.requests.size(), before);

    // Another server: everything desired goes there; later changes too.
    zs.port = r.two.port();
    ASSERT_TRUE(r.eng->set_server(zs, &err)) << err;
    EXPECT_EQ(r.eng->zones().size(), 1u);
    r.run();
    EXPECT_EQ(counts(r.two), std::make_pair(2, 0));
    ASSERT_TRUE(r.eng->remove(zone, a_rec("p1", 1)));
    r.run();
    EXPECT_EQ(counts(r.two), std::make_pair(2, 1));
    EXPECT_EQ(counts(r.one), std::make_pair(2, 0)) << "the old server hears nothing more";
    EXPECT_EQ(r.eng->stats(zone).confirmed, 1u);
}

TEST(UpdateEngineSetServer, RefusesANameForAnAddress) {
    Rig r;
    ZoneServer zs;
    zs.zone = N("lab.example.test.");
    zs.address = "ns.example.test";
    std::string err;
    EXPECT_FALSE(r.eng->set_server(zs, &err));
    EXPECT_NE(err.find("literal"), std::string::npos) << err;
    EXPECT_TRUE(r.eng->zones().empty());
}
