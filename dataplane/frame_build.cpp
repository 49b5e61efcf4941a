#include "dataplane/frame_build.hpp"

#include <algorithm>
#include <cstring>

namespace updproxy::dataplane {

namespace {

constexpr uint16_t kEtherArp = 0x0806;
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86DD;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpv6 = 58;

inline void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

uint32_t sum16(const uint8_t* p, size_t n, uint32_t s) {
    for (; n >= 2; p += 2, n -= 2) s += get16(p);
    if (n) s += uint32_t{p[0]} << 8;
    return s;
}

uint16_t fold(uint32_t s) {
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return static_cast<uint16_t>(~s);
}

// Ethernet header and tags; returns the offset of the L3 header.
size_t put_l2(uint8_t* p, const L2& l2, uint16_t ethertype) {
    std::memcpy(p, l2.dst.data(), 6);
    std::memcpy(p + 6, l2.src.data(), 6);
    size_t off = 12;
    for (uint8_t i = 0; i < l2.vlan_count; ++i) {
        // Two tags: an 802.1ad S-tag outside an 802.1Q C-tag.
        put16(p + off, (l2.vlan_count == 2 && i == 0) ? 0x88A8 : 0x8100);
        put16(p + off + 2, l2.vlan[i] & 0x0FFF);
        off += 4;
    }
    put16(p + off, ethertype);
    return off + 2;
}

// Skips the Ethernet header and any VLAN tags; returns the L3 offset and
// ethertype, or 0 if the frame is too short.
size_t l3_of(std::span<const uint8_t> frame, uint16_t* type) {
    size_t off = 12;
    for (int i = 0; i < 3; ++i) {
        if (frame.size() < off + 2) return 0;
        const uint16_t t = get16(frame.data() + off);
        if (t == 0x8100 || t == 0x88A8 || t == 0x9100) {
            off += 4;
            continue;
        }
        *type = t;
        return off + 2;
    }
    return 0;
}

}  // namespace

Mac multicast_mac(const uint8_t* group, bool v6) {
    if (v6) return {0x33, 0x33, group[12], group[13], group[14], group[15]};
    return {0x01, 0x00, 0x5E, static_cast<uint8_t>(group[1] & 0x7F), group[2], group[3]};
}

uint16_t ipv4_header_checksum(const uint8_t* hdr, size_t len) { return fold(sum16(hdr, len, 0)); }

uint16_t l4_checksum(bool v6, const uint8_t* src, const uint8_t* dst, uint8_t proto,
                     std::span<const uint8_t> l4) {
    uint32_t s = 0;
    const size_t alen = v6 ? 16 : 4;
    s = sum16(src, alen, s);
    s = sum16(dst, alen, s);
    s += proto;
    s += static_cast<uint32_t>(l4.size() & 0xFFFF) + static_cast<uint32_t>(l4.size() >> 16);
    s = sum16(l4.data(), l4.size(), s);
    const uint16_t c = fold(s);
    return (c == 0 && proto == kProtoUdp) ? 0xFFFF : c;
}

size_t udp_headroom(const L2& l2, bool v6) { return 14 + 4u * l2.vlan_count + (v6 ? 40 : 20) + 8; }

namespace {

// Ethernet, tags and the IP header for `l4len` bytes of `proto`; returns
// where the transport header starts.
uint8_t* put_l2_l3(uint8_t* p, const L2& l2, bool v6, const uint8_t* src_ip,
                   const uint8_t* dst_ip, uint8_t proto, uint8_t ttl, size_t l4len) {
    uint8_t* ip = p + put_l2(p, l2, v6 ? kEtherIpv6 : kEtherIpv4);
    if (v6) {
        put16(ip, 0x6000);
        put16(ip + 2, 0);
        put16(ip + 4, static_cast<uint16_t>(l4len));
        ip[6] = proto;
        ip[7] = ttl;
        std::memcpy(ip + 8, src_ip, 16);
        std::memcpy(ip + 24, dst_ip, 16);
        return ip + 40;
    }
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, static_cast<uint16_t>(20 + l4len));
    put16(ip + 4, 0);
    put16(ip + 6, 0x4000);  // DF
    ip[8] = ttl;
    ip[9] = proto;
    put16(ip + 10, 0);
    std::memcpy(ip + 12, src_ip, 4);
    std::memcpy(ip + 16, dst_ip, 4);
    put16(ip + 10, ipv4_header_checksum(ip, 20));
    return ip + 20;
}

}  // namespace

