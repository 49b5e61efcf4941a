#include "dataplane/dpdk_dataplane.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>

namespace updproxy::dataplane {

uint64_t monotonic_ms() {
    timespec ts;
    // vDSO, no syscall: read once per burst.
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

namespace {

constexpr uint16_t kMaxBurst = 64;
// mDNS messages may be 9000 bytes (RFC 6762 §17); a jumbo frame with two tags.
constexpr size_t kLinearBuf = 9216 + 64;
constexpr unsigned kPoolCache = 256;
// Reply frames (DNS answers, ARP/ND) are built in mbufs of their own pool,
// big enough for the largest UDP answer (dns.max_udp_payload <= 4096) with
// two VLAN tags and IPv6 headers; the RX pool keeps DPDK's default size.
constexpr uint16_t kReplyRoom = 4096 + 128;
// Replies buffered per port before a transmit call is forced.
constexpr uint16_t kTxBuffer = 2 * kMaxBurst;
constexpr unsigned kTxMbufsPerWorker = 2048;
// Frames ahead whose first cache line is prefetched while one is handled.
constexpr uint16_t kPrefetchAhead = 3;
static_assert(kMaxBurst <= ResponseBatch::kMax, "one flush per RX burst");

int g_ts_offset = -1;
uint64_t g_ts_flag = 0;

std::string rte_err(int e) { return rte_strerror(e < 0 ? -e : e); }

// The EAL's complaints, in one line: its log lines minus the noise.
std::string summarize_eal_log(const std::string& log) {
    std::string out;
    size_t start = 0;
    while (start < log.size()) {
        size_t end = log.find('\n', start);
        if (end == std::string::npos) end = log.size();
        std::string line = log.substr(start, end - start);
        start = end + 1;
        if (line.rfind("EAL: ", 0) == 0) line = line.substr(5);
        if (line.empty() || line.find("Unregistering") != std::string::npos ||
            line.find("TELEMETRY") != std::string::npos ||
            line.find("Detected") != std::string::npos ||
            line.find("Invalid 'command line'") != std::string::npos ||
            line.find("FATAL: Invalid") != std::string::npos) {
            continue;
        }
        out += (out.empty() ? "" : "; ") + line;
    }
    return out;
}

}  // namespace

class Worker {
public:
    Worker(size_t index, unsigned lcore, const DataplaneOptions& opts,
           const std::atomic<const LinkTable*>& links, size_t link_capacity,
           const std::vector<uint16_t>& port_ids, const std::vector<Mac>& macs,
           rte_mempool* pool, rte_mempool* tx_pool)
        : index_(index),
          lcore_(lcore),
          opts_(opts),
          port_ids_(port_ids),
          pool_(pool),
          tx_pool_(tx_pool),
          events_(opts.event_ring_bytes),
          queries_(opts.query_ring_bytes),
          tx_(opts.tx_ring_bytes),
          shard_(shard_config(opts, index, link_capacity), &events_),
          counters_(link_capacity),
          path_(PathConfig{links.load(std::memory_order_acquire), macs, opts.parse}, &shard_,
                &queries_, &counters_),
          links_(links),
          linear_(kLinearBuf),
          txq_(port_ids.size()),
          drain_tsc_(opts.tx_drain_us * rte_get_tsc_hz() / 1000000) {}

    ~Worker() {
        if (spare_ != nullptr) rte_pktmbuf_free(spare_);
        for (auto& q : txq_) {
            if (q.n) rte_pktmbuf_free_bulk(q.m.data(), q.n);
        }
    }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    void set_answerer(QueryAnswerer* a) {
        answerer_ = a;
        path_.set_answerer(a);
    }

    static table::ShardConfig shard_config(const DataplaneOptions& o, size_t index,
                                           size_t link_capacity) {
        table::ShardConfig c = o.table;
        c.shard_id = static_cast<uint16_t>(index);
        c.link_count = static_cast<uint16_t>(std::max<size_t>(link_capacity, 1));
        return c;
    }

    // One poll of every port; returns the number of frames received.
    //
    // Per RX burst: each frame is classified and, when it is an mDNS
    // response, parsed in place into batch_ (PacketPath::receive); then the
    // whole batch goes into the shard at once (Shard::ingest_burst, whose
    // pipeline overlaps the index and record accesses of every record of the
    // burst), and only then are the mbufs freed: the batch's views point into
    // them (or into linear_ slots for multi-segment frames), and nothing is
    // kept past the burst. The time is read once per poll (`now_ms`); during
    // replay (capture_time) each frame carries its own, and the batch is
    // flushed before the clock moves, so timers run between packets exactly
    // as they did on the wire.
    uint16_t poll_once(uint64_t now_ms) { return poll_once(now_ms, rte_rdtsc()); }
    uint16_t poll_once(uint64_t now_ms, uint64_t tsc) {
        // Load: the time since the previous poll began is busy when that
        // poll received frames (one TSC read per poll).
        if (last_tsc_ != 0) (last_busy_ ? busy_cycles_ : idle_cycles_).add(tsc - last_tsc_);
        last_tsc_ = tsc;
        poll_tsc_ = tsc;
        if (answerer_ != nullptr) answerer_->begin_poll(tsc);
        // The link table of this poll (a reload publishes a new one).
        if (const LinkTable* t = links_.load(std::memory_order_acquire);
            t != path_.config().links) [[unlikely]] {
            path_.set_links(t);
        }
        uint16_t total = 0;
        const uint16_t burst = std::min<uint16_t>(opts_.burst, kMaxBurst);
        const bool capture_time = opts_.capture_time && g_ts_offset >= 0;
        for (size_t p = 0; p < port_ids_.size(); ++p) {
            rte_mbuf* pkts[kMaxBurst];
            const uint16_t n =
                rte_eth_rx_burst(port_ids_[p], static_cast<uint16_t>(index_), pkts, burst);
            if (n == 0) continue;
            for (uint16_t i = 0; i < n; ++i) {
                // The headers of the frames after this one, while it is parsed.
                if (i + kPrefetchAhead < n) {
                    rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], const void*));
                }
                uint64_t t = now_ms;
                if (capture_time && (pkts[i]->ol_flags & g_ts_flag)) [[unlikely]] {
                    t = capture_ms(pkts[i]);
                    if (t != last_ms_) {
                        // Replay: the responses so far at their own time,
                        // then the timers up to this packet.
                        path_.flush(batch_, batch_ms_);
                        shard_.advance(t);
                    }
                    last_ms_ = t;
                }
                if (t != batch_ms_) [[unlikely]] path_.flush(batch_, batch_ms_);
                batch_ms_ = t;
                handle(pkts[i], static_cast<uint16_t>(p), t);
            }
            path_.flush(batch_, batch_ms_);
            linear_used_ = 0;
            rte_pktmbuf_free_bulk(pkts, n);  // nothing keeps pointers into them
            // Another burst could overflow the buffer: send now.
            if (txq_[p].n + kMaxBurst > kTxBuffer) flush_tx(static_cast<uint16_t>(p));
            total = static_cast<uint16_t>(total + n);
        }
        // The replies are whole frames in their own mbufs: nothing of this
        // poll's snapshot is held.
        if (answerer_ != nullptr) answerer_->end_poll();
        drain_tx_requests();
        // Send what is due: a full burst, or the oldest waited long enough.
        for (size_t p = 0; p < txq_.size(); ++p) {
            const TxBuffer& q = txq_[p];
            if (q.n != 0 && (q.n >= burst || tsc - q.since_tsc >= drain_tsc_)) {
                flush_tx(static_cast<uint16_t>(p));
            }
        }
        counters_.bursts.add();
        if (total) counters_.busy_bursts.add();
        if (!opts_.capture_time) {
            shard_.advance(now_ms);
            last_ms_ = now_ms;
        }
        shard_.flush_events();
        queries_.flush();
        last_busy_ = total != 0;
        if (now_ms - mirror_ms_ >= kMirrorMs) mirror_shard(now_ms);
        return total;
    }

    // The shard's counters, word by word into relaxed atomics, for readers
    // on other threads (ShardCounters is plain uint64_t fields).
    static_assert(std::is_trivially_copyable_v<table::ShardCounters> &&
                  sizeof(table::ShardCounters) % sizeof(uint64_t) == 0);
    static constexpr size_t kShardWords = sizeof(table::ShardCounters) / sizeof(uint64_t);
    static constexpr uint64_t kMirrorMs = 100;
    void mirror_shard(uint64_t now_ms) {
        uint64_t words[kShardWords];
        std::memcpy(words, &shard_.counters(), sizeof words);
        for (size_t i = 0; i < kShardWords; ++i) mirror_[i].store(words[i], std::memory_order_relaxed);
        mirror_records_.store(shard_.size(), std::memory_order_relaxed);
        mirror_ms_ = now_ms;
    }
    table::ShardCounters mirrored() const {
        uint64_t words[kShardWords];
        for (size_t i = 0; i < kShardWords; ++i) words[i] = mirror_[i].load(std::memory_order_relaxed);
        table::ShardCounters c;
        std::memcpy(&c, words, sizeof c);
        return c;
    }

    // Milliseconds from the TSC the poll reads anyway (a subtraction, a
    // multiply and a shift) instead of clock_gettime per poll: the vDSO call
    // was 7 % of a busy-polling worker's samples under query load (perf
    // record, perf/query_dpdk_bench.py --perf-record); an empty poll went
    // from 44 to 26 ns (the bench's calibration). Re-anchored to
    // CLOCK_MONOTONIC every second, never going back.
    class TscClock {
    public:
        TscClock() : hz_(rte_get_tsc_hz()) { anchor(rte_rdtsc()); }
        uint64_t ms(uint64_t tsc) {
            const uint64_t d = tsc - base_tsc_;
            if (d >= hz_) [[unlikely]] {
                anchor(tsc);
                return last_;
            }
            last_ = std::max(last_, base_ms_ + ((d * mult_) >> 32));
            return last_;
        }

    private:
        void anchor(uint64_t tsc) {
            base_ms_ = std::max(monotonic_ms(), last_);
            base_tsc_ = tsc;
            last_ = base_ms_;
            // d < hz (one second) and mult ~ 2^32 * 1000 / hz: d * mult < 2^42 * 1000.
            mult_ = hz_ ? (uint64_t{1000} << 32) / hz_ : 0;
        }
        uint64_t hz_;
        uint64_t base_ms_ = 0, base_tsc_ = 0, mult_ = 0, last_ = 0;
    };

    void run(const std::atomic<bool>& stop) {
        TscClock clock;
        while (!stop.load(std::memory_order_relaxed)) {
            const uint64_t tsc = rte_rdtsc();
            poll_once(clock.ms(tsc), tsc);
        }
    }

    uint64_t capture_ms(rte_mbuf* m) const {
        // DPDK 22.11's net_pcap stores the capture timestamp in microseconds
        // (checked against the capture's own timestamps by the replay test).
        const uint64_t us = *RTE_MBUF_DYNFIELD(m, g_ts_offset, rte_mbuf_timestamp_t*);
        return us / 1000;
    }

    void handle(rte_mbuf* m, uint16_t port, uint64_t now_ms) {
        std::span<const uint8_t> frame;
        if (m->nb_segs == 1) [[likely]] {
            frame = {rte_pktmbuf_mtod(m, const uint8_t*), m->data_len};
        } else {
            // A multi-segment frame (jumbo mDNS) is read into a buffer of its
            // own: the batch may hold a view into it until the burst ends.
            if (m->pkt_len > kLinearBuf) {
                counters_.rx_packets.add();
                counters_.path_drop[static_cast<size_t>(PathDrop::too_big)].add();
                return;
            }
            if (linear_used_ == linear_slots_.size()) {
                linear_slots_.push_back(std::make_unique<uint8_t[]>(kLinearBuf));
            }
            uint8_t* buf = linear_slots_[linear_used_++].get();
            const void* p = rte_pktmbuf_read(m, 0, m->pkt_len, buf);
            frame = {static_cast<const uint8_t*>(p), m->pkt_len};
        }
        StrippedVlans sv;
        if (m->ol_flags & (RTE_MBUF_F_RX_QINQ_STRIPPED | RTE_MBUF_F_RX_VLAN_STRIPPED)) [[unlikely]] {
            if (m->ol_flags & RTE_MBUF_F_RX_QINQ_STRIPPED) {
                sv.count = 2;
                sv.vlan = {static_cast<uint16_t>(m->vlan_tci_outer & 0xFFF),
                           static_cast<uint16_t>(m->vlan_tci & 0xFFF)};
            } else {
                sv.count = 1;
                sv.vlan[0] = m->vlan_tci & 0xFFF;
            }
        }
        // A reply (DNS answer, ARP, ND) is built straight into a spare TX
        // mbuf, which joins this port's reply burst; the spare is replaced
        // only when used.
        if (spare_ == nullptr) spare_ = rte_pktmbuf_alloc(tx_pool_);
        if (spare_ == nullptr) [[unlikely]] {
            uint8_t small[128];
            if (path_.receive(frame, port, sv, now_ms, small, batch_) != 0) counters_.tx_failed.add();
            return;
        }
        const std::span<uint8_t> room(rte_pktmbuf_mtod(spare_, uint8_t*), rte_pktmbuf_tailroom(spare_));
        const size_t n = path_.receive(frame, port, sv, now_ms, room, batch_);
        if (n) {
            spare_->data_len = static_cast<uint16_t>(n);
            spare_->pkt_len = static_cast<uint32_t>(n);
            queue_tx(port, spare_);
            spare_ = nullptr;
        }
    }

    // A frame for `port`'s TX buffer (poll_once sends it when due).
    void queue_tx(uint16_t port, rte_mbuf* m) {
        TxBuffer& q = txq_[port];
        if (q.n == kTxBuffer) flush_tx(port);
        if (q.n == 0) q.since_tsc = poll_tsc_;
        q.m[q.n++] = m;
    }

    // `port`'s buffered frames in one rte_eth_tx_burst (on af_packet one
    // sendto(2) for all of them; on a NIC one doorbell).
    void flush_tx(uint16_t port) {
        TxBuffer& q = txq_[port];
        if (q.n == 0) return;
        uint64_t bytes = 0;
        const uint16_t sent =
            rte_eth_tx_burst(port_ids_[port], static_cast<uint16_t>(index_), q.m.data(), q.n);
        for (uint16_t i = 0; i < sent; ++i) bytes += q.m[i]->pkt_len;
        counters_.tx_packets.add(sent);
        counters_.tx_bytes.add(bytes);
        if (sent < q.n) {
            counters_.tx_failed.add(q.n - sent);
            rte_pktmbuf_free_bulk(q.m.data() + sent, q.n - sent);
        }
        q.n = 0;
    }

    void send(uint16_t port, std::span<const uint8_t> frame) {
        rte_mbuf* m = rte_pktmbuf_alloc(tx_pool_);  // room for any answer
        if (m == nullptr) {
            counters_.tx_failed.add();
            return;
        }
        char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
        if (d == nullptr) {
            rte_pktmbuf_free(m);
            counters_.tx_failed.add();
            return;
        }
        std::memcpy(d, frame.data(), frame.size());
        queue_tx(port, m);
    }

    void drain_tx_requests() {
        tx_.consume(
            [&](std::span<const uint8_t> msg) {
                if (msg.size() < sizeof(TxHeader)) return;
                TxHeader h;
                std::memcpy(&h, msg.data(), sizeof h);
                const LinkTable& links = *path_.config().links;
                if (h.link >= links.size() || msg.size() != sizeof h + h.len) {
                    counters_.tx_requests_dropped.add();
                    return;
                }
                const LinkSpec& l = links[h.link];
                if (!l.has_address || !l.active) {
                    counters_.tx_requests_dropped.add();
                    return;
                }
                static constexpr uint8_t kV4[16] = {224, 0, 0, 251};
                static constexpr uint8_t kV6[16] = {0xFF, 2, 0, 0, 0, 0, 0, 0,
                                                    0,    0, 0, 0, 0, 0, 0, 0xFB};
                const uint8_t* dst = h.multicast ? (l.v6 ? kV6 : kV4) : h.dst;
                L2 l2;
                l2.src = path_.config().port_macs[l.port];
                if (h.multicast) {
                    l2.dst = multicast_mac(dst, l.v6);
                } else {
                    std::memcpy(l2.dst.data(), h.dst_mac, 6);
                }
                l2.vlan_count = l.vlan_count;
                l2.vlan = l.vlan;
                const size_t n =
                    h.proto == 6 ? build_ip(linear_, l2, l.v6, l.address.data(), dst, 6, 64,
                                            msg.subspan(sizeof h, h.len))
                                 : build_udp(linear_, l2, l.v6, l.address.data(), dst, h.src_port,
                                             h.dst_port, 255, msg.subspan(sizeof h, h.len));
                if (n == 0) {
                    counters_.tx_requests_dropped.add();
                    return;
                }
                send(l.port, {linear_.data(), n});
            },
            64);
    }

    size_t index_;
    unsigned lcore_;
    const DataplaneOptions& opts_;
    const std::vector<uint16_t>& port_ids_;
    rte_mempool* pool_;
    rte_mempool* tx_pool_;
    rte_mbuf* spare_ = nullptr;  // the next reply's mbuf
    // Frames waiting to be sent, per port (see DataplaneOptions::tx_drain_us).
    struct TxBuffer {
        std::array<rte_mbuf*, kTxBuffer> m{};
        uint16_t n = 0;
        uint64_t since_tsc = 0;  // when the oldest was queued
    };
    QueryAnswerer* answerer_ = nullptr;
    table::EventRing events_;
    table::EventRing queries_;
    table::EventRing tx_;
    table::Shard shard_;
    WorkerCounters counters_;
    PacketPath path_;
    const std::atomic<const LinkTable*>& links_;  // the Dataplane's current table
    std::vector<uint8_t> linear_;  // TX frames built for the control plane
    std::vector<TxBuffer> txq_;
    uint64_t drain_tsc_;
    uint64_t poll_tsc_ = 0;  // the current poll's start
    // The responses of the burst being handled, and the buffers of its
    // multi-segment frames (made on first use, at most one per frame of a
    // burst; linear_used_ of them hold frames of this burst).
    ResponseBatch batch_;
    std::vector<std::unique_ptr<uint8_t[]>> linear_slots_;
    size_t linear_used_ = 0;
    uint64_t batch_ms_ = 0;  // the time of the responses in batch_
    uint64_t last_ms_ = 0;
    std::atomic<bool>* stop_ = nullptr;
    // metrics (written by the worker, read by anyone)
    uint64_t last_tsc_ = 0;
    bool last_busy_ = false;
    Counter busy_cycles_, idle_cycles_;
    uint64_t mirror_ms_ = 0;
    std::array<std::atomic<uint64_t>, kShardWords> mirror_{};
    std::atomic<uint64_t> mirror_records_{0};
};

