// Reader rules on hand-made messages: each structural error has its reason.
// (Round trips through the builder live in builder_test.cpp; real packets in
// corpus_test.cpp.)
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "codec/message.hpp"

using namespace updproxy::codec;

namespace {

// A tiny byte writer for hand-made messages.
struct Bytes {
    std::vector<uint8_t> b;
    Bytes& u8(uint8_t v) {
        b.push_back(v);
        return *this;
    }
    Bytes& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
    Bytes& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v)); }
    Bytes& raw(std::initializer_list<uint8_t> v) {
        b.insert(b.end(), v);
        return *this;
    }
    Bytes& name(std::initializer_list<const char*> labels) {
        for (const char* l : labels) {
            const std::string s(l);
            u8(static_cast<uint8_t>(s.size()));
            b.insert(b.end(), s.begin(), s.end());
        }
        return u8(0);
    }
    Bytes& header(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
        return u16(0x1234).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
    }
    // A record header after the owner name.
    Bytes& rr(uint16_t type, uint16_t cls, uint32_t ttl, uint16_t rdlen) {
        return u16(type).u16(cls).u32(ttl).u16(rdlen);
    }
};

Reason parse_reason(const Bytes& m) { return Message::parse(m.b).reason(); }

}  // namespace

TEST(Message, ShortHeaderAndCounts) {
    EXPECT_EQ(parse_reason(Bytes{{0, 1, 2}}), Reason::short_header);
    Bytes empty;
    empty.header(0, 0, 0, 0, 0);
    auto r = Message::parse(empty.b);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->header().id, 0x1234);
    // 1000 answers cannot fit in 0 bytes: rejected before any other work.
    Bytes lying;
    lying.header(0x8400, 0, 1000, 0, 0);
    EXPECT_EQ(parse_reason(lying), Reason::counts_exceed_size);
    EXPECT_EQ(Message::parse(lying.b).error().offset, 4u);
}

TEST(Message, TrailingBytesAreAnError) {
    Bytes m;
    m.header(0, 1, 0, 0, 0).name({"a", "local"}).u16(rrtype::A).u16(1).u8(0);
    EXPECT_EQ(parse_reason(m), Reason::trailing_bytes);
}

TEST(Message, QuestionAndRecordTruncation) {
    Bytes q;
    q.header(0, 1, 0, 0, 0).name({"abcdef"}).u16(1);
    EXPECT_EQ(parse_reason(q), Reason::question_past_end);
    Bytes r;
    r.header(0x8400, 0, 1, 0, 0).name({"abcdef"}).u16(1).u16(1).u16(0);
    EXPECT_EQ(parse_reason(r), Reason::rr_header_past_end);
    Bytes d;
    d.header(0x8400, 0, 1, 0, 0).name({"abc"}).rr(rrtype::A, 1, 120, 4).raw({1, 2});
    EXPECT_EQ(parse_reason(d), Reason::rdata_past_end);
}

