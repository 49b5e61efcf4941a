// The worker's per-frame path without DPDK: frames built with frame_build
// (and real mDNS payloads from the corpus) go through PacketPath into a shard.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "dataplane/frame_build.hpp"
#include "dataplane/packet_path.hpp"
#include "dataplane/table/test_util.hpp"
#include "dataplane/test_addr.hpp"

using namespace updproxy;
using namespace updproxy::dataplane;
using table::testing::a;
using table::testing::response;
using dataplane::testing::v4;
using dataplane::testing::v6;

namespace {

const Mac kOurMac = {0x02, 0, 0, 0, 0, 1};
const Mac kHostMac = {0x02, 0, 0, 0, 0, 0x10};


struct Fixture {
    LinkTable links;
    table::EventRing events{1 << 16};
    table::EventRing queries{1 << 16};
    table::Shard shard{table::ShardConfig{}, &events};
    WorkerCounters counters{8};
    std::unique_ptr<PacketPath> path;

    Fixture() {
        LinkSpec lab4;  // untagged IPv4 192.0.2.0/24, our address .1
        lab4.name = "lab4";
        lab4.prefix = v4(192, 0, 2, 0);
        lab4.prefix_len = 24;
        lab4.has_address = true;
        lab4.address = v4(192, 0, 2, 1);
        links.add(lab4);
        LinkSpec lab6;  // untagged IPv6 2001:db8:1::/64
        lab6.name = "lab6";
        lab6.v6 = true;
        lab6.prefix = v6({0x20, 0x01, 0x0d, 0xb8, 0, 1});
        lab6.prefix_len = 64;
        lab6.has_address = true;
        lab6.address = v6({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
        links.add(lab6);
        LinkSpec vlan10;  // VLAN 10, 198.51.100.0/24, TTL check off
        vlan10.name = "vlan10";
        vlan10.vlan_count = 1;
        vlan10.vlan = {10, 0};
        vlan10.prefix = v4(198, 51, 100, 0);
        vlan10.prefix_len = 24;
        vlan10.check_ttl = false;
        links.add(vlan10);
        LinkSpec qinq;  // QinQ 100/20, 203.0.113.0/24
        qinq.name = "qinq";
        qinq.vlan_count = 2;
        qinq.vlan = {100, 20};
        qinq.prefix = v4(203, 0, 113, 0);
        qinq.prefix_len = 24;
        links.add(qinq);
        PathConfig cfg;
        cfg.links = &links;
        cfg.port_macs = {kOurMac};
        path = std::make_unique<PacketPath>(cfg, &shard, &queries, &counters);
    }

    std::vector<uint8_t> mdns(const std::array<uint8_t, 16>& src, bool is_v6, uint8_t ttl,
                              uint8_t vlans = 0, std::array<uint16_t, 2> vlan = {0, 0},
                              const std::array<uint8_t, 16>* dst = nullptr) {
        static const auto group4 = v4(224, 0, 0, 251);
        static const auto group6 = v6({0xFF, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFB});
        const auto& d = dst ? *dst : (is_v6 ? group6 : group4);
        L2 l2;
        l2.src = kHostMac;
        l2.dst = multicast_mac(d.data(), is_v6);
        l2.vlan_count = vlans;
        l2.vlan = vlan;
        const auto payload = response({{"printer1.local.", codec::rrtype::A, 120, a(10), true}});
        std::vector<uint8_t> f(2000);
        f.resize(build_udp(f, l2, is_v6, src.data(), d.data(), 5353, 5353, ttl, payload));
        return f;
    }

    size_t handle(const std::vector<uint8_t>& f, StrippedVlans sv = {}) {
        std::vector<uint8_t> reply(256);
        const size_t n = path->handle(f, 0, sv, 1'000'000, reply);
        last_reply.assign(reply.begin(), reply.begin() + static_cast<long>(n));
        return n;
    }
    uint64_t path_drop(PathDrop d) const { return counters.path_drop[static_cast<size_t>(d)].get(); }
    std::vector<uint8_t> last_reply;
};

}  // namespace

TEST(PacketPath, OnLinkAnnouncementReachesTheTable) {
    Fixture f;
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 255));
    EXPECT_EQ(f.shard.size(), 1u);
    EXPECT_EQ(f.shard.link_size(0), 1u);
    EXPECT_EQ(f.counters.mdns_messages.get(), 1u);
    EXPECT_EQ(f.counters.link_packets[0].get(), 1u);
    f.shard.for_each([&](const table::Shard::RecordInfo& r) {
        EXPECT_EQ(r.host->mac, kHostMac);  // the announcing host's MAC is kept
        EXPECT_TRUE(r.host->v4());
    });
}

