// The DPDK side of the dataplane: EAL, ports, mbuf pools and the poll-mode
// worker loop. One worker per worker lcore; each owns one RX and one TX queue
// on every port, its shard of the service table, its counters and three
// single-producer/single-consumer rings:
//
//   events   worker -> control   table changes (table::EventRing)
//   queries  worker -> control   unicast DNS queries the worker does not
//                                answer itself (QueryAnswerer: punted, or
//                                no answerer)
//   tx       control -> worker   frames the control plane asks to send
//
// Everything that does not touch an mbuf (classification, links, checks,
// parsing, ARP/ND) is PacketPath, which the tests drive without DPDK.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/counters.hpp"
#include "dataplane/links.hpp"
#include "dataplane/packet_path.hpp"
#include "dataplane/table/event_ring.hpp"
#include "dataplane/table/shard.hpp"

namespace updproxy::dataplane {

struct EalOptions {
    std::vector<unsigned> lcores{0, 1};  // the first is the main lcore (control plane)
    // Instead of `lcores`: an EAL --lcores map such as "0@0,1@0" (lcore@cpu).
    std::string lcore_map;
    unsigned memory_mb = 512;
    bool no_huge = true;
    std::string file_prefix = "updproxy";
    std::vector<std::string> vdevs;
    std::vector<std::string> allow;  // PCI allow-list; empty with vdevs only = --no-pci
    std::vector<std::string> extra_args;
    bool telemetry = true;
};

struct PortOptions {
    std::string name;    // as the configuration calls it
    std::string device;  // DPDK device name (vdev or PCI)
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    bool promiscuous = true;
};

struct DataplaneOptions {
    EalOptions eal;
    std::vector<PortOptions> ports;
    // Links name ports by index into `ports`; a link's id is its index.
    std::vector<LinkSpec> links;
    // Link ids (slots) the dataplane can hold, tombstones included: the
    // shards' and counters' per-link state is sized for it at start, and
    // set_links() refuses more. 0: links.size().
    size_t link_capacity = 0;
    table::ShardConfig table;  // per shard; max_records are divided among shards
    size_t event_ring_bytes = 4u << 20;
    size_t query_ring_bytes = 1u << 20;
    size_t tx_ring_bytes = 1u << 20;
    uint16_t burst = 32;
    // A worker's replies (DNS answers, ARP/ND, the control plane's frames)
    // are buffered per port and sent when `burst` of them are waiting or the
    // oldest has waited this long (DPDK l3fwd's drain timer): one
    // rte_eth_tx_burst for several replies — on af_packet one sendto(2),
    // on a NIC one doorbell. 0: sent at the end of every poll.
    uint32_t tx_drain_us = 0;
    // Replay: take each packet's time from the capture (pcap PMD RX timestamp
    // offload) instead of the clock.
    bool capture_time = false;
    codec::ParseOptions parse;
};

// A request from the control plane to send one UDP datagram on a link
// (followed by `len` payload bytes in the tx ring).
#pragma pack(push, 1)
struct TxHeader {
    uint16_t link;
    uint8_t multicast;    // 1: to the mDNS group; 0: unicast to dst/dst_mac
    uint8_t proto;        // 0 or 17: UDP (the payload follows); 6: a whole TCP
                          // segment follows (ports in it, checksum filled in here)
    uint8_t dst[16];
    uint8_t dst_mac[6];
    uint16_t src_port;
    uint16_t dst_port;
    uint16_t len;
};
#pragma pack(pop)

class Worker;

class Dataplane {
public:
    // Initialises the EAL and every port. On failure returns nullptr and sets
    // `error` to one line naming what failed and where.
    static std::unique_ptr<Dataplane> create(const DataplaneOptions& opts, const char* argv0,
                                             std::string* error);
    ~Dataplane();
    Dataplane(const Dataplane&) = delete;
    Dataplane& operator=(const Dataplane&) = delete;