namespace {

std::atomic<bool> g_stop{false};

int worker_main(void* arg) {
    static_cast<Worker*>(arg)->run(g_stop);
    return 0;
}

}  // namespace

std::unique_ptr<Dataplane> Dataplane::create(const DataplaneOptions& opts, const char* argv0,
                                             std::string* error) {
    std::unique_ptr<Dataplane> dp(new Dataplane());
    dp->opts_ = opts;

    // ---- EAL arguments from the configuration ----
    std::vector<std::string> args{argv0 ? argv0 : "updproxy"};
    if (opts.eal.lcores.size() < 2) {
        *error = "dpdk.lcores: need a main lcore and at least one worker lcore";
        return nullptr;
    }
    if (opts.eal.lcore_map.empty()) {
        std::string lc;
        for (unsigned c : opts.eal.lcores) lc += (lc.empty() ? "" : ",") + std::to_string(c);
        args.insert(args.end(), {"-l", lc});
    } else {
        args.insert(args.end(), {"--lcores", opts.eal.lcore_map});
    }
    args.insert(args.end(), {"--main-lcore", std::to_string(opts.eal.lcores[0])});
    args.insert(args.end(), {"-m", std::to_string(opts.eal.memory_mb)});
    if (opts.eal.no_huge) args.insert(args.end(), {"--no-huge", "--no-shconf"});
    args.insert(args.end(), {"--file-prefix", opts.eal.file_prefix});
    for (const auto& v : opts.eal.vdevs) args.insert(args.end(), {"--vdev", v});
    if (opts.eal.allow.empty()) {
        args.push_back("--no-pci");
    } else {
        for (const auto& a : opts.eal.allow) args.insert(args.end(), {"-a", a});
    }
    if (!opts.eal.telemetry) args.push_back("--no-telemetry");
    args.insert(args.end(), {"--log-level", "lib.eal:error", "--log-level", "pmd:error"});
    for (const auto& e : opts.eal.extra_args) args.push_back(e);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The EAL reports bad arguments with pages of usage on stdout and log
    // lines on stderr; capture both and say it in one line instead.
    char* logbuf = nullptr;
    size_t loglen = 0;
    FILE* mem = open_memstream(&logbuf, &loglen);
    rte_openlog_stream(mem);
    std::fflush(stdout);
    std::fflush(stderr);
    const int saved_stdout = dup(STDOUT_FILENO);
    const int saved_stderr = dup(STDERR_FILENO);
    const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    FILE* err_capture = std::tmpfile();
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
    if (err_capture) dup2(fileno(err_capture), STDERR_FILENO);
    const int init_rc = rte_eal_init(static_cast<int>(argv.size() - 1), argv.data());
    const int eal_errno = rte_errno;
    std::fflush(stdout);
    std::fflush(stderr);
    if (saved_stdout >= 0) {
        dup2(saved_stdout, STDOUT_FILENO);
        close(saved_stdout);
    }
    if (saved_stderr >= 0) {
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
    }
    if (devnull >= 0) close(devnull);
    rte_openlog_stream(stderr);
    std::fclose(mem);
    std::string eal_log(logbuf ? logbuf : "", loglen);
    std::free(logbuf);
    if (err_capture) {
        std::rewind(err_capture);
        char line[512];
        while (std::fgets(line, sizeof line, err_capture)) eal_log += line;
        std::fclose(err_capture);
    }
    dp->eal_summary_ = summarize_eal_log(eal_log);
    dp->eal_ready_ = init_rc >= 0;
    if (init_rc < 0) {
        *error = "dpdk: EAL initialisation failed: " +
                 (dp->eal_summary_.empty() ? rte_err(eal_errno) : dp->eal_summary_) +
                 " (check dpdk.lcores, dpdk.vdevs, dpdk.allow, dpdk.extra_args)";
        return nullptr;
    }
    const unsigned workers = rte_lcore_count() - 1;
    if (workers == 0) {
        *error = "dpdk.lcores: no worker lcore available";
        return nullptr;
    }

    // ---- ports ----
    for (const auto& p : opts.ports) {
        uint16_t id;
        if (rte_eth_dev_get_port_by_name(p.device.c_str(), &id) != 0) {
            *error = "ports." + p.name + ".device: no DPDK port named \"" + p.device + "\"" +
                     (dp->eal_summary_.empty() ? " (a vdev from dpdk.vdevs or a PCI address from dpdk.allow)"
                                               : " (" + dp->eal_summary_ + ")");
            return nullptr;
        }
        dp->port_ids_.push_back(id);
    }
    dp->link_capacity_ = std::max(opts.link_capacity, opts.links.size());
    if (dp->link_capacity_ >= kNoLink) {
        *error = "links: at most " + std::to_string(kNoLink - 1) + " link slots";
        return nullptr;
    }
    dp->link_versions_.push_back(std::make_unique<const LinkTable>(opts.links));
    dp->links_now_.store(dp->link_versions_.back().get(), std::memory_order_release);

    const unsigned nb_mbufs =
        std::max(8192u, static_cast<unsigned>(dp->port_ids_.size()) * workers * 4096u);
    auto* pool = rte_pktmbuf_pool_create("updproxy_mbufs", nb_mbufs, kPoolCache, 0,
                                         RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (pool == nullptr) {
        *error = "dpdk: cannot create the mbuf pool (" + rte_err(rte_errno) +
                 "); raise dpdk.memory_mb";
        return nullptr;
    }
    dp->pool_ = pool;
    auto* tx_pool = rte_pktmbuf_pool_create(
        "updproxy_tx", std::max(4096u, workers * kTxMbufsPerWorker), kPoolCache, 0,
        static_cast<uint16_t>(RTE_PKTMBUF_HEADROOM + kReplyRoom), static_cast<int>(rte_socket_id()));
    if (tx_pool == nullptr) {
        *error = "dpdk: cannot create the reply mbuf pool (" + rte_err(rte_errno) +
                 "); raise dpdk.memory_mb";
        return nullptr;
    }
    dp->tx_pool_ = tx_pool;

    if (opts.capture_time) {
        if (rte_mbuf_dyn_rx_timestamp_register(&g_ts_offset, &g_ts_flag) != 0) g_ts_offset = -1;
    }

    for (size_t i = 0; i < dp->port_ids_.size(); ++i) {
        const uint16_t id = dp->port_ids_[i];
        const std::string where = "ports." + opts.ports[i].name + " (" + opts.ports[i].device + ")";
        rte_eth_dev_info info;
        if (rte_eth_dev_info_get(id, &info) != 0) {
            *error = where + ": cannot read device info";
            return nullptr;
        }
        const uint16_t nq = static_cast<uint16_t>(workers);
        if (nq > info.max_rx_queues || nq > info.max_tx_queues) {
            *error = where + ": has " + std::to_string(info.max_rx_queues) +
                     " RX queues but " + std::to_string(nq) +
                     " workers need one each; use fewer dpdk.lcores";
            return nullptr;
        }
        rte_eth_conf conf{};
        if (nq > 1 && info.flow_type_rss_offloads != 0) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            // Hash on the source address only where the NIC can: every
            // packet of one host then reaches one worker and one shard.
            uint64_t hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
            if (info.flow_type_rss_offloads & RTE_ETH_RSS_L3_SRC_ONLY) hf |= RTE_ETH_RSS_L3_SRC_ONLY;
            conf.rx_adv_conf.rss_conf.rss_hf = hf;
        }
        if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) {
            conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
        }
        if (opts.capture_time && (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)) {
            conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
        }
        int rc = rte_eth_dev_configure(id, nq, nq, &conf);
        if (rc != 0) {
            *error = where + ": configure failed: " + rte_err(rc);
            return nullptr;
        }
        uint16_t nb_rxd = opts.ports[i].rx_descriptors, nb_txd = opts.ports[i].tx_descriptors;
        rte_eth_dev_adjust_nb_rx_tx_desc(id, &nb_rxd, &nb_txd);
        const int socket = rte_eth_dev_socket_id(id);
        for (uint16_t q = 0; q < nq; ++q) {
            rc = rte_eth_rx_queue_setup(id, q, nb_rxd, static_cast<unsigned>(socket), nullptr, pool);
            if (rc != 0) {
                *error = where + ": RX queue " + std::to_string(q) + ": " + rte_err(rc);
                return nullptr;
            }
            rc = rte_eth_tx_queue_setup(id, q, nb_txd, static_cast<unsigned>(socket), nullptr);
            if (rc != 0) {
                *error = where + ": TX queue " + std::to_string(q) + ": " + rte_err(rc);
                return nullptr;
            }
        }
        rte_ether_addr mac;
        rte_eth_macaddr_get(id, &mac);
        Mac m;
        std::memcpy(m.data(), mac.addr_bytes, 6);
        dp->macs_.push_back(m);
    }

    // ---- workers ----
    unsigned lcore;
    size_t w = 0;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        dp->workers_.push_back(std::make_unique<Worker>(w++, lcore, dp->opts_, dp->links_now_,
                                                        dp->link_capacity_, dp->port_ids_,
                                                        dp->macs_, pool, tx_pool));
    }

    for (size_t i = 0; i < dp->port_ids_.size(); ++i) {
        const uint16_t id = dp->port_ids_[i];
        const int rc = rte_eth_dev_start(id);
        if (rc != 0) {
            *error = "ports." + opts.ports[i].name + " (" + opts.ports[i].device +
                     "): start failed: " + rte_err(rc);
            return nullptr;
        }
        if (opts.ports[i].promiscuous) rte_eth_promiscuous_enable(id);
        rte_eth_allmulticast_enable(id);
    }
    dp->ports_started_ = true;
    return dp;
}

