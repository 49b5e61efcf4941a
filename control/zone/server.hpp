// The embedded authoritative service as one object for the control thread:
// the ZoneStore, the slow path of query answering (TSIG, transfers), the
// NOTIFY sender, and optional kernel-socket listeners.
//
// Daemon wiring (control thread):
//   auto srv = AuthServer::create(cfg, &err);
//   service model sink → srv->store().add()/remove(); after a batch
//   srv->store().commit() (serials, IXFR history, snapshot, NOTIFY);
//   poll loop → srv->fds(), srv->on_ready(now), srv->next_wakeup_ms(now).
// Dataplane worker (per lcore, created once on the control thread):
//   auto reader = srv->store().make_reader();
//   per burst: const ZoneSnapshot* s = reader->enter(); for each query
//   answer(msg, *s, ci, out, &counters) → reply | drop | punt; reader->leave().
//   A punted message goes to the control thread (query ring), which calls
//   srv->handle_punted(bytes, from, out) and sends what it returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "codec/tsig.hpp"
#include "control/zone/answer.hpp"
#include "control/zone/dns_listener.hpp"
#include "control/zone/net.hpp"
#include "control/zone/notify.hpp"
#include "control/zone/xfr.hpp"
#include "control/zone/zone_config.hpp"
#include "control/zone/zone_store.hpp"

namespace updproxy::control::zone {

struct AuthConfig {
    std::vector<ZoneConfig> zones;
    std::vector<codec::TsigKey> keys;  // TSIG: transfers, signed queries, NOTIFY
    ListenerConfig listen;             // kernel sockets; none when both lists are empty
    uint16_t max_udp_payload = 1232;   // EDNS payload we advertise and answer up to
    size_t xfr_message_size = 16384;
    NotifyOptions notify;
    uint64_t serial_base_unix = 0;     // first serial of zones without one; 0: now
    // One line per notable event (transfers, TSIG failures, NOTIFY problems);
    // empty: silent. May be called from the UDP thread too (TSIG failures on
    // UDP), so it must be thread-safe (a write to stderr is).
    std::function<void(const std::string&)> log;
};

struct SlowPathStats {
    uint64_t tsig_ok = 0, tsig_badkey = 0, tsig_badsig = 0, tsig_badtime = 0;
    uint64_t xfr_refused = 0, xfr_notauth = 0;
    uint64_t axfr = 0, ixfr_incremental = 0, ixfr_full = 0, ixfr_up_to_date = 0;
    uint64_t ixfr_udp = 0;
};

class AuthServer {
public:
    static std::unique_ptr<AuthServer> create(AuthConfig cfg, std::string* error);
    ~AuthServer();
    AuthServer(const AuthServer&) = delete;
    AuthServer& operator=(const AuthServer&) = delete;

    ZoneStore& store();
    const AuthConfig& config() const;

    // Control loop.
    std::vector<PollFd> fds() const;
    void on_ready(uint64_t now_ms);
    uint64_t next_wakeup_ms(uint64_t now_ms) const;

    // Slow path for a UDP message (punted by answer(), or straight from a
    // socket). Thread-safe: any answering thread may call it with the
    // snapshot it holds. Returns the response size in `out` (0: drop).
    size_t handle_udp(std::span<const uint8_t> msg, const Peer& from, const ZoneSnapshot& snap,
                      std::span<uint8_t> out, AnswerCounters* counters);
    // A dataplane worker's punted UDP message, on the control thread.
    size_t handle_punted(std::span<const uint8_t> msg, const Peer& from, std::span<uint8_t> out);

    // One message from a TCP connection (control thread): a response in
    // `out` (65535 bytes), or a transfer to stream.
    struct TcpReply {
        size_t size = 0;
        std::unique_ptr<XfrStream> stream;
    };
    TcpReply handle_tcp(std::span<const uint8_t> msg, const Peer& from, std::span<uint8_t> out);

    DnsListener* listener();
    NotifySender& notifier();
    SlowPathStats slow_stats() const;
    const AnswerCounters& control_counters() const;

    void log(const std::string& line) const;

    struct Impl;

private:
    explicit AuthServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace updproxy::control::zone
