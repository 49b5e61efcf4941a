// Builder and UpdateBuilder: everything written is read back with
// Message::parse and compared field by field.
#include "codec/builder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "codec/message.hpp"
#include "codec/name.hpp"
#include "codec/types.hpp"

namespace updproxy::codec {
namespace {

#ifndef UPDPROXY_CORPUS
#define UPDPROXY_CORPUS "../shared/corpus"
#endif

using Bytes = std::vector<uint8_t>;

Name N(std::string_view text) {
    auto n = Name::parse(text);
    EXPECT_TRUE(n.ok()) << text;
    return n.ok() ? *n : Name();
}

std::string str(std::span<const uint8_t> b) {
    return {b.begin(), b.end()};
}
Bytes bytes(std::span<const uint8_t> b) {
    return {b.begin(), b.end()};
}

Bytes read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

Bytes uncompressed(const RrView& rr) {
    Bytes out(65535 + 2 * 255);
    auto n = rr.rdata_uncompressed(out);
    EXPECT_TRUE(n.ok());
    out.resize(n.ok() ? *n : 0);
    return out;
}

std::vector<RrView> records(const Message& m, Section s) {
    std::vector<RrView> out;
    for (const RrView& rr : m.records(s)) out.push_back(rr);
    return out;
}

std::vector<RrView> all_records(const Message& m) {
    std::vector<RrView> out;
    for (int s = 1; s < 4; ++s) {
        for (const RrView& rr : m.records(static_cast<Section>(s))) out.push_back(rr);
    }
    return out;
}

// A message buffer plus the parse of what was built into it; views stay
// valid as long as the fixture does.
class BuilderTest : public ::testing::Test {
protected:
    Bytes buf = Bytes(65535);

    Message parse(const Builder& b) {
        auto m = Message::parse(b.wire());
        EXPECT_TRUE(m.ok()) << reason_name(m.reason()) << " at " << m.error().offset;
        return m.ok() ? *m : Message();
    }

    // Builds one answer record and returns it as parsed.
    RrView one(const Name& owner, uint16_t type, std::span<const uint8_t> rd,
               BuilderOptions opts = {}, uint16_t cls = rrclass::IN, uint32_t ttl = 120) {
        Builder b(buf, opts);
        Status st = b.add_rr(Section::answer, owner, type, cls, ttl, rd);
        EXPECT_TRUE(st.ok()) << reason_name(st.reason());
        msg_ = parse(b);
        EXPECT_EQ(msg_.count(Section::answer), 1);
        auto rrs = records(msg_, Section::answer);
        if (rrs.size() != 1) return RrView();
        EXPECT_TRUE(rrs[0].owner.equals(owner));
        EXPECT_EQ(rrs[0].type, type);
        EXPECT_EQ(rrs[0].raw_class, cls);
        EXPECT_EQ(rrs[0].ttl, ttl);
        return rrs[0];
    }

    Message msg_;
};

// ---- every type ------------------------------------------------------------------

TEST_F(BuilderTest, A) {
    const std::array<uint8_t, 4> addr{192, 0, 2, 10};
    RrView rr = one(N("printer.local."), rrtype::A, rdata::a(addr));
    auto a = rr.a();
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(std::equal(a->begin(), a->end(), addr.begin()));
}

TEST_F(BuilderTest, Aaaa) {
    const std::array<uint8_t, 16> addr{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    RrView rr = one(N("printer.local."), rrtype::AAAA, rdata::aaaa(addr));
    auto a = rr.aaaa();
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(std::equal(a->begin(), a->end(), addr.begin()));
}

TEST_F(BuilderTest, PtrCnameNs) {
    for (uint16_t type : {rrtype::PTR, rrtype::CNAME, rrtype::NS}) {
        Name target = N("Lab\\032Printer._ipp._tcp.local.");
        RrView rr = one(N("_ipp._tcp.local."), type, rdata::name(target));
        auto t = rr.name_target();
        ASSERT_TRUE(t.ok()) << type;
        EXPECT_TRUE(t->equals(target));
        EXPECT_EQ(t->to_string(), "Lab\\032Printer._ipp._tcp.local.");
        // The target shares "_ipp._tcp.local." with the owner.
        EXPECT_LT(rr.rdlength(), target.wire_length());
        EXPECT_EQ(uncompressed(rr), rdata::name(target));
    }
}

TEST_F(BuilderTest, Soa) {
    Name zone = N("lab.example.edu.");
    RrView rr = one(zone, rrtype::SOA,
                    rdata::soa(N("ns1.lab.example.edu."), N("hostmaster.example.edu."), 2024010101,
                               3600, 600, 86400, 60));
    auto soa = rr.soa();
    ASSERT_TRUE(soa.ok());
    EXPECT_TRUE(soa->mname.equals(N("ns1.lab.example.edu.")));
    EXPECT_TRUE(soa->rname.equals(N("hostmaster.example.edu.")));
    EXPECT_EQ(soa->serial, 2024010101u);
    EXPECT_EQ(soa->refresh, 3600u);
    EXPECT_EQ(soa->retry, 600u);
    EXPECT_EQ(soa->expire, 86400u);
    EXPECT_EQ(soa->minimum, 60u);
    // Both names point back into the owner: "ns1" + pointer, "hostmaster" + pointer.
    EXPECT_EQ(rr.rdlength(), (1 + 3 + 2) + (1 + 10 + 2) + 20);
}

TEST_F(BuilderTest, SrvCompressedOnlyWhenAsked) {
    Name owner = N("Lab Printer._ipp._tcp.local.");
    Name target = N("printer.local.");
    Bytes rd = rdata::srv(1, 2, 631, target);
    for (bool compress_srv : {false, true}) {
        BuilderOptions opts;
        opts.compress_srv = compress_srv;
        RrView rr = one(owner, rrtype::SRV, rd, opts);
        auto srv = rr.srv();
        ASSERT_TRUE(srv.ok());
        EXPECT_EQ(srv->priority, 1);
        EXPECT_EQ(srv->weight, 2);
        EXPECT_EQ(srv->port, 631);
        EXPECT_TRUE(srv->target.equals(target));
        EXPECT_EQ(uncompressed(rr), rd);
        if (compress_srv) {
            EXPECT_EQ(rr.rdlength(), 6 + 1 + 7 + 2);  // "printer" + pointer to "local."
        } else {
            EXPECT_EQ(bytes(rr.rdata()), rd);  // RFC 2782: no compression
        }
    }
}

TEST_F(BuilderTest, Mx) {
    Bytes rd{0, 10};
    Name ex = N("mail.example.com.");
    rd.insert(rd.end(), ex.wire().begin(), ex.wire().end());
    RrView rr = one(N("example.com."), rrtype::MX, rd);
    EXPECT_EQ(rr.rdlength(), 2 + 1 + 4 + 2);
    EXPECT_EQ(uncompressed(rr), rd);
}

TEST_F(BuilderTest, TxtDnsSdKeyValues) {
    std::vector<std::string_view> strings{"txtvers=1", "note=Lab 3, room 101", "paper",
                                          "empty=", "bin=a=b"};
    RrView rr = one(N("Lab Printer._ipp._tcp.local."), rrtype::TXT, rdata::txt(strings));
    auto txt = rr.txt();
    ASSERT_TRUE(txt.ok());
    std::vector<TxtView::Entry> e;
    for (const auto& x : *txt) e.push_back(x);
    ASSERT_EQ(e.size(), 5u);
    EXPECT_EQ(str(e[0].key), "txtvers");
    EXPECT_EQ(str(e[0].value), "1");
    EXPECT_TRUE(e[0].has_value);
    EXPECT_EQ(str(e[1].value), "Lab 3, room 101");
    EXPECT_EQ(str(e[2].key), "paper");
    EXPECT_FALSE(e[2].has_value);
    EXPECT_EQ(str(e[3].key), "empty");
    EXPECT_TRUE(e[3].has_value);
    EXPECT_TRUE(e[3].value.empty());
    EXPECT_EQ(str(e[4].key), "bin");
    EXPECT_EQ(str(e[4].value), "a=b");
    EXPECT_EQ(str(e[4].raw), "bin=a=b");
}

TEST_F(BuilderTest, TxtEmptyIsOneZeroByte) {
    EXPECT_EQ(rdata::txt({}), Bytes{0});
    RrView rr = one(N("x._http._tcp.local."), rrtype::TXT, rdata::txt({}));
    EXPECT_EQ(bytes(rr.rdata()), Bytes{0});
    auto txt = rr.txt();
    ASSERT_TRUE(txt.ok());
    size_t n = 0;
    for (const auto& x : *txt) {
        EXPECT_TRUE(x.raw.empty());
        ++n;
    }
    EXPECT_EQ(n, 1u);
}

TEST_F(BuilderTest, Txt255ByteStrings) {
    std::string a(255, 'a'), b(255, 'B');
    std::vector<std::string_view> strings{a, "", b};
    Bytes rd = rdata::txt(strings);
    EXPECT_EQ(rd.size(), 256u + 1u + 256u);
    RrView rr = one(N("long.local."), rrtype::TXT, rd);
    auto txt = rr.txt();
    ASSERT_TRUE(txt.ok());
    std::vector<std::string> got;
    for (const auto& x : *txt) got.push_back(str(x.raw));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], a);
    EXPECT_EQ(got[1], "");
    EXPECT_EQ(got[2], b);

