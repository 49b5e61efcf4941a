// What the control plane publishes for the exporter and the telemetry
// thread: plain numbers and names, copied by the control loop (which owns
// the state they come from) every half second. Nothing here points into the
// control plane.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace updproxy::stats {

struct LinkSample {
    std::string name;
    std::string port;       // the port's configured name
    std::string prefix;     // "192.0.2.0/24"
    std::string vlan;       // "", "10", "200.30"
    std::string address;    // the proxy's address on the link, "" = none
    std::string subdomain;  // "" = not published
    uint64_t records = 0;   // records in the table (merged over shards)
    uint64_t services = 0;  // DNS-SD instances published (SRV with a routable target address)
    uint64_t published_records = 0;  // records the service model publishes for the link
};

// One UPDATE zone (UpdateEngine::stats), counters made monotonic across
// configuration reloads by the daemon.
struct ZoneSample {
    std::string zone;      // "campus.example.edu."
    std::string server;    // "198.51.100.53:53"
    std::string transport; // udp, tcp, tls
    uint64_t messages_sent = 0, records_sent = 0;
    std::array<uint64_t, 24> responses{};  // by effective rcode
    uint64_t tsig_failures = 0, timeouts = 0, retries = 0, tcp_fallbacks = 0;
    uint64_t queue_overflow = 0, failed_changes = 0, connection_failures = 0, stuck = 0;
    uint64_t splits = 0;             // rejected messages split to isolate a change
    uint64_t readbacks = 0, readback_failures = 0;  // zone read-backs (signed AXFR)
    uint64_t leftovers = 0;          // records found by read-backs that this run did not publish
    uint64_t desired = 0, confirmed = 0, pending = 0;
    uint64_t held = 0;               // changes rejected alone and held back now
    double last_success_unix = 0;  // wall clock seconds; 0 = never
    bool reachable = false;
    bool lease_echoed = false;
    std::string last_error;
    // Per-message latency histogram (send to answer), from the UPDATE
    // engine (ZoneStats::latency_*); empty = not exported.
    std::vector<double> latency_bounds;    // seconds
    std::vector<uint64_t> latency_counts;  // per bucket, one more for +Inf
    double latency_sum = 0;
};

// A latency histogram of one answering path (per bucket, one more for +Inf).
struct LatencySample {
    std::string path;              // label: "kernel_udp", "dpdk"
    std::vector<double> bounds;    // seconds
    std::vector<uint64_t> counts;
    double sum = 0;
};

// The embedded DNS query service (control/zone/ run by the daemon, `dns:` in
// the configuration); absent when it does not run (no invented numbers).
struct QuerySample {
    std::array<uint64_t, 24> responses{};  // answers by rcode
    uint64_t udp = 0, tcp = 0;             // queries by transport (DPDK links count as udp)
    uint64_t dpdk = 0;                     // of udp: received on a DPDK link
    uint64_t dpdk_worker = 0;              // of dpdk: answered by the worker itself
    uint64_t link_tcp_connections = 0;     // TCP on link addresses (control/link_tcp.*)
    uint64_t link_tcp_retransmits = 0, link_tcp_dropped = 0;
    uint64_t dropped = 0;                  // malformed, responses, runts: no answer
    uint64_t transfers_axfr = 0, transfers_ixfr = 0, notifies_sent = 0;
    uint64_t tsig_failures = 0, transfers_refused = 0;
    uint64_t zones = 0;                    // zones served
    uint64_t zone_records = 0;             // records in them (SOA and NS excluded)
    uint64_t commits = 0;                  // snapshots published (one per changed control loop pass)
    std::vector<LatencySample> latency;
};

struct ControlSnapshot {
    double taken_unix = 0;   // when the control loop made it
    uint64_t records = 0;    // the whole table, merged over shards
    std::vector<LinkSample> links;
    std::vector<ZoneSample> zones;
    // The control loop's own counters.
    uint64_t refresh_queries = 0;       // unicast mDNS queries for records about to expire
    uint64_t refresh_questions = 0;     // records asked for in them
    uint64_t enumeration_queries = 0;   // multicast enumeration queries (all steps)
    uint64_t known_answers = 0;         // records listed as known answers (RFC 6762 §7.1)
    uint64_t continuation_packets = 0;  // extra packets for known answers (TC, §7.2)
    uint64_t discovery_send_failures = 0;  // queries not queued (a tx ring was full)
    uint64_t discovery_queued = 0;      // queries waiting for a pacing token now
    uint64_t enumeration_retransmissions = 0;  // repeats of enumeration queries (RFC 6762 §5.2)
    // Subdomain and update-server discovery through DNS (draft §3.1, §5.1).
    uint64_t subdomain_lookups = 0, subdomain_lookup_failures = 0;
    uint64_t subdomain_changes = 0;       // a link moved to another subdomain or server
    uint64_t subdomain_unpublishable = 0; // a link's update server refused its UPDATEs
    uint64_t tx_ring_full = 0;          // frames not sent: a worker's tx ring was full
    uint64_t unicast_queries_unanswered = 0;  // reached the control plane with no query service (no `dns:`)
    uint64_t resyncs_overflow = 0;      // shard re-reads after an event ring overflow
    uint64_t resyncs_requested = 0;     // by updproxyctl resync or a reload
    // Publisher (service model -> UPDATE engine).
    uint64_t published = 0, unpublished = 0, unroutable = 0, refused = 0;
    // Configuration reloads.
    uint64_t reloads_ok = 0, reloads_failed = 0;
    double last_reload_unix = 0;  // last successful load (start counts)
    bool last_reload_ok = true;
    std::optional<QuerySample> queries;
};

}  // namespace updproxy::stats
