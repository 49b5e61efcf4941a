// What a worker does with one received frame, independent of how it arrived
// (DPDK mbuf, pcap record, test buffer).
//
//   classify (Ethernet, VLAN/QinQ, IPv4/IPv6, UDP)    -> frame_drop[reason]
//   ARP request / IPv6 NS for one of our addresses    -> reply frame
//   UDP 53 to one of our addresses                     -> the QueryAnswerer's reply,
//                                                         or the query ring (control plane)
//   TCP 53 to one of our addresses                     -> query ring (the control plane's
//                                                         TCP endpoint, control/link_tcp.*)
//   UDP 5353: link lookup (port, VLAN, source subnet)  -> path_drop[no_link/off_link]
//             multicast group or our unicast address   -> path_drop[not_for_us]
//             IP TTL 255 on multicast (RFC 6762 §11)   -> path_drop[ttl_not_255]
//             codec parse, zero-copy over the payload  -> parse_error[reason]
//             the worker's shard                       -> table events
//
// A worker parses every response of an RX burst into a ResponseBatch
// (receive) and hands the whole batch to the shard at once (flush:
// Shard::ingest_burst, whose pipeline overlaps the records' memory accesses
// across messages). handle() is receive + flush for one frame.
//
// No allocation, no lock, no syscall. The caller owns the frame bytes until
// the batch holding views into them is flushed (handle: for the duration of
// the call); nothing keeps a pointer into them past that.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "codec/message.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/frame.hpp"
#include "dataplane/frame_build.hpp"
#include "dataplane/links.hpp"
#include "dataplane/query_answerer.hpp"
#include "dataplane/table/event_ring.hpp"
#include "dataplane/table/shard.hpp"

namespace updproxy::dataplane {

// A unicast DNS query handed to the control plane (in an EventRing), followed
// by the DNS message bytes (UDP) or the TCP segment (TCP; src/dst_port are
// then 0: the segment has them).
#pragma pack(push, 1)
struct QueryHeader {
    uint16_t port;
    uint16_t link;  // the link that owns the destination address
    uint8_t v6;
    uint8_t proto;  // 17: the UDP payload follows; 6: the whole TCP segment
    uint8_t vlan_count;
    uint16_t vlan[2];
    uint8_t src[16];
    uint8_t dst[16];
    uint8_t src_mac[6];
    uint16_t src_port;
    uint16_t dst_port;
    uint64_t time_ms;
    uint16_t len;
};
#pragma pack(pop)

// Tags a NIC stripped into mbuf metadata (RTE_MBUF_F_RX_VLAN_STRIPPED,
// RTE_MBUF_F_RX_QINQ_STRIPPED), outermost first.
struct StrippedVlans {
    uint8_t count = 0;
    std::array<uint16_t, 2> vlan{0, 0};
};

// The mDNS responses of one RX burst, parsed in place (views into the
// frames), waiting for one Shard::ingest_burst.
struct ResponseBatch {
    static constexpr size_t kMax = 64;
    std::array<codec::Message, kMax> msgs;
    std::array<table::Origin, kMax> origins;
    size_t n = 0;
};

struct PathConfig {
    const LinkTable* links = nullptr;
    // MAC address of each port, by port id (source of replies).
    std::vector<Mac> port_macs;
    codec::ParseOptions parse;
};

class PacketPath {
public:
    PacketPath(const PathConfig& cfg, table::Shard* shard, table::EventRing* query_ring,
               WorkerCounters* counters)
        : cfg_(cfg), shard_(shard), query_ring_(query_ring), c_(counters) {}

    // Handles one frame received on `port` at `now_ms`. When the frame asks
    // for an answer (ARP, ND), writes it into `reply` and returns its length.
    // The frame's records are in the table when it returns.
    size_t handle(std::span<const uint8_t> frame, uint16_t port, const StrippedVlans& stripped,
                  uint64_t now_ms, std::span<uint8_t> reply);

    // As handle(), but an mDNS response is parsed into `batch` instead of
    // ingested: the frame's bytes must stay valid until flush(batch). A full
    // batch is flushed first (at `now_ms`).
    size_t receive(std::span<const uint8_t> frame, uint16_t port, const StrippedVlans& stripped,
                   uint64_t now_ms, std::span<uint8_t> reply, ResponseBatch& batch);

    // Ingests the batch's responses into the shard at `now_ms` (one
    // Shard::ingest_burst) and empties it. Cheap when empty.
    void flush(ResponseBatch& batch, uint64_t now_ms) {
        if (batch.n == 0) return;
        shard_->ingest_burst(std::span<const codec::Message>(batch.msgs.data(), batch.n),
                             std::span<const table::Origin>(batch.origins.data(), batch.n),
                             now_ms);
        batch.n = 0;
    }

    const PathConfig& config() const { return cfg_; }
    // A new link table (a reload): frames after this call use it. Forgets
    // the last lookup, which named a link of the old table.
    void set_links(const LinkTable* links) {
        cfg_.links = links;
        memo_ = LinkMemo{};
    }

    // Unicast DNS queries to a link address are answered by `a` (in the
    // `reply` buffer of receive(): it must hold the largest answer plus
    // udp_headroom()), and only what it punts goes to the query ring.
    // nullptr (the default): every query goes to the query ring.
    void set_answerer(QueryAnswerer* a) { answerer_ = a; }

private:
    void drop(PathDrop d) { c_->path_drop[static_cast<size_t>(d)].add(); }
    L2 reply_l2(uint16_t port, const FrameInfo& f, const uint8_t* dst_mac = nullptr) const;
    // Hands `bytes` to the query ring for the control thread; false (and
    // counted) when the ring is full.
    bool punt(std::span<const uint8_t> frame, const FrameInfo& f, uint16_t port, uint16_t owner,
              uint64_t now_ms, std::span<const uint8_t> bytes, uint8_t proto);

    uint16_t lookup_link(uint16_t port, const FrameInfo& f, LinkMiss* miss);

    PathConfig cfg_;
    // The last link lookup: a host's packets tend to come in runs (an
    // announcement is several packets, a burst holds several of them); reset
    // by set_links().
    struct LinkMemo {
        std::array<uint8_t, 16> src{};
        std::array<uint16_t, 2> vlan{0, 0};
        uint16_t port = 0xFFFF;  // none yet
        uint8_t vlan_count = 0;
        uint8_t ip_version = 0;
        uint16_t link = kNoLink;
        LinkMiss miss = LinkMiss::no_link;
    } memo_;
    table::Shard* shard_;
    table::EventRing* query_ring_;
    WorkerCounters* c_;
    QueryAnswerer* answerer_ = nullptr;
};

}  // namespace updproxy::dataplane
