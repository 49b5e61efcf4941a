#include "control/replay_command.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
#include <pcap/pcap.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "codec/present.hpp"
#include "codec/types.hpp"
#include "control/config/config.hpp"
#include "control/control_plane.hpp"
#include "control/dataplane_options.hpp"
#include "control/decode_command.hpp"
#include "control/record_format.hpp"
#include "dataplane/dpdk_dataplane.hpp"
#include "dataplane/frame.hpp"
#include "dataplane/learned_links.hpp"

namespace updproxy::control {

namespace {

using dataplane::LinkSpec;

struct CaptureScan {
    uint64_t frames = 0;
    int linktype = 0;
    std::vector<LinkSpec> learned;
};

std::string prefix_text(const LinkSpec& l) {
    uint8_t ip16[16] = {};
    if (l.v6) {
        std::memcpy(ip16, l.prefix.data(), 16);
    } else {
        ip16[10] = ip16[11] = 0xFF;
        std::memcpy(ip16 + 12, l.prefix.data(), 4);
    }
    return address_text(ip16) + "/" + std::to_string(l.prefix_len);
}

// Links learned from the capture (dataplane::LinkLearner: one per VLANs,
// family and /24 or /64 of a non-link-local source; link-local sources join
// their VLAN and family's link, or get one of their own), named here.
bool scan_capture(const std::string& path, CaptureScan* scan, std::string* error) {
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    if (p == nullptr) {
        // libpcap names the file in some messages and not in others.
        const std::string msg = errbuf;
        *error = msg.find(path) != std::string::npos ? msg : path + ": " + msg;
        return false;
    }
    scan->linktype = pcap_datalink(p);
    dataplane::LinkLearner learner;
    pcap_pkthdr* h;
    const u_char* data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        ++scan->frames;
        dataplane::FrameInfo f;
        if (dataplane::parse_frame(scan->linktype, {data, h->caplen}, f) != dataplane::DropReason::ok) {
            continue;
        }
        learner.see(f);
    }
    if (rc == -1) {
        *error = path + ": " + pcap_geterr(p);
        pcap_close(p);
        return false;
    }
    pcap_close(p);
    scan->learned = learner.links();
    for (auto& l : scan->learned) {
        std::string name;
        for (uint8_t i = 0; i < l.vlan_count; ++i) name += "vlan" + std::to_string(l.vlan[i]) + "-";
        name += prefix_text(l);
        l.name = name;
    }
    return true;
}

void print_stats(const dataplane::Dataplane& dp, std::ostream& err, uint64_t frames) {
    const auto& c = dp.counters(0);
    // Queries are counted but never parsed (never a source of records).
    err << ";; replay: " << frames << " frames, " << c.mdns_messages.get() + c.mdns_queries.get()
        << " mDNS messages, clock at the last packet " << dp.last_time_ms() << " ms (Unix time); "
        << c.mdns_messages.get() << " responses, " << c.mdns_queries.get() << " queries\n";
    for (size_t i = 0; i < dataplane::kDropReasonCount; ++i) {
        if (uint64_t n = c.frame_drop[i].get()) {
            err << ";;   dropped " << n << " "
                << dataplane::reason_name(static_cast<dataplane::DropReason>(i)) << '\n';
        }
    }
    for (size_t i = 0; i < dataplane::kPathDropCount; ++i) {
        if (uint64_t n = c.path_drop[i].get()) {
            err << ";;   dropped " << n << " "
                << dataplane::path_drop_name(static_cast<dataplane::PathDrop>(i)) << '\n';
        }
    }
    for (size_t i = 0; i < dataplane::kParseReasonCount; ++i) {
        if (uint64_t n = c.parse_error[i].get()) {
            err << ";;   parse error " << n << " "
                << codec::reason_name(static_cast<codec::Reason>(i)) << '\n';
        }
    }
}

}  // namespace

CLI::App* add_replay_command(CLI::App& app, ReplayOptions& opts) {
    CLI::App* cmd = app.add_subcommand(
        "replay", "Run the dataplane over a capture (DPDK net_pcap) and print the service table");
    cmd->add_option("CAPTURE", opts.capture, "pcap or pcapng capture (Ethernet)")->required();
    cmd->add_option("--config", opts.config, "configuration file (links); default: learn links");
    cmd->add_flag("--json", opts.json, "one JSON object per record and line");
    cmd->add_flag("--stats", opts.stats, "print frame, drop and parse counters to stderr");
    return cmd;
}

