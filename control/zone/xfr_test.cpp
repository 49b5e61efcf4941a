// Zone transfers and the TSIG slow path, through AuthServer without sockets.
#include "control/zone/xfr.hpp"

#include <gtest/gtest.h>

#include <ctime>

#include "control/zone/server.hpp"
#include "control/zone/test_util.hpp"

namespace updproxy::control::zone {
namespace {

using namespace test;
namespace rt = codec::rrtype;
namespace rc = codec::rcode;

codec::TsigKey test_key() {
    codec::TsigKey k;
    k.name = N("xfr-key.");
    k.algorithm = codec::TsigAlgorithm::hmac_sha256;
    k.secret = std::vector<uint8_t>(32, 0x5A);
    return k;
}

uint64_t now_unix() { return static_cast<uint64_t>(std::time(nullptr)); }

// A signed (or unsigned) query as a secondary sends it.
std::vector<uint8_t> xfr_query(const std::string& zone, uint16_t type, const codec::TsigKey* key,
                               std::optional<uint32_t> serial, std::vector<uint8_t>* mac) {
    std::vector<uint8_t> buf(1024);
    codec::Builder b(buf);
    b.set_id(0x4242);
    b.add_question(N(zone), type, codec::rrclass::IN);
    if (serial) {
        b.add_rr(codec::Section::authority, N(zone), rt::SOA, codec::rrclass::IN, 0,
                 codec::rdata::soa(N("."), N("."), *serial, 0, 0, 0, 0));
    }
    size_t len = b.size();
    if (key != nullptr) {
        codec::TsigSignParams p;
        p.time_signed = now_unix();
        auto s = codec::tsig_sign(buf, len, *key, p, mac);
        EXPECT_TRUE(s.ok());
        len = *s;
    }
    buf.resize(len);
    return buf;
}

class XfrTest : public ::testing::Test {
protected:
    void SetUp() override {
        ZoneFile z = parse_or_die(kLabZone);
        AuthConfig cfg;
        z.config.history = 4;
        cfg.zones.push_back(z.config);
        cfg.keys.push_back(test_key());
        key = cfg.keys[0];
        std::string err;
        srv = AuthServer::create(cfg, &err);
        ASSERT_TRUE(srv) << err;
        for (const auto& r : z.records) srv->store().add(r);
        srv->store().commit(true);
        peer.len = 0;
    }

    // Runs a transfer and returns every answer record (text) across messages,
    // verifying the TSIG chain when signed.
    std::vector<std::string> transfer(uint16_t type, std::optional<uint32_t> serial,
                                      bool sign = true, uint16_t* rcode = nullptr,
                                      size_t* messages = nullptr) {
        std::vector<uint8_t> mac;
        auto q = xfr_query("lab.example.edu.", type, sign ? &key : nullptr, serial, &mac);
        std::vector<uint8_t> out(65535);
        auto r = srv->handle_tcp(q, peer, out);
        std::vector<std::string> recs;
        if (!r.stream) {
            auto m = codec::Message::parse(std::span<const uint8_t>(out.data(), r.size));
            EXPECT_TRUE(m.ok());
            if (rcode != nullptr && m) *rcode = m->header().rcode();
            return recs;
        }
        if (rcode != nullptr) *rcode = 0;
        std::vector<uint8_t> prev = mac;
        size_t n = 0;
        for (size_t guard = 0; guard < 10000; ++guard) {
            size_t len = r.stream->next(out);
            if (len == 0) break;
            ++n;
            auto m = codec::Message::parse(std::span<const uint8_t>(out.data(), len));
            EXPECT_TRUE(m.ok());
            if (!m) break;
            EXPECT_EQ(m->header().id, 0x4242);
            EXPECT_TRUE(m->header().aa());
            if (sign) {
                codec::TsigVerifyParams vp;
                vp.now = now_unix();
                vp.request_mac = prev;
                vp.timers_only = n > 1;
                auto v = codec::tsig_verify(*m, std::span<const codec::TsigKey>(&key, 1), vp);
                EXPECT_TRUE(v.ok()) << "message " << n << ": " << codec::reason_name(v.reason());
                if (v) prev = v->mac;
            } else {
                EXPECT_FALSE(m->tsig().has_value());
            }
            for (const auto& rr : m->answers()) recs.push_back(rr_text(rr));
        }
        if (messages != nullptr) *messages = n;
        return recs;
    }

