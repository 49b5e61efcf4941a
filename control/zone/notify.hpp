// NOTIFY (RFC 1996) to a zone's secondaries when its serial changes, so they
// ask for the new version (SOA query, then IXFR) at once instead of at their
// next refresh.
//
// UDP, one socket per address family. Each (zone, secondary) has at most one
// NOTIFY in flight: a newer serial replaces an unanswered older one. It is
// re-sent on timeout with doubling intervals (1 s, 2 s, 4 s, ...) up to
// `max_tries`, then given up and counted (the secondary's refresh timer
// still catches up). TSIG-signed when the target names a key; a response
// must come from the target's address and port, carry the ID, and verify.
//
// Single-threaded (the control thread), driven by the caller's poll loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codec/tsig.hpp"
#include "control/zone/net.hpp"
#include "control/zone/snapshot.hpp"

namespace updproxy::control::zone {

struct NotifyOptions {
    uint32_t first_timeout_ms = 1000;
    uint32_t max_tries = 5;
};

struct NotifyStats {
    uint64_t sent = 0, retries = 0, acked = 0, failed = 0;  // failed: gave up or an error rcode
    uint64_t bad_responses = 0;  // unparseable, unknown ID, wrong source, TSIG failure
};

struct PollFd {
    int fd;
    short events;
};

class NotifySender {
public:
    NotifySender(std::vector<codec::TsigKey> keys, NotifyOptions opts = {});
    ~NotifySender();
    NotifySender(const NotifySender&) = delete;
    NotifySender& operator=(const NotifySender&) = delete;

    // Queues a NOTIFY for this zone version to each of its cfg.notify targets.
    // Errors (unknown key, bad address) are returned once per call.
    bool notify(const ZoneData& zone, uint64_t now_ms, std::string* error = nullptr);

    std::vector<PollFd> fds() const;
    void on_ready(uint64_t now_ms);
    uint64_t next_wakeup_ms(uint64_t now_ms) const;  // UINT64_MAX: nothing pending
    bool idle() const;

    NotifyStats stats() const { return st_; }

    // The clock for TSIG (Unix seconds); tests override it.
    void set_unix_clock(uint64_t (*clock)()) { unix_clock_ = clock; }

private:
    struct Pending;
    int socket_for(int family);
    void send(Pending& p, uint64_t now_ms);

    std::vector<codec::TsigKey> keys_;
    NotifyOptions opts_;
    int fd4_ = -1, fd6_ = -1;
    std::vector<std::unique_ptr<Pending>> pending_;
    NotifyStats st_;
    uint16_t next_id_;
    uint64_t (*unix_clock_)() = nullptr;
};

}  // namespace updproxy::control::zone
