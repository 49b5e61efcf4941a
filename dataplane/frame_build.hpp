// Frames the proxy sends: mDNS/DNS over UDP (refresh and enumeration
// queries, unicast answers), ARP replies and IPv6 Neighbor Advertisements for
// the proxy's own addresses. Pure: writes into a caller buffer, computes every
// checksum in software (virtual devices offload nothing).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/frame.hpp"

namespace updproxy::dataplane {

using Mac = std::array<uint8_t, 6>;

struct L2 {
    Mac src{};
    Mac dst{};
    uint8_t vlan_count = 0;
    std::array<uint16_t, 2> vlan{0, 0};  // outermost first; outer of two uses 0x88a8
};

// The Ethernet multicast address of an IPv4 or IPv6 multicast group.
Mac multicast_mac(const uint8_t* group, bool v6);

// Eth [VLAN [VLAN]] IPv4/IPv6 UDP payload with IP TTL / hop limit `ttl`.
// Returns the frame length, or 0 when `out` is too small.
size_t build_udp(std::span<uint8_t> out, const L2& l2, bool v6, const uint8_t* src_ip,
                 const uint8_t* dst_ip, uint16_t src_port, uint16_t dst_port, uint8_t ttl,
                 std::span<const uint8_t> payload);

// The bytes of headers build_udp puts before the payload.
size_t udp_headroom(const L2& l2, bool v6);
// build_udp for a payload already written at out[udp_headroom(l2, v6)...]
// (`payload_len` bytes): the headers are written around it, no copy.
size_t build_udp_around(std::span<uint8_t> out, const L2& l2, bool v6, const uint8_t* src_ip,
                        const uint8_t* dst_ip, uint16_t src_port, uint16_t dst_port, uint8_t ttl,
                        size_t payload_len);

// Eth [VLAN [VLAN]] IPv4/IPv6 and a transport segment `l4` of `proto` (TCP
// or UDP: its checksum field is filled in). Returns the frame length, or 0
// when `out` is too small or the protocol is neither.
size_t build_ip(std::span<uint8_t> out, const L2& l2, bool v6, const uint8_t* src_ip,
                const uint8_t* dst_ip, uint8_t proto, uint8_t ttl, std::span<const uint8_t> l4);

// If `frame` is an ARP request for `our_ip`, writes the reply and returns its
// length; else 0. `l2` gives our MAC as source and the VLAN tags to use (the
// request's, which a NIC may have stripped); its destination is filled in.
size_t build_arp_reply(std::span<uint8_t> out, std::span<const uint8_t> frame, L2 l2,
                       const uint8_t* our_ip);

// If `frame` (classified in `f`) is an ICMPv6 Neighbor Solicitation for
// `our_ip`, writes the Neighbor Advertisement and returns its length; else 0.
size_t build_neighbor_advert(std::span<uint8_t> out, std::span<const uint8_t> frame,
                             const FrameInfo& f, L2 l2, const uint8_t* our_ip);

// The target address of an ICMPv6 Neighbor Solicitation, or nullptr.
const uint8_t* neighbor_solicit_target(std::span<const uint8_t> frame, const FrameInfo& f);

// Internet checksum helpers (RFC 1071).
uint16_t ipv4_header_checksum(const uint8_t* hdr, size_t len);
// UDP or ICMPv6 checksum over the pseudo header and `l4` (whose checksum
// field must be zero); IPv4 UDP zero results become 0xFFFF.
uint16_t l4_checksum(bool v6, const uint8_t* src, const uint8_t* dst, uint8_t proto,
                     std::span<const uint8_t> l4);

// The ARP target IP of an ARP request in `frame`, or nullptr.
const uint8_t* arp_request_target(std::span<const uint8_t> frame);

}  // namespace updproxy::dataplane
