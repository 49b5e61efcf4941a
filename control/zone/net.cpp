#include "control/zone/net.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <ctime>

namespace updproxy::control::zone {

uint16_t SockAddr::port() const {
    if (ss.ss_family == AF_INET) {
        sockaddr_in a;
        std::memcpy(&a, &ss, sizeof a);
        return ntohs(a.sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        sockaddr_in6 a;
        std::memcpy(&a, &ss, sizeof a);
        return ntohs(a.sin6_port);
    }
    return 0;
}

std::string SockAddr::to_string() const {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        sockaddr_in a;
        std::memcpy(&a, &ss, sizeof a);
        inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
    } else if (ss.ss_family == AF_INET6) {
        sockaddr_in6 a;
        std::memcpy(&a, &ss, sizeof a);
        inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
    }
    return std::string(buf) + "#" + std::to_string(port());
}

bool SockAddr::same(const SockAddr& o) const {
    if (ss.ss_family != o.ss.ss_family) return false;
    if (ss.ss_family == AF_INET) {
        sockaddr_in a, b;
        std::memcpy(&a, &ss, sizeof a);
        std::memcpy(&b, &o.ss, sizeof b);
        return a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
    }
    if (ss.ss_family == AF_INET6) {
        sockaddr_in6 a, b;
        std::memcpy(&a, &ss, sizeof a);
        std::memcpy(&b, &o.ss, sizeof b);
        return a.sin6_port == b.sin6_port &&
               std::memcmp(&a.sin6_addr, &b.sin6_addr, sizeof a.sin6_addr) == 0;
    }
    return false;
}

bool make_sockaddr(const std::string& address, uint16_t port, SockAddr* out) {
    *out = SockAddr{};
    sockaddr_in a4{};
    if (inet_pton(AF_INET, address.c_str(), &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons(port);
        std::memcpy(&out->ss, &a4, sizeof a4);
        out->len = sizeof a4;
        return true;
    }
    sockaddr_in6 a6{};
    if (inet_pton(AF_INET6, address.c_str(), &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons(port);
        std::memcpy(&out->ss, &a6, sizeof a6);
        out->len = sizeof a6;
        return true;
    }
    return false;
}

uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace updproxy::control::zone