TEST(PacketPath, Rfc6762Section11Checks) {
    Fixture f;
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 1));  // TTL 1
    EXPECT_EQ(f.path_drop(PathDrop::ttl_not_255), 1u);
    f.handle(f.mdns(v4(203, 0, 113, 9), false, 255));  // off-link source
    EXPECT_EQ(f.path_drop(PathDrop::off_link_source), 1u);
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 255, 1, {99, 0}));  // no link on VLAN 99
    EXPECT_EQ(f.path_drop(PathDrop::no_link), 1u);
    EXPECT_EQ(f.shard.size(), 0u);
    // TTL check off on vlan10.
    f.handle(f.mdns(v4(198, 51, 100, 7), false, 64, 1, {10, 0}));
    EXPECT_EQ(f.shard.link_size(2), 1u);
}

// The worker's burst path: responses wait in the batch (views into the
// frames) and reach the table together at flush, as handle() would have put
// them there one by one.
TEST(PacketPath, ReceiveBatchesResponsesUntilFlush) {
    Fixture f;
    const std::vector<std::vector<uint8_t>> frames = {
        f.mdns(v4(192, 0, 2, 10), false, 255),
        f.mdns(v6({0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}), true, 255),
        f.mdns(v4(192, 0, 2, 10), false, 1),  // TTL 1: dropped, not batched
        f.mdns(v4(198, 51, 100, 7), false, 64, 1, {10, 0}),
        f.mdns(v4(192, 0, 2, 11), false, 255),  // same record as the first: a refresh
    };
    ResponseBatch batch;
    std::vector<uint8_t> reply(256);
    for (const auto& fr : frames) {
        EXPECT_EQ(f.path->receive(fr, 0, {}, 1'000'000, reply, batch), 0u);
    }
    EXPECT_EQ(batch.n, 4u);
    EXPECT_EQ(f.shard.size(), 0u);  // nothing ingested before the flush
    f.path->flush(batch, 1'000'000);
    EXPECT_EQ(batch.n, 0u);
    EXPECT_EQ(f.shard.size(), 3u);
    EXPECT_EQ(f.shard.link_size(0), 1u);
    EXPECT_EQ(f.shard.link_size(1), 1u);
    EXPECT_EQ(f.shard.link_size(2), 1u);
    EXPECT_EQ(f.shard.counters().adds, 3u);
    EXPECT_EQ(f.shard.counters().refreshes, 1u);
    EXPECT_EQ(f.path_drop(PathDrop::ttl_not_255), 1u);
    f.shard.for_each([&](const table::Shard::RecordInfo& r) {
        if (r.link == 0) {
            EXPECT_EQ(r.host->ip[15], 11);  // the later announcer
        }
    });
}

// A full batch is flushed before the next response joins it.
TEST(PacketPath, FullBatchFlushesItself) {
    Fixture f;
    ResponseBatch batch;
    std::vector<uint8_t> reply(256);
    std::vector<std::vector<uint8_t>> frames;
    for (size_t i = 0; i <= ResponseBatch::kMax; ++i) {
        frames.push_back(f.mdns(v4(192, 0, 2, static_cast<uint8_t>(10 + i)), false, 255));
    }
    for (const auto& fr : frames) f.path->receive(fr, 0, {}, 1'000'000, reply, batch);
    EXPECT_EQ(batch.n, 1u);
    EXPECT_EQ(f.shard.counters().messages, ResponseBatch::kMax);
    f.path->flush(batch, 1'000'000);
    EXPECT_EQ(f.shard.counters().messages, ResponseBatch::kMax + 1);
}

