// Publishing records into authoritative servers with DNS UPDATE (RFC 2136).
//
// The engine keeps, per zone, the state the proxy wants the server to hold
// (`desired`) and the state the server has confirmed (`confirmed`); what it
// sends is the difference, as batched UPDATE messages:
//
//   - one zone per message (draft §5.2), as many changes per message as fit;
//   - sent when the batching window closes (e.g. 50 ms after the first
//     pending change) or as soon as a message is full;
//   - adds are RFC 2136 §2.5.1 "add to an RRset", removals §2.5.4 "delete an
//     RR from an RRset": both are idempotent, so a retry, a second proxy on
//     the same link, or a reconciliation pass never duplicates or removes
//     another publisher's records (draft §4.7);
//   - TSIG on every message (RFC 8945; refused at start without a key unless
//     explicitly allowed, draft §5), the response's TSIG verified;
//   - EDNS(0) Update Lease (RFC 9664) with the configured lease, refreshed at
//     ~80% of it with jitter; optional TIMEOUT RRs
//     (draft-ietf-dnsop-update-timeout-01) in the same message;
//   - UDP, falling back to TCP on TC or when a message is larger than the UDP
//     limit; persistent TCP connections; DNS over TLS (port 853, certificate
//     verified with OpenSSL) where configured. Batches are built up to
//     max_message whatever the transport: a message within udp_limit goes
//     over UDP, a larger one (a backlog) over TCP, because a server's cost
//     is per message (BIND 9.18 syncs its journal twice per UPDATE). While
//     retrying after a failure, UDP zones send UDP-sized messages;
//   - retries with exponential backoff and jitter; a bounded queue of pending
//     changes with counted overflow.
//
// Nothing is lost: while a server is unreachable the desired state is kept
// and the difference is sent when it answers again. A periodic
// reconciliation re-sends every desired record (harmless: adds are
// idempotent), which restores records a server lost (zone reloaded, journal
// gone); removals that were pending while it was down go out with it.
//
// Single-threaded: the control thread calls everything. I/O is non-blocking
// and driven by the caller's poll loop (fds() / on_ready() / next_wakeup()).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/name.hpp"
#include "codec/tsig.hpp"

namespace updproxy::control {

// One record to publish (class IN). RDATA is uncompressed wire form.
struct PubRecord {
    codec::Name owner;
    uint16_t type = 0;
    uint32_t ttl = 0;
    std::vector<uint8_t> rdata;
};

enum class Transport : uint8_t { udp, tcp, tls };

struct ZoneServer {
    codec::Name zone;       // the zone named in the UPDATE's zone section
    std::string address;    // IPv4 or IPv6 literal
    uint16_t port = 53;
    Transport transport = Transport::udp;  // udp falls back to tcp by itself
    std::string tls_name;   // certificate name to verify (TLS); default: address
    std::string ca_file;    // PEM CA bundle (TLS); default: system store
};

struct UpdateConfig {
    std::vector<ZoneServer> zones;
    std::optional<codec::TsigKey> key;   // required unless allow_unsigned
    bool allow_unsigned = false;
    uint32_t lease_s = 3600;             // Update Lease; 0 = do not send the option
    std::optional<uint32_t> key_lease_s; // 8-byte form when set
    // Also send TIMEOUT RRs (draft -01, method 1): for each RRset a message
    // touches, one TIMEOUT (type timeout_type, at the RRset's owner) whose
    // hashes cover every record of that RRset the engine wants published,
    // expiring at now + lease_s; the TIMEOUT it left before is deleted in the
    // same message, so refreshes do not pile them up. Needs lease_s > 0.
    // Large RRsets make large TIMEOUTs (16 bytes per record).
    bool timeout_rrs = false;
    uint16_t timeout_type = 65280;
    uint32_t batch_window_ms = 50;
    uint16_t udp_limit = 1232;           // larger messages go over TCP
    uint32_t max_message = 16384;        // batch size limit (512..65535); over TCP/TLS
    uint32_t max_pending = 1'000'000;    // changes queued per engine, beyond: counted refusal
    uint32_t retry_initial_ms = 500;
    uint32_t retry_max_ms = 30'000;
    uint32_t response_timeout_ms = 2000;
    uint32_t reconcile_interval_s = 300; // read-back (or full re-send) period; 0 = only at lease refresh
    // Read-back: for zones holding a managed subdomain (manage()), the engine
    // reads the zone (AXFR, TSIG-signed, over the zone's TCP or TLS) before
    // its first UPDATE and at every reconciliation, and converges it to the
    // desired state under the managed names only. A server that refuses the
    // transfer gets the full re-send instead.
    bool read_back = true;
    // How long a record found under a managed name that the proxy does not
    // want waits before its removal (the links are being relearned after a
    // restart); 0: min(reconcile_interval_s, 30) s, 30 s without reconcile.
    uint32_t orphan_grace_ms = 0;

