#include "control/link_tcp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "dataplane/frame_build.hpp"

namespace updproxy::control {

namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
constexpr uint8_t kProtoTcp = 6;
constexpr uint16_t kDnsPort = 53;
constexpr size_t kHeader = 20;
constexpr size_t kTcpMax = 65535;
constexpr uint16_t kDefaultPeerMss = 536;  // RFC 9293 §3.7.1
constexpr uint32_t kMaxRtoMs = 4000;

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}
// Sequence number comparisons modulo 2^32.
bool seq_lt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
bool seq_le(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) <= 0; }

// RFC 1071 sum of the pseudo header alone (addresses, protocol, length), folded.
uint16_t pseudo_header_sum(bool v6, const uint8_t* src, const uint8_t* dst, size_t len) {
    uint32_t sum = kProtoTcp + static_cast<uint32_t>(len & 0xFFFF) + static_cast<uint32_t>(len >> 16);
    const size_t alen = v6 ? 16 : 4;
    for (size_t i = 0; i < alen; i += 2) {
        sum += static_cast<uint32_t>(src[i] << 8 | src[i + 1]);
        sum += static_cast<uint32_t>(dst[i] << 8 | dst[i + 1]);
    }
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

// The segment's checksum verifies; or it was captured on a local virtual
// interface (veth, tap) before the kernel filled it in: with checksum
// offload pending (CHECKSUM_PARTIAL) the field holds the pseudo-header sum
// alone, and DPDK 22.11's af_packet PMD does not pass the kernel's
// TP_STATUS_CSUMNOTREADY on. A corrupted segment from a wire matches that
// by chance once in 65536.
bool checksum_ok(const TcpRoute& r, std::span<const uint8_t> s) {
    if (dataplane::l4_checksum(r.v6, r.client.data(), r.ours.data(), kProtoTcp, s) == 0) return true;
    const uint16_t field = static_cast<uint16_t>(s[16] << 8 | s[17]);
    return field == pseudo_header_sum(r.v6, r.client.data(), r.ours.data(), s.size());
}

uint32_t random_isn() {
    uint32_t v = 0;
    if (getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
        v = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&v));  // never expected
    }
    return v;
}

}  // namespace

struct LinkTcp::Conn {
    enum class State : uint8_t { syn_received, established } state = State::syn_received;
    TcpRoute route;
    uint16_t their_port = 0;
    uint32_t iss = 0;      // our initial sequence number
    uint32_t snd_una = 0;  // oldest byte not acknowledged
    uint32_t snd_nxt = 0;  // next byte to send
    uint32_t rcv_nxt = 0;  // next byte expected
    uint32_t peer_window = 0;
    uint16_t mss = kDefaultPeerMss;
    uint32_t cwnd = 0;
    // The stream from snd_una on: the bytes at out[out_off...] are sequence
    // numbers snd_una (+1 while our SYN is unacknowledged) onwards.
    std::vector<uint8_t> out;
    size_t out_off = 0;
    std::vector<uint8_t> in;  // received stream bytes not yet consumed
    std::unique_ptr<zone::XfrStream> xfr;
    bool peer_fin = false;
    bool fin_queued = false;  // we close after what is queued
    bool fin_sent = false;
    uint64_t last_ms = 0;
    uint64_t born_ms = 0;
    uint64_t rto_at = UINT64_MAX;  // retransmission timer
    uint32_t rto_ms = 0;
    unsigned retransmits = 0;

    // Sequence number of out[out_off].
    uint32_t data_seq() const { return state == State::syn_received ? iss + 1 : snd_una; }
    size_t unacked_or_unsent() const { return out.size() - out_off; }
    // Bytes of `out` already sent (in flight).
    size_t in_flight_data() const {
        const uint32_t sent = snd_nxt - data_seq() - (fin_sent ? 1u : 0u);
        return std::min<size_t>(sent, unacked_or_unsent());
    }
};

LinkTcp::LinkTcp(zone::AuthServer* server, Send send, LinkTcpConfig cfg)
    : server_(server), send_(std::move(send)), cfg_(cfg), scratch_(kTcpMax), seg_(kHeader + 4 + kTcpMax) {}

LinkTcp::~LinkTcp() = default;

