// perf/run dataplane (our side): the real dataplane — dataplane::Dataplane
// with its DPDK worker loop, PacketPath and the worker's table::Shard — on
// ONE worker lcore, fed by net_pcap replaying a capture from memory forever
// (infinite_rx=1). perf/dataplane_bench.sh runs this and dpdk-testpmd
// --forward-mode=rxonly on the identical vdev and prints the ratio.
//
// Links are learned from the capture exactly as `updproxy replay` learns
// them (one per VLANs + family + /24 or /64 of a non-link-local source;
// link-local sources join their segment's link, or get 169.254/16 or
// fe80::/10 of their own), all with the default check_ttl = true. So every
// announcement sent with IP TTL 255 reaches the table; the capture's frames
// with TTL 1 are dropped and counted, as in production.
//
// With infinite_rx the same frames repeat: after the first pass (well inside
// the warm-up) every record is already known and each announcement is a
// refresh, the steady state of a real network. Queries are parsed and then
// refused by the shard (never a source, draft §4.3).
//
// Measurement: the worker runs on its own lcore (Dataplane::start) while the
// main lcore drains the event ring as the control plane would. After
// --warmup seconds the main thread samples the worker's counters (relaxed
// atomics) and the worker thread's CPU time (/proc/self/task/TID/schedstat,
// ns on CPU) once a second for --seconds seconds:
//   pps          rx_packets delta / wall time, per 1-s sample (median shown)
//   ns/packet    worker CPU time / rx_packets over the whole window
//   ns/message   worker CPU time / mdns_messages over the whole window
// then stops the worker (bounded: it never runs longer than asked).
//
// Output: a readable block, then one line
//   RESULT pps=<median> pps_mean=<mean> ns_per_packet=<..> mdns_per_s=<..> ...
// for the script. Options:
//   --capture=FILE   (required) an Ethernet pcap; no ',' in the path
//   --seconds=S      measured window (default 5)
//   --warmup=S       before it (default 1)
//   --lcores=0,1     EAL -l list: main lcore, then the one worker lcore
//   --file-prefix=P  EAL --file-prefix (default updproxy-dpbench-<pid>)
//   --burst=N        RX burst (default 32, as testpmd)
//   --metrics=LISTEN start the Prometheus exporter (stats/, as the daemon
//                    runs it: its own thread, counters summed at scrape time)
//                    on LISTEN (e.g. 127.0.0.1:0) and scrape it over HTTP from
//                    a thread of this process every --scrape-ms (default
//                    1000) ms; prints a METRICS line (perf/run metrics)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "dataplane/dpdk_dataplane.hpp"
#include "dataplane/frame.hpp"
#include "dataplane/learned_links.hpp"
#include "stats/control_metrics.hpp"
#include "stats/dataplane_metrics.hpp"
#include "stats/exporter.hpp"

namespace dp = updproxy::dataplane;

namespace {

struct Args {
    std::string capture;
    double seconds = 5;
    double warmup = 1;
    std::string lcores = "0,1";
    std::string file_prefix;
    unsigned burst = 32;
    std::string metrics;  // exporter listen address; empty = off
    unsigned scrape_ms = 1000;
};

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr, "dataplane_bench: %s\n", msg);
    std::fprintf(stderr,
                 "usage: dataplane_bench --capture=FILE [--seconds=5] [--warmup=1] "
                 "[--lcores=0,1] [--file-prefix=P] [--burst=32] [--metrics=127.0.0.1:0] "
                 "[--scrape-ms=1000]\n");
    std::exit(2);
}

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        auto val = [&](const char* key) -> const char* {
            const size_t n = std::strlen(key);
            if (s.compare(0, n, key) == 0 && s.size() > n && s[n] == '=') return argv[i] + n + 1;
            if (s == key && i + 1 < argc) return argv[++i];
            return nullptr;
        };
        if (const char* v = val("--capture")) {
            a.capture = v;
        } else if (const char* v2 = val("--seconds")) {
            a.seconds = std::atof(v2);
        } else if (const char* v3 = val("--warmup")) {
            a.warmup = std::atof(v3);
        } else if (const char* v4 = val("--lcores")) {
            a.lcores = v4;
        } else if (const char* v5 = val("--file-prefix")) {
            a.file_prefix = v5;
        } else if (const char* v6 = val("--burst")) {
            a.burst = static_cast<unsigned>(std::atoi(v6));
        } else if (const char* v7 = val("--metrics")) {
            a.metrics = v7;
        } else if (const char* v8 = val("--scrape-ms")) {
            a.scrape_ms = static_cast<unsigned>(std::atoi(v8));
        } else {
            usage(("unknown argument " + s).c_str());
        }
    }
    if (a.capture.empty()) usage("--capture is required");
    if (a.capture.find(',') != std::string::npos) usage("a capture path may not contain ','");
    if (a.seconds <= 0 || a.seconds > 600) usage("--seconds must be in (0, 600]");
    if (a.warmup < 0 || a.warmup > 60) usage("--warmup must be in [0, 60]");
    if (a.burst == 0 || a.burst > 64) usage("--burst must be in [1, 64]");
    if (a.scrape_ms < 10 || a.scrape_ms > 60000) usage("--scrape-ms must be in [10, 60000]");
    if (a.file_prefix.empty()) a.file_prefix = "updproxy-dpbench-" + std::to_string(getpid());
    return a;
}