    std::string too_long(256, 'x');
    std::vector<std::string_view> bad{"ok", too_long};
    EXPECT_TRUE(rdata::txt(bad).empty());
}

TEST_F(BuilderTest, Hinfo) {
    RrView rr = one(N("host.local."), rrtype::HINFO, rdata::hinfo("ARM64", "Linux 6.1"));
    auto h = rr.hinfo();
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(str(h->cpu), "ARM64");
    EXPECT_EQ(str(h->os), "Linux 6.1");
    EXPECT_TRUE(rdata::hinfo(std::string(256, 'c'), "x").empty());
}

TEST_F(BuilderTest, NsecWindows) {
    Name owner = N("Lab Printer._ipp._tcp.local.");
    const std::vector<uint16_t> types{rrtype::SRV,  rrtype::A,   rrtype::TXT, 65280,
                                      rrtype::AAAA, rrtype::TXT, 1234};
    Bytes rd = rdata::nsec(owner, types);
    // Window 0: A(1) TXT(16) AAAA(28) SRV(33) -> 5 octets; window 4: 1234 = 4*256+210
    // -> 27 octets; window 255: 65280 = 255*256+0 -> 1 octet.
    Bytes expect_bitmap{0, 5, 0x40, 0x00, 0x80, 0x08, 0x40,  // window 0
                        4, 27};
    expect_bitmap.resize(expect_bitmap.size() + 27, 0);
    expect_bitmap.back() = 0x20;  // 210 = 26*8 + 2
    expect_bitmap.insert(expect_bitmap.end(), {255, 1, 0x80});
    EXPECT_EQ(Bytes(rd.begin() + static_cast<std::ptrdiff_t>(owner.wire_length()), rd.end()),
              expect_bitmap);

    RrView rr = one(owner, rrtype::NSEC, rd, {}, rrclass::IN | rrclass::MDNS_TOP_BIT);
    // RFC 6762 §18.14 allows compressing NSEC's name in mDNS, but RFC 3597 §4
    // forbids it for unicast peers; the builder never does.
    EXPECT_EQ(bytes(rr.rdata()), rd);
    EXPECT_TRUE(rr.cache_flush());
    auto nsec = rr.nsec();
    ASSERT_TRUE(nsec.ok());
    EXPECT_TRUE(nsec->next.equals(owner));
    for (uint16_t t :
         {rrtype::A, rrtype::TXT, rrtype::AAAA, rrtype::SRV, uint16_t{65280}, uint16_t{1234}}) {
        EXPECT_TRUE(nsec->has_type(t)) << t;
    }
    for (uint16_t t :
         {rrtype::PTR, rrtype::NS, rrtype::NSEC, uint16_t{65281}, uint16_t{1235}, uint16_t{256}}) {
        EXPECT_FALSE(nsec->has_type(t)) << t;
    }
}

TEST_F(BuilderTest, NsecNoTypes) {
    Name next = N("host.local.");
    RrView rr = one(next, rrtype::NSEC, rdata::nsec(next, {}));
    auto nsec = rr.nsec();
    ASSERT_TRUE(nsec.ok());
    EXPECT_TRUE(nsec->bitmap.empty());
    EXPECT_FALSE(nsec->has_type(rrtype::A));
}

TEST_F(BuilderTest, OptWithUpdateLease) {
    struct Case {
        uint32_t lease = 0;
        std::optional<uint32_t> key_lease;
    };
    for (const Case& c : {Case{7200, std::nullopt}, Case{3600, 86400}}) {
        Bytes opts = rdata::lease_option(c.lease, c.key_lease);
        EXPECT_EQ(opts.size(), c.key_lease ? 12u : 8u);
        EXPECT_EQ(opts[0], 0);
        EXPECT_EQ(opts[1], 2);
        const Bytes cookie{0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
        opts.insert(opts.end(), cookie.begin(), cookie.end());

        Builder b(buf);
        ASSERT_TRUE(b.add_question(N("example.com."), rrtype::SOA, rrclass::IN).ok());
        ASSERT_TRUE(b.add_opt(1232, 0x12, 0, true, opts).ok());
        Message m = parse(b);
        auto rr = m.opt();
        ASSERT_TRUE(rr.has_value());
        EXPECT_EQ(rr->owner.wire_length(), 1u);
        auto opt = rr->opt();
        ASSERT_TRUE(opt.ok());
        EXPECT_EQ(opt->udp_size(), 1232);
        EXPECT_EQ(opt->ext_rcode(), 0x12);
        EXPECT_EQ(opt->version(), 0);
        EXPECT_TRUE(opt->dnssec_ok());
        EXPECT_EQ(opt->z(), 0);
        auto lease = opt->lease();
        ASSERT_TRUE(lease.has_value());
        EXPECT_EQ(lease->lease, c.lease);
        EXPECT_EQ(lease->key_lease, c.key_lease);
        auto ck = opt->find(edns::COOKIE);
        ASSERT_TRUE(ck.has_value());
        EXPECT_EQ(bytes(ck->data), Bytes(cookie.begin() + 4, cookie.end()));
        size_t n = 0;
        for (const EdnsOption& o : *opt) {
            (void)o;
            ++n;
        }
        EXPECT_EQ(n, 2u);
    }
}

TEST_F(BuilderTest, OptEmpty) {
    Builder b(buf);
    ASSERT_TRUE(b.add_opt(512, 0, 0, false).ok());
    Message m = parse(b);
    auto rr = m.opt();
    ASSERT_TRUE(rr.has_value());
    auto opt = rr->opt();
    ASSERT_TRUE(opt.ok());
    EXPECT_EQ(opt->udp_size(), 512);
    EXPECT_FALSE(opt->dnssec_ok());
    EXPECT_EQ(opt->raw_ttl(), 0u);
    EXPECT_FALSE(opt->lease().has_value());
    EXPECT_EQ(rr->rdlength(), 0);
}

TEST_F(BuilderTest, TsigRdataByHand) {
    Name alg = N("hmac-sha256.");
    Bytes rd(alg.wire().begin(), alg.wire().end());
    const uint64_t now = 0x0000'6512'3456ULL;
    for (int shift : {40, 32, 24, 16, 8, 0}) rd.push_back(static_cast<uint8_t>(now >> shift));
    rd.insert(rd.end(), {0x01, 0x2c});  // fudge 300
    rd.insert(rd.end(), {0x00, 0x20});  // MAC size 32
    for (uint8_t i = 0; i < 32; ++i) rd.push_back(i);
    rd.insert(rd.end(), {0xbe, 0xef});                                // original id
    rd.insert(rd.end(), {0x00, 0x12});                                // error BADTIME
    rd.insert(rd.end(), {0x00, 0x06, 0, 0, 0x65, 0x12, 0x34, 0x99});  // other: server time

    Builder b(buf);
    b.set_id(0xbeef);
    ASSERT_TRUE(b.add_question(N("example.com."), rrtype::SOA, rrclass::IN).ok());
    ASSERT_TRUE(
        b.add_rr(Section::additional, N("key.example.com."), rrtype::TSIG, rrclass::ANY, 0, rd)
            .ok());
    Message m = parse(b);
    auto rr = m.tsig();
    ASSERT_TRUE(rr.has_value());
    EXPECT_TRUE(rr->owner.equals(N("key.example.com.")));
    // The key name is written whole even though "example.com." is in the message.
    EXPECT_EQ(m.wire()[rr->offset()], 3);
    EXPECT_EQ(rr->end_offset() - rr->offset(), 17u + 10u + rd.size());
    EXPECT_EQ(m.tsig_offset(), rr->offset());
    auto t = rr->tsig();
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(t->algorithm.equals(alg));
    EXPECT_EQ(t->time_signed, now);
    EXPECT_EQ(t->fudge, 300);
    ASSERT_EQ(t->mac.size(), 32u);
    EXPECT_EQ(t->mac[31], 31);
    EXPECT_EQ(t->original_id, 0xbeef);
    EXPECT_EQ(t->error, rcode::BADTIME);
    EXPECT_EQ(bytes(t->other), (Bytes{0, 0, 0x65, 0x12, 0x34, 0x99}));
    EXPECT_EQ(bytes(rr->rdata()), rd);
}

TEST_F(BuilderTest, Timeout) {
    std::vector<std::array<uint8_t, 16>> hashes(3);
    for (size_t i = 0; i < hashes.size(); ++i) hashes[i].fill(static_cast<uint8_t>(0xa0 + i));
    const uint64_t expiry = 1'900'000'000ULL;
    Bytes rd = rdata::timeout(rrtype::PTR, 1, expiry, hashes);
    ASSERT_EQ(rd.size(), 12u + 48u);
    EXPECT_EQ(rd[2], 3);  // count
    EXPECT_EQ(rd[3], 1);  // method
    RrView rr =
        one(N("_ipp._tcp.lab.example.edu."), rrtype::TIMEOUT_DEFAULT, rd, {}, rrclass::IN, 0);
    auto t = rr.timeout();
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->covered_type, rrtype::PTR);
    EXPECT_EQ(t->count, 3);
    EXPECT_EQ(t->method, 1);
    EXPECT_EQ(t->expiry, expiry);
    ASSERT_EQ(t->hashes.size(), 48u);
    EXPECT_EQ(t->hashes[0], 0xa0);
    EXPECT_EQ(t->hashes[47], 0xa2);

    Bytes none = rdata::timeout(rrtype::A, 0, 0, {});
    EXPECT_EQ(none.size(), 12u);
    RrView rr0 = one(N("a.example."), rrtype::TIMEOUT_DEFAULT, none);
    auto t0 = rr0.timeout();
    ASSERT_TRUE(t0.ok());
    EXPECT_EQ(t0->count, 0);
    EXPECT_TRUE(t0->hashes.empty());

    std::vector<std::array<uint8_t, 16>> too_many(256);
    EXPECT_TRUE(rdata::timeout(rrtype::A, 0, 0, too_many).empty());
}

TEST_F(BuilderTest, UnknownTypeIsOpaque) {
    // RFC 3597: unknown types carry opaque RDATA; bytes that look like a name
    // already in the message must not be touched.
    Name owner = N("thing.example.");
    Bytes rd(owner.wire().begin(), owner.wire().end());
    rd.insert(rd.end(), {0xde, 0xad, 0xbe, 0xef});
    RrView rr = one(owner, 65400, rd);
    EXPECT_EQ(bytes(rr.rdata()), rd);
    EXPECT_EQ(uncompressed(rr), rd);
    RrView empty = one(owner, 65401, {});
    EXPECT_EQ(empty.rdlength(), 0);
}

TEST_F(BuilderTest, NamesInOtherTypesAreNeverCompressed) {
    // RP (RFC 1183) carries two names but is not in RFC 3597 §4's list.
    Name owner = N("host.example.com.");
    Name mbox = N("admin.example.com.");
    Bytes rd(mbox.wire().begin(), mbox.wire().end());
    rd.insert(rd.end(), owner.wire().begin(), owner.wire().end());
    RrView rr = one(owner, 17, rd);
    EXPECT_EQ(bytes(rr.rdata()), rd);
}

// ---- header, sections, mDNS bits ------------------------------------------------

TEST_F(BuilderTest, HeaderFields) {
    Builder b(buf);
    b.set_id(0x1234);
    b.set_flags(flag::QR | flag::AA | flag::RD);
    b.set_opcode(opcode::NOTIFY);
    b.set_rcode(static_cast<uint8_t>(rcode::NXDOMAIN));
    EXPECT_EQ(b.flags(), flag::QR | flag::AA | flag::RD | (4 << 11) | 3);
    EXPECT_EQ(b.size(), kHeaderSize);
    Message m = parse(b);
    EXPECT_EQ(m.header().id, 0x1234);
    EXPECT_TRUE(m.header().qr());
    EXPECT_TRUE(m.header().aa());
    EXPECT_TRUE(m.header().rd());
    EXPECT_FALSE(m.header().tc());
    EXPECT_EQ(m.header().opcode(), opcode::NOTIFY);
    EXPECT_EQ(m.header().rcode(), rcode::NXDOMAIN);
    b.set_opcode(opcode::QUERY);
    b.set_rcode(0);
    EXPECT_EQ(b.flags(), flag::QR | flag::AA | flag::RD);
}

TEST_F(BuilderTest, QuestionWithQuBit) {
    Builder b(buf);
    ASSERT_TRUE(b.add_question(N("_services._dns-sd._udp.local."), rrtype::PTR,
                               rrclass::IN | rrclass::MDNS_TOP_BIT)
                    .ok());
    ASSERT_TRUE(b.add_question(N("_ipp._tcp.local."), rrtype::PTR, rrclass::IN).ok());
    Message m = parse(b);
    ASSERT_EQ(m.count(Section::question), 2);
    std::vector<Question> qs;
    for (const Question& q : m.questions()) qs.push_back(q);
    ASSERT_EQ(qs.size(), 2u);
    EXPECT_TRUE(qs[0].qu());
    EXPECT_EQ(qs[0].rrclass(), rrclass::IN);
    EXPECT_EQ(qs[0].type, rrtype::PTR);
    EXPECT_TRUE(qs[0].name.equals(N("_services._dns-sd._udp.local.")));
    EXPECT_FALSE(qs[1].qu());
    EXPECT_TRUE(qs[1].name.equals(N("_ipp._tcp.local.")));
    // "_ipp._tcp" + pointer to "local.", then type and class.
    EXPECT_EQ(b.size(), kHeaderSize + (30 + 4) + (1 + 4 + 1 + 4 + 2 + 4));
}

TEST_F(BuilderTest, CacheFlushBit) {
    const std::array<uint8_t, 4> addr{192, 0, 2, 7};
    RrView rr = one(N("printer.local."), rrtype::A, rdata::a(addr), {}, 0x8001);
    EXPECT_TRUE(rr.cache_flush());
    EXPECT_EQ(rr.rrclass(), rrclass::IN);
    RrView plain = one(N("printer.local."), rrtype::A, rdata::a(addr));
    EXPECT_FALSE(plain.cache_flush());
}

TEST_F(BuilderTest, SectionsInOrder) {
    Builder b(buf);
    const std::array<uint8_t, 4> addr{192, 0, 2, 1};
    Bytes rd = rdata::a(addr);
    ASSERT_TRUE(b.add_rr(Section::authority, N("a.example."), rrtype::A, 1, 60, rd).ok());
    size_t size = b.size();
    EXPECT_EQ(b.add_question(N("a.example."), rrtype::A, 1).reason(), Reason::rdata_length);
    EXPECT_EQ(b.add_rr(Section::answer, N("a.example."), rrtype::A, 1, 60, rd).reason(),
              Reason::rdata_length);
    EXPECT_EQ(b.size(), size);
    EXPECT_EQ(b.section(), Section::authority);
    ASSERT_TRUE(b.add_rr(Section::authority, N("b.example."), rrtype::A, 1, 60, rd).ok());
    ASSERT_TRUE(b.add_rr(Section::additional, N("c.example."), rrtype::A, 1, 60, rd).ok());
    Message m = parse(b);
    EXPECT_EQ(m.count(Section::question), 0);
    EXPECT_EQ(m.count(Section::answer), 0);
    EXPECT_EQ(m.count(Section::authority), 2);
    EXPECT_EQ(m.count(Section::additional), 1);
    auto add = records(m, Section::additional);
    ASSERT_EQ(add.size(), 1u);
    EXPECT_TRUE(add[0].owner.equals(N("c.example.")));
    EXPECT_EQ(add[0].section, Section::additional);
}

// ---- compression -----------------------------------------------------------------

// A DNS-SD announcement, as an mDNS responder sends it.
void announce(Builder& b, const Name& instance) {
    const std::array<uint8_t, 4> v4{192, 0, 2, 10};
    const std::array<uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10};
    std::vector<std::string_view> kv{"txtvers=1", "rp=ipp/print", "ty=Lab Printer"};
    const uint16_t flush = rrclass::IN | rrclass::MDNS_TOP_BIT;
    b.set_flags(flag::QR | flag::AA);
    ASSERT_TRUE(b.add_rr(Section::answer, N("_ipp._tcp.local."), rrtype::PTR, 1, 4500,
                         rdata::name(instance))
                    .ok());
    ASSERT_TRUE(b.add_rr(Section::answer, instance, rrtype::SRV, flush, 120,
                         rdata::srv(0, 0, 631, N("printer.local.")))
                    .ok());
    ASSERT_TRUE(b.add_rr(Section::answer, instance, rrtype::TXT, flush, 4500, rdata::txt(kv)).ok());
    ASSERT_TRUE(
        b.add_rr(Section::additional, N("PRINTER.local."), rrtype::A, flush, 120, rdata::a(v4))
            .ok());
    ASSERT_TRUE(b.add_rr(Section::additional, N("printer.local."), rrtype::AAAA, flush, 120,
                         rdata::aaaa(v6))
                    .ok());
    const std::vector<uint16_t> types{rrtype::A, rrtype::AAAA};
    ASSERT_TRUE(b.add_rr(Section::additional, N("printer.local."), rrtype::NSEC, flush, 120,
                         rdata::nsec(N("printer.local."), types))
                    .ok());
}

