// Small socket helpers shared by the listener and the NOTIFY sender.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace updproxy::control::zone {

struct SockAddr {
    sockaddr_storage ss{};
    socklen_t len = 0;

    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
    sockaddr* sa() { return reinterpret_cast<sockaddr*>(&ss); }
    int family() const { return ss.ss_family; }
    uint16_t port() const;
    // "127.0.0.1#5300" / "::1#5300", as BIND writes peers.
    std::string to_string() const;
    // Same address and port.
    bool same(const SockAddr& o) const;
};

// From an IPv4 or IPv6 literal; false when it is neither.
bool make_sockaddr(const std::string& address, uint16_t port, SockAddr* out);

// Monotonic clock in milliseconds.
uint64_t monotonic_ms();

// A peer the answer code needs to know about: for logs and transfer checks.
using Peer = SockAddr;

}  // namespace updproxy::control::zone
