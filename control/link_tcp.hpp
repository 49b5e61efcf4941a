// DNS over TCP on the DPDK links' addresses: a small passive TCP endpoint
// on the control thread (RFC 9293 server side, RFC 7766 for DNS).
//
// The dataplane has no TCP stack and the kernel does not own the link
// addresses, so a client that gets a truncated UDP answer from a link
// address (or asks for TCP) would have nowhere to go. The worker hands
// every TCP segment to port 53 of a link address to the control thread
// (query ring, QueryHeader proto 6); LinkTcp keeps the connections and
// answers each DNS message with AuthServer::handle_tcp — the same code as
// the kernel TCP listener, transfers included — and sends its segments
// back through that worker's tx ring (TxHeader proto 6), where the worker
// adds the IP header and the checksum.
//
// What it does: three-way handshake (MSS option; no window scaling, SACK or
// timestamps: the answers are small), in-order receive (a segment out of
// order is dropped and re-acknowledged; the client retransmits), several
// pipelined queries per connection, answers and transfer streams segmented
// to the peer's MSS within its window and a congestion window (initial 10
// segments, RFC 6928; +1 MSS per ACK; one segment after a timeout),
// retransmission from the oldest unacknowledged byte with exponential
// backoff, FIN both ways, RST for segments of unknown connections, an idle
// timeout after which the server closes (RFC 7766 §6.2.3), a connection
// limit. Checksums of received segments are verified.
//
// Pure logic: segments in, segments out through a callback; the clock is
// the caller's. Control thread only.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <tuple>
#include <vector>

#include "control/zone/server.hpp"

namespace updproxy::control {

// Where a connection's segments come from and go back to.
struct TcpRoute {
    uint16_t worker = 0;
    uint16_t link = 0;
    bool v6 = false;
    std::array<uint8_t, 16> client{};  // IPv4 in the first 4 bytes
    std::array<uint8_t, 16> ours{};
    std::array<uint8_t, 6> client_mac{};
};

struct LinkTcpConfig {
    size_t max_connections = 256;
    uint64_t idle_ms = 10000;        // no segment for this long: the server closes
    uint64_t handshake_ms = 5000;    // a SYN never completed
    uint16_t mss = 1400;             // our MSS (a cap on the peer's)
    uint32_t rto_ms = 200;           // initial retransmission timeout
    unsigned max_retransmits = 6;    // then the connection is reset
    size_t max_backlog_bytes = 1 << 20;  // answers queued before reading stops
};

struct LinkTcpStats {
    uint64_t segments_in = 0, segments_out = 0;
    uint64_t accepted = 0, closed = 0, reset = 0, refused = 0;  // connections
    uint64_t queries = 0;
    uint64_t retransmits = 0, timeouts = 0;
    uint64_t bad_checksum = 0, malformed = 0, out_of_order = 0;
    uint64_t rst_sent = 0;
};

class LinkTcp {
public:
    // Sends one segment (TCP header + payload; its checksum is filled in by
    // the sender) along `route`.
    using Send = std::function<void(const TcpRoute& route, std::span<const uint8_t> segment)>;

    LinkTcp(zone::AuthServer* server, Send send, LinkTcpConfig cfg = {});
    ~LinkTcp();
    LinkTcp(const LinkTcp&) = delete;
    LinkTcp& operator=(const LinkTcp&) = delete;

    // One segment a worker received (the whole TCP header and payload).
    void on_segment(const TcpRoute& route, std::span<const uint8_t> segment, uint64_t now_ms);
    // Retransmissions and timeouts due at `now_ms`.
    void on_timer(uint64_t now_ms);
    // When on_timer next has something to do (UINT64_MAX: nothing).
    uint64_t next_wakeup_ms() const;

    size_t connections() const { return conns_.size(); }
    const LinkTcpStats& stats() const { return stats_; }

    struct Conn;

private:
    using Key = std::tuple<uint16_t, std::array<uint8_t, 16>, uint16_t>;  // link, client, port
    void transmit(Conn& c, uint64_t now_ms);
    void send_segment(Conn& c, uint8_t flags, uint32_t seq, std::span<const uint8_t> data,
                      bool mss_option = false);
    void send_reset(const TcpRoute& route, uint16_t our_port, uint16_t their_port, uint32_t seq,
                    uint32_t ack, bool with_ack);
    void handle_input(Conn& c);
    void close(std::map<Key, std::unique_ptr<Conn>>::iterator it, bool reset);

    zone::AuthServer* server_;
    Send send_;
    LinkTcpConfig cfg_;
    std::map<Key, std::unique_ptr<Conn>> conns_;
    std::vector<uint8_t> scratch_;
    std::vector<uint8_t> seg_;
    LinkTcpStats stats_;
};

}  // namespace updproxy::control
