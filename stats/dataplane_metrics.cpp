#include "stats/dataplane_metrics.hpp"

#include <rte_version.h>

#include <algorithm>
#include <string>
#include <vector>

#include "codec/result.hpp"
#include "dataplane/dpdk_dataplane.hpp"

namespace updproxy::stats {

namespace {

double d(uint64_t v) { return static_cast<double>(v); }

}  // namespace

std::string dpdk_version() {
    std::string v = rte_version();
    if (v.rfind("DPDK ", 0) == 0) v = v.substr(5);
    return v;
}

void collect_dataplane(dataplane::Dataplane& dp, MetricSet& m) {
    namespace dpl = dataplane;
    const size_t workers = dp.worker_count();
    const auto& links = dp.links();

    // ---- per worker: sums and load ----
    uint64_t rx = 0, rx_bytes = 0, mdns = 0, mdns_q = 0, dnsq = 0, dns_tcp = 0, arp = 0, nd = 0;
    uint64_t tx = 0, tx_bytes = 0, tx_failed = 0, tx_dropped = 0;
    uint64_t frame_drop[dpl::kDropReasonCount] = {};
    uint64_t path_drop[dpl::kPathDropCount] = {};
    uint64_t parse[dpl::kParseReasonCount] = {};
    std::vector<uint64_t> lpk(links.size()), lby(links.size());
    auto& wrx = m.counter("updproxy_worker_rx_packets_total", "Frames received, per worker lcore");
    auto& wsec = m.counter("updproxy_worker_seconds_total",
                           "Time a worker lcore spent polling, by state: busy (polls that "
                           "received frames) or idle");
    auto& wpoll = m.counter("updproxy_worker_polls_total", "Receive polls of every port, per worker lcore");
    const double hz = d(dpl::Dataplane::tsc_hz());
    for (size_t w = 0; w < workers; ++w) {
        const auto& c = dp.counters(w);
        const std::string ws = std::to_string(w);
        rx += c.rx_packets.get();
        rx_bytes += c.rx_bytes.get();
        mdns += c.mdns_messages.get();
        mdns_q += c.mdns_queries.get();
        dnsq += c.dns_queries.get();
        dns_tcp += c.dns_tcp_segments.get();
        arp += c.arp_replies.get();
        nd += c.nd_replies.get();
        tx += c.tx_packets.get();
        tx_bytes += c.tx_bytes.get();
        tx_failed += c.tx_failed.get();
        tx_dropped += c.tx_requests_dropped.get();
        for (size_t i = 0; i < dpl::kDropReasonCount; ++i) frame_drop[i] += c.frame_drop[i].get();
        for (size_t i = 0; i < dpl::kPathDropCount; ++i) path_drop[i] += c.path_drop[i].get();
        for (size_t i = 0; i < dpl::kParseReasonCount; ++i) parse[i] += c.parse_error[i].get();
        for (size_t l = 0; l < links.size() && l < c.link_packets.size(); ++l) {
            lpk[l] += c.link_packets[l].get();
            lby[l] += c.link_bytes[l].get();
        }
        wrx.add({{"worker", ws}}, d(c.rx_packets.get()));
        const auto load = dp.worker_load(w);
        if (hz > 0) {
            wsec.add({{"worker", ws}, {"state", "busy"}}, d(load.busy_cycles) / hz);
            wsec.add({{"worker", ws}, {"state", "idle"}}, d(load.idle_cycles) / hz);
        }
        wpoll.add({{"worker", ws}}, d(c.bursts.get()));
    }
    m.gauge("updproxy_workers", "Dataplane worker lcores").add(d(workers));
    m.counter("updproxy_rx_packets_total", "Frames received by the workers, all ports").add(d(rx));
    m.counter("updproxy_rx_bytes_total", "Bytes of frames received by the workers, all ports")
        .add(d(rx_bytes));
    m.counter("updproxy_mdns_messages_total", "mDNS responses parsed and handed to the table")
        .add(d(mdns));
    m.counter("updproxy_mdns_queries_seen_total",
              "mDNS queries seen on the links (never a source of records)")
        .add(d(mdns_q));
    m.counter("updproxy_dns_queries_received_total",
              "Unicast DNS queries to a service address handed to the control plane")
        .add(d(dnsq));
    m.counter("updproxy_dns_tcp_segments_received_total",
              "TCP segments to a service address, port 53, handed to the control plane's TCP endpoint")
        .add(d(dns_tcp));
    m.counter("updproxy_neighbor_replies_total", "ARP and Neighbor Advertisement replies sent")
        .add({{"protocol", "arp"}}, d(arp))
        .add({{"protocol", "nd"}}, d(nd));
    m.counter("updproxy_tx_packets_total", "Frames sent by the workers").add(d(tx));
    m.counter("updproxy_tx_bytes_total", "Bytes of frames sent by the workers").add(d(tx_bytes));
    m.counter("updproxy_tx_failures_total", "Frames not sent (no mbuf, TX queue full)").add(d(tx_failed));
    m.counter("updproxy_tx_requests_invalid_total",
              "Send requests from the control plane a worker refused (bad link, no address)")
        .add(d(tx_dropped));

    auto& drops = m.counter("updproxy_dropped_packets_total",
                            "Frames not used, by stage (frame: classification; path: link and "
                            "RFC 6762 checks) and reason");
    for (size_t i = 1; i < dpl::kDropReasonCount; ++i) {
        drops.add({{"stage", "frame"},
                   {"reason", dpl::reason_name(static_cast<dpl::DropReason>(i))}},
                  d(frame_drop[i]));
    }
    for (size_t i = 0; i < dpl::kPathDropCount; ++i) {
        drops.add({{"stage", "path"},
                   {"reason", dpl::path_drop_name(static_cast<dpl::PathDrop>(i))}},
                  d(path_drop[i]));
    }
    auto& perr = m.counter("updproxy_parse_errors_total",
                           "mDNS responses the codec rejected, by reason");
    // The parser's reasons (the codec's later ones are the writer's and TSIG's).
    const auto parse_reasons =
        std::min(dpl::kParseReasonCount, static_cast<size_t>(codec::Reason::no_space));
    for (size_t i = 1; i < parse_reasons; ++i) {
        perr.add({{"reason", codec::reason_name(static_cast<codec::Reason>(i))}}, d(parse[i]));
    }

    auto& lp = m.counter("updproxy_link_packets_total",
                         "mDNS packets accepted on a link (after the on-link and TTL checks)");
    auto& lb = m.counter("updproxy_link_bytes_total", "Bytes of mDNS packets accepted on a link");
    for (size_t l = 0; l < links.size(); ++l) {
        if (!links[static_cast<uint16_t>(l)].active) continue;  // removed by a reload
        lp.add({{"link", links[l].name}}, d(lpk[l]));
        lb.add({{"link", links[l].name}}, d(lby[l]));
    }

    // ---- shards (the worker's periodic mirror of its counters) ----
    table::ShardCounters sum{};
    uint64_t live = 0;
    for (size_t w = 0; w < workers; ++w) {
        const table::ShardCounters c = dp.shard_counters(w);
        sum.messages += c.messages;
        sum.records_seen += c.records_seen;
        sum.adds += c.adds;
        sum.refreshes += c.refreshes;
        sum.ttl_changes += c.ttl_changes;
        sum.goodbyes += c.goodbyes;
        sum.flushes += c.flushes;
        sum.removes += c.removes;
        sum.expiries += c.expiries;
        sum.purged += c.purged;
        sum.refresh_due += c.refresh_due;
        sum.events_dropped += c.events_dropped;
        sum.resyncs += c.resyncs;
        for (int i = 0; i < static_cast<int>(table::Refusal::count_); ++i) sum.refused[i] += c.refused[i];
        live += dp.shard_records(w);
    }
    m.gauge("updproxy_table_shard_records", "Records held by the shards (a record two shards hold counts twice)")
        .add(d(live));
    m.counter("updproxy_table_records_seen_total", "Answer and additional records looked at by the table")
        .add(d(sum.records_seen));
    m.counter("updproxy_table_changes_total", "Service table operations, by kind")
        .add({{"kind", "add"}}, d(sum.adds))
        .add({{"kind", "refresh"}}, d(sum.refreshes))
        .add({{"kind", "ttl_change"}}, d(sum.ttl_changes))
        .add({{"kind", "goodbye"}}, d(sum.goodbyes))
        .add({{"kind", "cache_flush"}}, d(sum.flushes))
        .add({{"kind", "remove"}}, d(sum.removes))
        .add({{"kind", "expiry"}}, d(sum.expiries))
        .add({{"kind", "link_removed"}}, d(sum.purged))
        .add({{"kind", "refresh_due"}}, d(sum.refresh_due));
    auto& ref = m.counter("updproxy_table_refused_total",
                          "Records or messages the table did not take, by reason");
    for (int i = 0; i < static_cast<int>(table::Refusal::count_); ++i) {
        ref.add({{"reason", table::refusal_name(static_cast<table::Refusal>(i))}}, d(sum.refused[i]));
    }
    m.counter("updproxy_table_resyncs_total", "Full re-reads the shards streamed to the control plane")
        .add(d(sum.resyncs));

    // ---- rings (one of each per worker) ----
    auto& rmsg = m.counter("updproxy_ring_messages_total",
                           "Messages written to a worker's ring, by ring (events, queries: "
                           "worker to control; tx: control to worker)");
    auto& rdrop = m.counter("updproxy_ring_overflows_total",
                            "Messages dropped because a worker's ring was full, by ring");
    for (size_t w = 0; w < workers; ++w) {
        const std::string ws = std::to_string(w);
        rmsg.add({{"ring", "events"}, {"worker", ws}}, d(dp.events(w).produced()));
        rmsg.add({{"ring", "queries"}, {"worker", ws}}, d(dp.queries(w).produced()));
        rmsg.add({{"ring", "tx"}, {"worker", ws}}, d(dp.tx(w).produced()));
        rdrop.add({{"ring", "events"}, {"worker", ws}}, d(dp.events(w).dropped()));
        rdrop.add({{"ring", "queries"}, {"worker", ws}}, d(dp.queries(w).dropped()));
        rdrop.add({{"ring", "tx"}, {"worker", ws}}, d(dp.tx(w).dropped()));
    }

    // ---- DPDK ports ----
    auto& pip = m.counter("updproxy_port_rx_packets_total", "Packets the port received (DPDK ipackets)");
    auto& pib = m.counter("updproxy_port_rx_bytes_total", "Bytes the port received (DPDK ibytes)");
    auto& pop = m.counter("updproxy_port_tx_packets_total", "Packets the port sent (DPDK opackets)");
    auto& pob = m.counter("updproxy_port_tx_bytes_total", "Bytes the port sent (DPDK obytes)");
    auto& pim = m.counter("updproxy_port_rx_missed_total",
                          "Packets the NIC dropped because the RX queue was full (DPDK imissed)");
    auto& pie = m.counter("updproxy_port_rx_errors_total", "Erroneous packets received (DPDK ierrors)");
    auto& poe = m.counter("updproxy_port_tx_errors_total", "Packets that failed to send (DPDK oerrors)");
    auto& pnb = m.counter("updproxy_port_rx_nombuf_total",
                          "RX mbuf allocation failures (DPDK rx_nombuf)");
    for (size_t p = 0; p < dp.ports().size(); ++p) {
        const auto s = dp.port_stats(p);
        const std::initializer_list<Label> pl = {{"port", dp.ports()[p].name}};
        pip.add(pl, d(s.ipackets));
        pib.add(pl, d(s.ibytes));
        pop.add(pl, d(s.opackets));
        pob.add(pl, d(s.obytes));
        pim.add(pl, d(s.imissed));
        pie.add(pl, d(s.ierrors));
        poe.add(pl, d(s.oerrors));
        pnb.add(pl, d(s.rx_nombuf));
    }
}

}  // namespace updproxy::stats