TEST_F(BuilderTest, CompressionShrinksAndDecodesToSameNames) {
    Name instance = N("Lab Printer._ipp._tcp.local.");
    Bytes plain_buf(4096);
    BuilderOptions off;
    off.compress = false;
    Builder plain(plain_buf, off);
    announce(plain, instance);
    BuilderOptions on;
    on.compress_srv = true;
    Builder packed(buf, on);
    announce(packed, instance);

    EXPECT_LT(packed.size() + 60, plain.size());
    auto mp = Message::parse(plain.wire());
    auto mc = Message::parse(packed.wire());
    ASSERT_TRUE(mp.ok());
    ASSERT_TRUE(mc.ok());
    auto rp = all_records(*mp);
    auto rc = all_records(*mc);
    ASSERT_EQ(rp.size(), 6u);
    ASSERT_EQ(rc.size(), rp.size());
    for (size_t i = 0; i < rp.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_TRUE(rc[i].owner.equals(rp[i].owner));
        EXPECT_EQ(rc[i].type, rp[i].type);
        EXPECT_EQ(rc[i].raw_class, rp[i].raw_class);
        EXPECT_EQ(rc[i].ttl, rp[i].ttl);
        EXPECT_EQ(uncompressed(rc[i]), uncompressed(rp[i]));
    }
    // The SRV owner is the PTR's target: a bare pointer to it.
    EXPECT_EQ(mc->wire()[rc[1].offset()] & 0xC0, 0xC0);
    EXPECT_EQ(rc[1].owner.to_string(), "Lab\\032Printer._ipp._tcp.local.");
    // "PRINTER.local." points at the SRV target's spelling (RFC 1035 §4.1.4
    // compares case-insensitively); uncompressed, it keeps its own.
    EXPECT_EQ(rc[3].owner.to_string(), "printer.local.");
    EXPECT_EQ(rp[3].owner.to_string(), "PRINTER.local.");
    // Without compression nothing in the message is a pointer.
    for (const RrView& rr : rp) EXPECT_EQ(bytes(rr.rdata()), uncompressed(rr));
}