TEST(Message, TypedLayoutsAreChecked) {
    auto one = [](uint16_t type, std::initializer_list<uint8_t> rdata) {
        Bytes m;
        m.header(0x8400, 0, 1, 0, 0).name({"x"}).rr(type, 1, 120,
                                                     static_cast<uint16_t>(rdata.size()));
        m.raw(rdata);
        return parse_reason(m);
    };
    EXPECT_EQ(one(rrtype::A, {1, 2, 3}), Reason::rdata_length);
    EXPECT_EQ(one(rrtype::AAAA, {1, 2, 3, 4}), Reason::rdata_length);
    EXPECT_EQ(one(rrtype::PTR, {1, 'a', 0, 7}), Reason::rdata_length);  // byte after the name
    EXPECT_EQ(one(rrtype::SRV, {0, 1, 0, 2}), Reason::rdata_length);
    EXPECT_EQ(one(rrtype::SOA, {0, 0, 1, 2, 3}), Reason::rdata_length);
    EXPECT_EQ(one(rrtype::TXT, {5, 'a'}), Reason::txt_string_overrun);
    EXPECT_EQ(one(rrtype::TXT, {}), Reason::ok);  // seen in the wild; empty
    EXPECT_EQ(one(rrtype::HINFO, {1, 'a'}), Reason::rdata_length);
    EXPECT_EQ(one(rrtype::NSEC, {0, 0, 33}), Reason::nsec_bitmap);     // past the RDATA
    EXPECT_EQ(one(rrtype::NSEC, {0, 0, 1}), Reason::nsec_bitmap);      // header cut short
    EXPECT_EQ(one(rrtype::NSEC, {0, 0, 1, 0x40}), Reason::ok);
    EXPECT_EQ(one(rrtype::TIMEOUT_DEFAULT, {0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
              Reason::timeout_rdata);  // count 1 but no hash
    EXPECT_EQ(one(rrtype::TIMEOUT_DEFAULT, {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), Reason::ok);
    EXPECT_EQ(one(999, {1, 2, 3}), Reason::ok);  // unknown type: opaque (RFC 3597)
}

TEST(Message, OptMustBeOneRootRecordInAdditional) {
    Bytes in_answer;
    in_answer.header(0x8400, 0, 1, 0, 0).u8(0).rr(rrtype::OPT, 1440, 0, 0);
    EXPECT_EQ(parse_reason(in_answer), Reason::opt_misplaced);
    Bytes twice;
    twice.header(0, 0, 0, 0, 2).u8(0).rr(rrtype::OPT, 1440, 0, 0).u8(0).rr(rrtype::OPT, 1440, 0,
                                                                              0);
    EXPECT_EQ(parse_reason(twice), Reason::opt_misplaced);
    Bytes owner;
    owner.header(0, 0, 0, 0, 1).name({"x"}).rr(rrtype::OPT, 1440, 0, 0);
    EXPECT_EQ(parse_reason(owner), Reason::opt_misplaced);
    Bytes overrun;
    overrun.header(0, 0, 0, 0, 1).u8(0).rr(rrtype::OPT, 1440, 0, 6).raw({0, 2, 0, 4, 0, 0});
    EXPECT_EQ(parse_reason(overrun), Reason::opt_option_overrun);

    // A good one with Update Lease (8-byte form) and an Owner option.
    Bytes good;
    good.header(0, 0, 0, 0, 1).u8(0).rr(rrtype::OPT, 1440, 0x00001194, 12 + 6);
    good.raw({0, 2, 0, 8}).u32(7200).u32(86400).raw({0, 4, 0, 2, 0xAB, 0xCD});
    auto r = Message::parse(good.b);
    ASSERT_TRUE(r.ok()) << reason_name(r.reason());
    auto opt = r->opt();
    ASSERT_TRUE(opt.has_value());
    auto v = opt->opt();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->udp_size(), 1440);
    EXPECT_EQ(v->version(), 0);
    EXPECT_EQ(v->raw_ttl(), 0x1194u);
    auto lease = v->lease();
    ASSERT_TRUE(lease.has_value());
    EXPECT_EQ(lease->lease, 7200u);
    EXPECT_EQ(lease->key_lease.value_or(0), 86400u);
    EXPECT_TRUE(v->find(edns::OWNER).has_value());
    EXPECT_FALSE(opt->cache_flush());  // the class is a size, not a flag
}

TEST(Message, TsigMustBeLast) {
    auto tsig_rdata = [](Bytes& m) {
        m.name({"hmac-sha256"}).u16(0).u32(1700000000).u16(300).u16(2).raw({1, 2}).u16(0x1234)
            .u16(0).u16(0);
    };
    Bytes last;
    last.header(0x2800, 0, 0, 0, 2).u8(0).rr(rrtype::OPT, 1232, 0, 0);
    last.name({"key"}).rr(rrtype::TSIG, rrclass::ANY, 0, 13 + 18);
    tsig_rdata(last);
    auto r = Message::parse(last.b);
    ASSERT_TRUE(r.ok()) << reason_name(r.reason());
    ASSERT_TRUE(r->tsig().has_value());
    auto t = r->tsig()->tsig();
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->algorithm.to_string(), "hmac-sha256.");
    EXPECT_EQ(t->time_signed, 1700000000u);
    EXPECT_EQ(t->fudge, 300);
    EXPECT_EQ(t->mac.size(), 2u);
    EXPECT_EQ(t->original_id, 0x1234);
    EXPECT_EQ(r->tsig_offset(), 12u + 11u);

    Bytes not_last;
    not_last.header(0x2800, 0, 0, 0, 2).name({"key"}).rr(rrtype::TSIG, rrclass::ANY, 0, 13 + 18);
    tsig_rdata(not_last);
    not_last.u8(0).rr(rrtype::OPT, 1232, 0, 0);
    EXPECT_EQ(parse_reason(not_last), Reason::tsig_misplaced);

    Bytes in_answer;
    in_answer.header(0x2800, 0, 1, 0, 0).name({"key"}).rr(rrtype::TSIG, rrclass::ANY, 0, 13 + 18);
    tsig_rdata(in_answer);
    EXPECT_EQ(parse_reason(in_answer), Reason::tsig_misplaced);

    Bytes bad_layout;
    bad_layout.header(0x2800, 0, 0, 0, 1).name({"key"}).rr(rrtype::TSIG, rrclass::ANY, 0, 13 + 8);
    bad_layout.name({"hmac-sha256"}).u16(0).u32(1700000000).u16(300).u16(200);
    EXPECT_EQ(parse_reason(bad_layout), Reason::tsig_rdata);
}

TEST(Message, AccessorsAndCompressedRdataExpand) {
    Bytes m;
    m.header(0x8400, 1, 3, 0, 0);
    // question: _ipp._tcp.local PTR, QU
    m.name({"_ipp", "_tcp", "local"}).u16(rrtype::PTR).u16(0x8001);
    // PTR -> "Lab Printer" + pointer to _ipp._tcp.local (offset 12)
    m.raw({0xC0, 12}).rr(rrtype::PTR, 1, 4500, 14).u8(11);
    for (char c : std::string("Lab Printer")) m.u8(static_cast<uint8_t>(c));
    m.raw({0xC0, 12});
    const uint8_t instance = 12 + 17 + 4 + 12;  // where "Lab Printer" label starts
    // SRV (cache-flush) owner = instance, target printer1.local (printer1 + ptr to local)
    m.raw({0xC0, instance}).rr(rrtype::SRV, 0x8001, 120, 6 + 11).u16(0).u16(0).u16(631);
    m.name({"printer1"});
    m.b.pop_back();
    m.raw({0xC0, 12 + 10});
    // TXT
    m.raw({0xC0, instance}).rr(rrtype::TXT, 0x8001, 4500, 15).raw({9}).raw(
        {'t', 'x', 't', 'v', 'e', 'r', 's', '=', '1'}).raw({4, 'n', 'o', 'v', 'a'});
    auto r = Message::parse(m.b);
    ASSERT_TRUE(r.ok()) << reason_name(r.reason()) << " at " << r.error().offset;

    auto q = *r->questions().begin();
    EXPECT_TRUE(q.qu());
    EXPECT_EQ(q.rrclass(), rrclass::IN);
    EXPECT_EQ(q.name.to_string(), "_ipp._tcp.local.");

    std::vector<RrView> rrs(r->answers().begin(), r->answers().end());
    ASSERT_EQ(rrs.size(), 3u);
    EXPECT_FALSE(rrs[0].cache_flush());
    EXPECT_EQ(rrs[0].name_target()->to_string(), "Lab\\032Printer._ipp._tcp.local.");
    EXPECT_TRUE(rrs[1].cache_flush());
    EXPECT_EQ(rrs[1].rrclass(), rrclass::IN);
    auto srv = rrs[1].srv();
    ASSERT_TRUE(srv.ok());
    EXPECT_EQ(srv->port, 631);
    EXPECT_EQ(srv->target.to_string(), "printer1.local.");
    EXPECT_EQ(rrs[1].owner.to_string(), "Lab\\032Printer._ipp._tcp.local.");

    std::vector<std::string> keys;
    for (const auto& e : *rrs[2].txt()) keys.emplace_back(e.key.begin(), e.key.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"txtvers", "nova"}));
    auto first = *rrs[2].txt()->begin();
    EXPECT_TRUE(first.has_value);
    EXPECT_EQ(std::string(first.value.begin(), first.value.end()), "1");

    // Expanded RDATA: the SRV target written out in full, lowercased when canonical.
    std::vector<uint8_t> out(600);
    auto n = rrs[1].rdata_uncompressed(out);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 6u + 16u);
    EXPECT_EQ(out[6], 8);
    EXPECT_EQ(out[7], 'p');
    // Too small a buffer says so.
    std::vector<uint8_t> tiny(5);
    EXPECT_EQ(rrs[1].rdata_uncompressed(tiny).reason(), Reason::no_space);
    // Wrong-type accessors refuse.
    EXPECT_FALSE(rrs[0].srv().ok());
    EXPECT_FALSE(rrs[1].a().ok());
}

