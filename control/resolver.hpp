// A small asynchronous unicast DNS client for the control plane's own
// lookups (draft §3.1, §5.1): address-derived browse PTRs, the SRV records
// naming update servers, SOA, and server addresses. It asks the configured
// recursive resolvers (or an authoritative server directly), one UDP query
// at a time per question, RD set, with a timeout and a retry on the next
// server. Transport is upd::UdpChannel (connected UDP, non-blocking), the
// messages are built and parsed with codec/: no second DNS stack.
//
// Driven from the caller's poll loop like the UPDATE engine: fds(),
// on_ready(now), next_wakeup_ms(now). Answers arrive through callbacks,
// called from on_ready() (never from query() itself).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "codec/name.hpp"
#include "control/update/dns_client.hpp"

namespace updproxy::control {

struct LookupResult {
    bool answered = false;   // false: every server timed out or failed
    uint8_t rcode = 0;
    std::vector<codec::Name> ptr;  // PTR targets at the question's name
    struct Srv {
        uint16_t priority = 0, weight = 0, port = 0;
        codec::Name target;
    };
    std::vector<Srv> srv;                   // sorted by priority, then weight (descending)
    std::vector<std::string> addresses;     // A/AAAA of the question's name, as literals
    // SOA from the answer (the name is a zone apex) or the authority section
    // (NODATA/NXDOMAIN: the enclosing zone).
    std::optional<codec::Name> soa_zone;
    std::optional<codec::Name> soa_mname;
};

// What subdomain discovery needs from a resolver; tests substitute a fake.
class Lookup {
public:
    using Callback = std::function<void(const LookupResult&)>;
    virtual ~Lookup() = default;
    virtual void query(const codec::Name& name, uint16_t type, uint64_t now_ms, Callback cb) = 0;
};

struct ResolverStats {
    uint64_t queries = 0, answers = 0, timeouts = 0, send_errors = 0, malformed = 0;
    uint64_t truncated = 0;  // TC answers (used as they are: the records here are small)
};

class Resolver : public Lookup {
public:
    // `servers`: "ADDR", "ADDR:PORT" or "[V6]:PORT". Null with `error` when
    // one is not a literal address.
    static std::unique_ptr<Resolver> create(const std::vector<std::string>& servers,
                                            uint32_t timeout_ms, uint32_t attempts,
                                            std::string* error);

    void query(const codec::Name& name, uint16_t type, uint64_t now_ms, Callback cb) override;

    struct PollFd {
        int fd;
        short events;
    };
    std::vector<PollFd> fds() const;
    void on_ready(uint64_t now_ms);
    uint64_t next_wakeup_ms(uint64_t now_ms) const;
    bool idle() const { return pending_.empty(); }
    const ResolverStats& stats() const { return stats_; }

    // "ADDR[:PORT]" / "[V6]:PORT" -> endpoint (port 53 by default).
    static std::optional<upd::Endpoint> parse_server(const std::string& s);

private:
    struct Pending {
        codec::Name name;
        uint16_t type = 0;
        Callback cb;
        size_t server = 0;
        uint32_t attempt = 0;
        uint64_t deadline = 0;
        std::vector<uint8_t> wire;
    };
    Resolver() = default;
    void send(uint16_t id, Pending& p, uint64_t now_ms);
    void handle(std::span<const uint8_t> wire);
    uint16_t fresh_id();

    std::vector<std::unique_ptr<upd::UdpChannel>> servers_;
    uint32_t timeout_ms_ = 2000;
    uint32_t attempts_ = 3;
    std::map<uint16_t, Pending> pending_;
    std::vector<std::pair<LookupResult, Callback>> ready_;
    std::mt19937 rng_{std::random_device{}()};
    ResolverStats stats_;
};

}  // namespace updproxy::control
