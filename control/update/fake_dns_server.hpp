// Tests only: a scriptable UPDATE server on 127.0.0.1 (UDP and TCP on one
// port) that parses requests with the codec, verifies their TSIG and answers
// with the rcode a test chooses, signed with the request MAC (RFC 8945
// §4.3.1). Single-threaded: the test's loop calls serve() beside the engine's
// on_ready(), so every exchange is deterministic.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/tsig.hpp"
#include "codec/types.hpp"

namespace updproxy::control::testing {

struct FakeRequest {
    std::vector<uint8_t> wire;
    bool tcp = false;
    bool tsig_ok = false;  // verified with the server's key
};

struct FakeAnswer {
    bool drop = false;       // no answer at all
    uint16_t rcode = 0;
    bool tc = false;         // UDP only: answer with TC=1 and nothing else
    bool echo_lease = true;  // copy the Update Lease option back
    bool sign = true;        // TSIG with the request MAC
    uint16_t tsig_error = 0; // e.g. BADSIG: unsigned answer with this error
    bool wrong_key = false;  // sign with a different secret
    bool close_tcp = false;  // TCP only: close the connection instead of answering
};

class FakeDnsServer {
public:
    explicit FakeDnsServer(std::optional<codec::TsigKey> key) : key_(std::move(key)) {
        for (int attempt = 0; attempt < 20 && port_ == 0; ++attempt) {
            udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t alen = sizeof(a);
            bind(udp_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
            getsockname(udp_, reinterpret_cast<sockaddr*>(&a), &alen);
            tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            const int one = 1;
            setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(tcp_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && listen(tcp_, 16) == 0) {
                port_ = ntohs(a.sin_port);
            } else {
                close(udp_);
                close(tcp_);
            }
        }
    }
    ~FakeDnsServer() {
        close(udp_);
        close(tcp_);
        for (auto& c : conns_) close(c.fd);
    }
    FakeDnsServer(const FakeDnsServer&) = delete;
    FakeDnsServer& operator=(const FakeDnsServer&) = delete;

    uint16_t port() const { return port_; }
    std::function<FakeAnswer(const codec::Message&, const FakeRequest&)> policy;
    std::vector<FakeRequest> requests;
    int tcp_accepts = 0;

    void append_fds(std::vector<pollfd>& out) const {
        out.push_back({udp_, POLLIN, 0});
        out.push_back({tcp_, POLLIN, 0});
        for (const auto& c : conns_) out.push_back({c.fd, POLLIN, 0});
    }

    // Closes every accepted TCP connection (a server's idle timeout).
    void close_tcp_connections() {
        for (auto& c : conns_) close(c.fd);
        conns_.clear();
    }

    // Handles everything waiting.
    void serve() {
        for (;;) {
            std::vector<uint8_t> buf(65535);
            sockaddr_in from{};
            socklen_t fl = sizeof(from);
            const ssize_t n = recvfrom(udp_, buf.data(), buf.size(), 0,
                                       reinterpret_cast<sockaddr*>(&from), &fl);
            if (n < 0) break;
            buf.resize(static_cast<size_t>(n));
            std::vector<uint8_t> out = handle(buf, false);
            if (!out.empty()) {
                sendto(udp_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
            }
        }
        for (;;) {
            const int c = accept4(tcp_, nullptr, nullptr, SOCK_NONBLOCK);
            if (c < 0) break;
            ++tcp_accepts;
            conns_.push_back({c, {}});
        }
        for (size_t i = 0; i < conns_.size();) {
            Conn& c = conns_[i];
            uint8_t tmp[65536];
            bool closed = false;
            for (;;) {
                const ssize_t n = recv(c.fd, tmp, sizeof(tmp), 0);
                if (n > 0) {
                    c.in.insert(c.in.end(), tmp, tmp + n);
                    continue;
                }
                if (n == 0) closed = true;
                break;
            }
            while (c.in.size() >= 2) {
                const size_t len = (size_t{c.in[0]} << 8) | c.in[1];
                if (c.in.size() < 2 + len) break;
                std::vector<uint8_t> msg(c.in.begin() + 2, c.in.begin() + 2 + static_cast<std::ptrdiff_t>(len));
                c.in.erase(c.in.begin(), c.in.begin() + 2 + static_cast<std::ptrdiff_t>(len));
                std::vector<uint8_t> out = handle(msg, true);
                if (close_now_) {
                    close_now_ = false;
                    closed = true;
                    c.in.clear();
                    break;
                }
                if (!out.empty()) {
                    std::vector<uint8_t> framed{static_cast<uint8_t>(out.size() >> 8),
                                                static_cast<uint8_t>(out.size() & 0xFF)};
                    framed.insert(framed.end(), out.begin(), out.end());
                    send(c.fd, framed.data(), framed.size(), MSG_NOSIGNAL);
                }
            }
            if (closed) {
                close(c.fd);
                conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
    }

private:
    struct Conn {
        int fd;
        std::vector<uint8_t> in;
    };

    std::vector<uint8_t> handle(const std::vector<uint8_t>& wire, bool tcp) {
        FakeRequest req{wire, tcp, false};
        codec::Result<codec::Message> m = codec::Message::parse(req.wire);
        if (!m.ok()) {
            requests.push_back(std::move(req));
            return {};
        }
        std::vector<uint8_t> req_mac;
        if (key_) {
            const std::vector<codec::TsigKey> keys{*key_};
            codec::TsigVerifyParams vp;
            vp.now = static_cast<uint64_t>(std::time(nullptr));
            codec::Result<codec::TsigVerified> v = codec::tsig_verify(*m, keys, vp);
            req.tsig_ok = v.ok();
            if (v.ok()) req_mac = v->mac;
        }
        FakeAnswer a = policy ? policy(*m, req) : FakeAnswer{};
        requests.push_back(req);
        if (a.drop) return {};
        if (a.close_tcp && tcp) {
            close_now_ = true;
            return {};
        }

        std::vector<uint8_t> out(4096);
        codec::Builder b(out);
        b.set_id(m->header().id);
        b.set_flags(static_cast<uint16_t>(codec::flag::QR | (codec::opcode::UPDATE << 11) |
                                          (a.tc && !tcp ? codec::flag::TC : 0) | (a.rcode & 0xF)));
        for (const codec::Question& q : m->questions()) {
            (void)b.add_question(q.name.to_name(), q.type, q.raw_class);
        }
        if (a.echo_lease && m->opt()) {
            codec::Result<codec::OptView> ov = m->opt()->opt();
            if (ov.ok() && ov->lease()) {
                (void)b.add_opt(1232, 0, 0, false,
                                codec::rdata::lease_option(ov->lease()->lease, ov->lease()->key_lease));
            }
        }
        size_t len = b.size();
        if (key_ && a.sign) {
            codec::TsigKey k = *key_;
            if (a.wrong_key) {
                for (uint8_t& x : k.secret) x = static_cast<uint8_t>(x ^ 0x5A);
            }
            codec::TsigSignParams sp;
            sp.time_signed = static_cast<uint64_t>(std::time(nullptr));
            sp.error = a.tsig_error;
            // BADSIG/BADKEY answers carry no MAC and digest no request MAC.
            if (a.tsig_error == 0) sp.request_mac = req_mac;
            codec::Result<size_t> n = codec::tsig_sign(out, len, k, sp);
            if (n.ok()) len = *n;
        }
        out.resize(len);
        return out;
    }

    std::optional<codec::TsigKey> key_;
    int udp_ = -1;
    int tcp_ = -1;
    uint16_t port_ = 0;
    std::vector<Conn> conns_;
    bool close_now_ = false;
};

}  // namespace updproxy::control::testing