// ---- links learned from the capture (the rule of `updproxy replay`) ----

struct Scan {
    uint64_t frames = 0, bytes = 0;
    int linktype = 0;
    std::vector<dp::LinkSpec> links;
};

std::string prefix_text(const dp::LinkSpec& l) {
    char buf[64];
    if (l.v6) {
        std::snprintf(buf, sizeof buf, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/%u", l.prefix[0],
                      l.prefix[1], l.prefix[2], l.prefix[3], l.prefix[4], l.prefix[5], l.prefix[6],
                      l.prefix[7], l.prefix_len);
    } else {
        std::snprintf(buf, sizeof buf, "%u.%u.%u.%u/%u", l.prefix[0], l.prefix[1], l.prefix[2],
                      l.prefix[3], l.prefix_len);
    }
    return buf;
}

bool scan_capture(const std::string& path, Scan* scan, std::string* error) {
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    if (p == nullptr) {
        *error = path + ": " + errbuf;
        return false;
    }
    scan->linktype = pcap_datalink(p);
    dp::LinkLearner learner;  // the rule of `updproxy replay` without --config
    pcap_pkthdr* h;
    const u_char* data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        ++scan->frames;
        scan->bytes += h->caplen;
        dp::FrameInfo f;
        if (dp::parse_frame(scan->linktype, {data, h->caplen}, f) != dp::DropReason::ok) continue;
        learner.see(f);
    }
    if (rc == -1) {
        *error = path + ": " + pcap_geterr(p);
        pcap_close(p);
        return false;
    }
    pcap_close(p);
    scan->links = learner.links();
    for (auto& l : scan->links) {
        std::string name;
        for (uint8_t i = 0; i < l.vlan_count; ++i) name += "vlan" + std::to_string(l.vlan[i]) + "-";
        l.name = name + prefix_text(l);
        l.port = 0;
        l.check_ttl = true;
    }
    return true;
}

// ---- the worker thread's CPU time ----

uint64_t wall_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string read_line(const std::string& path) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
}

// The EAL's worker thread for our one worker lcore: named "lcore-worker-N"
// (22.11; "rte-worker-N" later). Falls back to the busiest thread that is
// not the main one.
long find_worker_tid() {
    const long self = static_cast<long>(gettid());
    long best = -1;
    uint64_t best_ns = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        const long tid = std::atol(e.path().filename().c_str());
        if (tid == self) continue;
        const std::string comm = read_line(e.path().string() + "/comm");
        if (comm.find("worker") != std::string::npos) return tid;
        const uint64_t ns = std::strtoull(read_line(e.path().string() + "/schedstat").c_str(),
                                          nullptr, 10);
        if (ns >= best_ns) {
            best_ns = ns;
            best = tid;
        }
    }
    return best;
}

// ns the thread spent on a CPU (schedstat's first field).
uint64_t thread_cpu_ns(long tid) {
    return std::strtoull(
        read_line("/proc/self/task/" + std::to_string(tid) + "/schedstat").c_str(), nullptr, 10);
}

struct Snap {
    uint64_t wall, cpu, rx, rx_bytes, mdns, bursts, busy;
};

Snap snap(const dp::WorkerCounters& c, long tid) {
    Snap s;
    s.cpu = thread_cpu_ns(tid);
    s.rx = c.rx_packets.get();
    s.rx_bytes = c.rx_bytes.get();
    s.mdns = c.mdns_messages.get();
    s.bursts = c.bursts.get();
    s.busy = c.busy_bursts.get();
    s.wall = wall_ns();
    return s;
}