Dataplane::~Dataplane() {
    stop();
    if (ports_started_) {
        for (uint16_t id : port_ids_) {
            rte_eth_dev_stop(id);
            rte_eth_dev_close(id);
        }
    }
    workers_.clear();
    if (pool_) rte_mempool_free(static_cast<rte_mempool*>(pool_));
    if (tx_pool_) rte_mempool_free(static_cast<rte_mempool*>(tx_pool_));
    if (eal_ready_) rte_eal_cleanup();
}

void Dataplane::start() {
    if (started_) return;
    g_stop = false;
    unsigned lcore;
    size_t w = 0;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        rte_eal_remote_launch(worker_main, workers_[w++].get(), lcore);
    }
    started_ = true;
}

void Dataplane::stop() {
    if (!started_) return;
    g_stop = true;
    rte_eal_mp_wait_lcore();
    started_ = false;
    // Drain: whatever the ports still hold is received and freed.
    for (auto& w : workers_) {
        for (int i = 0; i < 4; ++i) w->poll_once(monotonic_ms());
    }
}

uint64_t Dataplane::run_inline(uint64_t frames, uint64_t idle_ms,
                               const std::function<void()>& after_poll) {
    Worker& w = *workers_[0];
    uint64_t got = 0;
    uint64_t last_rx = monotonic_ms();
    while (got < frames) {
        const uint64_t now = monotonic_ms();
        const uint16_t n = w.poll_once(now);
        got += n;
        if (after_poll) after_poll();
        if (n) {
            last_rx = now;
        } else if (now - last_rx > idle_ms) {
            break;
        }
    }
    return got;
}

