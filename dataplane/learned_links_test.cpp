// Links learned from traffic (updproxy replay without --config, perf/run
// dataplane): the rule in one place.
#include <gtest/gtest.h>

#include "dataplane/learned_links.hpp"

using namespace updproxy::dataplane;

namespace {

FrameInfo frame(std::array<uint8_t, 16> src, bool v6, uint8_t vlans = 0,
                std::array<uint16_t, 2> vlan = {0, 0}, uint16_t sport = 5353,
                uint16_t dport = 5353) {
    FrameInfo f;
    f.ip_version = v6 ? 6 : 4;
    f.src = src;
    f.vlan_count = vlans;
    f.vlan = vlan;
    f.src_port = sport;
    f.dst_port = dport;
    return f;
}

}  // namespace

TEST(LinkLearner, OneLinkPerSegmentAndSubnetLinkLocalJoins) {
    LinkLearner l;
    l.see(frame({192, 0, 2, 10}, false));
    l.see(frame({192, 0, 2, 200}, false));                     // same /24
    l.see(frame({198, 51, 100, 7}, false, 1, {10, 0}));        // VLAN 10
    l.see(frame({169, 254, 3, 4}, false));                     // joins 192.0.2.0/24
    l.see(frame({0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, true));  // alone
    l.see(frame({203, 0, 113, 1}, false, 0, {0, 0}, 40000, 53));  // not mDNS: ignored
    l.see(frame({169, 254, 9, 9}, false, 2, {100, 20}));       // alone on QinQ 100/20
    const auto links = l.links();
    ASSERT_EQ(links.size(), 4u);
    EXPECT_EQ(links[0].vlan_count, 0);
    EXPECT_FALSE(links[0].v6);
    EXPECT_EQ(links[0].prefix_len, 24);
    EXPECT_EQ(links[0].prefix[2], 2);
    EXPECT_EQ(links[0].prefix[3], 0);  // the host part is not kept
    EXPECT_EQ(links[1].vlan_count, 1);
    EXPECT_EQ(links[1].vlan[0], 10);
    EXPECT_EQ(links[1].prefix[0], 198);
    // Link-local segments without a subnet of their own, after the subnets.
    EXPECT_TRUE(links[2].v6);
    EXPECT_EQ(links[2].prefix_len, 10);
    EXPECT_EQ(links[2].prefix[0], 0xFE);
    EXPECT_EQ(links[3].vlan_count, 2);
    EXPECT_EQ(links[3].prefix_len, 16);
    EXPECT_EQ(links[3].prefix[0], 169);
    for (const auto& s : links) {
        EXPECT_TRUE(s.check_ttl);
        EXPECT_EQ(s.port, 0);
    }
    // A LinkTable made of them places the traffic they came from.
    LinkTable t;
    for (const auto& s : links) t.add(s);
    LinkMiss miss;
    EXPECT_EQ(t.lookup(0, frame({169, 254, 3, 4}, false), &miss), 0);
    EXPECT_EQ(t.lookup(0, frame({198, 51, 100, 99}, false, 1, {10, 0}), &miss), 1);
    EXPECT_EQ(t.lookup(0, frame({203, 0, 113, 1}, false), &miss), kNoLink);
    EXPECT_EQ(miss, LinkMiss::off_link);
}

TEST(LinkLearner, Ipv6SubnetsAreSlash64) {
    LinkLearner l;
    l.see(frame({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}, true));
    l.see(frame({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0xAA, 0, 0, 0, 0, 0, 0, 0x11}, true));
    l.see(frame({0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, true));  // joins it
    const auto links = l.links();
    ASSERT_EQ(links.size(), 1u);
    EXPECT_EQ(links[0].prefix_len, 64);
    EXPECT_EQ(links[0].prefix[8], 0);
}