TEST(Message, UpdateFormsAreChecked) {
    auto update = [](uint16_t zone_type, uint16_t zone_class) {
        Bytes m;
        m.header(0x2800, 1, 0, 0, 0).name({"example"}).u16(zone_type).u16(zone_class);
        return m;
    };
    auto good = update(rrtype::SOA, 1);
    EXPECT_TRUE(check_update(*Message::parse(good.b)).ok());
    auto bad_type = update(rrtype::A, 1);
    EXPECT_EQ(check_update(*Message::parse(bad_type.b)).reason(), Reason::update_zone);
    auto bad_class = update(rrtype::SOA, rrclass::ANY);
    EXPECT_EQ(check_update(*Message::parse(bad_class.b)).reason(), Reason::update_zone);

    // Prerequisite "name in use" with a TTL: not a §2.4 form.
    Bytes p = update(rrtype::SOA, 1);
    p.b[7] = 1;  // ANCOUNT = 1
    p.name({"a", "example"}).rr(rrtype::ANY, rrclass::ANY, 5, 0);
    EXPECT_EQ(check_update(*Message::parse(p.b)).reason(), Reason::update_prerequisite);
    // Delete-RRset with RDATA: not a §2.5 form (class ANY must be empty).
    Bytes u = update(rrtype::SOA, 1);
    u.b[9] = 1;  // NSCOUNT = 1
    u.name({"a", "example"}).rr(rrtype::A, rrclass::ANY, 0, 4).raw({1, 2, 3, 4});
    EXPECT_EQ(check_update(*Message::parse(u.b)).reason(), Reason::update_record);
    // Delete-RRset without RDATA parses although type A normally has 4 bytes.
    Bytes d = update(rrtype::SOA, 1);
    d.b[9] = 1;
    d.name({"a", "example"}).rr(rrtype::A, rrclass::ANY, 0, 0);
    auto dr = Message::parse(d.b);
    ASSERT_TRUE(dr.ok());
    EXPECT_TRUE(check_update(*dr).ok());
}

