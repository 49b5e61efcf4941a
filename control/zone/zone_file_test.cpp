// Zone file parsing: the RFC 1035 subset Knot and BIND load the same way.
#include "control/zone/zone_file.hpp"

#include <gtest/gtest.h>

#include "codec/types.hpp"
#include "control/zone/test_util.hpp"

namespace updproxy::control::zone {
namespace {

using namespace test;
namespace rt = codec::rrtype;

TEST(ZoneFile, ParsesTheLabZone) {
    ZoneFile z = parse_or_die(kLabZone);
    EXPECT_EQ(z.config.apex, N("lab.example.edu."));
    EXPECT_EQ(z.config.mname, N("ns1.lab.example.edu."));
    EXPECT_EQ(z.config.rname, N("hostmaster.lab.example.edu."));
    EXPECT_EQ(z.config.serial, 7u);
    EXPECT_EQ(z.config.soa_ttl, 3600u);
    EXPECT_EQ(z.config.minimum, 60u);
    ASSERT_EQ(z.config.ns.size(), 1u);
    EXPECT_EQ(z.config.ns[0], N("ns1.lab.example.edu."));
    EXPECT_EQ(z.records.size(), 12u);
    const PubRecord& ptr = z.records[1];
    EXPECT_EQ(ptr.type, rt::PTR);
    EXPECT_EQ(ptr.ttl, 120u);
    EXPECT_EQ(ptr.rdata, codec::rdata::name(N("Printer\\032One._ipp._tcp.lab.example.edu.")));
    const PubRecord& txt = z.records[4];
    EXPECT_EQ(txt.type, rt::TXT);
    std::vector<uint8_t> want = {9, 't', 'x', 't', 'v', 'e', 'r', 's', '=', '1',
                                 12, 'r', 'p', '=', 'i', 'p', 'p', '/', 'p', 'r', 'i', 'n', 't'};
    EXPECT_EQ(txt.rdata, want);
    EXPECT_EQ(z.records[6].rdata, std::vector<uint8_t>{0});  // TXT ""
}

TEST(ZoneFile, SyntaxFeatures) {
    const char* text = R"(
$TTL 1h
example.org. IN SOA ns.example.org. hm.example.org. (
        42      ; serial
        2h 30m 1w 5m )
  NS ns.example.org.            ; blank owner: the previous one
$ORIGIN sub.example.org.
x 300 IN A 192.0.2.1
x IN 60 AAAA 2001:db8::1
"q\"uote" TXT "a;b" c\032d "\065"
y TYPE65280 \# 4 0A000001
@ PTR x
)";
    ZoneFileError err;
    auto z = parse_zone_file(text, &err);
    ASSERT_TRUE(z) << err.to_string();
    EXPECT_EQ(z->config.serial, 42u);
    EXPECT_EQ(z->config.refresh, 7200u);
    EXPECT_EQ(z->config.retry, 1800u);
    EXPECT_EQ(z->config.expire, 604800u);
    EXPECT_EQ(z->config.minimum, 300u);
    EXPECT_EQ(z->config.soa_ttl, 3600u);
    ASSERT_EQ(z->records.size(), 5u);
    EXPECT_EQ(z->records[0].owner, N("x.sub.example.org."));
    EXPECT_EQ(z->records[0].ttl, 300u);
    EXPECT_EQ(z->records[1].ttl, 60u);
    EXPECT_EQ(z->records[2].type, rt::TXT);
    std::vector<uint8_t> txt = {3, 'a', ';', 'b', 3, 'c', ' ', 'd', 1, 'A'};
    EXPECT_EQ(z->records[2].rdata, txt);
    EXPECT_EQ(z->records[3].type, 65280);
    EXPECT_EQ(z->records[3].rdata, (std::vector<uint8_t>{10, 0, 0, 1}));
    EXPECT_EQ(z->records[4].owner, N("sub.example.org."));
}

TEST(ZoneFile, ErrorsNameTheLine) {
    struct Case {
        const char* text;
        size_t line;
        const char* what;
    };
    const Case cases[] = {
        {"$TTL 60\nexample.org. SOA ns hm 1 1 1 1 1\nx A 300.1.1.1\n", 3, "bad address"},
        {"$TTL 60\nexample.org. SOA ns hm 1 1 1 1 1\n$INCLUDE other\n", 3, "unsupported directive"},
        {"$TTL 60\nexample.org. SOA ns hm 1 1 1 1 1\nx CH A 1.2.3.4\n", 3, "class CH"},
        {"$TTL 60\nexample.org. SOA ns hm 1 1 1 1 1\nsub NS ns\n", 3, "delegations"},
        {"$TTL 60\nexample.org. SOA ns hm 1 1 1 1 1\nx.example.com. A 1.2.3.4\n", 3, "outside"},
        {"example.org. SOA ns hm 1 1 1 1 1\n", 1, "no TTL"},
        {"$TTL 60\nx A 1.2.3.4\n", 0, "no SOA"},
        {"$TTL 60\nexample.org. SOA ns hm ( 1 1 1 1 1\n", 2, "unbalanced"},
        {"$TTL 60\nexample.org. SOA ns hm 1 1 1 1 1\nx TXT \"open\n", 3, "unterminated"},
        {"$TTL 60\nexample.org. SOA ns hm 1 1 1 1 1\nx HINFO a b\n", 3, "generic form"},
    };
    for (const Case& c : cases) {
        ZoneFileError err;
        auto z = parse_zone_file(c.text, &err, N("example.org."));
        EXPECT_FALSE(z) << c.text;
        EXPECT_EQ(err.line, c.line) << c.text << " -> " << err.to_string();
        EXPECT_NE(err.message.find(c.what), std::string::npos) << err.to_string();
    }
}

TEST(ZoneFile, Ttls) {
    EXPECT_EQ(parse_ttl("3600"), 3600u);
    EXPECT_EQ(parse_ttl("1w2d3h4m5s"), 604800u + 2 * 86400u + 3 * 3600u + 4 * 60u + 5u);
    EXPECT_FALSE(parse_ttl("1h30"));
    EXPECT_FALSE(parse_ttl("h"));
    EXPECT_FALSE(parse_ttl("99999999999"));
}

}  // namespace
}  // namespace updproxy::control::zone
