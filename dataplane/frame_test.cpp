#include "dataplane/frame.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace updproxy::dataplane {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}

void append(Bytes& b, const Bytes& more) {
    b.insert(b.end(), more.begin(), more.end());
}

// A small DNS-looking payload; its bytes do not matter to the parser.
const Bytes kPayload{0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};

Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload, int len_delta = 0) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put16(b, static_cast<uint16_t>(8 + payload.size() + len_delta));
    put16(b, 0);  // checksum: not checked
    append(b, payload);
    return b;
}

Bytes ipv4(const Bytes& l4, uint8_t proto = 17, uint8_t ttl = 255, uint16_t frag = 0,
           size_t options = 0) {
    Bytes b;
    const size_t ihl = 20 + options;
    b.push_back(static_cast<uint8_t>(0x40 | (ihl / 4)));
    b.push_back(0);
    put16(b, static_cast<uint16_t>(ihl + l4.size()));
    put16(b, 0x1234);
    put16(b, frag);
    b.push_back(ttl);
    b.push_back(proto);
    put16(b, 0);
    append(b, {192, 0, 2, 10});
    append(b, {224, 0, 0, 251});
    b.insert(b.end(), options, 1);  // NOP options
    append(b, l4);
    return b;
}

struct Ext {
    uint8_t type;
    size_t len;  // total bytes of this header
};

// IPv6 with the given extension header chain in front of `l4` (next header
// of the last one is `proto`).
Bytes ipv6(const Bytes& l4, std::initializer_list<Ext> exts = {}, uint8_t proto = 17,
           uint8_t hops = 255) {
    Bytes chain;
    std::vector<Ext> v(exts);
    for (size_t i = 0; i < v.size(); ++i) {
        const uint8_t next = i + 1 < v.size() ? v[i + 1].type : proto;
        Bytes h{next, v[i].type == 51 ? static_cast<uint8_t>(v[i].len / 4 - 2)
                                      : static_cast<uint8_t>(v[i].len / 8 - 1)};
        h.resize(v[i].len, 0);
        append(chain, h);
    }
    Bytes b{0x60, 0, 0, 0};
    put16(b, static_cast<uint16_t>(chain.size() + l4.size()));
    b.push_back(v.empty() ? proto : v[0].type);
    b.push_back(hops);
    Bytes src(16, 0), dst(16, 0);
    src[0] = 0xfe;
    src[1] = 0x80;
    src[15] = 1;
    dst[0] = 0xff;
    dst[1] = 0x02;
    dst[15] = 0xfb;
    append(b, src);
    append(b, dst);
    append(b, chain);
    append(b, l4);
    return b;
}

