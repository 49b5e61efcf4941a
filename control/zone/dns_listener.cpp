#include "control/zone/dns_listener.hpp"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <thread>

#include "control/zone/server.hpp"

namespace updproxy::control::zone {

namespace {

constexpr size_t kUdpIn = 4096;     // a query larger than this is truncated: dropped
constexpr size_t kTcpMax = 65535;

int open_socket(const ListenAddress& a, bool tcp, int rcvbuf, SockAddr* bound, std::string* error) {
    SockAddr sa;
    if (!make_sockaddr(a.address, a.port, &sa)) {
        *error = "listen: bad address '" + a.address + "'";
        return -1;
    }
    int fd = socket(sa.family(), (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = "listen: socket: " + std::string(std::strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa.family() == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (!tcp && rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (!tcp) {
        // Responses go out with DF set and are never fragmented by us: the
        // UDP limit (at most our EDNS size, 1232 by default) is what keeps
        // them small, as DNS Flag Day 2020 asks; a response that does not
        // fit is truncated, not fragmented. PROBE sets DF without following
        // the path MTU cache. It also spares the kernel an IP ID per packet.
        if (sa.family() == AF_INET) {
            int pmtu = IP_PMTUDISC_PROBE;
            setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
        } else {
            setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof one);
        }
    }
    if (bind(fd, sa.sa(), sa.len) != 0) {
        *error = std::string("listen: ") + (tcp ? "tcp " : "udp ") + sa.to_string() + ": " +
                 std::strerror(errno);
        close(fd);
        return -1;
    }
    if (tcp && listen(fd, 128) != 0) {
        *error = "listen: tcp " + sa.to_string() + ": " + std::strerror(errno);
        close(fd);
        return -1;
    }
    bound->len = sizeof bound->ss;
    getsockname(fd, bound->sa(), &bound->len);
    return fd;
}

// Buffers for one recvmmsg/sendmmsg batch, allocated once per thread.
struct UdpBatch {
    explicit UdpBatch(size_t n, size_t out_bytes)
        : count(n),
          out_size(out_bytes),
          in(n * kUdpIn),
          out(n * out_bytes),
          in_iov(n),
          out_iov(n),
          from(n),
          rx(n),
          tx(n) {
        for (size_t i = 0; i < n; ++i) {
            in_iov[i] = iovec{in.data() + i * kUdpIn, kUdpIn};
            rx[i].msg_hdr.msg_iov = &in_iov[i];
            rx[i].msg_hdr.msg_iovlen = 1;
        }
    }
    size_t count;
    size_t out_size;
    std::vector<uint8_t> in, out;
    std::vector<iovec> in_iov, out_iov;
    std::vector<SockAddr> from;
    std::vector<mmsghdr> rx, tx;
};

struct AtomicStats {
    std::atomic<uint64_t> udp_received{0}, udp_sent{0}, udp_send_errors{0}, udp_truncated_in{0},
        udp_punted{0};
    static void add(std::atomic<uint64_t>& a, uint64_t n) {
        a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

}  // namespace

struct DnsListener::Impl {
    ListenerConfig cfg;
    AuthServer* server = nullptr;
    std::vector<int> udp_fds, tcp_fds;
    std::vector<SockAddr> udp_bound, tcp_bound;

    // UDP: one set of counters per answering thread (the poll loop's or the
    // UDP thread's), each written by its thread only.
    AnswerCounters udp_counters;
    // Per UDP batch: from recvmmsg's return to sendmmsg's (each datagram of
    // the batch waited at most that long in our hands).
    LatencyHistogram udp_latency;
    AtomicStats ustats;
    std::unique_ptr<ZoneStore::Reader> reader;  // of whichever thread answers UDP
    std::unique_ptr<UdpBatch> batch;
    std::thread thread;
    std::atomic<bool> stop{false};

    // TCP (control thread only).
    struct Conn {
        int fd = -1;
        SockAddr peer;
        std::vector<uint8_t> in = std::vector<uint8_t>(2 + kTcpMax);
        size_t in_len = 0;
        std::vector<uint8_t> out;
        size_t out_off = 0;
        std::unique_ptr<XfrStream> xfr;
        uint64_t last = 0;
        bool eof = false;
    };
    std::vector<std::unique_ptr<Conn>> conns;
    std::vector<uint8_t> scratch = std::vector<uint8_t>(kTcpMax);
    ListenerStats tstats;

    ~Impl() {
        stop.store(true);
        if (thread.joinable()) thread.join();
        for (int fd : udp_fds) close(fd);
        for (int fd : tcp_fds) close(fd);
        for (auto& c : conns) close(c->fd);
    }

    // Receives one batch on `fd` and answers it. Returns the datagrams read
    // (0: nothing was waiting, or an error).
    size_t serve_udp_batch(int fd, int flags) {
        UdpBatch& b = *batch;
        for (size_t i = 0; i < b.count; ++i) {
            b.rx[i].msg_hdr.msg_name = b.from[i].sa();
            b.rx[i].msg_hdr.msg_namelen = sizeof b.from[i].ss;
            b.rx[i].msg_hdr.msg_flags = 0;
        }
        int n = recvmmsg(fd, b.rx.data(), static_cast<unsigned>(b.count), flags, nullptr);
        if (n <= 0) return 0;
        AtomicStats::add(ustats.udp_received, static_cast<uint64_t>(n));
        timespec t0{};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ClientInfo ci;
        ci.max_udp_payload = server->config().max_udp_payload;
        const ZoneSnapshot* snap = reader->enter();
        size_t k = 0;
        for (int i = 0; i < n; ++i) {
            const mmsghdr& m = b.rx[static_cast<size_t>(i)];
            if (m.msg_hdr.msg_flags & MSG_TRUNC) {
                AtomicStats::add(ustats.udp_truncated_in, 1);
                continue;
            }
            std::span<const uint8_t> q(b.in.data() + static_cast<size_t>(i) * kUdpIn, m.msg_len);
            std::span<uint8_t> out(b.out.data() + k * b.out_size, b.out_size);
            AnswerResult r = answer_wire(q, *snap, ci, out, &udp_counters);
            size_t len = r.size;
            if (r.what == Disposition::punt) {
                AtomicStats::add(ustats.udp_punted, 1);
                b.from[static_cast<size_t>(i)].len = m.msg_hdr.msg_namelen;
                len = server->handle_udp(q, b.from[static_cast<size_t>(i)], *snap, out,
                                         &udp_counters);
            } else if (r.what == Disposition::drop) {
                len = 0;
            }
            if (len == 0) continue;
            b.out_iov[k] = iovec{out.data(), len};
            mmsghdr& t = b.tx[k];
            std::memset(&t, 0, sizeof t);
            t.msg_hdr.msg_iov = &b.out_iov[k];
            t.msg_hdr.msg_iovlen = 1;
            t.msg_hdr.msg_name = b.from[static_cast<size_t>(i)].sa();
            t.msg_hdr.msg_namelen = m.msg_hdr.msg_namelen;
            ++k;
        }
        reader->leave();
        // sendmmsg may stop short; a few more calls finish the batch.
        size_t sent = 0;
        for (int tries = 0; sent < k && tries < 8; ++tries) {
            int s = sendmmsg(fd, b.tx.data() + sent, static_cast<unsigned>(k - sent), 0);
            if (s < 0) {
                if (errno == EINTR) continue;
                // One bad datagram (e.g. an unreachable destination) must not
                // lose the rest: skip it.
                AtomicStats::add(ustats.udp_send_errors, 1);
                ++sent;
                continue;
            }
            sent += static_cast<size_t>(s);
        }
        AtomicStats::add(ustats.udp_sent, sent);
        if (k != 0) {
            timespec t1{};
            clock_gettime(CLOCK_MONOTONIC, &t1);
            const int64_t ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
            udp_latency.record(static_cast<uint64_t>(ns > 0 ? ns : 0), k);
        }
        return static_cast<size_t>(n);
    }

    void udp_thread_main() {
        if (cfg.udp_thread_cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(cfg.udp_thread_cpu, &set);
            pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        }
        if (udp_fds.size() == 1) {
            // One socket: a blocking recvmmsg waits and receives in one
            // system call (MSG_WAITFORONE: return with what is there once
            // one datagram is). The receive timeout bounds the wait so the
            // stop flag is seen.
            int fd = udp_fds[0];
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            timeval tv{0, 100000};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            while (!stop.load(std::memory_order_relaxed)) serve_udp_batch(fd, MSG_WAITFORONE);
            return;
        }
        std::vector<pollfd> pfds;
        for (int fd : udp_fds) pfds.push_back(pollfd{fd, POLLIN, 0});
        while (!stop.load(std::memory_order_relaxed)) {
            size_t got = 0;
            for (int fd : udp_fds) {
                // Drain each socket a bounded number of batches, then look
                // at the others (and at the stop flag).
                for (int round = 0; round < 64; ++round) {
                    size_t n = serve_udp_batch(fd, MSG_DONTWAIT);
                    got += n;
                    if (n == 0) break;
                }
            }
            if (got == 0) poll(pfds.data(), pfds.size(), 100);
        }
    }

    // ---- TCP -----------------------------------------------------------------

    void close_conn(size_t i) {
        close(conns[i]->fd);
        conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
    }

    void accept_all(uint64_t now) {
        for (int lfd : tcp_fds) {
            for (int n = 0; n < 64; ++n) {
                SockAddr peer;
                peer.len = sizeof peer.ss;
                int fd = accept4(lfd, peer.sa(), &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) break;
                if (conns.size() >= cfg.tcp_max_connections) {
                    // Room for the newcomer: the least recently active idle one goes.
                    size_t victim = conns.size();
                    for (size_t i = 0; i < conns.size(); ++i) {
                        if (conns[i]->xfr) continue;
                        if (victim == conns.size() || conns[i]->last < conns[victim]->last) victim = i;
                    }
                    ++tstats.tcp_closed_limit;
                    if (victim == conns.size()) {
                        close(fd);
                        continue;
                    }
                    close_conn(victim);
                }
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                auto c = std::make_unique<Conn>();
                c->fd = fd;
                c->peer = peer;
                c->last = now;
                conns.push_back(std::move(c));
                ++tstats.tcp_accepted;
            }
        }
    }

    void queue(Conn& c, const uint8_t* msg, size_t len) {
        if (c.out_off == c.out.size()) {
            c.out.clear();
            c.out_off = 0;
        }
        c.out.push_back(static_cast<uint8_t>(len >> 8));
        c.out.push_back(static_cast<uint8_t>(len));
        c.out.insert(c.out.end(), msg, msg + len);
    }

    // Handles every complete message in the input buffer, unless a transfer
    // is streaming (later queries wait for it, so answers stay in order).
    void handle_input(Conn& c) {
        size_t off = 0;
        for (int guard = 0; guard < 1024 && !c.xfr; ++guard) {
            if (c.in_len - off < 2) break;
            size_t len = (size_t{c.in[off]} << 8) | c.in[off + 1];
            if (c.in_len - off - 2 < len) break;
            ++tstats.tcp_queries;
            std::span<const uint8_t> q(c.in.data() + off + 2, len);
            auto r = server->handle_tcp(q, c.peer, scratch);
            off += 2 + len;
            if (r.stream) {
                c.xfr = std::move(r.stream);
            } else if (r.size != 0) {
                queue(c, scratch.data(), r.size);
            }
            if (c.out.size() - c.out_off > cfg.tcp_max_backlog_bytes) break;
        }
        if (off != 0) {
            std::memmove(c.in.data(), c.in.data() + off, c.in_len - off);
            c.in_len -= off;
        }
    }

    // Returns false when the connection is to be closed.
    bool service(Conn& c, uint64_t now) {
        // Read while there is room and output is not piling up.
        for (int n = 0; n < 16 && !c.eof; ++n) {
            if (c.xfr || c.out.size() - c.out_off > cfg.tcp_max_backlog_bytes) break;
            if (c.in_len == c.in.size()) {
                ++tstats.tcp_bad_length;  // cannot happen with a 2+65535 buffer; guard
                return false;
            }
            ssize_t r = recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
            if (r == 0) {
                c.eof = true;
                break;
            }
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EINTR) continue;
                return false;
            }
            c.in_len += static_cast<size_t>(r);
            c.last = now;
            handle_input(c);
        }
        // Write: queued answers, then transfer messages as the socket drains.
        for (int n = 0; n < 64; ++n) {
            if (c.out_off == c.out.size()) {
                if (!c.xfr) break;
                size_t len = c.xfr->next(scratch);
                if (len == 0) {
                    c.xfr.reset();
                    handle_input(c);  // queries that waited behind the transfer
                    if (c.out_off == c.out.size()) break;
                    continue;
                }
                queue(c, scratch.data(), len);
            }
            ssize_t w = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EINTR) continue;
                return false;
            }
            c.out_off += static_cast<size_t>(w);
            c.last = now;
        }
        if (c.out_off == c.out.size() && !c.xfr) {
            c.out.clear();
            c.out_off = 0;
            if (c.eof) return false;  // all answered, the client is gone
        }
        return true;
    }

    void tcp_ready(uint64_t now) {
        accept_all(now);
        for (size_t i = 0; i < conns.size();) {
            Conn& c = *conns[i];
            bool keep = service(c, now);
            if (keep && !c.xfr && c.out_off == c.out.size() &&
                now - c.last >= cfg.tcp_idle_timeout_ms) {
                ++tstats.tcp_closed_idle;
                keep = false;
            }
            if (!keep) {
                close_conn(i);
            } else {
                ++i;
            }
        }
    }
};

DnsListener::DnsListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsListener::~DnsListener() = default;

std::unique_ptr<DnsListener> DnsListener::create(const ListenerConfig& cfg, AuthServer& server,
                                                 std::string* error) {
    auto m = std::make_unique<Impl>();
    m->cfg = cfg;
    if (m->cfg.udp_batch == 0) m->cfg.udp_batch = 1;
    if (m->cfg.tcp_max_connections == 0) m->cfg.tcp_max_connections = 1;
    m->server = &server;
    std::string err;
    for (const auto& a : cfg.udp) {
        SockAddr b;
        int fd = open_socket(a, false, cfg.udp_rcvbuf, &b, &err);
        if (fd < 0) {
            if (error != nullptr) *error = err;
            return nullptr;
        }
        m->udp_fds.push_back(fd);
        m->udp_bound.push_back(b);
    }
    for (const auto& a : cfg.tcp) {
        SockAddr b;
        int fd = open_socket(a, true, 0, &b, &err);
        if (fd < 0) {
            if (error != nullptr) *error = err;
            return nullptr;
        }
        m->tcp_fds.push_back(fd);
        m->tcp_bound.push_back(b);
    }
    m->reader = server.store().make_reader();
    if (!m->reader) {
        if (error != nullptr) *error = "listen: no snapshot reader slot left";
        return nullptr;
    }
    m->batch = std::make_unique<UdpBatch>(m->cfg.udp_batch,
                                          std::max<size_t>(512, server.config().max_udp_payload));
    std::unique_ptr<DnsListener> l(new DnsListener(std::move(m)));
    Impl* im = l->impl_.get();
    if (im->cfg.udp_thread && !im->udp_fds.empty()) {
        im->thread = std::thread([im] { im->udp_thread_main(); });
    }
    return l;
}

std::vector<PollFd> DnsListener::fds() const {
    std::vector<PollFd> v;
    if (!impl_->cfg.udp_thread) {
        for (int fd : impl_->udp_fds) v.push_back({fd, POLLIN});
    }
    for (int fd : impl_->tcp_fds) v.push_back({fd, POLLIN});
    for (const auto& c : impl_->conns) {
        short ev = 0;
        if (!c->xfr && !c->eof) ev |= POLLIN;
        if (c->out_off != c->out.size() || c->xfr) ev |= POLLOUT;
        v.push_back({c->fd, ev});
    }
    return v;
}

void DnsListener::on_ready(uint64_t now_ms) {
    Impl& m = *impl_;
    if (!m.cfg.udp_thread) {
        for (int fd : m.udp_fds) {
            for (int round = 0; round < 64; ++round) {
                if (m.serve_udp_batch(fd, MSG_DONTWAIT) == 0) break;
            }
        }
    }
    m.tcp_ready(now_ms);
}

uint64_t DnsListener::next_wakeup_ms(uint64_t) const {
    uint64_t w = UINT64_MAX;
    for (const auto& c : impl_->conns) {
        if (!c->xfr) w = std::min(w, c->last + impl_->cfg.tcp_idle_timeout_ms);
    }
    return w;
}

std::vector<SockAddr> DnsListener::udp_addresses() const { return impl_->udp_bound; }
std::vector<SockAddr> DnsListener::tcp_addresses() const { return impl_->tcp_bound; }
size_t DnsListener::tcp_connections() const { return impl_->conns.size(); }

const LatencyHistogram& DnsListener::udp_latency() const { return impl_->udp_latency; }

ListenerStats DnsListener::stats() const {
    const Impl& m = *impl_;
    ListenerStats s = m.tstats;
    s.udp_received = m.ustats.udp_received.load();
    s.udp_sent = m.ustats.udp_sent.load();
    s.udp_send_errors = m.ustats.udp_send_errors.load();
    s.udp_truncated_in = m.ustats.udp_truncated_in.load();
    s.udp_punted = m.ustats.udp_punted.load();
    for (int i = 0; i < 16; ++i) s.answered_rcode[i] = m.udp_counters.rcode[i].load();
    s.dropped = m.udp_counters.drop_short.load() + m.udp_counters.drop_response.load() +
                m.udp_counters.drop_no_room.load();
    s.formerr = m.udp_counters.formerr.load();
    s.truncated = m.udp_counters.truncated.load();
    return s;
}

}  // namespace updproxy::control::zone