TEST_F(BuilderTest, CaseDifferingNamesCompressToFirstSpelling) {
    Builder b(buf);
    const std::array<uint8_t, 4> v4{192, 0, 2, 10};
    ASSERT_TRUE(
        b.add_rr(Section::answer, N("Printer.Local."), rrtype::A, 1, 60, rdata::a(v4)).ok());
    size_t second = b.size();
    ASSERT_TRUE(
        b.add_rr(Section::answer, N("printer.local."), rrtype::A, 1, 60, rdata::a(v4)).ok());
    ASSERT_TRUE(b.add_rr(Section::answer, N("other.LOCAL."), rrtype::A, 1, 60, rdata::a(v4)).ok());
    // The second owner is exactly a pointer to the first (offset 12).
    EXPECT_EQ(b.wire()[second], 0xC0);
    EXPECT_EQ(b.wire()[second + 1], kHeaderSize);
    Message m = parse(b);
    auto rrs = records(m, Section::answer);
    ASSERT_EQ(rrs.size(), 3u);
    EXPECT_EQ(rrs[1].owner.to_string(), "Printer.Local.");
    EXPECT_TRUE(rrs[1].owner.equals(N("printer.local.")));
    EXPECT_TRUE(rrs[1].owner.equals(rrs[0].owner));
    EXPECT_EQ(rrs[2].owner.to_string(), "other.Local.");
    EXPECT_TRUE(rrs[2].owner.equals(N("OTHER.local.")));
}

