// Per-lcore dataplane counters.
//
// Each worker owns one WorkerCounters and is its only writer; the metrics
// exporter sums them when scraped. A counter is a relaxed atomic that is only
// ever loaded and stored (never fetch_add): on x86-64 that is a plain add
// with no lock prefix, yet a concurrent reader is not a data race.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "codec/result.hpp"
#include "dataplane/frame.hpp"

namespace updproxy::dataplane {

struct Counter {
    std::atomic<uint64_t> v{0};
    void add(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

// Why a frame that classified as UDP/IP was still not used.
enum class PathDrop : uint8_t {
    not_dns_port = 0,   // neither 5353 nor 53
    no_link,            // no link configured for its port/VLAN/family
    off_link_source,    // source not on the link's subnet (draft §8, RFC 6762 §11)
    ttl_not_255,        // IP TTL / hop limit not 255 (RFC 6762 §11)
    not_for_us,         // unicast to an address that is not ours
    dns_not_service,    // port 53 to an address that is not a DNS service address
    query_ring_full,    // unicast DNS query not handed to the control plane
    too_big,            // larger than the linearisation buffer
    not_arp_for_us,     // ARP/ND not about one of our addresses
    count_
};
inline constexpr size_t kPathDropCount = static_cast<size_t>(PathDrop::count_);
std::string_view path_drop_name(PathDrop d);

inline constexpr size_t kParseReasonCount = 48;  // > codec::Reason's last value

struct alignas(64) WorkerCounters {
    Counter rx_packets, rx_bytes;
    Counter mdns_messages;     // responses parsed and handed to the table
    Counter mdns_queries;      // queries seen (not parsed: never a source of records)
    Counter dns_queries;       // handed to the control plane
    Counter dns_answered;      // answered by the worker (QueryAnswerer)
    Counter dns_tcp_segments;  // TCP segments to the DNS service, handed to the control plane
    Counter arp_replies, nd_replies;
    Counter tx_packets, tx_bytes, tx_failed;
    Counter tx_requests_dropped;  // requests from the control plane not sent
    Counter frame_drop[kDropReasonCount];
    Counter path_drop[kPathDropCount];
    Counter parse_error[kParseReasonCount];
    Counter bursts, busy_bursts;  // polls, and polls that returned packets
    // per link: packets, bytes (indexed by link id)
    std::vector<Counter> link_packets, link_bytes;

    explicit WorkerCounters(size_t links = 0) : link_packets(links), link_bytes(links) {}
};

}  // namespace updproxy::dataplane