// The remembered link lookup is keyed by port, VLANs, family and source.
TEST(PacketPath, RememberedLinkLookupSeesEveryKeyField) {
    Fixture f;
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 255));
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 255, 1, {99, 0}));  // same source, VLAN 99
    EXPECT_EQ(f.path_drop(PathDrop::no_link), 1u);
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 255));
    EXPECT_EQ(f.path_drop(PathDrop::no_link), 1u);
    EXPECT_EQ(f.shard.counters().refreshes, 1u);
    f.handle(f.mdns(v4(203, 0, 113, 9), false, 255));  // another source: off-link
    EXPECT_EQ(f.path_drop(PathDrop::off_link_source), 1u);
    const std::vector<uint8_t> other_port = f.mdns(v4(192, 0, 2, 10), false, 255);
    std::vector<uint8_t> reply(256);
    f.path->handle(other_port, 1, {}, 1'000'000, reply);  // no link on port 1
    EXPECT_EQ(f.path_drop(PathDrop::no_link), 2u);
}

TEST(PacketPath, Ipv6LinkLocalSourceJoinsTheIpv6Link) {
    Fixture f;
    f.handle(f.mdns(v6({0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}), true, 255));
    EXPECT_EQ(f.shard.link_size(1), 1u);
    f.handle(f.mdns(v6({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}), true, 255));
    EXPECT_EQ(f.shard.link_size(1), 1u);  // same record, refreshed
    EXPECT_EQ(f.shard.counters().refreshes, 1u);
}

TEST(PacketPath, VlanTagsInTheFrameOrStrippedByTheNic) {
    Fixture f;
    f.handle(f.mdns(v4(203, 0, 113, 5), false, 255, 2, {100, 20}));
    EXPECT_EQ(f.shard.link_size(3), 1u);
    // The NIC stripped the outer tag (QinQ) into metadata.
    Fixture g;
    StrippedVlans sv;
    sv.count = 1;
    sv.vlan = {100, 0};
    g.handle(g.mdns(v4(203, 0, 113, 5), false, 255, 1, {20, 0}), sv);
    EXPECT_EQ(g.shard.link_size(3), 1u);
}

TEST(PacketPath, UnicastMdnsOnlyWhenAddressedToUs) {
    Fixture f;
    const auto us = v4(192, 0, 2, 1), other = v4(192, 0, 2, 77);
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 255, 0, {0, 0}, &other));
    EXPECT_EQ(f.path_drop(PathDrop::not_for_us), 1u);
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 255, 0, {0, 0}, &us));
    EXPECT_EQ(f.shard.size(), 1u);
}

TEST(PacketPath, ArpRequestForOurAddressIsAnswered) {
    Fixture f;
    std::vector<uint8_t> req(60, 0);
    std::fill(req.begin(), req.begin() + 6, 0xFF);
    std::copy(kHostMac.begin(), kHostMac.end(), req.begin() + 6);
    req[12] = 0x08;
    req[13] = 0x06;
    const uint8_t arp[] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0x10, 192, 0, 2, 10,
                           0, 0, 0, 0, 0, 0, 192, 0, 2, 1};
    std::copy(std::begin(arp), std::end(arp), req.begin() + 14);
    ASSERT_GT(f.handle(req), 0u);
    const auto& r = f.last_reply;
    EXPECT_TRUE(std::equal(kHostMac.begin(), kHostMac.end(), r.begin()));       // to the asker
    EXPECT_TRUE(std::equal(kOurMac.begin(), kOurMac.end(), r.begin() + 6));     // from us
    EXPECT_EQ(r[21], 2);                                                        // reply
    EXPECT_TRUE(std::equal(kOurMac.begin(), kOurMac.end(), r.begin() + 22));    // sender MAC
    EXPECT_EQ(r[28], 192);
    EXPECT_EQ(r[31], 1);  // sender IP .1
    EXPECT_EQ(f.counters.arp_replies.get(), 1u);
    // For somebody else: no reply, counted.
    req[14 + 27] = 2;
    EXPECT_EQ(f.handle(req), 0u);
    EXPECT_EQ(f.path_drop(PathDrop::not_arp_for_us), 1u);
}