// One GET /metrics over HTTP/1.0 to 127.0.0.1:port; the body's size, 0 on failure.
size_t scrape(uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t got = 0;
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
        const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (write(fd, req, sizeof req - 1) == static_cast<ssize_t>(sizeof req - 1)) {
            char buf[16384];
            for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) got += static_cast<size_t>(n);
        }
    }
    close(fd);
    return got;
}

void sleep_ns(uint64_t ns) {
    timespec ts{static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

}  // namespace

int main(int argc, char** argv) {
    const Args a = parse_args(argc, argv);
    Scan scan;
    std::string error;
    if (!scan_capture(a.capture, &scan, &error)) {
        std::fprintf(stderr, "dataplane_bench: %s\n", error.c_str());
        return 1;
    }
    if (scan.linktype != DLT_EN10MB) {
        std::fprintf(stderr, "dataplane_bench: %s: link type %d; net_pcap replays Ethernet only\n",
                     a.capture.c_str(), scan.linktype);
        return 1;
    }

    dp::DataplaneOptions o;
    o.eal.lcores.clear();
    for (size_t pos = 0; pos < a.lcores.size();) {
        const size_t comma = a.lcores.find(',', pos);
        o.eal.lcores.push_back(static_cast<unsigned>(
            std::atoi(a.lcores.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos)
                          .c_str())));
        pos = comma == std::string::npos ? a.lcores.size() : comma + 1;
    }
    if (o.eal.lcores.size() != 2) usage("--lcores: exactly two (main lcore, one worker lcore)");
    o.eal.memory_mb = 1024;
    o.eal.no_huge = true;
    o.eal.telemetry = false;
    o.eal.file_prefix = a.file_prefix;
    o.eal.vdevs = {"net_pcap_bench0,rx_pcap=" + a.capture + ",infinite_rx=1"};
    o.ports = {{"capture", "net_pcap_bench0", 1024, 1024, true}};
    o.links = scan.links;
    o.burst = static_cast<uint16_t>(a.burst);
    o.capture_time = false;  // the worker's clock: monotonic, read once per burst

    auto plane = dp::Dataplane::create(o, argv[0], &error);
    if (!plane) {
        std::fprintf(stderr, "dataplane_bench: %s\n", error.c_str());
        return 1;
    }
    if (plane->worker_count() != 1) {
        std::fprintf(stderr, "dataplane_bench: %zu workers; this benchmark wants one\n",
                     plane->worker_count());
        return 1;
    }

    std::printf("capture      %s\n", a.capture.c_str());
    std::printf("             %" PRIu64 " frames, %" PRIu64 " bytes, mean %.0f B/frame; %zu learned links (check_ttl on)\n",
                scan.frames, scan.bytes,
                scan.frames ? static_cast<double>(scan.bytes) / static_cast<double>(scan.frames) : 0.0,
                scan.links.size());
    std::printf("vdev         %s\n", o.eal.vdevs[0].c_str());
    std::printf("EAL          -l %s --no-huge --no-shconf -m %u --file-prefix %s; one worker lcore, burst %u\n",
                a.lcores.c_str(), o.eal.memory_mb, a.file_prefix.c_str(), a.burst);
    std::fflush(stdout);

    // The control plane's part: drain the event ring (adds on the first
    // pass, goodbye/re-add churn after) so the worker never sees it full.
    auto& events = plane->events(0);
    uint64_t events_seen = 0;
    auto drain_for = [&](uint64_t ns) {
        const uint64_t end = wall_ns() + ns;
        while (true) {
            events_seen += events.consume([](std::span<const uint8_t>) {});
            plane->queries(0).consume([](std::span<const uint8_t>) {});
            const uint64_t now = wall_ns();
            if (now >= end) break;
            sleep_ns(std::min<uint64_t>(end - now, 5000000));
        }
    };

    // --metrics: the exporter as the daemon runs it (the dataplane's
    // counters summed at scrape time, a control-plane snapshot of this
    // bench's links, process metrics), scraped by a thread of ours. Both
    // threads are created here, after the EAL pinned this thread to the
    // main lcore, so they share its CPU, as in the daemon.
    std::unique_ptr<updproxy::stats::Exporter> exporter;
    std::atomic<bool> scraping{true};
    std::atomic<uint64_t> scrapes{0}, scrape_bytes{0}, scrape_ns{0}, scrape_failures{0};
    std::thread scraper;
    auto snapshot = std::make_shared<updproxy::stats::ControlSnapshot>();
    for (const auto& l : scan.links) {
        updproxy::stats::LinkSample ls;
        ls.name = l.name;
        ls.port = "capture";
        snapshot->links.push_back(ls);
    }
    updproxy::stats::ZoneSample zs;
    zs.zone = "example.com.";
    snapshot->zones.push_back(zs);
    auto thread_ids = [] {
        std::set<long> t;
        for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
            t.insert(std::atol(e.path().filename().c_str()));
        }
        return t;
    };
    const std::set<long> before_metrics = thread_ids();
    if (!a.metrics.empty()) {
        exporter = updproxy::stats::Exporter::start(
            a.metrics,
            [&](updproxy::stats::MetricSet& m) {
                updproxy::stats::collect_dataplane(*plane, m);
                updproxy::stats::collect_control(*snapshot, m);
                updproxy::stats::collect_process(m);
                updproxy::stats::collect_build_info(m, "bench", updproxy::stats::dpdk_version());
            },
            &error);
        if (!exporter) {
            std::fprintf(stderr, "dataplane_bench: %s\n", error.c_str());
            return 1;
        }
        const uint16_t mport = exporter->port();
        scraper = std::thread([&, mport] {
            while (scraping.load()) {
                const uint64_t t0 = wall_ns();
                const size_t n = scrape(mport);
                scrape_ns += wall_ns() - t0;
                if (n == 0) ++scrape_failures;
                ++scrapes;
                scrape_bytes += n;
                for (unsigned waited = 0; waited < a.scrape_ms && scraping.load(); waited += 10) {
                    sleep_ns(10000000);
                }
            }
        });
        std::printf("metrics      exporter on port %u, scraped every %u ms\n", mport, a.scrape_ms);
        // Where the threads the exporter and the scraper added may run
        // (they must not share the worker lcore's CPU).
        std::string cpus;
        for (const long tid : thread_ids()) {
            if (before_metrics.count(tid)) continue;
            const std::filesystem::path task = "/proc/self/task/" + std::to_string(tid);
            std::ifstream st(task / "status");
            for (std::string line; std::getline(st, line);) {
                if (line.rfind("Cpus_allowed_list:", 0) == 0) {
                    cpus += (cpus.empty() ? "" : " ") + read_line((task / "comm").string()) + "@" +
                            line.substr(line.find_first_not_of(" \t", 18));
                }
            }
        }
        std::printf("METRICS_THREADS %s\n", cpus.c_str());
    }

    plane->start();
    sleep_ns(20000000);  // let the EAL thread pick up the job
    const long tid = find_worker_tid();
    if (tid < 0) {
        plane->stop();
        std::fprintf(stderr, "dataplane_bench: cannot find the worker thread\n");
        return 1;
    }
    const auto& c = plane->counters(0);
    drain_for(static_cast<uint64_t>(a.warmup * 1e9));

    const Snap first = snap(c, tid);
    std::vector<double> samples;
    Snap prev = first;
    const auto n_samples = static_cast<unsigned>(std::max(1.0, a.seconds + 0.5));
    const uint64_t sample_ns = static_cast<uint64_t>(a.seconds * 1e9 / n_samples);
    for (unsigned i = 0; i < n_samples; ++i) {
        drain_for(sample_ns);
        const Snap s = snap(c, tid);
        samples.push_back(static_cast<double>(s.rx - prev.rx) * 1e9 /
                          static_cast<double>(s.wall - prev.wall));
        prev = s;
    }
    const Snap last = prev;
    if (exporter) {
        scraping = false;
        scraper.join();
        exporter.reset();
    }
    plane->stop();
    events_seen += events.consume([](std::span<const uint8_t>) {});

    const double wall = static_cast<double>(last.wall - first.wall);
    const double cpu = static_cast<double>(last.cpu - first.cpu);
    const double rx = static_cast<double>(last.rx - first.rx);
    const double mdns = static_cast<double>(last.mdns - first.mdns);
    std::vector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    const double mean = rx * 1e9 / wall;
    const double ns_pkt = rx > 0 ? cpu / rx : 0;
    const double ns_msg = mdns > 0 ? cpu / mdns : 0;
    const double busy = last.bursts > first.bursts
                            ? static_cast<double>(last.busy - first.busy) /
                                  static_cast<double>(last.bursts - first.bursts)
                            : 0;

    // Whole-run composition (counters are totals since start).
    const auto& tc = c;
    const auto& sc = plane->shard(0).counters();
    std::printf("\nworker lcore (tid %ld), %.2f s measured after %.1f s warm-up\n", tid, wall / 1e9,
                a.warmup);
    std::printf("  1-s samples (Mpps):");
    for (double s : samples) std::printf(" %.3f", s / 1e6);
    std::printf("\n");
    std::printf("  %-26s %12.3f Mpps (median of samples; mean %.3f)\n", "rx packets/s", median / 1e6,
                mean / 1e6);
    std::printf("  %-26s %12.3f M/s\n", "mDNS messages parsed/s", mdns * 1e9 / wall / 1e6);
    std::printf("  %-26s %12.1f ns (worker CPU %.0f%% of wall)\n", "CPU per packet", ns_pkt,
                100.0 * cpu / wall);
    std::printf("  %-26s %12.1f ns\n", "CPU per mDNS message", ns_msg);
    std::printf("  %-26s %12.1f %%\n", "polls that got packets", 100.0 * busy);
    std::printf("whole run (since start): %" PRIu64 " frames, %" PRIu64 " mDNS messages parsed\n",
                tc.rx_packets.get(), tc.mdns_messages.get());
    for (size_t i = 0; i < dp::kDropReasonCount; ++i) {
        if (uint64_t n = tc.frame_drop[i].get()) {
            std::printf("  frame dropped %-22s %14" PRIu64 "\n",
                        std::string(dp::reason_name(static_cast<dp::DropReason>(i))).c_str(), n);
        }
    }
    for (size_t i = 0; i < dp::kPathDropCount; ++i) {
        if (uint64_t n = tc.path_drop[i].get()) {
            std::printf("  path dropped  %-22s %14" PRIu64 "\n",
                        std::string(dp::path_drop_name(static_cast<dp::PathDrop>(i))).c_str(), n);
        }
    }
    for (size_t i = 0; i < dp::kParseReasonCount; ++i) {
        if (uint64_t n = tc.parse_error[i].get()) {
            std::printf("  parse error %-24zu %14" PRIu64 "\n", i, n);
        }
    }
    std::printf("  shard: %" PRIu64 " responses ingested, %" PRIu64 " records looked at, %" PRIu64
                " refreshes, %" PRIu64 " adds, %" PRIu64 " ttl changes, %" PRIu64 " goodbyes, %" PRIu64
                " flushes, %" PRIu64 " removes; %zu live records\n",
                sc.messages, sc.records_seen, sc.refreshes, sc.adds, sc.ttl_changes, sc.goodbyes,
                sc.flushes, sc.removes, plane->shard(0).size());
    std::printf("  shard refusals:");
    for (int i = 0; i < static_cast<int>(updproxy::table::Refusal::count_); ++i) {
        if (sc.refused[i]) {
            std::printf(" %s=%" PRIu64, updproxy::table::refusal_name(static_cast<updproxy::table::Refusal>(i)),
                        sc.refused[i]);
        }
    }
    std::printf("\n  events: %" PRIu64 " consumed, %" PRIu64 " dropped (ring full)\n", events_seen,
                sc.events_dropped);
    std::printf("  steady state: infinite_rx repeats the capture, so after the first pass every "
                "announcement is a refresh of a known record (adds above = first pass + re-adds after goodbyes)\n");
    if (!a.metrics.empty()) {
        const uint64_t n = scrapes.load();
        std::printf("METRICS scrapes=%" PRIu64 " failures=%" PRIu64 " bytes_per_scrape=%" PRIu64
                    " ms_per_scrape=%.2f\n",
                    n, scrape_failures.load(), n ? scrape_bytes.load() / n : 0,
                    n ? static_cast<double>(scrape_ns.load()) / static_cast<double>(n) / 1e6 : 0.0);
    }
    std::printf("RESULT pps=%.0f pps_mean=%.0f ns_per_packet=%.2f ns_per_message=%.2f "
                "mdns_per_s=%.0f cpu_share=%.3f\n",
                median, mean, ns_pkt, ns_msg, mdns * 1e9 / wall, cpu / wall);
    return 0;
}
