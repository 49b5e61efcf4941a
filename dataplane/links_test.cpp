// Link tables across reloads: tombstones are never matched, a successor
// table keeps every slot's identity, and a PacketPath handed a new table
// (as a worker does at its next poll) forgets its remembered lookup.
#include <gtest/gtest.h>

#include <vector>

#include "dataplane/frame_build.hpp"
#include "dataplane/links.hpp"
#include "dataplane/packet_path.hpp"
#include "dataplane/table/test_util.hpp"
#include "dataplane/test_addr.hpp"

using namespace updproxy;
using namespace updproxy::dataplane;
using table::testing::a;
using table::testing::response;
using dataplane::testing::v4;

namespace {

const Mac kOurMac = {0x02, 0, 0, 0, 0, 1};
const Mac kHostMac = {0x02, 0, 0, 0, 0, 0x10};


LinkSpec link(const char* name, uint8_t third, bool active = true) {
    LinkSpec l;
    l.name = name;
    l.prefix = v4(192, 0, third, 0);
    l.prefix_len = 24;
    l.has_address = true;
    l.address = v4(192, 0, third, 1);
    l.active = active;
    return l;
}

FrameInfo from(const std::array<uint8_t, 16>& src) {
    FrameInfo f;
    f.ip_version = 4;
    f.src = src;
    return f;
}

std::vector<uint8_t> announcement(const std::array<uint8_t, 16>& src) {
    static const auto group = v4(224, 0, 0, 251);
    L2 l2;
    l2.src = kHostMac;
    l2.dst = multicast_mac(group.data(), false);
    const auto payload = response({{"printer1.local.", codec::rrtype::A, 120, a(10), true}});
    std::vector<uint8_t> f(2000);
    f.resize(build_udp(f, l2, false, src.data(), group.data(), 5353, 5353, 255, payload));
    return f;
}

}  // namespace

TEST(LinkTable, TombstonesAreNeverMatched) {
    // 192.0.2.0/24 removed (slot 0), 192.0.3.0/24 live, both on port 0.
    const LinkTable t({link("gone", 2, false), link("live", 3)});
    LinkMiss miss;
    EXPECT_EQ(t.lookup(0, from(v4(192, 0, 2, 10)), &miss), kNoLink);
    EXPECT_EQ(miss, LinkMiss::off_link);  // the segment has a live link: not on it
    EXPECT_EQ(t.lookup(0, from(v4(192, 0, 3, 10)), &miss), 1);
    // A link-local source joins the first LIVE link of its segment.
    EXPECT_EQ(t.lookup(0, from(v4(169, 254, 1, 1)), &miss), 1);
    const auto gone_addr = v4(192, 0, 2, 1), live_addr = v4(192, 0, 3, 1);
    EXPECT_EQ(t.owner_of(0, from(v4(192, 0, 2, 10)), gone_addr.data(), false), kNoLink);
    EXPECT_EQ(t.owner_of(0, from(v4(192, 0, 3, 10)), live_addr.data(), false), 1);
    // Only tombstones on the segment: no link at all.
    const LinkTable only({link("gone", 2, false)});
    EXPECT_EQ(only.lookup(0, from(v4(192, 0, 2, 10)), &miss), kNoLink);
    EXPECT_EQ(miss, LinkMiss::no_link);
}

TEST(LinkTable, SuccessorKeepsEverySlot) {
    const LinkTable now({link("a", 2), link("b", 3)});
    // b removed, c added: fine.
    EXPECT_EQ(check_next_links(now, {link("a", 2), link("b", 3, false), link("c", 4)}, 3, 1), "");
    // a's address changes in place: fine.
    LinkSpec moved = link("a", 2);
    moved.address = v4(192, 0, 2, 9);
    EXPECT_EQ(check_next_links(now, {moved, link("b", 3)}, 2, 1), "");
    // Over capacity.
    EXPECT_NE(check_next_links(now, {link("a", 2), link("b", 3), link("c", 4)}, 2, 1)
                  .find("3 link slots needed, 2 available"),
              std::string::npos);
    // A slot dropped instead of tombstoned.
    EXPECT_NE(check_next_links(now, {link("a", 2)}, 2, 1).find("cannot shrink"), std::string::npos);
    // A kept slot with another prefix.
    EXPECT_NE(check_next_links(now, {link("a", 2), link("b", 5)}, 2, 1).find("slot 1"),
              std::string::npos);
    // An unknown port.
    LinkSpec far = link("c", 4);
    far.port = 3;
    EXPECT_NE(check_next_links(now, {link("a", 2), link("b", 3), far}, 3, 1).find("no port 3"),
              std::string::npos);
    // A tombstone brought back.
    const LinkTable after({link("a", 2, false), link("b", 3)});
    EXPECT_NE(check_next_links(after, {link("a", 2), link("b", 3)}, 2, 1).find("tombstone"),
              std::string::npos);
}

TEST(LinkTable, PacketPathFollowsANewTable) {
    // Version 1: one link. Version 2: it is removed. Version 3: the same
    // subnet added back in a new slot.
    const LinkTable v1({link("lab", 2)});
    const LinkTable v2({link("lab", 2, false)});
    const LinkTable v3({link("lab", 2, false), link("lab", 2)});
    table::EventRing events{1 << 16};
    table::ShardConfig sc;
    sc.link_count = 4;
    table::Shard shard{sc, &events};
    WorkerCounters counters{4};
    PathConfig cfg;
    cfg.links = &v1;
    cfg.port_macs = {kOurMac};
    PacketPath path(cfg, &shard, nullptr, &counters);
    std::vector<uint8_t> reply(256);
    const auto frame = announcement(v4(192, 0, 2, 10));
    path.handle(frame, 0, {}, 1'000'000, reply);
    EXPECT_EQ(shard.link_size(0), 1u);
    // The same host again after the reload: the remembered lookup (slot 0)
    // must not be used.
    path.set_links(&v2);
    path.handle(frame, 0, {}, 1'000'000, reply);
    EXPECT_EQ(counters.path_drop[static_cast<size_t>(PathDrop::no_link)].get(), 1u);
    EXPECT_EQ(shard.counters().refreshes, 0u);
    path.set_links(&v3);
    path.handle(frame, 0, {}, 1'000'000, reply);
    EXPECT_EQ(shard.link_size(1), 1u);
    EXPECT_EQ(counters.link_packets[1].get(), 1u);
    EXPECT_EQ(counters.link_packets[0].get(), 1u);  // the first one only
    EXPECT_EQ(path.config().links, &v3);
}