    codec::TsigKey key;
    std::unique_ptr<AuthServer> srv;
    Peer peer;
};

TEST_F(XfrTest, AxfrIsSoaRecordsSoaAndSigned) {
    auto recs = transfer(rt::AXFR, std::nullopt);
    // SOA + 12 records + apex NS + SOA.
    ASSERT_EQ(recs.size(), 15u);
    EXPECT_EQ(recs.front(), recs.back());
    EXPECT_NE(recs.front().find(" SOA "), std::string::npos);
    EXPECT_EQ(srv->slow_stats().axfr, 1u);
}

TEST_F(XfrTest, AxfrSpansMessagesWithChainedTsig) {
    for (int i = 0; i < 400; ++i) {
        srv->store().add(PubRecord{N("h" + std::to_string(i) + ".lab.example.edu."), rt::TXT, 60,
                                   std::vector<uint8_t>(101, 100)});
    }
    srv->store().commit();
    size_t messages = 0;
    auto recs = transfer(rt::AXFR, std::nullopt, true, nullptr, &messages);
    EXPECT_EQ(recs.size(), 415u);
    EXPECT_GT(messages, 2u);
}

TEST_F(XfrTest, IxfrIncrementalUpToDateAndFallback) {
    auto snap0 = srv->store().snapshot();
    uint32_t s0 = snap0->zone(0).serial;
    srv->store().add(PubRecord{N("new.lab.example.edu."), rt::A, 120, {192, 0, 2, 99}});
    srv->store().commit();
    srv->store().remove(PubRecord{N("printer2.lab.example.edu."), rt::A, 120, {192, 0, 2, 11}});
    srv->store().commit();
    uint32_t s2 = srv->store().snapshot()->zone(0).serial;
    EXPECT_EQ(s2, s0 + 2);

    auto inc = transfer(rt::IXFR, s0);
    // SOA(s2) SOA(s0) SOA(s0+1) +new SOA(s0+1) -printer2 SOA(s2) SOA(s2)
    ASSERT_EQ(inc.size(), 8u);
    EXPECT_NE(inc[3].find("new.lab.example.edu. A"), std::string::npos);
    EXPECT_NE(inc[5].find("printer2.lab.example.edu. A"), std::string::npos);
    EXPECT_EQ(srv->slow_stats().ixfr_incremental, 1u);

    auto cur = transfer(rt::IXFR, s2);
    EXPECT_EQ(cur.size(), 1u);
    EXPECT_EQ(srv->slow_stats().ixfr_up_to_date, 1u);

    auto old = transfer(rt::IXFR, s0 - 5);
    EXPECT_EQ(old.size(), 15u);  // the whole zone, AXFR style
    EXPECT_EQ(srv->slow_stats().ixfr_full, 1u);
}

TEST_F(XfrTest, RefusedWithoutKeyNotauthForOtherNames) {
    uint16_t rcode = 0xFF;
    transfer(rt::AXFR, std::nullopt, false, &rcode);
    EXPECT_EQ(rcode, rc::REFUSED);
    std::vector<uint8_t> mac;
    auto q = xfr_query("printer1.lab.example.edu.", rt::AXFR, &key, std::nullopt, &mac);
    std::vector<uint8_t> out(65535);
    auto r = srv->handle_tcp(q, peer, out);
    ASSERT_FALSE(r.stream);
    auto m = codec::Message::parse(std::span<const uint8_t>(out.data(), r.size));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->header().rcode(), rc::NOTAUTH);
    EXPECT_TRUE(m->tsig().has_value());  // the refusal is signed too
}

TEST_F(XfrTest, SignedUdpQueriesAndTsigErrors) {
    auto snap = srv->store().snapshot();
    std::vector<uint8_t> out(4096);
    // A signed SOA query (what a secondary sends before IXFR): signed answer.
    std::vector<uint8_t> mac;
    auto q = xfr_query("lab.example.edu.", rt::SOA, &key, std::nullopt, &mac);
    size_t n = srv->handle_udp(q, peer, *snap, out, nullptr);
    auto m = codec::Message::parse(std::span<const uint8_t>(out.data(), n));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->header().rcode(), rc::NOERROR);
    EXPECT_EQ(m->count(codec::Section::answer), 1);
    codec::TsigVerifyParams vp;
    vp.now = now_unix();
    vp.request_mac = mac;
    EXPECT_TRUE(codec::tsig_verify(*m, std::span<const codec::TsigKey>(&key, 1), vp).ok());

    // Unknown key: NOTAUTH, TSIG error BADKEY, no MAC.
    codec::TsigKey other = key;
    other.name = N("other-key.");
    auto bad = xfr_query("lab.example.edu.", rt::SOA, &other, std::nullopt, &mac);
    n = srv->handle_udp(bad, peer, *snap, out, nullptr);
    m = codec::Message::parse(std::span<const uint8_t>(out.data(), n));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->header().rcode(), rc::NOTAUTH);
    auto t = m->tsig();
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->tsig()->error, rc::BADKEY);
    EXPECT_TRUE(t->tsig()->mac.empty());

    // Wrong secret: BADSIG.
    codec::TsigKey wrong = key;
    wrong.secret[0] ^= 1;
    auto bs = xfr_query("lab.example.edu.", rt::SOA, &wrong, std::nullopt, &mac);
    n = srv->handle_udp(bs, peer, *snap, out, nullptr);
    m = codec::Message::parse(std::span<const uint8_t>(out.data(), n));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->tsig()->tsig()->error, rc::BADSIG);
    EXPECT_EQ(srv->slow_stats().tsig_badkey, 1u);
    EXPECT_EQ(srv->slow_stats().tsig_badsig, 1u);

    // IXFR over UDP: the current SOA alone.
    auto ix = xfr_query("lab.example.edu.", rt::IXFR, &key, 1u, &mac);
    n = srv->handle_udp(ix, peer, *snap, out, nullptr);
    m = codec::Message::parse(std::span<const uint8_t>(out.data(), n));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->count(codec::Section::answer), 1);
    EXPECT_EQ(srv->slow_stats().ixfr_udp, 1u);
}

}  // namespace
}  // namespace updproxy::control::zone