TEST_F(BuilderTest, LongestSuffixWins) {
    Builder b(buf);
    ASSERT_TRUE(b.add_question(N("a.b.c.example."), rrtype::A, 1).ok());
    size_t at = b.size();
    ASSERT_TRUE(b.add_question(N("x.b.c.example."), rrtype::A, 1).ok());
    // "x" then a pointer to "b.c.example." at 12 + 2.
    EXPECT_EQ(b.size() - at, 2u + 2u + 4u);
    EXPECT_EQ(b.wire()[at + 2], 0xC0);
    EXPECT_EQ(b.wire()[at + 3], kHeaderSize + 2);
    Message m = parse(b);
    std::vector<std::string> names;
    for (const Question& q : m.questions()) names.push_back(q.name.to_string());
    EXPECT_EQ(names, (std::vector<std::string>{"a.b.c.example.", "x.b.c.example."}));
}

TEST_F(BuilderTest, NoPointersBeyond0x4000) {
    Builder b(buf);
    std::string filler(200, 'f');
    std::vector<std::string_view> strings{filler};
    Bytes rd = rdata::txt(strings);
    ASSERT_TRUE(b.add_question(N("example."), rrtype::ANY, 1).ok());
    // Many distinct names also overflow the compression table.
    for (int i = 0; b.size() < 0x4100; ++i) {
        ASSERT_TRUE(b.add_rr(Section::answer, N("r" + std::to_string(i) + ".example."), rrtype::TXT,
                             1, 60, rd)
                        .ok());
    }
    ASSERT_TRUE(b.add_rr(Section::answer, N("late.name.example."), rrtype::TXT, 1, 60, rd).ok());
    size_t at = b.size();
    ASSERT_TRUE(b.add_rr(Section::answer, N("late.name.example."), rrtype::TXT, 1, 60, rd).ok());
    // Written again in full up to "example." (offset 12), the only target in reach.
    EXPECT_EQ(b.wire()[at], 4);
    Message m = parse(b);
    auto rrs = records(m, Section::answer);
    ASSERT_GT(rrs.size(), 70u);
    EXPECT_TRUE(rrs.back().owner.equals(N("late.name.example.")));
    EXPECT_TRUE(rrs[rrs.size() - 2].owner.equals(N("late.name.example.")));
    for (size_t i = 0; i + 2 < rrs.size(); ++i) {
        EXPECT_EQ(rrs[i].owner.to_string(), "r" + std::to_string(i) + ".example.");
    }
}

TEST_F(BuilderTest, CompressionOff) {
    BuilderOptions opts;
    opts.compress = false;
    Builder b(buf, opts);
    ASSERT_TRUE(b.add_question(N("a.example."), rrtype::PTR, 1).ok());
    ASSERT_TRUE(
        b.add_rr(Section::answer, N("a.example."), rrtype::PTR, 1, 60, rdata::name(N("a.example.")))
            .ok());
    EXPECT_EQ(b.size(), kHeaderSize + (11 + 4) + (11 + 10 + 11));
    parse(b);
}

// ---- limits and rollback -----------------------------------------------------------

TEST_F(BuilderTest, NoSpaceLeavesMessageUnchanged) {
    Bytes small(200);
    Builder b(small, {});
    b.set_id(7);
    ASSERT_TRUE(b.add_question(N("_ipp._tcp.local."), rrtype::PTR, 1).ok());
    int added = 0;
    Status st;
    for (int i = 0;; ++i) {
        Bytes before = bytes(b.wire());
        uint16_t an = b.count(Section::answer);
        st = b.add_rr(Section::answer, N("_ipp._tcp.local."), rrtype::PTR, 1, 4500,
                      rdata::name(N("Printer Number " + std::to_string(i) + "._ipp._tcp.local.")));
        if (!st) {
            EXPECT_EQ(bytes(b.wire()), before);
            EXPECT_EQ(b.count(Section::answer), an);
            break;
        }
        ++added;
    }
    EXPECT_EQ(st.reason(), Reason::no_space);
    EXPECT_GT(added, 3);
    EXPECT_LE(b.size(), small.size());
    EXPECT_EQ(b.section(), Section::answer);

    // A failed add in a later section does not move the builder on.
    size_t size = b.size();
    std::string big(150, 'x');
    std::vector<std::string_view> strings{big};
    EXPECT_EQ(b.add_rr(Section::additional, N("x.local."), rrtype::TXT, 1, 60, rdata::txt(strings))
                  .reason(),
              Reason::no_space);
    EXPECT_EQ(b.section(), Section::answer);
    EXPECT_EQ(b.size(), size);

    auto m = Message::parse(b.wire());
    ASSERT_TRUE(m.ok()) << reason_name(m.reason());
    EXPECT_EQ(m->header().id, 7);
    EXPECT_EQ(m->count(Section::question), 1);
    EXPECT_EQ(m->count(Section::answer), added);
    EXPECT_EQ(m->count(Section::additional), 0);
    int i = 0;
    for (const RrView& rr : m->answers()) {
        auto t = rr.name_target();
        ASSERT_TRUE(t.ok());
        EXPECT_EQ(t->to_string(),
                  "Printer\\032Number\\032" + std::to_string(i++) + "._ipp._tcp.local.");
    }
}

