// Kernel-socket DNS service: the embedded authoritative server on ordinary
// UDP and TCP sockets (management addresses, tests, hosts without DPDK).
// Answers come from the same code the dataplane runs (answer.hpp); the
// slow path (TSIG, transfers) is AuthServer's.
//
// UDP: recvmmsg/sendmmsg in batches; the snapshot is entered once per batch
// through a ZoneStore::Reader. Either in the caller's poll loop (the control
// thread), or, with `udp_thread`, on a dedicated thread that does nothing
// else (the fast configuration: no poll() per batch while busy).
// TCP: non-blocking accept, persistent connections with pipelined queries
// (answered in order), AXFR/IXFR streamed a message at a time as the socket
// drains, idle connections closed after `tcp_idle_timeout_ms`, and at the
// connection limit the least recently active idle connection makes room
// (RFC 7766 §6.2.3: a server may close connections to protect itself).
// TCP always runs in the caller's poll loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/zone/answer.hpp"
#include "control/zone/latency.hpp"
#include "control/zone/net.hpp"
#include "control/zone/notify.hpp"  // PollFd

namespace updproxy::control::zone {

class AuthServer;

struct ListenAddress {
    std::string address;  // IPv4 or IPv6 literal
    uint16_t port = 0;    // 0: the kernel picks (tests read the bound port back)
};

struct ListenerConfig {
    std::vector<ListenAddress> udp, tcp;
    uint32_t tcp_max_connections = 256;
    uint32_t tcp_idle_timeout_ms = 10000;
    uint32_t tcp_max_backlog_bytes = 1 << 20;  // unsent output before reading stops
    bool udp_thread = false;   // a dedicated UDP answering thread
    int udp_thread_cpu = -1;   // pin it (sched_setaffinity); -1: no pinning
    uint32_t udp_batch = 64;   // datagrams per recvmmsg
    int udp_rcvbuf = 4 << 20;  // SO_RCVBUF (the kernel caps it at rmem_max)
};

struct ListenerStats {
    uint64_t udp_received = 0, udp_sent = 0, udp_send_errors = 0, udp_truncated_in = 0;
    uint64_t udp_punted = 0;
    uint64_t tcp_accepted = 0, tcp_closed_idle = 0, tcp_closed_limit = 0, tcp_queries = 0;
    uint64_t tcp_bad_length = 0;
    uint64_t answered_rcode[16] = {};
    uint64_t dropped = 0, formerr = 0, truncated = 0;
};

class DnsListener {
public:
    // Opens every socket (errors name the address). Starts the UDP thread
    // when configured.
    static std::unique_ptr<DnsListener> create(const ListenerConfig& cfg, AuthServer& server,
                                               std::string* error);
    ~DnsListener();
    DnsListener(const DnsListener&) = delete;
    DnsListener& operator=(const DnsListener&) = delete;

    std::vector<PollFd> fds() const;
    void on_ready(uint64_t now_ms);
    uint64_t next_wakeup_ms(uint64_t now_ms) const;

    // The bound addresses (with the kernel's port when 0 was asked for).
    std::vector<SockAddr> udp_addresses() const;
    std::vector<SockAddr> tcp_addresses() const;
    ListenerStats stats() const;
    // UDP answering time per datagram (batch processing time; any thread).
    const LatencyHistogram& udp_latency() const;
    size_t tcp_connections() const;

    struct Impl;

private:
    explicit DnsListener(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace updproxy::control::zone