void LinkTcp::send_segment(Conn& c, uint8_t flags, uint32_t seq, std::span<const uint8_t> data,
                           bool mss_option) {
    const size_t hlen = kHeader + (mss_option ? 4 : 0);
    uint8_t* h = seg_.data();
    put16(h, kDnsPort);
    put16(h + 2, c.their_port);
    put32(h + 4, seq);
    put32(h + 8, (flags & kAck) ? c.rcv_nxt : 0);
    h[12] = static_cast<uint8_t>((hlen / 4) << 4);
    h[13] = flags;
    // Our receive window: what the input buffer still takes (no scaling).
    const size_t room = 2 + kTcpMax > c.in.size() ? 2 + kTcpMax - c.in.size() : 0;
    put16(h + 14, static_cast<uint16_t>(std::min<size_t>(room, 0xFFFF)));
    put16(h + 16, 0);  // checksum: the worker's
    put16(h + 18, 0);
    if (mss_option) {
        h[20] = 2;
        h[21] = 4;
        put16(h + 22, cfg_.mss);
    }
    if (!data.empty()) std::memcpy(h + hlen, data.data(), data.size());
    send_(c.route, {h, hlen + data.size()});
    ++stats_.segments_out;
}

void LinkTcp::send_reset(const TcpRoute& route, uint16_t our_port, uint16_t their_port,
                         uint32_t seq, uint32_t ack, bool with_ack) {
    uint8_t h[kHeader] = {};
    put16(h, our_port);
    put16(h + 2, their_port);
    put32(h + 4, seq);
    put32(h + 8, with_ack ? ack : 0);
    h[12] = static_cast<uint8_t>((kHeader / 4) << 4);
    h[13] = static_cast<uint8_t>(kRst | (with_ack ? kAck : 0));
    send_(route, {h, kHeader});
    ++stats_.segments_out;
    ++stats_.rst_sent;
}

void LinkTcp::close(std::map<Key, std::unique_ptr<Conn>>::iterator it, bool reset) {
    Conn& c = *it->second;
    if (reset) {
        send_reset(c.route, kDnsPort, c.their_port, c.snd_nxt, c.rcv_nxt, true);
        ++stats_.reset;
    } else {
        ++stats_.closed;
    }
    conns_.erase(it);
}

// Every complete message in the input, answered in order; a transfer
// streams before later queries are read (so answers stay in order).
void LinkTcp::handle_input(Conn& c) {
    size_t off = 0;
    while (!c.xfr && c.in.size() - off >= 2 &&
           c.unacked_or_unsent() < cfg_.max_backlog_bytes) {
        const size_t len = get16(c.in.data() + off);
        if (c.in.size() - off - 2 < len) break;
        ++stats_.queries;
        zone::Peer from;
        if (c.route.v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&from.ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(c.their_port);
            std::memcpy(&a->sin6_addr, c.route.client.data(), 16);
            from.len = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&from.ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(c.their_port);
            std::memcpy(&a->sin_addr, c.route.client.data(), 4);
            from.len = sizeof *a;
        }
        auto r = server_->handle_tcp({c.in.data() + off + 2, len}, from, scratch_);
        off += 2 + len;
        if (r.stream) {
            c.xfr = std::move(r.stream);
        } else if (r.size != 0) {
            c.out.push_back(static_cast<uint8_t>(r.size >> 8));
            c.out.push_back(static_cast<uint8_t>(r.size));
            c.out.insert(c.out.end(), scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(r.size));
        }
    }
    if (off != 0) c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(off));
}

// Sends what the windows allow: new data from snd_nxt, then our FIN when
// everything is answered and the peer has closed (or we close).
void LinkTcp::transmit(Conn& c, uint64_t now_ms) {
    if (c.state != Conn::State::established) return;
    for (int guard = 0; guard < 4096; ++guard) {
        const size_t flight = c.in_flight_data();
        // A transfer's next message once what is queued is sent.
        if (flight == c.unacked_or_unsent() && c.xfr) {
            const size_t len = c.xfr->next(scratch_);
            if (len == 0) {
                c.xfr.reset();
                handle_input(c);  // queries that waited behind the transfer
                continue;
            }
            c.out.push_back(static_cast<uint8_t>(len >> 8));
            c.out.push_back(static_cast<uint8_t>(len));
            c.out.insert(c.out.end(), scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(len));
        }
        const size_t unsent = c.unacked_or_unsent() - flight;
        if (unsent == 0) break;
        const size_t window = std::min<size_t>(c.peer_window, c.cwnd);
        if (flight >= window) break;
        const size_t n = std::min({unsent, window - flight, size_t{c.mss}});
        const uint8_t* p = c.out.data() + c.out_off + flight;
        const bool last = n == unsent && !c.xfr;
        send_segment(c, static_cast<uint8_t>(kAck | (last ? kPsh : 0)), c.snd_nxt, {p, n});
        c.snd_nxt += static_cast<uint32_t>(n);
        if (c.rto_at == UINT64_MAX) c.rto_at = now_ms + c.rto_ms;
    }
    // Everything sent and answered: close when the client has (RFC 7766
    // §6.2.3 leaves the close to the client; an idle one is closed by
    // on_timer).
    if (!c.fin_sent && !c.xfr && c.in_flight_data() == c.unacked_or_unsent() &&
        (c.peer_fin || c.fin_queued)) {
        send_segment(c, kFin | kAck, c.snd_nxt, {});
        c.snd_nxt += 1;
        c.fin_sent = true;
        if (c.rto_at == UINT64_MAX) c.rto_at = now_ms + c.rto_ms;
    }
}

