// Link/IP/UDP header classification over one contiguous byte span.
//
// Pure: no DPDK, no allocation, no exceptions, no syscalls. The DPDK workers
// run it on mbuf data (first segment), `updproxy decode` and the tests on
// pcap records. Anything that is not a whole, unfragmented UDP datagram comes
// back as a DropReason, which is also the metrics label for the drop counter.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace updproxy::dataplane {

enum class DropReason : uint8_t {
    ok = 0,
    too_short,             // shorter than the link header or its VLAN tags
    too_many_vlans,        // more than two 802.1Q/802.1ad tags
    not_ip,                // ethertype/family is neither IPv4 nor IPv6 (ARP, LLDP, 802.3 ...)
    bad_ip_header,         // version, IHL, total/payload length inconsistent or truncated
    fragment,              // IPv4 MF or offset set, or an IPv6 Fragment header
    ipv6_ext_chain,        // IPv6 extension headers truncated or too many of them
    not_udp,               // another transport (TCP, ICMP, ESP, no-next-header ...)
    bad_udp_length,        // UDP length below 8 or beyond the IP payload
    unsupported_linktype,  // a pcap link type this parser does not know
};
inline constexpr size_t kDropReasonCount = 10;

// Stable snake_case name used in logs, JSON and metric labels.
std::string_view reason_name(DropReason r);

// pcap link-layer header types (LINKTYPE_* as stored in the file, and the
// DLT_* values libpcap's pcap_datalink() may report for them on Linux).
namespace linktype {
inline constexpr int null_loopback = 0;  // 4-byte host-order address family (BSD)
inline constexpr int ethernet = 1;
inline constexpr int raw_dlt = 12;      // DLT_RAW as Linux libpcap reports it
inline constexpr int raw_dlt_bsd = 14;  // DLT_RAW on OpenBSD-derived systems
inline constexpr int raw = 101;         // LINKTYPE_RAW
inline constexpr int loop = 108;        // 4-byte network-order address family (OpenBSD)
inline constexpr int linux_sll = 113;
inline constexpr int ipv4 = 228;
inline constexpr int ipv6 = 229;
inline constexpr int linux_sll2 = 276;
}  // namespace linktype

struct FrameInfo {
    // VLAN IDs outermost first; vlan_count tags were present (0..2).
    uint8_t vlan_count = 0;
    std::array<uint16_t, 2> vlan{0, 0};

    uint8_t ip_version = 0;  // 4 or 6
    uint8_t ttl = 0;         // IPv4 TTL or IPv6 hop limit (RFC 6762 §11 wants 255)
    // Addresses in network order; IPv4 uses the first 4 bytes.
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
    uint16_t src_port = 0;
    uint16_t dst_port = 0;

    // Offsets into the span that was parsed, for rewriting or re-sending.
    uint16_t l3_offset = 0;
    uint16_t l4_offset = 0;
    // The UDP payload, trimmed to the UDP length (Ethernet padding excluded).
    std::span<const uint8_t> payload;
    // The IP protocol of the transport header (17 for UDP). For another
    // transport (DropReason::not_udp) `l4` is its whole segment, from
    // l4_offset to the end of the IP payload (TCP to the DNS service).
    uint8_t ip_proto = 0;
    std::span<const uint8_t> l4;

    uint16_t outer_vlan() const { return vlan_count > 0 ? vlan[0] : 0; }
    uint16_t inner_vlan() const { return vlan_count > 1 ? vlan[1] : 0; }
    size_t addr_len() const { return ip_version == 4 ? 4 : 16; }
    std::span<const uint8_t> src_addr() const { return {src.data(), addr_len()}; }
    std::span<const uint8_t> dst_addr() const { return {dst.data(), addr_len()}; }
};

// An Ethernet II frame, optionally with one or two VLAN tags (0x8100, 0x88a8,
// 0x9100 in any order). On anything but ok, `out` holds whatever was
// classified so far (VLAN IDs, addresses) for counters and logs.
DropReason parse_ethernet(std::span<const uint8_t> frame, FrameInfo& out);

// A bare IPv4 or IPv6 packet, told apart by its version nibble.
DropReason parse_ip(std::span<const uint8_t> packet, FrameInfo& out);

// A pcap record of the given link type (see `linktype`).
DropReason parse_frame(int link_type, std::span<const uint8_t> data, FrameInfo& out);

// Whether parse_frame understands this link type.
bool linktype_supported(int link_type);

}  // namespace updproxy::dataplane