TEST(Message, EmptyRdataOfNameTypesIsNeverReadPastTheRecord) {
    // An UPDATE deleting an SOA and a PTR RRset (class ANY, no RDATA), last in
    // the message: accessors must not read beyond the record.
    for (uint16_t type : {rrtype::SOA, rrtype::PTR, rrtype::SRV, rrtype::NSEC, rrtype::HINFO,
                          rrtype::NS, rrtype::CNAME}) {
        Bytes m;
        m.header(0x2800, 1, 0, 1, 0).name({"example"}).u16(rrtype::SOA).u16(1);
        m.name({"a", "example"}).rr(type, rrclass::ANY, 0, 0);
        auto r = Message::parse(m.b);
        ASSERT_TRUE(r.ok());
        const RrView rr = *r->authority().begin();
        EXPECT_FALSE(rr.soa().ok());
        EXPECT_FALSE(rr.name_target().ok());
        EXPECT_FALSE(rr.srv().ok());
        EXPECT_FALSE(rr.nsec().ok());
        EXPECT_FALSE(rr.hinfo().ok());
        std::vector<uint8_t> out(600);
        auto n = rr.rdata_uncompressed(out);
        ASSERT_TRUE(n.ok());
        EXPECT_EQ(*n, 0u);
    }
}

TEST(Message, NsecBitmapMalformedWithinItsBoundsCostsOnlyTheNsec) {
    // python-zeroconf 0.47 writes an empty window block before the real one.
    auto nsec_then_a = [](std::initializer_list<uint8_t> bitmap) {
        Bytes m;
        m.header(0x8400, 0, 2, 0, 0).name({"host", "local"});
        m.rr(rrtype::NSEC, 0x8001, 120, static_cast<uint16_t>(2 + bitmap.size())).raw({0xC0, 12});
        m.raw(bitmap);
        m.raw({0xC0, 12}).rr(rrtype::A, 0x8001, 120, 4).raw({192, 0, 2, 10});
        return m;
    };
    for (auto bitmap : {std::initializer_list<uint8_t>{0, 0, 0, 4, 0, 0, 0, 8},  // empty window
                        std::initializer_list<uint8_t>{0, 1, 0x40, 0, 1, 0x40}}) {   // order
        const Bytes m = nsec_then_a(bitmap);
        auto r = Message::parse(m.b);
        ASSERT_TRUE(r.ok()) << reason_name(r.reason());
        EXPECT_EQ(r->damaged_count(), 1);
        int damaged = 0, good_a = 0;
        for (const auto& rr : r->answers()) {
            damaged += rr.damaged();
            good_a += rr.type == rrtype::A && !rr.damaged();
        }
        EXPECT_EQ(damaged, 1);
        EXPECT_EQ(good_a, 1);
        ParseOptions strict;
        strict.tolerate_nsec_next_name = false;
        EXPECT_EQ(Message::parse(m.b, strict).reason(), Reason::nsec_bitmap);
    }
}
