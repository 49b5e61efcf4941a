// Answer construction: every case the issue lists, checked on the wire.
#include "control/zone/answer.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "control/zone/test_util.hpp"

namespace updproxy::control::zone {
namespace {

using namespace test;
using codec::flag::AA;
using codec::flag::QR;
using codec::flag::RD;
using codec::flag::TC;
namespace rt = codec::rrtype;
namespace rc = codec::rcode;

class AnswerTest : public ::testing::Test {
protected:
    void SetUp() override { store = make_store({kLabZone}); }

    Parsed ask(const std::string& name, uint16_t type, QueryOpts o = {}, ClientInfo ci = {}) {
        auto q = make_query(name, type, o);
        return ask_wire(q, ci);
    }
    Parsed ask_wire(std::span<const uint8_t> q, ClientInfo ci = {}) {
        std::vector<uint8_t> out(65535);
        auto snap = store->snapshot();
        AnswerResult r = answer_wire(q, *snap, ci, out, &counters);
        EXPECT_EQ(r.what, Disposition::reply);
        last_size = r.size;
        if (r.what != Disposition::reply) return {};
        return parse_response(std::span<const uint8_t>(out.data(), r.size));
    }

    std::unique_ptr<ZoneStore> store;
    AnswerCounters counters;
    size_t last_size = 0;
};

TEST_F(AnswerTest, PtrAnswerCarriesRfc6763Additionals) {
    Parsed p = ask("_ipp._tcp.lab.example.edu.", rt::PTR);
    EXPECT_EQ(p.h.flags & (QR | AA | RD), QR | AA | RD);
    EXPECT_EQ(p.h.rcode(), rc::NOERROR);
    ASSERT_EQ(p.an.size(), 2u);
    EXPECT_TRUE(p.ns.empty());
    // §12.1: SRV and TXT of each instance, then the SRV targets' addresses.
    std::set<std::string> want = {
        "printer\\032one._ipp._tcp.lab.example.edu. SRV",
        "printer\\032one._ipp._tcp.lab.example.edu. TXT",
        "dot\\.name._ipp._tcp.lab.example.edu. SRV",
        "dot\\.name._ipp._tcp.lab.example.edu. TXT",
        "printer1.lab.example.edu. A",
        "printer1.lab.example.edu. AAAA",
        "printer2.lab.example.edu. A",
    };
    EXPECT_EQ(p.ar_types, want);
    EXPECT_EQ(p.ar.size(), 7u);
}

TEST_F(AnswerTest, SrvAnswerCarriesTargetAddresses) {
    Parsed p = ask("printer\\032one._ipp._tcp.lab.example.edu.", rt::SRV);
    ASSERT_EQ(p.an.size(), 1u);
    std::set<std::string> want = {"printer1.lab.example.edu. A", "printer1.lab.example.edu. AAAA"};
    EXPECT_EQ(p.ar_types, want);
}

TEST_F(AnswerTest, TxtAndAddressAnswersHaveNoAdditionals) {
    Parsed t = ask("printer\\032one._ipp._tcp.lab.example.edu.", rt::TXT);
    EXPECT_EQ(t.an.size(), 1u);
    EXPECT_TRUE(t.ar.empty());
    Parsed a = ask("printer1.lab.example.edu.", rt::AAAA);
    EXPECT_EQ(a.an.size(), 1u);
    EXPECT_TRUE(a.ar.empty());
}

TEST_F(AnswerTest, NxdomainHasSoaWithNegativeTtl) {
    Parsed p = ask("nope.lab.example.edu.", rt::A);
    EXPECT_EQ(p.h.rcode(), rc::NXDOMAIN);
    EXPECT_TRUE(p.h.flags & AA);
    EXPECT_TRUE(p.an.empty());
    ASSERT_EQ(p.ns.size(), 1u);
    // min(SOA TTL 3600, MINIMUM 60); serial 7 from the file.
    EXPECT_EQ(p.ns[0].substr(0, p.ns[0].find(' ', p.ns[0].find(' ') + 1)),
              "lab.example.edu. SOA");
    EXPECT_NE(p.ns[0].find(" SOA 60 "), std::string::npos) << p.ns[0];
    EXPECT_NE(p.ns[0].find("00000007"), std::string::npos);
    // Below an existing leaf is NXDOMAIN too.
    EXPECT_EQ(ask("x.printer1.lab.example.edu.", rt::A).h.rcode(), rc::NXDOMAIN);
}

TEST_F(AnswerTest, NameWithAnotherTypeIsNodata) {
    Parsed p = ask("printer2.lab.example.edu.", rt::AAAA);
    EXPECT_EQ(p.h.rcode(), rc::NOERROR);
    EXPECT_TRUE(p.h.flags & AA);
    EXPECT_TRUE(p.an.empty());
    ASSERT_EQ(p.ns.size(), 1u);
    EXPECT_NE(p.ns[0].find("SOA"), std::string::npos);
}

TEST_F(AnswerTest, EmptyNonTerminalIsNodata) {
    for (const char* n : {"_tcp.lab.example.edu.", "_dns-sd._udp.lab.example.edu.",
                          "_udp.lab.example.edu."}) {
        Parsed p = ask(n, rt::PTR);
        EXPECT_EQ(p.h.rcode(), rc::NOERROR) << n;
        EXPECT_TRUE(p.an.empty()) << n;
        EXPECT_EQ(p.ns.size(), 1u) << n;
    }
}

TEST_F(AnswerTest, ApexSoaAndNsWithGlue) {
    Parsed soa = ask("lab.example.edu.", rt::SOA);
    ASSERT_EQ(soa.an.size(), 1u);
    EXPECT_NE(soa.an[0].find("SOA 3600"), std::string::npos);
    EXPECT_TRUE(soa.ns.empty());
    Parsed ns = ask("lab.example.edu.", rt::NS);
    ASSERT_EQ(ns.an.size(), 1u);
    EXPECT_EQ(ns.ar_types, std::set<std::string>{"ns1.lab.example.edu. A"});
    Parsed nodata = ask("lab.example.edu.", rt::TXT);
    EXPECT_EQ(nodata.h.rcode(), rc::NOERROR);
    EXPECT_EQ(nodata.ns.size(), 1u);
}

TEST_F(AnswerTest, BrowseDomainPtr) {
    Parsed p = ask("b._dns-sd._udp.lab.example.edu.", rt::PTR);
    ASSERT_EQ(p.an.size(), 1u);
    EXPECT_TRUE(p.ar.empty());
    Parsed s = ask("_services._dns-sd._udp.lab.example.edu.", rt::PTR);
    ASSERT_EQ(s.an.size(), 1u);
    EXPECT_TRUE(s.ar.empty());  // a service type has no SRV/TXT
}

TEST_F(AnswerTest, RefusedOutsideEveryZoneAndForOtherClasses) {
    Parsed p = ask("example.com.", rt::A);
    EXPECT_EQ(p.h.rcode(), rc::REFUSED);
    EXPECT_FALSE(p.h.flags & AA);
    Parsed parent = ask("example.edu.", rt::SOA);
    EXPECT_EQ(parent.h.rcode(), rc::REFUSED);
    QueryOpts ch;
    ch.qclass = codec::rrclass::CH;
    EXPECT_EQ(ask("printer1.lab.example.edu.", rt::A, ch).h.rcode(), rc::REFUSED);
}

TEST_F(AnswerTest, CaseOfTheQuestionIsKept) {
    Parsed p = ask("PrInTeR1.LAB.example.EDU.", rt::A);
    ASSERT_EQ(p.an.size(), 1u);
    // The question is echoed byte for byte, the answer owner points at it.
    const char* spelled = "\x08PrInTeR1\x03LAB\x07" "example\x03" "EDU";
    EXPECT_EQ(std::memcmp(p.wire.data() + 12, spelled, std::strlen(spelled)), 0);
    size_t ans = 12 + 26 + 4;
    EXPECT_EQ(p.wire[ans], 0xC0);
    EXPECT_EQ(p.wire[ans + 1], 12);
    // The negative SOA's owner points into the question too.
    Parsed nx = ask("NoPe.LaB.ExAmPlE.eDu.", rt::A);
    EXPECT_EQ(nx.h.rcode(), rc::NXDOMAIN);
}

TEST_F(AnswerTest, NamesWithEscapes) {
    Parsed a = ask("dot\\.name._ipp._tcp.lab.example.edu.", rt::SRV);
    EXPECT_EQ(a.h.rcode(), rc::NOERROR);
    ASSERT_EQ(a.an.size(), 1u);
    // "dot.name" as two labels is another name, which does not exist.
    EXPECT_EQ(ask("dot.name._ipp._tcp.lab.example.edu.", rt::SRV).h.rcode(), rc::NXDOMAIN);
    Parsed sp = ask("printer\\032one._ipp._tcp.lab.example.edu.", rt::TXT);
    EXPECT_EQ(sp.an.size(), 1u);
}

TEST_F(AnswerTest, AnswersAreCompressed) {
    Parsed p = ask("_ipp._tcp.lab.example.edu.", rt::PTR);
    // 9 records, every owner and target a pointer or a few labels and a pointer.
    EXPECT_LT(last_size, 400u);
    size_t pointers = 0;
    for (size_t i = 0; i + 1 < p.wire.size(); ++i) pointers += (p.wire[i] & 0xC0) == 0xC0;
    EXPECT_GE(pointers, 9u);
}

TEST_F(AnswerTest, EdnsEchoesOurSizeAndDo) {
    QueryOpts o;
    o.edns_size = 4096;
    o.dnssec_ok = true;
    Parsed p = ask("printer1.lab.example.edu.", rt::A, o);
    EXPECT_TRUE(p.has_opt);
    EXPECT_EQ(p.opt_size, 1232);
    EXPECT_EQ(p.opt_ttl & 0x8000u, 0x8000u);
    QueryOpts v1;
    v1.edns_size = 1232;
    v1.edns_version = 1;
    Parsed bad = ask("printer1.lab.example.edu.", rt::A, v1);
    EXPECT_TRUE(bad.has_opt);
    EXPECT_EQ(bad.opt_ttl >> 24, 1u);  // BADVERS = 16: extended rcode 1, header 0
    EXPECT_EQ(bad.h.rcode(), 0);
    EXPECT_TRUE(bad.an.empty());
    Parsed plain = ask("printer1.lab.example.edu.", rt::A);
    EXPECT_FALSE(plain.has_opt);
}

TEST_F(AnswerTest, AnyGetsOneRrset) {
    Parsed p = ask("printer1.lab.example.edu.", rt::ANY);
    ASSERT_EQ(p.an.size(), 1u);
    EXPECT_NE(p.an[0].find(" A "), std::string::npos);  // A (1) before AAAA (28)
}

TEST_F(AnswerTest, RdOnlyFlagCopied) {
    QueryOpts o;
    o.flags = codec::flag::CD | codec::flag::AD;
    Parsed p = ask("printer1.lab.example.edu.", rt::A, o);
    EXPECT_EQ(p.h.flags & (RD | codec::flag::CD | codec::flag::AD | codec::flag::RA), 0);
    EXPECT_EQ(p.h.id, 0x1234);
}

// Many large TXT records: over 512 bytes without EDNS, within 4096 with it.
TEST(AnswerTruncation, AnswerThatDoesNotFitSetsTcAndTcpCarriesIt) {
    std::string zone = "$ORIGIN big.test.\n$TTL 60\n@ SOA ns hm 1 1 1 1 1\n@ NS ns\nns A 127.0.0.1\n";
    std::string blob(200, 'x');
    for (int i = 0; i < 10; ++i) zone += "t TXT \"" + std::to_string(i) + blob + "\"\n";
    auto store = make_store({zone});
    auto snap = store->snapshot();
    std::vector<uint8_t> out(65535);
    auto q = make_query("t.big.test.", rt::TXT);
    AnswerResult r = answer_wire(q, *snap, ClientInfo{}, out);
    ASSERT_EQ(r.what, Disposition::reply);
    Parsed p = parse_response(std::span<const uint8_t>(out.data(), r.size));
    EXPECT_TRUE(p.h.flags & TC);
    EXPECT_TRUE(p.an.empty());
    EXPECT_LE(r.size, 512u);

    QueryOpts o;
    o.edns_size = 4096;
    ClientInfo big;
    big.max_udp_payload = 4096;
    auto qe = make_query("t.big.test.", rt::TXT, o);
    r = answer_wire(qe, *snap, big, out);
    p = parse_response(std::span<const uint8_t>(out.data(), r.size));
    EXPECT_FALSE(p.h.flags & TC);
    EXPECT_EQ(p.an.size(), 10u);

    ClientInfo tcp;
    tcp.tcp = true;
    r = answer_wire(q, *snap, tcp, out);
    p = parse_response(std::span<const uint8_t>(out.data(), r.size));
    EXPECT_FALSE(p.h.flags & TC);
    EXPECT_EQ(p.an.size(), 10u);
}

// Additional RRsets that do not fit are left out whole, without TC.
TEST(AnswerTruncation, AdditionalsDroppedWithoutTc) {
    std::string zone = "$ORIGIN many.test.\n$TTL 60\n@ SOA ns hm 1 1 1 1 1\n@ NS ns\nns A 127.0.0.1\n";
    for (int i = 0; i < 12; ++i) {
        std::string inst = "inst" + std::to_string(i) + "._http._tcp";
        zone += "_http._tcp PTR " + inst + "\n";
        zone += inst + " SRV 0 0 80 host" + std::to_string(i) + "\n";
        zone += inst + " TXT \"path=/" + std::string(40, 'p') + "\"\n";
        zone += "host" + std::to_string(i) + " AAAA 2001:db8::" + std::to_string(i + 1) + "\n";
    }
    auto store = make_store({zone});
    auto snap = store->snapshot();
    std::vector<uint8_t> out(65535);
    auto q = make_query("_http._tcp.many.test.", rt::PTR);
    AnswerResult r = answer_wire(q, *snap, ClientInfo{}, out);
    Parsed p = parse_response(std::span<const uint8_t>(out.data(), r.size));
    EXPECT_FALSE(p.h.flags & TC);
    EXPECT_EQ(p.an.size(), 12u);
    EXPECT_GT(p.ar.size(), 0u);
    EXPECT_LT(p.ar.size(), 36u);
    EXPECT_LE(r.size, 512u);
    ClientInfo tcp;
    tcp.tcp = true;
    r = answer_wire(q, *snap, tcp, out);
    p = parse_response(std::span<const uint8_t>(out.data(), r.size));
    EXPECT_EQ(p.ar.size(), 36u);
}

TEST_F(AnswerTest, MalformedQueries) {
    std::vector<uint8_t> out(512);
    auto snap = store->snapshot();
    auto q = make_query("printer1.lab.example.edu.", rt::A);
    // Runt: dropped.
    AnswerResult r = answer_wire(std::span<const uint8_t>(q.data(), 8), *snap, {}, out, &counters);
    EXPECT_EQ(r.what, Disposition::drop);
    EXPECT_EQ(counters.drop_short.load(), 1u);
    // A response: dropped (never answer answers).
    auto resp = q;
    resp[2] |= 0x80;
    EXPECT_EQ(answer_wire(resp, *snap, {}, out, &counters).what, Disposition::drop);
    // Trailing garbage: FORMERR with the question.
    auto trailing = q;
    trailing.push_back(0);
    Parsed f = ask_wire(trailing);
    EXPECT_EQ(f.h.rcode(), rc::FORMERR);
    EXPECT_EQ(f.h.count[0], 1);
    // No question: FORMERR.
    std::vector<uint8_t> noq(q.begin(), q.begin() + 12);
    noq[5] = 0;
    Parsed f2 = ask_wire(noq);
    EXPECT_EQ(f2.h.rcode(), rc::FORMERR);
    // A bad label type: FORMERR, header only.
    auto bad = q;
    bad[12] = 0x50;
    Parsed f3 = ask_wire(bad);
    EXPECT_EQ(f3.h.rcode(), rc::FORMERR);
    EXPECT_EQ(f3.h.count[0], 0);
    // Unknown opcode: NOTIMP.
    auto op = q;
    op[2] = static_cast<uint8_t>((op[2] & 0x87) | (2 << 3));
    EXPECT_EQ(ask_wire(op).h.rcode(), rc::NOTIMP);
    EXPECT_GE(counters.formerr.load(), 2u);
}

TEST_F(AnswerTest, TransfersAndSignedQueriesArePunted) {
    std::vector<uint8_t> out(512);
    auto snap = store->snapshot();
    auto ixfr = make_query("lab.example.edu.", rt::IXFR);
    EXPECT_EQ(answer_wire(ixfr, *snap, {}, out).what, Disposition::punt);
    ClientInfo tcp;
    tcp.tcp = true;
    auto axfr = make_query("lab.example.edu.", rt::AXFR);
    EXPECT_EQ(answer_wire(axfr, *snap, tcp, out).what, Disposition::punt);
    // AXFR over UDP: NOTIMP (as Knot).
    Parsed p = ask_wire(axfr);
    EXPECT_EQ(p.h.rcode(), rc::NOTIMP);
}

TEST(AnswerZones, DeepestZoneWinsAndParentBrowseRecords) {
    const char* parent = R"(
$ORIGIN example.edu.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 30
@ NS ns1
ns1 A 127.0.0.1
b._dns-sd._udp PTR lab
lb._dns-sd._udp PTR lab
)";
    auto store = make_store({parent, kLabZone});
    auto snap = store->snapshot();
    std::vector<uint8_t> out(4096);
    auto ask = [&](const std::string& n, uint16_t t) {
        auto q = make_query(n, t);
        auto r = answer_wire(q, *snap, ClientInfo{}, out);
        return parse_response(std::span<const uint8_t>(out.data(), r.size));
    };
    Parsed b = ask("lb._dns-sd._udp.example.edu.", rt::PTR);
    ASSERT_EQ(b.an.size(), 1u);
    Parsed nx = ask("nope.lab.example.edu.", rt::A);
    ASSERT_EQ(nx.ns.size(), 1u);
    EXPECT_EQ(nx.ns[0].rfind("lab.example.edu. SOA", 0), 0u) << nx.ns[0];
    Parsed pnx = ask("nope.example.edu.", rt::A);
    ASSERT_EQ(pnx.ns.size(), 1u);
    EXPECT_EQ(pnx.ns[0].rfind("example.edu. SOA 30", 0), 0u) << pnx.ns[0];
}

}  // namespace
}  // namespace updproxy::control::zone
