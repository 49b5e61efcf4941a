#include "dataplane/frame.hpp"

#include <cstring>

namespace updproxy::dataplane {

namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86DD;
constexpr uint16_t kEtherVlan = 0x8100;     // 802.1Q C-tag
constexpr uint16_t kEtherQinQ = 0x88A8;     // 802.1ad S-tag
constexpr uint16_t kEtherQinQOld = 0x9100;  // pre-standard S-tag still sent by some switches

constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6Ah = 51;
constexpr uint8_t kIpv6DestOpts = 60;
// RFC 8200 §4.1 allows each header once (destination options twice); more
// than this is a crafted chain, not a packet worth walking.
constexpr int kMaxIpv6ExtHeaders = 8;

constexpr size_t kEthernetHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr size_t kUdpHeader = 8;
constexpr size_t kSllHeader = 16;
constexpr size_t kSll2Header = 20;
constexpr size_t kNullHeader = 4;

inline uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

bool is_vlan_ethertype(uint16_t t) {
    return t == kEtherVlan || t == kEtherQinQ || t == kEtherQinQOld;
}

DropReason parse_udp(std::span<const uint8_t> pkt, size_t l4, size_t ip_end, FrameInfo& out) {
    if (l4 + kUdpHeader > ip_end) return DropReason::bad_udp_length;
    const uint8_t* u = pkt.data() + l4;
    out.l4_offset = static_cast<uint16_t>(l4);
    out.src_port = be16(u);
    out.dst_port = be16(u + 2);
    const size_t udp_len = be16(u + 4);
    // Shorter than the IP payload is tolerated (trailing bytes are dropped
    // with the padding); longer means the datagram was cut.
    if (udp_len < kUdpHeader || l4 + udp_len > ip_end) return DropReason::bad_udp_length;
    out.payload = pkt.subspan(l4 + kUdpHeader, udp_len - kUdpHeader);
    return DropReason::ok;
}

DropReason parse_ipv4(std::span<const uint8_t> pkt, size_t l3, FrameInfo& out) {
    out.ip_version = 4;
    out.l3_offset = static_cast<uint16_t>(l3);
    if (pkt.size() < l3 + kIpv4MinHeader) return DropReason::bad_ip_header;
    const uint8_t* h = pkt.data() + l3;
    if ((h[0] >> 4) != 4) return DropReason::bad_ip_header;
    const size_t ihl = size_t{h[0] & 0x0Fu} * 4;
    const size_t total = be16(h + 2);
    if (ihl < kIpv4MinHeader || total < ihl || l3 + total > pkt.size()) {
        return DropReason::bad_ip_header;
    }
    out.ttl = h[8];
    std::memcpy(out.src.data(), h + 12, 4);
    std::memcpy(out.dst.data(), h + 16, 4);
    const uint16_t frag = be16(h + 6);
    if ((frag & 0x2000) != 0 || (frag & 0x1FFF) != 0) return DropReason::fragment;
    out.ip_proto = h[9];
    if (h[9] != kProtoUdp) {
        out.l4_offset = static_cast<uint16_t>(l3 + ihl);
        out.l4 = pkt.subspan(l3 + ihl, total - ihl);
        return DropReason::not_udp;
    }
    return parse_udp(pkt, l3 + ihl, l3 + total, out);
}

DropReason parse_ipv6(std::span<const uint8_t> pkt, size_t l3, FrameInfo& out) {
    out.ip_version = 6;
    out.l3_offset = static_cast<uint16_t>(l3);
    if (pkt.size() < l3 + kIpv6Header) return DropReason::bad_ip_header;
    const uint8_t* h = pkt.data() + l3;
    if ((h[0] >> 4) != 6) return DropReason::bad_ip_header;
    const size_t payload_len = be16(h + 4);
    // Payload length 0 means a jumbogram (RFC 2675), which no link here carries.
    if (payload_len == 0 || l3 + kIpv6Header + payload_len > pkt.size()) {
        return DropReason::bad_ip_header;
    }
    out.ttl = h[7];
    std::memcpy(out.src.data(), h + 8, 16);
    std::memcpy(out.dst.data(), h + 24, 16);
    const size_t end = l3 + kIpv6Header + payload_len;

    uint8_t next = h[6];
    size_t p = l3 + kIpv6Header;
    for (int n = 0;; ++n) {
        switch (next) {
            case kProtoUdp:
                out.ip_proto = kProtoUdp;
                return parse_udp(pkt, p, end, out);
            case kIpv6Fragment:
                return DropReason::fragment;
            case kIpv6HopByHop:
            case kIpv6Routing:
            case kIpv6DestOpts:
            case kIpv6Ah: {
                if (n >= kMaxIpv6ExtHeaders || p + 2 > end) return DropReason::ipv6_ext_chain;
                const uint8_t* e = pkt.data() + p;
                // AH counts its length in 4-octet units minus 2 (RFC 4302
                // §2.2); the others in 8-octet units minus 1 (RFC 8200 §4).
                const size_t len =
                    next == kIpv6Ah ? (size_t{e[1]} + 2) * 4 : (size_t{e[1]} + 1) * 8;
                if (p + len > end) return DropReason::ipv6_ext_chain;
                next = e[0];
                p += len;
                break;
            }
            default:
                out.ip_proto = next;
                out.l4_offset = static_cast<uint16_t>(p);
                out.l4 = pkt.subspan(p, end - p);
                return DropReason::not_udp;
        }
    }
}

DropReason dispatch_ethertype(std::span<const uint8_t> data, size_t l3, uint16_t type,
                              FrameInfo& out) {
    // VLAN tags after the link header (Linux cooked captures of a trunk).
    while (is_vlan_ethertype(type)) {
        if (out.vlan_count >= 2) return DropReason::too_many_vlans;
        if (data.size() < l3 + kVlanTag) return DropReason::too_short;
        out.vlan[out.vlan_count++] = be16(data.data() + l3) & 0x0FFF;
        type = be16(data.data() + l3 + 2);
        l3 += kVlanTag;
    }
    if (type == kEtherIpv4) return parse_ipv4(data, l3, out);
    if (type == kEtherIpv6) return parse_ipv6(data, l3, out);
    return DropReason::not_ip;
}

DropReason parse_ip_at(std::span<const uint8_t> data, size_t l3, FrameInfo& out) {
    if (data.size() <= l3) return DropReason::too_short;
    switch (data[l3] >> 4) {
        case 4:
            return parse_ipv4(data, l3, out);
        case 6:
            return parse_ipv6(data, l3, out);
        default:
            return DropReason::not_ip;
    }
}

}  // namespace