Bytes ether(uint16_t type, const Bytes& l3,
            std::initializer_list<std::pair<uint16_t, uint16_t>> tags = {}) {
    Bytes b{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    for (const auto& [tpid, tci] : tags) {
        put16(b, tpid);
        put16(b, tci);
    }
    put16(b, type);
    append(b, l3);
    return b;
}

TEST(Frame, PlainIpv4Udp) {
    const Bytes f = ether(0x0800, ipv4(udp(5353, 5353, kPayload)));
    FrameInfo info;
    ASSERT_EQ(parse_ethernet(f, info), DropReason::ok);
    EXPECT_EQ(info.vlan_count, 0);
    EXPECT_EQ(info.ip_version, 4);
    EXPECT_EQ(info.ttl, 255);
    EXPECT_EQ(info.src_port, 5353);
    EXPECT_EQ(info.dst_port, 5353);
    EXPECT_EQ(info.l3_offset, 14);
    EXPECT_EQ(info.l4_offset, 34);
    EXPECT_EQ(Bytes(info.src_addr().begin(), info.src_addr().end()), (Bytes{192, 0, 2, 10}));
    EXPECT_EQ(Bytes(info.dst_addr().begin(), info.dst_addr().end()), (Bytes{224, 0, 0, 251}));
    EXPECT_EQ(Bytes(info.payload.begin(), info.payload.end()), kPayload);
}

TEST(Frame, EthernetPaddingIsNotPayload) {
    Bytes f = ether(0x0800, ipv4(udp(5353, 5353, {1, 2})));
    f.resize(60, 0xEE);  // minimum Ethernet frame
    FrameInfo info;
    ASSERT_EQ(parse_ethernet(f, info), DropReason::ok);
    EXPECT_EQ(Bytes(info.payload.begin(), info.payload.end()), (Bytes{1, 2}));
}

TEST(Frame, Ipv4Options) {
    const Bytes f = ether(0x0800, ipv4(udp(53, 40000, kPayload), 17, 64, 0, 8));
    FrameInfo info;
    ASSERT_EQ(parse_ethernet(f, info), DropReason::ok);
    EXPECT_EQ(info.l4_offset, 14 + 28);
    EXPECT_EQ(info.ttl, 64);
    EXPECT_EQ(info.src_port, 53);
}

TEST(Frame, SingleVlan) {
    const Bytes f = ether(0x0800, ipv4(udp(5353, 5353, kPayload)), {{0x8100, 0x2064}});
    FrameInfo info;
    ASSERT_EQ(parse_ethernet(f, info), DropReason::ok);
    EXPECT_EQ(info.vlan_count, 1);
    EXPECT_EQ(info.outer_vlan(), 100);  // PCP bits (0x2000) masked off
    EXPECT_EQ(info.inner_vlan(), 0);
    EXPECT_EQ(info.l3_offset, 18);
}

TEST(Frame, QinQAllTpids) {
    for (uint16_t outer : {0x88a8, 0x9100, 0x8100}) {
        const Bytes f =
            ether(0x86DD, ipv6(udp(5353, 5353, kPayload)), {{outer, 10}, {0x8100, 4094}});
        FrameInfo info;
        ASSERT_EQ(parse_ethernet(f, info), DropReason::ok) << outer;
        EXPECT_EQ(info.vlan_count, 2);
        EXPECT_EQ(info.outer_vlan(), 10);
        EXPECT_EQ(info.inner_vlan(), 4094);
        EXPECT_EQ(info.ip_version, 6);
        EXPECT_EQ(info.l3_offset, 22);
    }
}

TEST(Frame, ThreeTagsAreTooMany) {
    const Bytes f =
        ether(0x0800, ipv4(udp(5353, 5353, kPayload)), {{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}});
    FrameInfo info;
    EXPECT_EQ(parse_ethernet(f, info), DropReason::too_many_vlans);
    EXPECT_EQ(info.outer_vlan(), 1);
    EXPECT_EQ(info.inner_vlan(), 2);
}

TEST(Frame, NotIp) {
    FrameInfo info;
    EXPECT_EQ(parse_ethernet(ether(0x0806, Bytes(28, 0)), info), DropReason::not_ip);  // ARP
    EXPECT_EQ(parse_ethernet(ether(0x0026, Bytes(38, 0)), info), DropReason::not_ip);  // 802.3
    // Ethertype says IPv4, version nibble disagrees.
    Bytes bad = ipv4(udp(1, 2, kPayload));
    bad[0] = 0x65;
    EXPECT_EQ(parse_ethernet(ether(0x0800, bad), info), DropReason::bad_ip_header);
}

TEST(Frame, NotUdp) {
    FrameInfo info;
    EXPECT_EQ(parse_ethernet(ether(0x0800, ipv4(Bytes(20, 0), 6)), info), DropReason::not_udp);
    EXPECT_EQ(parse_ethernet(ether(0x86DD, ipv6(Bytes(8, 0), {}, 58)), info), DropReason::not_udp);
    // No Next Header after a destination options header.
    EXPECT_EQ(parse_ethernet(ether(0x86DD, ipv6({}, {{60, 8}}, 59)), info), DropReason::not_udp);
}

TEST(Frame, Ipv4Fragments) {
    FrameInfo info;
    // More-fragments set on the first fragment.
    EXPECT_EQ(parse_ethernet(ether(0x0800, ipv4(udp(5353, 5353, kPayload), 17, 255, 0x2000)), info),
              DropReason::fragment);
    // A later fragment (offset only).
    EXPECT_EQ(parse_ethernet(ether(0x0800, ipv4(Bytes(16, 0), 17, 255, 0x00B9)), info),
              DropReason::fragment);
    // Don't-fragment alone is fine.
    EXPECT_EQ(parse_ethernet(ether(0x0800, ipv4(udp(5353, 5353, kPayload), 17, 255, 0x4000)), info),
              DropReason::ok);
}

TEST(Frame, Ipv6ExtensionHeaders) {
    const Bytes f = ether(
        0x86DD, ipv6(udp(5353, 5353, kPayload), {{0, 8}, {60, 16}, {43, 24}, {51, 16}}, 17, 1));
    FrameInfo info;
    ASSERT_EQ(parse_ethernet(f, info), DropReason::ok);
    EXPECT_EQ(info.ttl, 1);
    EXPECT_EQ(info.l4_offset, 14 + 40 + 8 + 16 + 24 + 16);
    EXPECT_EQ(info.src[0], 0xfe);
    EXPECT_EQ(info.dst[15], 0xfb);
    EXPECT_EQ(info.dst_addr().size(), 16u);
    EXPECT_EQ(Bytes(info.payload.begin(), info.payload.end()), kPayload);
}

TEST(Frame, Ipv6Fragment) {
    FrameInfo info;
    EXPECT_EQ(
        parse_ethernet(ether(0x86DD, ipv6(udp(5353, 5353, kPayload), {{0, 8}, {44, 8}})), info),
        DropReason::fragment);
}

TEST(Frame, Ipv6ExtensionChainOverrun) {
    // The destination options header claims 64 bytes; only 8 + UDP follow.
    Bytes p = ipv6(udp(5353, 5353, {}), {{60, 8}});
    p[40 + 1] = 7;
    FrameInfo info;
    EXPECT_EQ(parse_ethernet(ether(0x86DD, p), info), DropReason::ipv6_ext_chain);
    // Too many headers.
    const Bytes many =
        ipv6(udp(5353, 5353, {}),
             {{60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}, {60, 8}});
    EXPECT_EQ(parse_ethernet(ether(0x86DD, many), info), DropReason::ipv6_ext_chain);
}

TEST(Frame, UdpLength) {
    FrameInfo info;
    EXPECT_EQ(parse_ethernet(ether(0x0800, ipv4(udp(5353, 5353, kPayload, +1))), info),
              DropReason::bad_udp_length);
    EXPECT_EQ(parse_ethernet(ether(0x0800, ipv4(udp(5353, 5353, kPayload, -13))), info),
              DropReason::bad_udp_length);  // length 7
    // Shorter UDP length than the IP payload: trailing bytes are not payload.
    ASSERT_EQ(parse_ethernet(ether(0x0800, ipv4(udp(5353, 5353, kPayload, -2))), info),
              DropReason::ok);
    EXPECT_EQ(info.payload.size(), kPayload.size() - 2);
    // IP payload too short for a UDP header.
    EXPECT_EQ(parse_ethernet(ether(0x0800, ipv4(Bytes(4, 0))), info), DropReason::bad_udp_length);
}

TEST(Frame, Truncated) {
    const Bytes full = ether(0x0800, ipv4(udp(5353, 5353, kPayload)), {{0x8100, 5}});
    FrameInfo info;
    EXPECT_EQ(parse_ethernet(std::span(full.data(), 0), info), DropReason::too_short);
    EXPECT_EQ(parse_ethernet(std::span(full.data(), 13), info), DropReason::too_short);
    EXPECT_EQ(parse_ethernet(std::span(full.data(), 16), info),
              DropReason::too_short);  // in the tag
    EXPECT_EQ(parse_ethernet(std::span(full.data(), 30), info), DropReason::bad_ip_header);
    // IP total length beyond the captured bytes.
    EXPECT_EQ(parse_ethernet(std::span(full.data(), full.size() - 1), info),
              DropReason::bad_ip_header);
    // Every prefix classifies without reading past it (run under ASan).
    for (size_t n = 0; n < full.size(); ++n) {
        const Bytes cut(full.begin(), full.begin() + static_cast<long>(n));
        EXPECT_NE(parse_ethernet(cut, info), DropReason::ok) << n;
    }
    const Bytes v6 = ether(0x86DD, ipv6(udp(5353, 5353, kPayload), {{0, 8}}));
    for (size_t n = 0; n < v6.size(); ++n) {
        const Bytes cut(v6.begin(), v6.begin() + static_cast<long>(n));
        EXPECT_NE(parse_ethernet(cut, info), DropReason::ok) << n;
    }
}

TEST(Frame, Ipv6JumboPayloadLength) {
    Bytes p = ipv6(udp(5353, 5353, kPayload));
    p[4] = 0;
    p[5] = 0;
    FrameInfo info;
    EXPECT_EQ(parse_ethernet(ether(0x86DD, p), info), DropReason::bad_ip_header);
}

TEST(Frame, RawAndCookedLinkTypes) {
    const Bytes ip4 = ipv4(udp(5353, 5353, kPayload));
    const Bytes ip6 = ipv6(udp(5353, 5353, kPayload));
    FrameInfo info;
    for (int lt : {linktype::raw, linktype::raw_dlt, linktype::raw_dlt_bsd, linktype::ipv4}) {
        ASSERT_EQ(parse_frame(lt, ip4, info), DropReason::ok) << lt;
        EXPECT_EQ(info.ip_version, 4);
        EXPECT_EQ(info.l3_offset, 0);
    }
    ASSERT_EQ(parse_ip(ip6, info), DropReason::ok);
    EXPECT_EQ(info.ip_version, 6);

    // BSD loopback: AF_INET6 is 30 on macOS, in host order.
    Bytes null_frame{30, 0, 0, 0};
    append(null_frame, ip6);
    ASSERT_EQ(parse_frame(linktype::null_loopback, null_frame, info), DropReason::ok);
    EXPECT_EQ(info.l3_offset, 4);
    Bytes loop_frame{0, 0, 0, 2};
    append(loop_frame, ip4);
    ASSERT_EQ(parse_frame(linktype::loop, loop_frame, info), DropReason::ok);

    // Linux cooked v1: protocol at offset 14, here carrying a VLAN tag.
    Bytes sll(14, 0);
    put16(sll, 0x8100);
    put16(sll, 42);
    put16(sll, 0x0800);
    append(sll, ip4);
    ASSERT_EQ(parse_frame(linktype::linux_sll, sll, info), DropReason::ok);
    EXPECT_EQ(info.outer_vlan(), 42);
    EXPECT_EQ(info.l3_offset, 20);

    // Linux cooked v2: protocol first, 20-byte header.
    Bytes sll2;
    put16(sll2, 0x86DD);
    sll2.resize(20, 0);
    append(sll2, ip6);
    ASSERT_EQ(parse_frame(linktype::linux_sll2, sll2, info), DropReason::ok);
    EXPECT_EQ(info.l3_offset, 20);

    EXPECT_EQ(parse_frame(linktype::linux_sll2, Bytes(10, 0), info), DropReason::too_short);
    EXPECT_EQ(parse_frame(linktype::raw, Bytes{0x20, 0, 0}, info), DropReason::not_ip);
    EXPECT_EQ(parse_frame(105, ip4, info), DropReason::unsupported_linktype);  // 802.11
    EXPECT_FALSE(linktype_supported(105));
    EXPECT_TRUE(linktype_supported(linktype::linux_sll2));
}

TEST(Frame, ReasonNamesAreDistinct) {
    std::vector<std::string> seen;
    for (size_t i = 0; i < kDropReasonCount; ++i) {
        const std::string n(reason_name(static_cast<DropReason>(i)));
        EXPECT_NE(n, "unknown");
        for (const auto& s : seen) EXPECT_NE(s, n);
        seen.push_back(n);
    }
}

}  // namespace
}  // namespace updproxy::dataplane