TEST_F(BuilderTest, NoSpaceRollsBackCompressionTable) {
    Builder b(buf);
    ASSERT_TRUE(b.add_question(N("example.com."), rrtype::SOA, 1).ok());
    // The owner fits, the RDATA does not: the owner's labels were written and
    // offered as compression targets, then everything is undone.
    size_t at = b.size();
    b.set_limit(at + 40);
    std::string big(100, 'x');
    std::vector<std::string_view> strings{big};
    EXPECT_EQ(b.add_rr(Section::answer, N("stale.target.example.com."), rrtype::TXT, 1, 60,
                       rdata::txt(strings))
                  .reason(),
              Reason::no_space);
    EXPECT_EQ(b.size(), at);
    b.set_limit(0);
    // Overwrite where the stale name was, then use a name that would have
    // pointed at it.
    const std::array<uint8_t, 4> v4{198, 51, 100, 1};
    ASSERT_TRUE(b.add_rr(Section::answer, N("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.other."), rrtype::A, 1,
                         60, rdata::a(v4))
                    .ok());
    ASSERT_TRUE(
        b.add_rr(Section::answer, N("stale.target.example.com."), rrtype::A, 1, 60, rdata::a(v4))
            .ok());
    ASSERT_TRUE(
        b.add_rr(Section::answer, N("new.target.example.com."), rrtype::A, 1, 60, rdata::a(v4))
            .ok());
    Message m = parse(b);
    auto rrs = records(m, Section::answer);
    ASSERT_EQ(rrs.size(), 3u);
    EXPECT_EQ(rrs[0].owner.to_string(), "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.other.");
    EXPECT_EQ(rrs[1].owner.to_string(), "stale.target.example.com.");
    EXPECT_EQ(rrs[2].owner.to_string(), "new.target.example.com.");
}

TEST_F(BuilderTest, SetLimit) {
    Builder b(buf);
    EXPECT_EQ(b.limit(), buf.size());
    b.set_limit(64);
    EXPECT_EQ(b.limit(), 64u);
    const std::array<uint8_t, 4> v4{203, 0, 113, 5};
    int n = 0;
    while (b.add_rr(Section::answer, N("h" + std::to_string(n) + ".example."), rrtype::A, 1, 60,
                    rdata::a(v4))
               .ok()) {
        ++n;
    }
    // 12 + (12 + 14) + (3 + 2 + 14) = 57; a third record needs 19 more.
    EXPECT_EQ(n, 2);
    EXPECT_EQ(b.size(), 57u);
    // Exactly at the limit is allowed.
    b.set_limit(76);
    EXPECT_TRUE(b.add_rr(Section::answer, N("h2.example."), rrtype::A, 1, 60, rdata::a(v4)).ok());
    EXPECT_EQ(b.size(), 76u);
    b.set_limit(10);  // below what is written: nothing more fits
    EXPECT_EQ(b.add_rr(Section::answer, N("h3.example."), rrtype::A, 1, 60, rdata::a(v4)).reason(),
              Reason::no_space);
    b.set_limit(1u << 20);  // capped at the buffer
    EXPECT_EQ(b.limit(), buf.size());
    EXPECT_TRUE(b.add_rr(Section::answer, N("h3.example."), rrtype::A, 1, 60, rdata::a(v4)).ok());

    BuilderOptions opts;
    opts.limit = 20;
    Builder c(buf, opts);
    EXPECT_EQ(c.limit(), 20u);
    EXPECT_EQ(c.add_question(N("toolong.example."), rrtype::A, 1).reason(), Reason::no_space);
    EXPECT_EQ(c.size(), kHeaderSize);
    parse(c);
}

TEST_F(BuilderTest, BufferSmallerThanHeader) {
    std::array<uint8_t, 8> tiny{};
    Builder b(tiny);
    b.set_id(1);
    EXPECT_EQ(b.size(), 0u);
    EXPECT_EQ(b.add_question(N("a."), rrtype::A, 1).reason(), Reason::no_space);
    EXPECT_TRUE(b.wire().empty());
}

// ---- copying received records --------------------------------------------------------

// Copies every question and record of `src` (except tolerated damaged ones)
// into a new message and checks that it reads back the same.
void copy_and_compare(const Message& src, Bytes& out, BuilderOptions opts) {
    Builder b(out, opts);
    b.set_id(src.header().id);
    b.set_flags(src.header().flags);
    for (const Question& q : src.questions()) {
        ASSERT_TRUE(b.add_question(q.name.to_name(), q.type, q.raw_class).ok());
    }
    std::vector<RrView> want;
    for (int s = 1; s < 4; ++s) {
        for (const RrView& rr : src.records(static_cast<Section>(s))) {
            if (rr.damaged()) continue;
            Status st = b.add_rr(static_cast<Section>(s), rr);
            ASSERT_TRUE(st.ok()) << reason_name(st.reason());
            want.push_back(rr);
        }
    }
    auto m = Message::parse(b.wire());
    ASSERT_TRUE(m.ok()) << reason_name(m.reason()) << " at " << m.error().offset;
    EXPECT_EQ(m->header().id, src.header().id);
    EXPECT_EQ(m->header().flags, src.header().flags);
    EXPECT_EQ(m->count(Section::question), src.count(Section::question));
    auto qa = src.questions().begin();
    for (const Question& q : m->questions()) {
        EXPECT_TRUE(q.name.equals(qa->name));
        EXPECT_EQ(q.name.to_string(), qa->name.to_string());
        EXPECT_EQ(q.type, qa->type);
        EXPECT_EQ(q.raw_class, qa->raw_class);
        ++qa;
    }
    auto got = all_records(*m);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(got[i].section, want[i].section);
        EXPECT_EQ(got[i].owner.to_string(), want[i].owner.to_string());
        EXPECT_EQ(got[i].type, want[i].type);
        EXPECT_EQ(got[i].raw_class, want[i].raw_class);
        EXPECT_EQ(got[i].ttl, want[i].ttl);
        EXPECT_EQ(uncompressed(got[i]), uncompressed(want[i]));
    }
    EXPECT_EQ(m->tsig().has_value(), src.tsig().has_value());
    EXPECT_EQ(m->opt().has_value(), src.opt().has_value());
}

TEST_F(BuilderTest, CopyRecordsBuiltHere) {
    Bytes first(4096);
    BuilderOptions opts;
    opts.compress_srv = true;
    Builder b(first, opts);
    announce(b, N("Lab Printer._ipp._tcp.local."));
    Bytes lease = rdata::lease_option(3600, 7200);
    ASSERT_TRUE(b.add_opt(1440, 0, 0, false, lease).ok());
    auto src = Message::parse(b.wire());
    ASSERT_TRUE(src.ok());
    copy_and_compare(*src, buf, opts);
    BuilderOptions plain;
    plain.compress = false;
    copy_and_compare(*src, buf, plain);
}