size_t build_udp_around(std::span<uint8_t> out, const L2& l2, bool v6, const uint8_t* src_ip,
                        const uint8_t* dst_ip, uint16_t src_port, uint16_t dst_port, uint8_t ttl,
                        size_t payload_len) {
    const size_t udplen = 8 + payload_len;
    const size_t total = udp_headroom(l2, v6) + payload_len;
    if (total > out.size() || udplen > 0xFFFF - (v6 ? 40 : 20)) return 0;
    uint8_t* udp = put_l2_l3(out.data(), l2, v6, src_ip, dst_ip, kProtoUdp, ttl, udplen);
    put16(udp, src_port);
    put16(udp + 2, dst_port);
    put16(udp + 4, static_cast<uint16_t>(udplen));
    put16(udp + 6, 0);
    put16(udp + 6, l4_checksum(v6, src_ip, dst_ip, kProtoUdp, {udp, udplen}));
    return total;
}

size_t build_ip(std::span<uint8_t> out, const L2& l2, bool v6, const uint8_t* src_ip,
                const uint8_t* dst_ip, uint8_t proto, uint8_t ttl, std::span<const uint8_t> l4) {
    const size_t head = 14 + 4u * l2.vlan_count + (v6 ? 40 : 20);
    const size_t csum_at = proto == kProtoTcp ? 16 : proto == kProtoUdp ? 6 : 0;
    if (csum_at == 0 || l4.size() < csum_at + 2 || head + l4.size() > out.size() ||
        l4.size() > 0xFFFF - (v6 ? 40 : 20)) {
        return 0;
    }
    std::memmove(out.data() + head, l4.data(), l4.size());
    uint8_t* seg = put_l2_l3(out.data(), l2, v6, src_ip, dst_ip, proto, ttl, l4.size());
    put16(seg + csum_at, 0);
    put16(seg + csum_at, l4_checksum(v6, src_ip, dst_ip, proto, {seg, l4.size()}));
    return head + l4.size();
}

size_t build_udp(std::span<uint8_t> out, const L2& l2, bool v6, const uint8_t* src_ip,
                 const uint8_t* dst_ip, uint16_t src_port, uint16_t dst_port, uint8_t ttl,
                 std::span<const uint8_t> payload) {
    const size_t head = udp_headroom(l2, v6);
    if (head + payload.size() > out.size()) return 0;
    std::memmove(out.data() + head, payload.data(), payload.size());
    return build_udp_around(out, l2, v6, src_ip, dst_ip, src_port, dst_port, ttl, payload.size());
}

const uint8_t* arp_request_target(std::span<const uint8_t> frame) {
    uint16_t type = 0;
    const size_t l3 = l3_of(frame, &type);
    if (l3 == 0 || type != kEtherArp || frame.size() < l3 + 28) return nullptr;
    const uint8_t* a = frame.data() + l3;
    // Ethernet/IPv4, request
    if (get16(a) != 1 || get16(a + 2) != kEtherIpv4 || a[4] != 6 || a[5] != 4 || get16(a + 6) != 1) {
        return nullptr;
    }
    return a + 24;
}