void LinkTcp::on_segment(const TcpRoute& route, std::span<const uint8_t> s, uint64_t now_ms) {
    ++stats_.segments_in;
    if (s.size() < kHeader) {
        ++stats_.malformed;
        return;
    }
    const size_t hlen = static_cast<size_t>(s[12] >> 4) * 4;
    if (hlen < kHeader || hlen > s.size()) {
        ++stats_.malformed;
        return;
    }
    if (!checksum_ok(route, s)) {
        ++stats_.bad_checksum;
        return;
    }
    const uint16_t their_port = get16(s.data());
    const uint16_t our_port = get16(s.data() + 2);
    const uint32_t seq = get32(s.data() + 4);
    const uint32_t ack = get32(s.data() + 8);
    const uint8_t flags = s[13];
    const uint32_t window = get16(s.data() + 14);
    std::span<const uint8_t> data = s.subspan(hlen);
    if (our_port != kDnsPort) {
        ++stats_.malformed;
        return;
    }

    const Key key{route.link, route.client, their_port};
    auto it = conns_.find(key);
    if (it == conns_.end()) {
        if (flags & kRst) return;
        if ((flags & (kSyn | kAck)) != kSyn) {
            // RFC 9293 §3.10.7.1: a segment for no connection gets a reset.
            const uint32_t seg_len = static_cast<uint32_t>(data.size()) + ((flags & kFin) ? 1 : 0);
            if (flags & kAck) {
                send_reset(route, our_port, their_port, ack, 0, false);
            } else {
                send_reset(route, our_port, their_port, 0, seq + seg_len, true);
            }
            return;
        }
        if (conns_.size() >= cfg_.max_connections) {
            ++stats_.refused;
            send_reset(route, our_port, their_port, 0, seq + 1, true);
            return;
        }
        auto c = std::make_unique<Conn>();
        c->route = route;
        c->their_port = their_port;
        c->iss = random_isn();
        c->snd_una = c->iss;
        c->snd_nxt = c->iss + 1;
        c->rcv_nxt = seq + 1;
        c->peer_window = window;
        // The peer's MSS option (kind 2, length 4), capped by ours.
        for (size_t o = kHeader; o + 1 < hlen;) {
            const uint8_t kind = s[o];
            if (kind == 0) break;
            if (kind == 1) {
                ++o;
                continue;
            }
            const uint8_t len = s[o + 1];
            if (len < 2 || o + len > hlen) break;
            if (kind == 2 && len == 4) c->mss = get16(s.data() + o + 2);
            o += len;
        }
        c->mss = std::clamp<uint16_t>(c->mss, 64, cfg_.mss);
        c->cwnd = 10u * c->mss;
        c->rto_ms = cfg_.rto_ms;
        c->last_ms = c->born_ms = now_ms;
        send_segment(*c, kSyn | kAck, c->iss, {}, true);
        c->rto_at = now_ms + c->rto_ms;
        conns_.emplace(key, std::move(c));
        return;
    }

    Conn& c = *it->second;
    c.last_ms = now_ms;
    if (flags & kRst) {
        // In the window: the connection is gone (RFC 9293 §3.10.7.4, without
        // the challenge ACK of RFC 5961 for in-window but inexact values).
        if (seq_le(c.rcv_nxt, seq) && seq_lt(seq, c.rcv_nxt + 0x10000)) {
            ++stats_.reset;
            conns_.erase(it);
        }
        return;
    }
    if (flags & kSyn) {
        if (c.state == Conn::State::syn_received && seq + 1 == c.rcv_nxt) {
            send_segment(c, kSyn | kAck, c.iss, {}, true);  // our SYN-ACK was lost
        } else {
            send_segment(c, kAck, c.snd_nxt, {});  // RFC 5961 §4: challenge ACK
        }
        return;
    }
    if (!(flags & kAck)) return;  // every segment after the SYN carries an ACK

    // ---- acknowledgement ----
    if (seq_lt(c.snd_una, ack) && seq_le(ack, c.snd_nxt)) {
        uint32_t acked = ack - c.snd_una;
        if (c.state == Conn::State::syn_received) {
            c.state = Conn::State::established;
            ++stats_.accepted;
            acked -= 1;  // our SYN
        }
        const size_t data_acked = std::min<size_t>(acked, c.unacked_or_unsent());
        c.out_off += data_acked;
        if (c.out_off == c.out.size()) {
            c.out.clear();
            c.out_off = 0;
        } else if (c.out_off > (1u << 16)) {
            c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_off));
            c.out_off = 0;
        }
        c.snd_una = ack;
        c.cwnd += c.mss;
        c.retransmits = 0;
        c.rto_ms = cfg_.rto_ms;
        c.rto_at = c.snd_una == c.snd_nxt ? UINT64_MAX : now_ms + c.rto_ms;
    } else if (c.state == Conn::State::syn_received) {
        send_reset(c.route, kDnsPort, their_port, ack, 0, false);
        ++stats_.reset;
        conns_.erase(it);
        return;
    }
    c.peer_window = window;
    if (c.fin_sent && c.snd_una == c.snd_nxt && c.peer_fin) {
        close(it, false);  // both FINs acknowledged
        return;
    }

    // ---- data and FIN, in order only ----
    bool ack_now = false;
    const uint32_t fin = (flags & kFin) ? 1 : 0;
    if (!data.empty() || fin) {
        ack_now = true;
        if (seq_lt(c.rcv_nxt, seq)) {
            ++stats_.out_of_order;  // a gap: dropped, the duplicate ACK asks again
        } else {
            // Skip what we already have (a retransmission overlapping the edge).
            const uint32_t skip = c.rcv_nxt - seq;
            if (skip < data.size()) {
                std::span<const uint8_t> fresh = data.subspan(skip);
                const size_t room = 2 + kTcpMax > c.in.size() ? 2 + kTcpMax - c.in.size() : 0;
                if (fresh.size() > room) fresh = fresh.first(room);
                c.in.insert(c.in.end(), fresh.begin(), fresh.end());
                c.rcv_nxt += static_cast<uint32_t>(fresh.size());
            }
            if (fin && seq + data.size() == c.rcv_nxt && !c.peer_fin) {
                c.peer_fin = true;
                c.rcv_nxt += 1;
            }
        }
        if (c.state == Conn::State::established) handle_input(c);
    }
    const uint32_t before = c.snd_nxt;
    transmit(c, now_ms);
    if (ack_now && c.snd_nxt == before) send_segment(c, kAck, c.snd_nxt, {});
    if (c.fin_sent && c.snd_una == c.snd_nxt && c.peer_fin) close(it, false);
}