    // Tests: the monotonic clock (ms) add()/remove() use to open a batching
    // window; it must be the clock the caller passes to on_ready(). Empty:
    // CLOCK_MONOTONIC. And a seed for IDs and jitter (0: random_device).
    std::function<uint64_t()> clock_ms;
    uint64_t random_seed = 0;
};

struct ZoneStats {
    uint64_t messages_sent = 0, records_sent = 0;
    // Answers by effective rcode (0..23): the TSIG error when the answer
    // carries one (BADSIG 16, BADKEY 17, BADTIME 18), else RCODE with the
    // OPT's extended bits. An answer whose TSIG does not verify is counted
    // in tsig_failures instead (except the unsigned BADSIG/BADKEY answers
    // RFC 8945 §5.3.2 prescribes, counted here).
    uint64_t responses[24] = {};
    uint64_t tsig_failures = 0;   // response did not verify
    uint64_t timeouts = 0, retries = 0;
    uint64_t tcp_fallbacks = 0;
    uint64_t queue_overflow = 0;
    uint64_t desired = 0, confirmed = 0, pending = 0;
    uint64_t last_success_ms = 0;  // monotonic; 0 = never
    bool reachable = false;
    // The server echoed the Update Lease option (latest NOERROR answer to a
    // message carrying it). BIND 9.18 does not: it ignores the option.
    bool lease_echoed = false;
    uint64_t failed_changes = 0;      // this zone's share of failed_changes()
    uint64_t connection_failures = 0; // UDP socket errors (ICMP), TCP/TLS connect/IO errors
    uint64_t tcp_connects = 0;        // TCP/TLS connections opened (persistence check)
    uint64_t stuck = 0;               // changes too large for any message (counted failed)
    // A message the server rejected as a whole (SERVFAIL, REFUSED, FORMERR,
    // NOTZONE) with more than one change is split in two and each half
    // retried at once, so one change the server will not take (an RRset over
    // BIND's max-records-per-type) is isolated and held back with its own
    // backoff while the others land.
    uint64_t splits = 0;
    uint64_t held = 0;                // changes rejected alone, not accepted since (held back)
    uint64_t readbacks = 0, readback_failures = 0;  // zone read-backs (AXFR)
    uint64_t leftovers = 0;           // records adopted from the server by read-backs
    // Time from sending an UPDATE to its answer (answered messages only):
    // cumulative-free bucket counts for latency_bounds (seconds), one more
    // for +Inf, and the sum in seconds.
    std::vector<double> latency_bounds;
    std::vector<uint64_t> latency_counts;
    double latency_sum = 0;
    std::string last_error;           // the latest failure, for logs
};

class UpdateEngine {
public:
    // Errors (returned via `error`): no key and not allow_unsigned, a zone
    // without server, unparseable address.
    static std::unique_ptr<UpdateEngine> create(const UpdateConfig& cfg, std::string* error);
    virtual ~UpdateEngine() = default;

    // Desired state. `zone` must be one of the configured zones (else false).
    // Adding a record that is already desired with another TTL is a TTL change.
    virtual bool add(const codec::Name& zone, const PubRecord& r) = 0;
    virtual bool remove(const codec::Name& zone, const PubRecord& r) = 0;
    // Resynchronise: read the zone back (when it holds a managed name and
    // the server allows the transfer) and send the difference; otherwise
    // forget what the server confirmed and re-send everything desired.
    virtual void reconcile(const codec::Name& zone) = 0;
    // A subdomain the proxy publishes (a link's): records under it of the
    // types the proxy publishes (A, AAAA, PTR, SRV, TXT), and the parent's
    // b/lb._dns-sd._udp PTRs naming it, are the proxy's to converge. Call
    // before the first on_ready(). Nothing outside these is ever removed.
    virtual void manage(const codec::Name& subdomain) = 0;
    // Run-time server discovery (draft §5.1): adds `s.zone` with this server,
    // or replaces the server of a zone already known. A replaced server gets
    // the whole desired state again (an answer in flight to the old one counts
    // as ambiguous and is retried). Same server again: nothing changes.
    // Errors: the address is not a literal, the TLS context failed.
    virtual bool set_server(const ZoneServer& s, std::string* error) = 0;

    // Event loop: descriptors to poll (fd, events), call on_ready() after
    // poll, and wake up by next_wakeup_ms() (monotonic) at the latest.
    struct PollFd {
        int fd;
        short events;
    };
    virtual std::vector<PollFd> fds() const = 0;
    virtual void on_ready(uint64_t now_ms) = 0;
    virtual uint64_t next_wakeup_ms(uint64_t now_ms) const = 0;

    // True when nothing is in flight and nothing is queued for a first
    // attempt: every change was answered or is waiting for a retry. Changes
    // that wait for a retry (server down, REFUSED...) do not keep the engine
    // busy, and neither does anything queued for a zone that is backing off
    // after a failed message (its whole queue waits for that retry). So a
    // caller can wait for idle() and then read failed_changes() without
    // hanging on an unreachable server; stats().pending says what is left.
    virtual bool idle() const = 0;
    // Changes that ended in a definitive failure (REFUSED, NOTAUTH, BADSIG...)
    // since start: `updproxy replay` exits non-zero when any.
    virtual uint64_t failed_changes() const = 0;
    // Read-backs that failed since start (all zones), for a log line each.
    virtual uint64_t readback_failures() const = 0;
    virtual ZoneStats stats(const codec::Name& zone) const = 0;
    virtual std::vector<codec::Name> zones() const = 0;
};

}  // namespace updproxy::control
