#include "dataplane/packet_path.hpp"

#include <cstring>

namespace updproxy::dataplane {

namespace {

constexpr uint16_t kMdnsPort = 5353;
constexpr uint16_t kDnsPort = 53;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kMdnsV4[4] = {224, 0, 0, 251};
constexpr uint8_t kMdnsV6[16] = {0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFB};

bool is_mdns_group(const FrameInfo& f) {
    return f.ip_version == 4 ? std::memcmp(f.dst.data(), kMdnsV4, 4) == 0
                             : std::memcmp(f.dst.data(), kMdnsV6, 16) == 0;
}

// Tags stripped by the NIC sit outside any still in the frame.
void merge_vlans(FrameInfo& f, const StrippedVlans& s) {
    if (s.count == 0) return;
    std::array<uint16_t, 2> v{0, 0};
    uint8_t n = 0;
    for (uint8_t i = 0; i < s.count && n < 2; ++i) v[n++] = s.vlan[i];
    for (uint8_t i = 0; i < f.vlan_count && n < 2; ++i) v[n++] = f.vlan[i];
    f.vlan = v;
    f.vlan_count = n;
}

}  // namespace

uint16_t PacketPath::lookup_link(uint16_t port, const FrameInfo& f, LinkMiss* miss) {
    LinkMemo& m = memo_;
    if (m.port == port && m.ip_version == f.ip_version && m.vlan_count == f.vlan_count &&
        m.vlan == f.vlan && m.src == f.src) {
        *miss = m.miss;
        return m.link;
    }
    m.link = cfg_.links->lookup(port, f, &m.miss);
    m.port = port;
    m.ip_version = f.ip_version;
    m.vlan_count = f.vlan_count;
    m.vlan = f.vlan;
    m.src = f.src;
    *miss = m.miss;
    return m.link;
}

L2 PacketPath::reply_l2(uint16_t port, const FrameInfo& f, const uint8_t* dst_mac) const {
    L2 l2;
    if (port < cfg_.port_macs.size()) l2.src = cfg_.port_macs[port];
    if (dst_mac != nullptr) std::memcpy(l2.dst.data(), dst_mac, 6);
    l2.vlan_count = f.vlan_count;
    l2.vlan = f.vlan;
    return l2;
}

size_t PacketPath::handle(std::span<const uint8_t> frame, uint16_t port,
                          const StrippedVlans& stripped, uint64_t now_ms,
                          std::span<uint8_t> reply) {
    ResponseBatch batch;
    const size_t n = receive(frame, port, stripped, now_ms, reply, batch);
    flush(batch, now_ms);
    return n;
}

size_t PacketPath::receive(std::span<const uint8_t> frame, uint16_t port,
                           const StrippedVlans& stripped, uint64_t now_ms,
                           std::span<uint8_t> reply, ResponseBatch& batch) {
    c_->rx_packets.add();
    c_->rx_bytes.add(frame.size());
    FrameInfo f;
    const DropReason r = parse_ethernet(frame, f);
    merge_vlans(f, stripped);
    const LinkTable& links = *cfg_.links;

    if (r != DropReason::ok) {
        // ARP and Neighbor Solicitation for our addresses are answered here:
        // hosts answering our unicast refresh queries need our MAC.
        if (r == DropReason::not_ip) {
            if (const uint8_t* target = arp_request_target(frame)) {
                if (links.owner_of(port, f, target, false) != kNoLink) {
                    const size_t n = build_arp_reply(reply, frame, reply_l2(port, f), target);
                    if (n) {
                        c_->arp_replies.add();
                        return n;
                    }
                }
                drop(PathDrop::not_arp_for_us);
                return 0;
            }
        } else if (r == DropReason::not_udp && f.ip_version == 6) {
            if (const uint8_t* target = neighbor_solicit_target(frame, f)) {
                if (links.owner_of(port, f, target, true) != kNoLink) {
                    const size_t n = build_neighbor_advert(reply, frame, f, reply_l2(port, f), target);
                    if (n) {
                        c_->nd_replies.add();
                        return n;
                    }
                }
                drop(PathDrop::not_arp_for_us);
                return 0;
            }
        }
        // TCP to the DNS service on a link address: the control thread's
        // (control/link_tcp.*), segment by segment through the query ring.
        if (r == DropReason::not_udp && f.ip_proto == kProtoTcp && f.l4.size() >= 20 &&
            (f.l4[2] << 8 | f.l4[3]) == kDnsPort) {
            const uint16_t owner = links.owner_of(port, f, f.dst.data(), f.ip_version == 6);
            if (owner == kNoLink) {
                drop(PathDrop::dns_not_service);
            } else if (punt(frame, f, port, owner, now_ms, f.l4, kProtoTcp)) {
                c_->dns_tcp_segments.add();
            }
            return 0;
        }
        c_->frame_drop[static_cast<size_t>(r)].add();
        return 0;
    }

    const bool v6 = f.ip_version == 6;
    if (f.dst_port == kDnsPort) {
        // Unicast DNS to the proxy: the client may be anywhere, so no on-link
        // or TTL rule applies; only the destination must be ours.
        const uint16_t owner = links.owner_of(port, f, f.dst.data(), v6);
        if (owner == kNoLink) {
            drop(PathDrop::dns_not_service);
            return 0;
        }
        if (answerer_ != nullptr) {
            // Answered here, from the zone snapshot, straight into the reply
            // frame's payload room; the headers are written around it.
            const L2 l2 = reply_l2(port, f, frame.data() + 6);
            const size_t head = udp_headroom(l2, v6);
            if (reply.size() > head) {
                const QueryOutcome o = answerer_->answer(f.payload, reply.subspan(head));
                if (o.verdict == QueryVerdict::drop) return 0;
                if (o.verdict == QueryVerdict::reply) {
                    const size_t n = build_udp_around(reply, l2, v6, f.dst.data(), f.src.data(),
                                                      f.dst_port, f.src_port, 64, o.size);
                    if (n == 0) {
                        drop(PathDrop::too_big);
                        return 0;
                    }
                    c_->dns_answered.add();
                    return n;
                }
            }
            // punt (or no room for an answer here): the control plane's turn
        }
        if (punt(frame, f, port, owner, now_ms, f.payload, kProtoUdp)) c_->dns_queries.add();
        return 0;
    }
    if (f.dst_port != kMdnsPort && f.src_port != kMdnsPort) {
        drop(PathDrop::not_dns_port);
        return 0;
    }

    LinkMiss miss;
    const uint16_t link = lookup_link(port, f, &miss);
    if (link == kNoLink) {
        drop(miss == LinkMiss::no_link ? PathDrop::no_link : PathDrop::off_link_source);
        return 0;
    }
    const LinkSpec& spec = links[link];
    const bool group = is_mdns_group(f);
    if (!group &&
        !(spec.has_address && std::memcmp(spec.address.data(), f.dst.data(), v6 ? 16 : 4) == 0)) {
        drop(PathDrop::not_for_us);
        return 0;
    }
    // RFC 6762 §11: multicast must arrive with IP TTL 255. Unicast answers to
    // our own refresh and QU queries are only a SHOULD there, and real
    // responders (python-zeroconf, ...) send them with the default TTL 64:
    // for those the on-link source check above is the rule.
    if (group && spec.check_ttl && f.ttl != 255) {
        drop(PathDrop::ttl_not_255);
        return 0;
    }
    if (link < c_->link_packets.size()) {
        c_->link_packets[link].add();
        c_->link_bytes[link].add(frame.size());
    }
    // Queries (probes included) are never a source of records (draft §4.3):
    // look at the QR bit before paying for a parse.
    if (f.payload.size() >= codec::kHeaderSize && (f.payload[2] & 0x80) == 0) {
        c_->mdns_queries.add();
        return 0;
    }
    auto m = codec::Message::parse(f.payload, cfg_.parse);
    if (!m) {
        const auto reason = static_cast<size_t>(m.reason());
        c_->parse_error[reason < kParseReasonCount ? reason : 0].add();
        return 0;
    }
    c_->mdns_messages.add();
    if (batch.n == ResponseBatch::kMax) flush(batch, now_ms);
    batch.msgs[batch.n] = *m;
    table::Origin& o = batch.origins[batch.n];
    o.link = link;
    o.host = v6 ? table::HostAddr::from_v6(f.src.data(), frame.data() + 6)
                : table::HostAddr::from_v4(f.src.data(), frame.data() + 6);
    o.src_port = f.src_port;
    o.dst_port = f.dst_port;
    ++batch.n;
    return 0;
}

bool PacketPath::punt(std::span<const uint8_t> frame, const FrameInfo& f, uint16_t port,
                      uint16_t owner, uint64_t now_ms, std::span<const uint8_t> bytes,
                      uint8_t proto) {
    uint8_t* p = query_ring_ && bytes.size() <= 0xFFFF
                     ? query_ring_->reserve(sizeof(QueryHeader) + bytes.size())
                     : nullptr;
    if (p == nullptr) {
        drop(PathDrop::query_ring_full);
        return false;
    }
    QueryHeader h{};
    h.port = port;
    h.link = owner;
    h.v6 = f.ip_version == 6;
    h.proto = proto;
    h.vlan_count = f.vlan_count;
    h.vlan[0] = f.vlan[0];
    h.vlan[1] = f.vlan[1];
    std::memcpy(h.src, f.src.data(), 16);
    std::memcpy(h.dst, f.dst.data(), 16);
    std::memcpy(h.src_mac, frame.data() + 6, 6);
    h.src_port = f.src_port;
    h.dst_port = f.dst_port;
    h.time_ms = now_ms;
    h.len = static_cast<uint16_t>(bytes.size());
    std::memcpy(p, &h, sizeof h);
    std::memcpy(p + sizeof h, bytes.data(), bytes.size());
    query_ring_->commit();
    return true;
}

std::string_view path_drop_name(PathDrop d) {
    switch (d) {
        case PathDrop::not_dns_port: return "not_dns_port";
        case PathDrop::no_link: return "no_link";
        case PathDrop::off_link_source: return "off_link_source";
        case PathDrop::ttl_not_255: return "ttl_not_255";
        case PathDrop::not_for_us: return "not_for_us";
        case PathDrop::dns_not_service: return "dns_not_service";
        case PathDrop::query_ring_full: return "query_ring_full";
        case PathDrop::too_big: return "too_big";
        case PathDrop::not_arp_for_us: return "not_arp_for_us";
        case PathDrop::count_: break;
    }
    return "unknown";
}

}  // namespace updproxy::dataplane