TEST_F(BuilderTest, CopyRecordsOfCorpusMessages) {
    namespace fs = std::filesystem;
    const fs::path root(UPDPROXY_CORPUS);
    if (!fs::exists(root)) GTEST_SKIP() << "no corpus at " << root;
    int copied = 0;
    for (const char* dir : {"mdns", "dns"}) {
        bool mdns = std::string_view(dir) == "mdns";
        for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
            if (!e.is_regular_file() || e.path().extension() != ".bin") continue;
            if (e.path().string().find("/malformed/") != std::string::npos) continue;
            Bytes wire = read_file(e.path());
            auto src = Message::parse(wire);
            if (!src.ok()) continue;  // e.g. fuzz seeds; the corpus test covers them
            SCOPED_TRACE(e.path().string());
            BuilderOptions opts;
            opts.compress_srv = mdns;
            copy_and_compare(*src, buf, opts);
            ++copied;
        }
    }
    EXPECT_GT(copied, 50);
}

// ---- UPDATE -----------------------------------------------------------------------

TEST_F(BuilderTest, UpdateForms) {
    UpdateBuilder u(buf, 0x4242);
    Name zone = N("lab.example.edu.");
    Name host = N("printer.lab.example.edu.");
    const std::array<uint8_t, 4> v4{192, 0, 2, 44};
    Bytes a = rdata::a(v4);
    ASSERT_TRUE(u.zone(zone).ok());
    EXPECT_EQ(u.zone(zone).reason(), Reason::rdata_length);  // ZOCOUNT is one
    ASSERT_TRUE(u.require_rrset_exists(host, rrtype::A).ok());
    ASSERT_TRUE(u.require_rrset_equals(host, rrtype::A, a).ok());
    ASSERT_TRUE(u.require_rrset_absent(host, rrtype::AAAA).ok());
    ASSERT_TRUE(u.require_name_in_use(host).ok());
    ASSERT_TRUE(u.require_name_absent(N("new.lab.example.edu.")).ok());
    ASSERT_TRUE(u.add(host, rrtype::A, 300, a).ok());
    ASSERT_TRUE(u.delete_rrset(host, rrtype::AAAA).ok());
    ASSERT_TRUE(u.delete_all(N("old.lab.example.edu.")).ok());
    ASSERT_TRUE(u.delete_rr(host, rrtype::A, a).ok());
    // Back to prerequisites after updates is out of order.
    EXPECT_EQ(u.require_name_in_use(host).reason(), Reason::rdata_length);
    Bytes lease = rdata::lease_option(3600);
    ASSERT_TRUE(u.builder().add_opt(1232, 0, 0, false, lease).ok());
    EXPECT_EQ(u.size(), u.wire().size());

    auto m = Message::parse(u.wire());
    ASSERT_TRUE(m.ok()) << reason_name(m.reason()) << " at " << m.error().offset;
    EXPECT_EQ(m->header().id, 0x4242);
    EXPECT_EQ(m->header().opcode(), opcode::UPDATE);
    EXPECT_FALSE(m->header().qr());
    EXPECT_EQ(m->header().flags, 5 << 11);
    ASSERT_EQ(m->count(Section::question), 1);
    const Question q = *m->questions().begin();
    EXPECT_TRUE(q.name.equals(zone));
    EXPECT_EQ(q.type, rrtype::SOA);
    EXPECT_EQ(q.raw_class, rrclass::IN);

    struct Want {
        const char* owner;
        uint16_t type, cls;
        uint32_t ttl;
        uint16_t rdlength;
    };
    const std::vector<Want> prereq{
        {"printer.lab.example.edu.", rrtype::A, rrclass::ANY, 0, 0},      // YXRRSET
        {"printer.lab.example.edu.", rrtype::A, rrclass::IN, 0, 4},       // value-dependent
        {"printer.lab.example.edu.", rrtype::AAAA, rrclass::NONE, 0, 0},  // NXRRSET
        {"printer.lab.example.edu.", rrtype::ANY, rrclass::ANY, 0, 0},    // YXDOMAIN
        {"new.lab.example.edu.", rrtype::ANY, rrclass::NONE, 0, 0},       // NXDOMAIN
    };
    const std::vector<Want> update{
        {"printer.lab.example.edu.", rrtype::A, rrclass::IN, 300, 4},    // add
        {"printer.lab.example.edu.", rrtype::AAAA, rrclass::ANY, 0, 0},  // delete RRset
        {"old.lab.example.edu.", rrtype::ANY, rrclass::ANY, 0, 0},       // delete all
        {"printer.lab.example.edu.", rrtype::A, rrclass::NONE, 0, 4},    // delete one RR
    };
    auto check = [&](Section s, const std::vector<Want>& want) {
        auto got = records(*m, s);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < want.size(); ++i) {
            SCOPED_TRACE(i);
            EXPECT_TRUE(got[i].owner.equals(N(want[i].owner)));
            EXPECT_EQ(got[i].type, want[i].type);
            EXPECT_EQ(got[i].raw_class, want[i].cls);
            EXPECT_EQ(got[i].ttl, want[i].ttl);
            EXPECT_EQ(got[i].rdlength(), want[i].rdlength);
            if (want[i].rdlength != 0) {
                EXPECT_EQ(bytes(got[i].rdata()), a);
            }
        }
    };
    check(Section::answer, prereq);
    check(Section::authority, update);
    auto opt = m->opt();
    ASSERT_TRUE(opt.has_value());
    auto l = opt->opt()->lease();
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(l->lease, 3600u);
    EXPECT_FALSE(l->key_lease.has_value());
}

TEST_F(BuilderTest, UpdateZoneClassFollowsZone) {
    UpdateBuilder u(buf, 1);
    ASSERT_TRUE(u.zone(N("example."), rrclass::CH).ok());
    const std::array<uint8_t, 4> v4{192, 0, 2, 1};
    Bytes a = rdata::a(v4);
    ASSERT_TRUE(u.require_rrset_equals(N("x.example."), rrtype::A, a).ok());
    ASSERT_TRUE(u.add(N("x.example."), rrtype::A, 60, a).ok());
    auto m = Message::parse(u.wire());
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->questions().begin()->raw_class, rrclass::CH);
    EXPECT_EQ(records(*m, Section::answer).at(0).raw_class, rrclass::CH);
    EXPECT_EQ(records(*m, Section::authority).at(0).raw_class, rrclass::CH);
}