TEST(PacketPath, NeighborSolicitationForOurAddressIsAnswered) {
    Fixture f;
    const auto ours = v6({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    const auto host = v6({0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10});
    // NS: ICMPv6 135 with the target, to the solicited-node group.
    const auto snm = v6({0xFF, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0, 0, 1});
    std::vector<uint8_t> ns(14 + 40 + 24, 0);
    const Mac dmac = multicast_mac(snm.data(), true);
    std::copy(dmac.begin(), dmac.end(), ns.begin());
    std::copy(kHostMac.begin(), kHostMac.end(), ns.begin() + 6);
    ns[12] = 0x86;
    ns[13] = 0xDD;
    uint8_t* ip = ns.data() + 14;
    ip[0] = 0x60;
    ip[5] = 24;
    ip[6] = 58;
    ip[7] = 255;
    std::copy(host.begin(), host.end(), ip + 8);
    std::copy(snm.begin(), snm.end(), ip + 24);
    uint8_t* icmp = ip + 40;
    icmp[0] = 135;
    std::copy(ours.begin(), ours.end(), icmp + 8);
    ASSERT_GT(f.handle(ns), 0u);
    const auto& r = f.last_reply;
    FrameInfo fi;
    EXPECT_EQ(parse_ethernet(r, fi), DropReason::not_udp);
    EXPECT_EQ(fi.ttl, 255);
    EXPECT_TRUE(std::equal(ours.begin(), ours.end(), fi.src.begin()));
    EXPECT_TRUE(std::equal(host.begin(), host.end(), fi.dst.begin()));
    const uint8_t* na = r.data() + 14 + 40;
    EXPECT_EQ(na[0], 136);
    EXPECT_EQ(na[4] & 0x40, 0x40);  // solicited
    // The checksum verifies: recomputing over the packet gives zero.
    std::vector<uint8_t> l4(na, na + 32);
    EXPECT_EQ(l4_checksum(true, fi.src.data(), fi.dst.data(), 58, l4), 0);
    EXPECT_EQ(f.counters.nd_replies.get(), 1u);
}

TEST(PacketPath, DnsQueriesToUsGoToTheControlPlane) {
    Fixture f;
    const auto us = v4(192, 0, 2, 1), other = v4(192, 0, 2, 53);
    std::vector<uint8_t> q(300);
    const std::vector<uint8_t> payload = {0x12, 0x34, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    L2 l2;
    l2.src = kHostMac;
    l2.dst = kOurMac;
    const auto client = v4(203, 0, 113, 99);  // anywhere: no on-link rule for port 53
    q.resize(build_udp(q, l2, false, client.data(), us.data(), 40000, 53, 61, payload));
    f.handle(q);
    EXPECT_EQ(f.counters.dns_queries.get(), 1u);
    f.queries.flush();
    size_t n = 0;
    f.queries.consume([&](std::span<const uint8_t> m) {
        ASSERT_EQ(m.size(), sizeof(QueryHeader) + payload.size());
        QueryHeader h;
        std::memcpy(&h, m.data(), sizeof h);
        EXPECT_EQ(int{h.src_port}, 40000);  // (a copy: the packed field may be misaligned)
        EXPECT_EQ(int{h.link}, 0);
        EXPECT_EQ(m[sizeof h], 0x12);
        ++n;
    });
    EXPECT_EQ(n, 1u);
    std::vector<uint8_t> q2(300);
    q2.resize(build_udp(q2, l2, false, client.data(), other.data(), 40000, 53, 61, payload));
    f.handle(q2);
    EXPECT_EQ(f.path_drop(PathDrop::dns_not_service), 1u);
}

TEST(PacketPath, ParseErrorsAndBadFramesAreCountedByReason) {
    Fixture f;
    L2 l2;
    l2.src = kHostMac;
    l2.dst = multicast_mac(v4(224, 0, 0, 251).data(), false);
    const auto src = v4(192, 0, 2, 10), grp = v4(224, 0, 0, 251);
    const std::vector<uint8_t> junk = {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0};  // 1 answer, no bytes
    std::vector<uint8_t> fr(300);
    fr.resize(build_udp(fr, l2, false, src.data(), grp.data(), 5353, 5353, 255, junk));
    f.handle(fr);
    EXPECT_EQ(f.counters.parse_error[static_cast<size_t>(codec::Reason::counts_exceed_size)].get(), 1u);
    f.handle(std::vector<uint8_t>(10, 0));
    EXPECT_EQ(f.counters.frame_drop[static_cast<size_t>(DropReason::too_short)].get(), 1u);
    EXPECT_EQ(f.counters.rx_packets.get(), 2u);
}

TEST(FrameBuild, UdpFramesParseBackWithValidChecksums) {
    for (bool is_v6 : {false, true}) {
        L2 l2;
        l2.src = kOurMac;
        l2.vlan_count = 2;
        l2.vlan = {100, 20};
        const auto s = is_v6 ? v6({0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) : v4(192, 0, 2, 1);
        const auto d = is_v6 ? v6({0xFF, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFB}) : v4(224, 0, 0, 251);
        l2.dst = multicast_mac(d.data(), is_v6);
        const std::vector<uint8_t> payload = {1, 2, 3, 4, 5};
        std::vector<uint8_t> f(200);
        f.resize(build_udp(f, l2, is_v6, s.data(), d.data(), 5353, 5353, 255, payload));
        FrameInfo fi;
        ASSERT_EQ(parse_ethernet(f, fi), DropReason::ok);
        EXPECT_EQ(fi.vlan_count, 2);
        EXPECT_EQ(fi.vlan[0], 100);
        EXPECT_EQ(fi.vlan[1], 20);
        EXPECT_EQ(fi.ttl, 255);
        EXPECT_EQ(fi.src_port, 5353);
        EXPECT_EQ(std::vector<uint8_t>(fi.payload.begin(), fi.payload.end()), payload);
        const std::span<const uint8_t> udp(f.data() + fi.l4_offset, 8 + payload.size());
        // Summing a segment that carries a correct checksum gives 0, which
        // l4_checksum reports as 0xFFFF for UDP (0 means "no checksum").
        EXPECT_EQ(l4_checksum(is_v6, fi.src.data(), fi.dst.data(), 17, udp), 0xFFFF);
        if (!is_v6) {
            EXPECT_EQ(ipv4_header_checksum(f.data() + fi.l3_offset, 20), 0);
        }
    }
    EXPECT_EQ(multicast_mac(v4(224, 0, 0, 251).data(), false), (Mac{1, 0, 0x5E, 0, 0, 0xFB}));
}

TEST(PacketPath, UnicastAnswersToUsMayCarryAnyTtl) {
    // python-zeroconf answers a QU or refresh query by unicast with TTL 64.
    Fixture f;
    const auto us = v4(192, 0, 2, 1);
    f.handle(f.mdns(v4(192, 0, 2, 10), false, 64, 0, {0, 0}, &us));
    EXPECT_EQ(f.shard.size(), 1u);
    EXPECT_EQ(f.path_drop(PathDrop::ttl_not_255), 0u);
    // The same from off the link is still refused.
    f.handle(f.mdns(v4(203, 0, 113, 10), false, 64, 0, {0, 0}, &us));
    EXPECT_EQ(f.path_drop(PathDrop::off_link_source), 1u);
}
