// UPDATE message building: layout, limits, OPT and TSIG, parsed back with the codec.
#include "control/update/batcher.hpp"

#include <gtest/gtest.h>

#include <array>
#include <ctime>

#include "codec/message.hpp"
#include "codec/types.hpp"

namespace updproxy::control::upd {
namespace {

using codec::Name;
namespace rrtype = codec::rrtype;

Name N(const char* s) { return *Name::parse(s); }

codec::TsigKey test_key() {
    codec::TsigKey k;
    k.name = N("upd.lab.example.test.");
    k.algorithm = codec::TsigAlgorithm::hmac_sha256;
    k.secret.assign(32, 0x42);
    return k;
}

TEST(UpdateMessage, LayoutZoneUpdatesLeaseAndTsigLast) {
    const codec::TsigKey key = test_key();
    MessageParams p;
    p.zone = N("lab.example.test.");
    p.id = 0x1234;
    p.limit = 1232;
    p.key = &key;
    p.time_signed = static_cast<uint64_t>(std::time(nullptr));
    p.lease_s = 3600;
    p.key_lease_s = 7200;
    UpdateMessage m(p);
    ASSERT_TRUE(m.valid());
    const auto rd = codec::rdata::a(std::array<uint8_t, 4>{192, 0, 2, 1});
    ASSERT_TRUE(m.add(N("h.lab.example.test."), rrtype::A, rd, true, 120));
    ASSERT_TRUE(m.add(N("old.lab.example.test."), rrtype::A, rd, false, 0));
    ASSERT_TRUE(m.seal());
    EXPECT_EQ(m.changes(), 2u);
    EXPECT_EQ(m.mac().size(), 32u);

    codec::Result<codec::Message> msg = codec::Message::parse(m.wire());
    ASSERT_TRUE(msg.ok()) << codec::reason_name(msg.reason());
    EXPECT_TRUE(codec::check_update(*msg).ok());
    EXPECT_EQ(msg->header().id, 0x1234);
    EXPECT_EQ(msg->header().opcode(), codec::opcode::UPDATE);
    ASSERT_EQ(msg->count(codec::Section::question), 1);
    for (const codec::Question& q : msg->questions()) {
        EXPECT_TRUE(q.name.equals(N("lab.example.test.")));
        EXPECT_EQ(q.type, rrtype::SOA);
    }
    EXPECT_EQ(msg->count(codec::Section::answer), 0);  // no prerequisites
    ASSERT_EQ(msg->count(codec::Section::authority), 2);
    int i = 0;
    for (const codec::RrView& rr : msg->authority()) {
        if (i++ == 0) {
            EXPECT_EQ(rr.rrclass(), codec::rrclass::IN);  // add (§2.5.1)
            EXPECT_EQ(rr.ttl, 120u);
        } else {
            EXPECT_EQ(rr.rrclass(), codec::rrclass::NONE);  // delete one RR (§2.5.4)
            EXPECT_EQ(rr.ttl, 0u);
        }
    }
    ASSERT_TRUE(msg->opt().has_value());
    codec::Result<codec::OptView> ov = msg->opt()->opt();
    ASSERT_TRUE(ov.ok());
    ASSERT_TRUE(ov->lease().has_value());
    EXPECT_EQ(ov->lease()->lease, 3600u);
    EXPECT_EQ(ov->lease()->key_lease, 7200u);
    // TSIG last, and a server holding the key accepts it.
    ASSERT_TRUE(msg->tsig().has_value());
    const std::vector<codec::TsigKey> keys{key};
    codec::TsigVerifyParams vp;
    vp.now = p.time_signed;
    codec::Result<codec::TsigVerified> v = codec::tsig_verify(*msg, keys, vp);
    ASSERT_TRUE(v.ok()) << codec::reason_name(v.reason());
    EXPECT_EQ(v->mac, m.mac());
}

TEST(UpdateMessage, NoLeaseNoOptNoKeyNoTsig) {
    MessageParams p;
    p.zone = N("lab.");
    p.lease_s = 0;
    UpdateMessage m(p);
    ASSERT_TRUE(m.add(N("h.lab."), rrtype::A, codec::rdata::a(std::array<uint8_t, 4>{1, 2, 3, 4}), true, 1));
    ASSERT_TRUE(m.seal());
    codec::Result<codec::Message> msg = codec::Message::parse(m.wire());
    ASSERT_TRUE(msg.ok());
    EXPECT_FALSE(msg->opt().has_value());
    EXPECT_FALSE(msg->tsig().has_value());
    EXPECT_TRUE(m.mac().empty());
}

TEST(UpdateMessage, StaysUnderTheLimitWithTailAndReservations) {
    const codec::TsigKey key = test_key();
    for (size_t limit : {300u, 512u, 1232u, 4000u}) {
        SCOPED_TRACE(limit);
        MessageParams p;
        p.zone = N("lab.example.test.");
        p.limit = limit;
        p.key = &key;
        p.lease_s = 60;
        UpdateMessage m(p);
        ASSERT_TRUE(m.valid());
        size_t n = 0;
        const std::string_view txt[] = {"a fairly long TXT string to fill the message quickly"};
        const auto rd = codec::rdata::txt(txt);
        const size_t reserve = 40;
        while (m.add(*Name::parse("h" + std::to_string(n) + ".lab.example.test."), rrtype::TXT, rd,
                     true, 60, reserve)) {
            ++n;
        }
        ASSERT_GT(n, 0u);
        // The reserved space is really there (a 32-byte record: owner
        // pointer 2 + 10 + 20, within the last change's 40).
        ASSERT_TRUE(m.add_reserved(N("lab.example.test."), 65281, std::vector<uint8_t>(20, 7), true, 60));
        ASSERT_TRUE(m.seal());
        EXPECT_LE(m.wire().size(), limit);
        codec::Result<codec::Message> msg = codec::Message::parse(m.wire());
        ASSERT_TRUE(msg.ok());
        EXPECT_EQ(msg->count(codec::Section::authority), n + 1);
    }
}

TEST(UpdateMessage, TooSmallLimitIsInvalid) {
    const codec::TsigKey key = test_key();
    MessageParams p;
    p.zone = N("lab.example.test.");
    p.limit = 60;  // smaller than the TSIG alone
    p.key = &key;
    UpdateMessage m(p);
    EXPECT_FALSE(m.valid());
    EXPECT_FALSE(m.add(N("h.lab.example.test."), rrtype::A,
                       codec::rdata::a(std::array<uint8_t, 4>{1, 2, 3, 4}), true, 1));
}

}  // namespace
}  // namespace updproxy::control::upd