TEST_F(BuilderTest, UpdateCompressesPtrTargetsInDeletes) {
    // Withdrawing a DNS-SD instance: delete one PTR by value; its RDATA name
    // compresses against the instance's own records like any PTR.
    UpdateBuilder u(buf, 2);
    ASSERT_TRUE(u.zone(N("lab.example.edu.")).ok());
    Name inst = N("Lab Printer._ipp._tcp.lab.example.edu.");
    ASSERT_TRUE(u.delete_all(inst).ok());
    ASSERT_TRUE(u.delete_rr(N("_ipp._tcp.lab.example.edu."), rrtype::PTR, rdata::name(inst)).ok());
    auto m = Message::parse(u.wire());
    ASSERT_TRUE(m.ok());
    auto rrs = records(*m, Section::authority);
    ASSERT_EQ(rrs.size(), 2u);
    EXPECT_EQ(rrs[1].rdlength(), 2);
    EXPECT_TRUE(rrs[1].name_target()->equals(inst));
    EXPECT_EQ(rrs[1].raw_class, rrclass::NONE);
}

TEST_F(BuilderTest, UpdateNoSpaceIsAllOrNothing) {
    Bytes small(120);
    UpdateBuilder u(small, 3);
    ASSERT_TRUE(u.zone(N("lab.example.edu.")).ok());
    const std::array<uint8_t, 4> v4{192, 0, 2, 1};
    int n = 0;
    while (
        u.add(N("h" + std::to_string(n) + ".lab.example.edu."), rrtype::A, 60, rdata::a(v4)).ok())
        ++n;
    EXPECT_GT(n, 0);
    auto m = Message::parse(u.wire());
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->count(Section::authority), n);
    EXPECT_EQ(m->header().opcode(), opcode::UPDATE);
}

TEST_F(BuilderTest, CopyUpdateMetaRecords) {
    // Class ANY/NONE records have no RDATA even for types that normally hold
    // names; copying them must not look for one.
    Bytes first(1024);
    UpdateBuilder u(first, 9);
    ASSERT_TRUE(u.zone(N("lab.example.edu.")).ok());
    ASSERT_TRUE(u.require_rrset_exists(N("_ipp._tcp.lab.example.edu."), rrtype::PTR).ok());
    ASSERT_TRUE(u.require_rrset_absent(N("x.lab.example.edu."), rrtype::SRV).ok());
    ASSERT_TRUE(u.delete_rrset(N("lab.example.edu."), rrtype::NS).ok());
    ASSERT_TRUE(u.delete_rrset(N("x.lab.example.edu."), rrtype::NSEC).ok());
    ASSERT_TRUE(u.delete_rrset(N("lab.example.edu."), rrtype::SOA).ok());
    ASSERT_TRUE(u.delete_rrset(N("lab.example.edu."), rrtype::MX).ok());
    auto src = Message::parse(u.wire());
    ASSERT_TRUE(src.ok()) << reason_name(src.reason());
    Builder b(buf);
    b.set_flags(src->header().flags);
    ASSERT_TRUE(b.add_question(N("lab.example.edu."), rrtype::SOA, rrclass::IN).ok());
    for (int s = 1; s < 4; ++s) {
        for (const RrView& rr : src->records(static_cast<Section>(s))) {
            ASSERT_TRUE(b.add_rr(static_cast<Section>(s), rr).ok());
        }
    }
    EXPECT_EQ(bytes(b.wire()).size(), u.wire().size());
    auto m = Message::parse(b.wire());
    ASSERT_TRUE(m.ok());
    auto got = all_records(*m);
    auto want = all_records(*src);
    ASSERT_EQ(got.size(), 6u);
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_TRUE(got[i].owner.equals(want[i].owner));
        EXPECT_EQ(got[i].type, want[i].type);
        EXPECT_EQ(got[i].raw_class, want[i].raw_class);
        EXPECT_EQ(got[i].rdlength(), 0);
    }
}

// dnspython's UPDATE test message (tests/test_update.py, goodwire), rebuilt.
TEST_F(BuilderTest, UpdateMatchesDnspython) {
    const std::filesystem::path p =
        std::filesystem::path(UPDPROXY_CORPUS) / "dns/dnspython/update_goodwire.bin";
    if (!std::filesystem::exists(p)) GTEST_SKIP() << "missing " << p;
    Bytes theirs = read_file(p);
    auto want = Message::parse(theirs);
    ASSERT_TRUE(want.ok()) << reason_name(want.reason()) << " at " << want.error().offset;

    auto v4 = [](uint8_t last) {
        const std::array<uint8_t, 4> a{10, 0, 0, last};
        return rdata::a(a);
    };
    UpdateBuilder u(buf, 1);
    ASSERT_TRUE(u.zone(N("example.")).ok());
    ASSERT_TRUE(u.require_name_in_use(N("foo.example.")).ok());
    ASSERT_TRUE(u.require_rrset_exists(N("foo.example."), rrtype::A).ok());
    ASSERT_TRUE(u.require_rrset_equals(N("bar.example."), rrtype::A, v4(5)).ok());
    ASSERT_TRUE(u.require_name_absent(N("blaz2.example.")).ok());
    ASSERT_TRUE(u.require_rrset_absent(N("blaz2.example."), rrtype::A).ok());
    ASSERT_TRUE(u.delete_rrset(N("foo.example."), rrtype::A).ok());
    ASSERT_TRUE(u.add(N("foo.example."), rrtype::A, 300, v4(1)).ok());
    ASSERT_TRUE(u.add(N("foo.example."), rrtype::A, 300, v4(2)).ok());
    ASSERT_TRUE(u.add(N("bar.example."), rrtype::A, 300, v4(3)).ok());
    ASSERT_TRUE(u.delete_rr(N("bar.example."), rrtype::A, v4(4)).ok());
    ASSERT_TRUE(u.delete_rrset(N("blaz.example."), rrtype::A).ok());
    ASSERT_TRUE(u.delete_all(N("blaz2.example.")).ok());

    auto ours = Message::parse(u.wire());
    ASSERT_TRUE(ours.ok()) << reason_name(ours.reason()) << " at " << ours.error().offset;
    EXPECT_EQ(ours->header().id, want->header().id);
    EXPECT_EQ(ours->header().flags, want->header().flags);
    for (int s = 0; s < 4; ++s) {
        EXPECT_EQ(ours->count(static_cast<Section>(s)), want->count(static_cast<Section>(s)));
    }
    const Question qo = *ours->questions().begin();
    const Question qw = *want->questions().begin();
    EXPECT_TRUE(qo.name.equals(qw.name));
    EXPECT_EQ(qo.type, qw.type);
    EXPECT_EQ(qo.raw_class, qw.raw_class);
    auto ro = all_records(*ours);
    auto rw = all_records(*want);
    ASSERT_EQ(ro.size(), rw.size());
    for (size_t i = 0; i < ro.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(ro[i].section, rw[i].section);
        EXPECT_EQ(ro[i].owner.to_string(), rw[i].owner.to_string());
        EXPECT_EQ(ro[i].type, rw[i].type);
        EXPECT_EQ(ro[i].raw_class, rw[i].raw_class);
        EXPECT_EQ(ro[i].ttl, rw[i].ttl);
        EXPECT_EQ(bytes(ro[i].rdata()), bytes(rw[i].rdata()));
    }
    // Both compress each owner against the longest suffix already written,
    // so the bytes agree too.
    EXPECT_EQ(bytes(u.wire()), theirs);
}

}  // namespace
}  // namespace updproxy::codec
