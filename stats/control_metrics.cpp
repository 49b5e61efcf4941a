#include "stats/control_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "codec/types.hpp"

namespace updproxy::stats {

namespace {

double d(uint64_t v) { return static_cast<double>(v); }

}  // namespace

void collect_control(const ControlSnapshot& s, MetricSet& m) {
    // ---- the table as the control plane sees it ----
    m.gauge("updproxy_records", "Records in the service table, merged over shards").add(d(s.records));
    auto& lrec = m.gauge("updproxy_link_records", "Records in the service table per link");
    auto& lsvc = m.gauge("updproxy_link_services",
                         "DNS-SD service instances discovered and publishable per link "
                         "(SRV whose target has a routable address)");
    auto& lpub = m.gauge("updproxy_link_published_records",
                         "Records the service model publishes for a link (mapped into its subdomain)");
    auto& linfo = m.gauge("updproxy_link_info",
                          "A configured link: its port, prefix and subdomain (value 1)");
    for (const auto& l : s.links) {
        lrec.add({{"link", l.name}}, d(l.records));
        lsvc.add({{"link", l.name}}, d(l.services));
        lpub.add({{"link", l.name}}, d(l.published_records));
        linfo.add({{"link", l.name}, {"port", l.port}, {"prefix", l.prefix}, {"subdomain", l.subdomain}},
                  1);
    }

    // ---- the control loop ----
    m.counter("updproxy_refresh_queries_total",
              "Unicast mDNS queries sent to announcing hosts for records about to expire")
        .add(d(s.refresh_queries));
    m.counter("updproxy_refresh_questions_total",
              "Records asked for in refresh queries (one query asks a host for several)")
        .add(d(s.refresh_questions));
    m.counter("updproxy_enumeration_queries_total",
              "Multicast service enumeration queries sent (services, types, instances)")
        .add(d(s.enumeration_queries));
    m.counter("updproxy_known_answers_total",
              "Records listed as known answers in the proxy's queries (RFC 6762 7.1)")
        .add(d(s.known_answers));
    m.counter("updproxy_query_continuation_packets_total",
              "Extra query packets carrying known answers (TC bit, RFC 6762 7.2)")
        .add(d(s.continuation_packets));
    m.counter("updproxy_discovery_send_failures_total",
              "Discovery queries not handed to a worker (tx ring full)")
        .add(d(s.discovery_send_failures));
    m.gauge("updproxy_discovery_queued_queries", "Discovery queries waiting for a pacing token")
        .add(d(s.discovery_queued));
    m.counter("updproxy_enumeration_retransmissions_total",
              "Enumeration queries repeated with a doubling interval (RFC 6762 5.2)")
        .add(d(s.enumeration_retransmissions));
    m.counter("updproxy_subdomain_lookups_total",
              "Unicast DNS lookups for link subdomains and update servers (draft 3.1, 5.1)")
        .add(d(s.subdomain_lookups));
    m.counter("updproxy_subdomain_lookup_failures_total",
              "Subdomain and update-server lookups no resolver answered")
        .add(d(s.subdomain_lookup_failures));
    m.counter("updproxy_subdomain_changes_total",
              "Links moved to another subdomain or update server by DNS discovery")
        .add(d(s.subdomain_changes));
    m.counter("updproxy_subdomain_unpublishable_total",
              "Times a link's update server refused its UPDATEs (link unpublishable until rediscovery)")
        .add(d(s.subdomain_unpublishable));
    m.counter("updproxy_tx_requests_ring_full_total",
              "Frames the control plane could not hand to a worker (tx ring full)")
        .add(d(s.tx_ring_full));
    m.counter("updproxy_unicast_queries_unanswered_total",
              "Unicast DNS queries that reached the control plane while no query service runs")
        .add(d(s.unicast_queries_unanswered));
    m.counter("updproxy_table_resyncs_requested_total",
              "Full re-reads of the shards the control plane asked for, by cause")
        .add({{"cause", "ring_overflow"}}, d(s.resyncs_overflow))
        .add({{"cause", "operator"}}, d(s.resyncs_requested));
    m.counter("updproxy_publisher_changes_total",
              "Records the service model handed to the UPDATE engine, by action")
        .add({{"action", "publish"}}, d(s.published))
        .add({{"action", "unpublish"}}, d(s.unpublished));
    m.counter("updproxy_publisher_unroutable_total",
              "Records in no configured UPDATE zone (not sent)")
        .add(d(s.unroutable));
    m.counter("updproxy_publisher_refused_total",
              "Records the UPDATE engine refused (queue full)")
        .add(d(s.refused));
    m.counter("updproxy_config_reloads_total", "Configuration reloads, by result")
        .add({{"result", "success"}}, d(s.reloads_ok))
        .add({{"result", "failure"}}, d(s.reloads_failed));
    m.gauge("updproxy_config_last_reload_successful",
            "1 when the last reload applied, 0 when it was refused")
        .add(s.last_reload_ok ? 1 : 0);
    m.gauge("updproxy_config_last_reload_success_timestamp_seconds",
            "When the running configuration was loaded (start or reload), Unix time")
        .add(s.last_reload_unix);
    m.gauge("updproxy_control_snapshot_timestamp_seconds",
            "When the control loop last published its state, Unix time (stale = loop stuck)")
        .add(s.taken_unix);

    // ---- UPDATE, per zone ----
    auto& msgs = m.counter("updproxy_update_messages_total", "UPDATE messages sent (retries included)");
    auto& recs = m.counter("updproxy_update_records_total", "Record changes sent in UPDATE messages");
    auto& resp = m.counter("updproxy_update_responses_total",
                           "Answers to UPDATE messages by effective rcode (TSIG error when present)");
    auto& tsig = m.counter("updproxy_update_tsig_failures_total",
                           "Answers whose TSIG did not verify");
    auto& tmo = m.counter("updproxy_update_timeouts_total", "UPDATE messages that got no answer in time");
    auto& rtr = m.counter("updproxy_update_retries_total", "UPDATE messages sent again after a failure");
    auto& tcp = m.counter("updproxy_update_tcp_fallbacks_total",
                          "UPDATE messages sent over TCP after truncation or for size");
    auto& ovf = m.counter("updproxy_update_queue_overflows_total",
                          "Changes refused because the UPDATE queue was full");
    auto& fail = m.counter("updproxy_update_failed_changes_total",
                           "Changes that ended in a definitive failure (REFUSED, NOTAUTH, BADSIG...)");
    auto& conn = m.counter("updproxy_update_connection_failures_total",
                           "Transport errors talking to the zone's server (ICMP, connect, TLS)");
    auto& spl = m.counter("updproxy_update_splits_total",
                          "Rejected UPDATE messages split to isolate the change the server refuses");
    auto& rdb = m.counter("updproxy_update_readbacks_total",
                          "Zone read-backs (signed AXFR) by result");
    auto& lft = m.counter("updproxy_update_leftover_records_total",
                          "Records found on the server by read-backs that this run does not publish "
                          "(removed after a grace)");
    auto& hld = m.gauge("updproxy_update_held_changes",
                        "Changes the server rejected on their own, held back and retried with backoff");
    auto& des = m.gauge("updproxy_update_desired_records", "Records the proxy wants the server to hold");
    auto& conf = m.gauge("updproxy_update_confirmed_records", "Records the server confirmed holding");
    auto& pend = m.gauge("updproxy_update_pending_changes",
                         "Changes queued or in flight for the zone (UPDATE queue depth)");
    auto& up = m.gauge("updproxy_update_server_up",
                       "1 when the zone's server answered the latest UPDATE, else 0");
    auto& last = m.gauge("updproxy_update_last_success_timestamp_seconds",
                         "When the zone's server last accepted an UPDATE, Unix time; 0 = never");
    auto& info = m.gauge("updproxy_update_zone_info", "An UPDATE zone and its server (value 1)");
    auto& lat = m.histogram("updproxy_update_duration_seconds",
                            "Time from sending an UPDATE to its answer");
    for (const auto& z : s.zones) {
        const std::initializer_list<Label> zl = {{"zone", z.zone}};
        msgs.add(zl, d(z.messages_sent));
        recs.add(zl, d(z.records_sent));
        std::map<std::string, uint64_t> by_name;  // several codes are "RESERVED"
        for (size_t rc = 0; rc < z.responses.size(); ++rc) {
            by_name[std::string(codec::rcode_name(static_cast<uint16_t>(rc)))] += z.responses[rc];
        }
        for (const auto& [name, n] : by_name) resp.add({{"zone", z.zone}, {"rcode", name}}, d(n));
        tsig.add(zl, d(z.tsig_failures));
        tmo.add(zl, d(z.timeouts));
        rtr.add(zl, d(z.retries));
        tcp.add(zl, d(z.tcp_fallbacks));
        ovf.add(zl, d(z.queue_overflow));
        fail.add(zl, d(z.failed_changes));
        conn.add(zl, d(z.connection_failures));
        spl.add(zl, d(z.splits));
        rdb.add({{"zone", z.zone}, {"result", "success"}}, d(z.readbacks));
        rdb.add({{"zone", z.zone}, {"result", "failure"}}, d(z.readback_failures));
        lft.add(zl, d(z.leftovers));
        hld.add(zl, d(z.held));
        des.add(zl, d(z.desired));
        conf.add(zl, d(z.confirmed));
        pend.add(zl, d(z.pending));
        up.add(zl, z.reachable ? 1 : 0);
        last.add(zl, z.last_success_unix);
        info.add({{"zone", z.zone}, {"server", z.server}, {"transport", z.transport}}, 1);
        if (!z.latency_counts.empty()) {
            lat.add_histogram(zl, z.latency_bounds, z.latency_counts, z.latency_sum);
        }
    }

    // ---- the embedded DNS query service (only when it runs) ----
    if (s.queries) {
        const QuerySample& q = *s.queries;
        auto& qr = m.counter("updproxy_dns_responses_total", "Unicast DNS answers by rcode");
        std::map<std::string, uint64_t> by_name;
        for (size_t rc = 0; rc < q.responses.size(); ++rc) {
            by_name[std::string(codec::rcode_name(static_cast<uint16_t>(rc)))] += q.responses[rc];
        }
        for (const auto& [name, n] : by_name) qr.add({{"rcode", name}}, d(n));
        m.counter("updproxy_dns_queries_total", "Unicast DNS queries answered, by transport")
            .add({{"transport", "udp"}}, d(q.udp))
            .add({{"transport", "tcp"}}, d(q.tcp));
        m.counter("updproxy_dns_dpdk_queries_total",
                  "Unicast DNS queries received on a DPDK link (to a link address, port 53)")
            .add(d(q.dpdk));
        m.counter("updproxy_dns_worker_answers_total",
                  "Unicast DNS queries on a DPDK link answered by the worker that received them "
                  "(the rest: by the control thread)")
            .add(d(q.dpdk_worker));
        m.gauge("updproxy_dns_link_tcp_connections",
                "Open DNS-over-TCP connections to link addresses (the control thread's TCP endpoint)")
            .add(d(q.link_tcp_connections));
        m.counter("updproxy_dns_link_tcp_retransmits_total",
                  "TCP segments the link addresses' DNS endpoint sent again after a timeout")
            .add(d(q.link_tcp_retransmits));
        m.counter("updproxy_dns_link_tcp_dropped_total",
                  "TCP segments to link addresses dropped: bad checksum or malformed header")
            .add(d(q.link_tcp_dropped));
        m.counter("updproxy_dns_queries_dropped_total",
                  "Unicast DNS messages not answered (runts, responses, no room)")
            .add(d(q.dropped));
        m.counter("updproxy_dns_transfers_total", "Zone transfers served, by type")
            .add({{"type", "axfr"}}, d(q.transfers_axfr))
            .add({{"type", "ixfr"}}, d(q.transfers_ixfr));
        m.counter("updproxy_dns_transfers_refused_total",
                  "Zone transfers refused (no TSIG, key not allowed, not a served zone)")
            .add(d(q.transfers_refused));
        m.counter("updproxy_dns_tsig_failures_total",
                  "Signed queries whose TSIG did not verify (BADKEY, BADSIG, BADTIME)")
            .add(d(q.tsig_failures));
        m.counter("updproxy_dns_notifies_sent_total", "NOTIFY messages sent to secondaries")
            .add(d(q.notifies_sent));
        m.gauge("updproxy_dns_zones", "Zones the embedded DNS service serves").add(d(q.zones));
        m.gauge("updproxy_dns_zone_records",
                "Records in the served zones (the service model's publications; SOA, NS excluded)")
            .add(d(q.zone_records));
        m.counter("updproxy_dns_zone_commits_total",
                  "Zone snapshots published (serials bumped where content changed)")
            .add(d(q.commits));
        if (!q.latency.empty()) {
            auto& h = m.histogram("updproxy_dns_query_duration_seconds",
                                  "Time from receiving a unicast query to sending its answer, by path");
            for (const auto& l : q.latency) {
                h.add_histogram({{"path", l.path}}, l.bounds, l.counts, l.sum);
            }
        }
    }
}

void collect_build_info(MetricSet& m, const std::string& version, const std::string& dpdk_version) {
    m.gauge("updproxy_build_info", "The running updproxy's version and the DPDK it runs on (value 1)")
        .add({{"version", version}, {"dpdk_version", dpdk_version}}, 1);
}

namespace {

std::string read_text(const char* path) {
    std::ifstream in(path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

void collect_process(MetricSet& m) {
    const long ticks = sysconf(_SC_CLK_TCK);
    const long page = sysconf(_SC_PAGESIZE);
    // /proc/self/stat: the command may hold spaces; fields follow the last ')'.
    const std::string stat = read_text("/proc/self/stat");
    const auto rp = stat.rfind(')');
    if (rp != std::string::npos && ticks > 0) {
        std::istringstream in(stat.substr(rp + 2));
        std::vector<std::string> f;
        for (std::string w; in >> w;) f.push_back(w);
        // f[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24.
        if (f.size() > 21) {
            const double utime = std::strtod(f[11].c_str(), nullptr);
            const double stime = std::strtod(f[12].c_str(), nullptr);
            m.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds")
                .add((utime + stime) / static_cast<double>(ticks));
            m.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes")
                .add(std::strtod(f[20].c_str(), nullptr));
            m.gauge("process_resident_memory_bytes", "Resident memory size in bytes")
                .add(std::strtod(f[21].c_str(), nullptr) * static_cast<double>(page));
            // Start time: boot time (btime in /proc/stat) + starttime ticks.
            const std::string sys = read_text("/proc/stat");
            const auto bt = sys.find("\nbtime ");
            if (bt != std::string::npos) {
                const double btime = std::strtod(sys.c_str() + bt + 7, nullptr);
                m.gauge("process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds")
                    .add(btime + std::strtod(f[19].c_str(), nullptr) / static_cast<double>(ticks));
            }
        }
    }
    if (DIR* dir = opendir("/proc/self/fd")) {
        size_t n = 0;
        while (const dirent* e = readdir(dir)) n += e->d_name[0] != '.';
        closedir(dir);
        m.gauge("process_open_fds", "Number of open file descriptors").add(static_cast<double>(n) - 1);
    }
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        m.gauge("process_max_fds", "Maximum number of open file descriptors")
            .add(static_cast<double>(rl.rlim_cur));
    }
}

}  // namespace updproxy::stats