size_t build_arp_reply(std::span<uint8_t> out, std::span<const uint8_t> frame, L2 l2,
                       const uint8_t* our_ip) {
    const uint8_t* target = arp_request_target(frame);
    if (target == nullptr || std::memcmp(target, our_ip, 4) != 0) return 0;
    uint16_t type = 0;
    const size_t in_l3 = l3_of(frame, &type);
    const uint8_t* req = frame.data() + in_l3;
    std::memcpy(l2.dst.data(), frame.data() + 6, 6);
    const Mac our_mac = l2.src;
    const size_t total = 14 + 4u * l2.vlan_count + 28;
    if (out.size() < std::max<size_t>(total, 60)) return 0;
    uint8_t* p = out.data();
    const size_t l3 = put_l2(p, l2, kEtherArp);
    uint8_t* a = p + l3;
    put16(a, 1);
    put16(a + 2, kEtherIpv4);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 2);  // reply
    std::memcpy(a + 8, our_mac.data(), 6);
    std::memcpy(a + 14, our_ip, 4);
    std::memcpy(a + 18, req + 8, 6);    // requester's MAC
    std::memcpy(a + 24, req + 14, 4);   // requester's IP
    // Pad to the Ethernet minimum.
    const size_t len = std::max<size_t>(l3 + 28, 60);
    std::memset(p + l3 + 28, 0, len - (l3 + 28));
    return len;
}

const uint8_t* neighbor_solicit_target(std::span<const uint8_t> frame, const FrameInfo& f) {
    if (f.ip_version != 6) return nullptr;
    const size_t l3 = f.l3_offset;
    if (frame.size() < l3 + 40 + 24) return nullptr;
    const uint8_t* ip = frame.data() + l3;
    // NS travels without extension headers, hop limit 255 (RFC 4861 §7.1.1).
    if (ip[6] != kProtoIcmpv6 || ip[7] != 255) return nullptr;
    const uint8_t* icmp = ip + 40;
    if (icmp[0] != 135 || icmp[1] != 0) return nullptr;
    return icmp + 8;
}

size_t build_neighbor_advert(std::span<uint8_t> out, std::span<const uint8_t> frame,
                             const FrameInfo& f, L2 l2, const uint8_t* our_ip) {
    const uint8_t* target = neighbor_solicit_target(frame, f);
    if (target == nullptr || std::memcmp(target, our_ip, 16) != 0) return 0;
    const uint8_t* ip = frame.data() + f.l3_offset;
    const Mac our_mac = l2.src;

    static constexpr uint8_t kUnspecified[16] = {};
    static constexpr uint8_t kAllNodes[16] = {0xFF, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const bool dad = std::memcmp(ip + 8, kUnspecified, 16) == 0;
    const uint8_t* dst = dad ? kAllNodes : ip + 8;

    std::memcpy(l2.dst.data(), frame.data() + 6, 6);
    if (dad) l2.dst = multicast_mac(kAllNodes, true);
    const size_t icmp_len = 24 + 8;  // NA + target link-layer address option
    const size_t total = 14 + 4u * l2.vlan_count + 40 + icmp_len;
    if (out.size() < total) return 0;
    uint8_t* p = out.data();
    const size_t o3 = put_l2(p, l2, kEtherIpv6);
    uint8_t* h = p + o3;
    put16(h, 0x6000);
    put16(h + 2, 0);
    put16(h + 4, static_cast<uint16_t>(icmp_len));
    h[6] = kProtoIcmpv6;
    h[7] = 255;
    std::memcpy(h + 8, our_ip, 16);
    std::memcpy(h + 24, dst, 16);
    uint8_t* na = h + 40;
    na[0] = 136;
    na[1] = 0;
    put16(na + 2, 0);
    // Solicited (unless answering DAD) and Override.
    na[4] = static_cast<uint8_t>(dad ? 0x20 : 0x60);
    na[5] = na[6] = na[7] = 0;
    std::memcpy(na + 8, our_ip, 16);
    na[24] = 2;  // target link-layer address
    na[25] = 1;  // 8 octets
    std::memcpy(na + 26, our_mac.data(), 6);
    put16(na + 2, l4_checksum(true, our_ip, dst, kProtoIcmpv6, {na, icmp_len}));
    return total;
}

}  // namespace updproxy::dataplane