std::string_view reason_name(DropReason r) {
    switch (r) {
        case DropReason::ok:
            return "ok";
        case DropReason::too_short:
            return "too_short";
        case DropReason::too_many_vlans:
            return "too_many_vlans";
        case DropReason::not_ip:
            return "not_ip";
        case DropReason::bad_ip_header:
            return "bad_ip_header";
        case DropReason::fragment:
            return "fragment";
        case DropReason::ipv6_ext_chain:
            return "ipv6_ext_chain";
        case DropReason::not_udp:
            return "not_udp";
        case DropReason::bad_udp_length:
            return "bad_udp_length";
        case DropReason::unsupported_linktype:
            return "unsupported_linktype";
    }
    return "unknown";
}

DropReason parse_ethernet(std::span<const uint8_t> frame, FrameInfo& out) {
    out = FrameInfo{};
    if (frame.size() < kEthernetHeader) return DropReason::too_short;
    const uint16_t type = be16(frame.data() + 12);
    // Below 0x0600 the field is an 802.3 length (LLC/SNAP, STP): not IP.
    return dispatch_ethertype(frame, kEthernetHeader, type, out);
}

DropReason parse_ip(std::span<const uint8_t> packet, FrameInfo& out) {
    out = FrameInfo{};
    return parse_ip_at(packet, 0, out);
}

bool linktype_supported(int link_type) {
    switch (link_type) {
        case linktype::null_loopback:
        case linktype::ethernet:
        case linktype::raw_dlt:
        case linktype::raw_dlt_bsd:
        case linktype::raw:
        case linktype::loop:
        case linktype::linux_sll:
        case linktype::ipv4:
        case linktype::ipv6:
        case linktype::linux_sll2:
            return true;
        default:
            return false;
    }
}

DropReason parse_frame(int link_type, std::span<const uint8_t> data, FrameInfo& out) {
    out = FrameInfo{};
    switch (link_type) {
        case linktype::ethernet:
            if (data.size() < kEthernetHeader) return DropReason::too_short;
            return dispatch_ethertype(data, kEthernetHeader, be16(data.data() + 12), out);
        case linktype::raw_dlt:
        case linktype::raw_dlt_bsd:
        case linktype::raw:
        case linktype::ipv4:
        case linktype::ipv6:
            return parse_ip_at(data, 0, out);
        case linktype::null_loopback:
        case linktype::loop:
            // The address family's value differs per OS (AF_INET6 is 10, 24,
            // 28 or 30) and byte order per link type; the IP version nibble
            // says the same thing unambiguously.
            if (data.size() < kNullHeader) return DropReason::too_short;
            return parse_ip_at(data, kNullHeader, out);
        case linktype::linux_sll:
            if (data.size() < kSllHeader) return DropReason::too_short;
            return dispatch_ethertype(data, kSllHeader, be16(data.data() + 14), out);
        case linktype::linux_sll2:
            if (data.size() < kSll2Header) return DropReason::too_short;
            return dispatch_ethertype(data, kSll2Header, be16(data.data()), out);
        default:
            return DropReason::unsupported_linktype;
    }
}

}  // namespace updproxy::dataplane