    // Launches one worker per worker lcore.
    void start();
    // Asks the workers to stop, waits for them, drains and stops the ports.
    void stop();
    // Runs the single worker on the calling (main) lcore until `frames`
    // frames were received on all ports or `idle_ms` passed with none; for
    // replay. `after_poll` (optional) runs after every poll, on this thread:
    // the control plane drains the rings there. Returns the frames received.
    uint64_t run_inline(uint64_t frames, uint64_t idle_ms,
                        const std::function<void()>& after_poll = {});

    size_t worker_count() const { return workers_.size(); }
    table::EventRing& events(size_t w);
    table::EventRing& queries(size_t w);
    table::EventRing& tx(size_t w);
    table::Shard& shard(size_t w);
    // Worker `w` answers unicast DNS queries to its link addresses with `a`
    // (its own instance, used only on that worker's lcore; the caller keeps
    // it alive until the dataplane is destroyed). Before start() only.
    void set_answerer(size_t w, QueryAnswerer* a);
    const WorkerCounters& counters(size_t w) const;
    // The current link table (any thread; a reference stays valid until the
    // Dataplane is destroyed: every version is kept).
    const LinkTable& links() const { return *links_now_.load(std::memory_order_acquire); }
    size_t link_capacity() const { return link_capacity_; }
    // Control thread: publishes a new link table (a reload). Slots keep their
    // ids: `links` must extend the current table (same length or longer) and
    // a link that keeps its id must keep its port, VLANs, family and prefix
    // (a tombstone may replace it). Each worker takes it at its next poll.
    // False (and *error) when check_next_links() (links.hpp) refuses it: more
    // than link_capacity() slots, an unknown port, a kept link's identity
    // changed, a tombstone brought back.
    bool set_links(std::vector<LinkSpec> links, std::string* error);
    // Any thread: every worker's shard drops the records of `link` (with
    // remove events), at its next poll; after set_links() made the link a
    // tombstone, nothing brings them back.
    void purge_link(uint16_t link);
    const std::vector<PortOptions>& ports() const { return opts_.ports; }
    uint16_t port_id(size_t i) const { return port_ids_[i]; }
    const Mac& port_mac(size_t i) const { return macs_[i]; }
    // Last time (ms) the capture clock reached, for replay.
    uint64_t last_time_ms() const;

    struct PortStats {
        uint64_t ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf;
    };
    PortStats port_stats(size_t i) const;

    // ---- for metrics and telemetry: any thread may call these ----
    // The shard's counters as its worker last copied them (every ~100 ms; the
    // shard's own are plain integers only the worker may read), and its live
    // records.
    table::ShardCounters shard_counters(size_t w) const;
    uint64_t shard_records(size_t w) const;
    // TSC cycles the worker spent in polls that received frames (busy) and
    // in polls that did not (idle): its load is busy / (busy + idle).
    struct WorkerLoad {
        uint64_t busy_cycles, idle_cycles;
    };
    WorkerLoad worker_load(size_t w) const;
    static uint64_t tsc_hz();
    // The TSC now (rte_rdtsc), as a function for code outside the dataplane.
    static uint64_t tsc();

private:
    Dataplane() = default;
    DataplaneOptions opts_;
    // Every link table published so far (small; kept until shutdown so a
    // worker or another thread never reads a freed one), the current one.
    std::vector<std::unique_ptr<const LinkTable>> link_versions_;
    std::atomic<const LinkTable*> links_now_{nullptr};
    size_t link_capacity_ = 0;
    std::vector<uint16_t> port_ids_;
    std::vector<Mac> macs_;
    std::vector<std::unique_ptr<Worker>> workers_;
    void* pool_ = nullptr;
    void* tx_pool_ = nullptr;
    bool started_ = false;
    bool ports_started_ = false;
    std::string eal_summary_;  // what the EAL logged during init, one line
    bool eal_ready_ = false;
};

// Wall and monotonic clocks in milliseconds.
uint64_t monotonic_ms();

}  // namespace updproxy::dataplane