int run_replay(const ReplayOptions& opts, const char* argv0, std::ostream& out, std::ostream& err) {
    if (opts.capture.find(',') != std::string::npos) {
        err << "updproxy replay: " << opts.capture
            << ": a capture path may not contain ',' (DPDK device arguments)\n";
        return kExitUsage;
    }
    CaptureScan scan;
    std::string error;
    if (!scan_capture(opts.capture, &scan, &error)) {
        err << "updproxy replay: " << error << '\n';
        return kExitUsage;
    }
    if (scan.linktype != DLT_EN10MB) {
        err << "updproxy replay: " << opts.capture << ": link type " << scan.linktype
            << " is not Ethernet; net_pcap replays Ethernet captures only\n";
        return kExitUsage;
    }

    dataplane::DataplaneOptions dp;
    // Both lcores on the first CPU: replay runs the worker inline on the main
    // lcore and needs no second core.
    dp.eal.lcores = {0, 1};
    dp.eal.lcore_map = "0@0,1@0";
    dp.eal.memory_mb = 256;
    dp.eal.no_huge = true;
    dp.eal.telemetry = false;
    dp.eal.file_prefix = "updproxy-replay-" + std::to_string(getpid());
    dp.eal.vdevs = {"net_pcap_replay0,rx_pcap=" + opts.capture};
    dp.ports = {{"capture", "net_pcap_replay0", 1024, 1024, true}};
    dp.capture_time = true;
    std::optional<config::Config> cfg;
    if (opts.config.empty()) {
        dp.links = scan.learned;
    } else {
        // The configuration's links, all on the capture's one port: a
        // capture of a trunk carries every VLAN the configuration names.
        auto parsed = config::load_config(opts.config);
        if (auto* e = std::get_if<config::ConfigError>(&parsed)) {
            err << "updproxy replay: " << e->to_string() << '\n';
            return kExitUsage;
        }
        cfg = std::get<config::Config>(std::move(parsed));
        dp.links = dataplane_options(*cfg).links;
        dp.table = dataplane_options(*cfg).table;
        dp.table.max_records = cfg->table.max_records;
        dp.table.max_records_per_link = cfg->table.max_records_per_link;
    }
    for (auto& l : dp.links) l.port = 0;

    auto plane = dataplane::Dataplane::create(dp, argv0, &error);
    if (!plane) {
        err << "updproxy replay: " << error << '\n';
        return kExitFailed;
    }
    // With a configuration that has `update`, the whole chain runs: the
    // control plane mirrors the table as it changes and publishes.
    std::unique_ptr<ControlPlane> cp;
    if (cfg && cfg->update.enabled) {
        cp = ControlPlane::create(*cfg, dp.links, err, &error);
        if (!cp) {
            err << "updproxy replay: update: " << error << '\n';
            return kExitFailed;
        }
        cp->start();
    }
    auto drain = [&] {
        if (!cp) return;
        plane->events(0).consume([&](std::span<const uint8_t> bytes) {
            if (auto e = table::decode_event(bytes)) cp->on_event(*e, nullptr);
        });
        if (plane->events(0).dropped() != 0) {
            // Never expected (the ring is drained after every poll); say so.
            err << "updproxy replay: event ring overflowed\n";
        }
        cp->on_io(dataplane::monotonic_ms());
    };
    const uint64_t got = plane->run_inline(scan.frames, 2000, drain);
    plane->shard(0).advance(plane->last_time_ms());
    plane->shard(0).flush_events();
    drain();
    int publish_rc = kExitOk;
    if (cp) {
        // Exit only when every UPDATE has been answered (bounded).
        const uint64_t deadline = dataplane::monotonic_ms() + 120'000;
        while (!cp->updates_idle() && dataplane::monotonic_ms() < deadline) {
            std::vector<pollfd> fds;
            cp->add_pollfds(fds);
            poll(fds.data(), fds.size(), cp->timeout_ms(dataplane::monotonic_ms(), 100));
            cp->on_io(dataplane::monotonic_ms());
        }
        const bool idle = cp->updates_idle();
        err << ";; published " << cp->publisher().published() - cp->publisher().unpublished()
            << " records; " << cp->failed_changes() << " changes refused"
            << (idle ? "" : "; gave up waiting for answers after 120 s") << '\n';
        if (cp->engine()) {
            for (const auto& z : cp->engine()->zones()) {
                const auto st = cp->engine()->stats(z);
                err << ";;   zone " << z.to_string() << ": " << st.messages_sent << " UPDATEs, "
                    << st.records_sent << " records, " << st.responses[0] << " NOERROR, "
                    << st.timeouts << " timeouts, confirmed " << st.confirmed << "/" << st.desired
                    << ", " << st.pending << " pending";
                for (size_t rc = 1; rc < std::size(st.responses); ++rc) {
                    if (st.responses[rc]) err << ", " << st.responses[rc] << " " << codec::rcode_name(static_cast<uint16_t>(rc));
                }
                if (!st.last_error.empty()) err << "; last error: " << st.last_error;
                err << '\n';
            }
        }
        uint64_t pending = 0;
        if (cp->engine()) {
            for (const auto& z : cp->engine()->zones()) pending += cp->engine()->stats(z).pending;
        }
        // Idle also covers a zone backing off after failures: what is still
        // pending then was never answered.
        if (!idle || pending > 0 || cp->failed_changes() > 0) publish_rc = kExitFailed;
    }

    // The table per link, in zone-file form (or JSON lines).
    std::map<uint16_t, std::vector<std::string>> by_link;
    plane->shard(0).for_each([&](const table::Shard::RecordInfo& r) {
        std::string line;
        if (opts.json) {
            line = "{\"link\": ";
            codec::append_json_string(line, plane->links()[r.link].name);
            line += ", \"name\": ";
            codec::append_json_string(line, r.owner->to_string());
            line += ", \"type\": ";
            codec::append_json_string(line, codec::type_name(r.type));
            line += ", \"ttl\": " + std::to_string(r.ttl) + ", \"rdata\": ";
            codec::append_json_string(line, rdata_text(r.type, r.rrclass, r.rdata));
            line += ", \"source\": ";
            codec::append_json_string(line, address_text(r.host->ip.data()));
            line += ", \"cache_flush\": ";
            line += r.cache_flush ? "true" : "false";
            line += "}";
        } else {
            line = zone_line(*r.owner, r.ttl, r.rrclass, r.type, r.rdata);
        }
        by_link[r.link].push_back(std::move(line));
    });
    for (auto& [link, lines] : by_link) {
        std::sort(lines.begin(), lines.end());
        if (!opts.json) out << "; link " << plane->links()[link].name << '\n';
        for (const auto& l : lines) out << l << '\n';
    }
    if (opts.stats) print_stats(*plane, err, got);
    if (got < scan.frames) {
        err << "updproxy replay: only " << got << " of " << scan.frames
            << " frames came through net_pcap\n";
        return kExitFailed;
    }
    return publish_rc;
}

}  // namespace updproxy::control