uint64_t Dataplane::last_time_ms() const { return workers_.empty() ? 0 : workers_[0]->last_ms_; }

bool Dataplane::set_links(std::vector<LinkSpec> links, std::string* error) {
    if (std::string e = check_next_links(this->links(), links, link_capacity_, port_ids_.size());
        !e.empty()) {
        *error = std::move(e);
        return false;
    }
    link_versions_.push_back(std::make_unique<const LinkTable>(std::move(links)));
    links_now_.store(link_versions_.back().get(), std::memory_order_release);
    return true;
}

void Dataplane::purge_link(uint16_t link) {
    for (auto& w : workers_) w->shard_.request_purge(link);
}

table::EventRing& Dataplane::events(size_t w) { return workers_[w]->events_; }
table::EventRing& Dataplane::queries(size_t w) { return workers_[w]->queries_; }
table::EventRing& Dataplane::tx(size_t w) { return workers_[w]->tx_; }
table::Shard& Dataplane::shard(size_t w) { return workers_[w]->shard_; }
void Dataplane::set_answerer(size_t w, QueryAnswerer* a) {
    if (!started_) workers_[w]->set_answerer(a);
}
const WorkerCounters& Dataplane::counters(size_t w) const { return workers_[w]->counters_; }

Dataplane::PortStats Dataplane::port_stats(size_t i) const {
    rte_eth_stats s{};
    rte_eth_stats_get(port_ids_[i], &s);
    return {s.ipackets, s.opackets, s.ibytes, s.obytes, s.imissed, s.ierrors, s.oerrors, s.rx_nombuf};
}

table::ShardCounters Dataplane::shard_counters(size_t w) const { return workers_[w]->mirrored(); }
uint64_t Dataplane::shard_records(size_t w) const {
    return workers_[w]->mirror_records_.load(std::memory_order_relaxed);
}
Dataplane::WorkerLoad Dataplane::worker_load(size_t w) const {
    return {workers_[w]->busy_cycles_.get(), workers_[w]->idle_cycles_.get()};
}
uint64_t Dataplane::tsc_hz() { return rte_get_tsc_hz(); }
uint64_t Dataplane::tsc() { return rte_rdtsc(); }

}  // namespace updproxy::dataplane