void LinkTcp::on_timer(uint64_t now_ms) {
    for (auto it = conns_.begin(); it != conns_.end();) {
        auto cur = it++;
        Conn& c = *cur->second;
        if (c.state == Conn::State::syn_received && now_ms - c.born_ms >= cfg_.handshake_ms) {
            ++stats_.timeouts;
            conns_.erase(cur);
            continue;
        }
        if (c.rto_at <= now_ms) {
            if (c.retransmits >= cfg_.max_retransmits) {
                ++stats_.timeouts;
                close(cur, true);
                continue;
            }
            ++c.retransmits;
            ++stats_.retransmits;
            c.rto_ms = std::min(c.rto_ms * 2, kMaxRtoMs);
            c.rto_at = now_ms + c.rto_ms;
            c.cwnd = c.mss;
            if (c.state == Conn::State::syn_received) {
                send_segment(c, kSyn | kAck, c.iss, {}, true);
                continue;
            }
            // Go back to the oldest unacknowledged byte.
            c.snd_nxt = c.snd_una;
            c.fin_sent = false;
            transmit(c, now_ms);
            continue;
        }
        if (c.state == Conn::State::established && now_ms - c.last_ms >= cfg_.idle_ms) {
            if (!c.fin_queued) {
                c.fin_queued = true;  // idle: we close (RFC 7766 §6.2.3)
                transmit(c, now_ms);
            } else if (now_ms - c.last_ms >= 2 * cfg_.idle_ms) {
                ++stats_.timeouts;
                close(cur, true);  // our FIN was never answered
            }
        }
    }
}

uint64_t LinkTcp::next_wakeup_ms() const {
    uint64_t t = UINT64_MAX;
    for (const auto& [k, c] : conns_) {
        t = std::min(t, c->rto_at);
        if (c->state == Conn::State::syn_received) {
            t = std::min(t, c->born_ms + cfg_.handshake_ms);
        } else {
            t = std::min(t, c->last_ms + (c->fin_queued ? 2 : 1) * cfg_.idle_ms);
        }
    }
    return t;
}

}  // namespace updproxy::control
