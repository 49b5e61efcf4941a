#include "control/update/dns_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace updproxy::control::upd {
namespace {

std::string errno_text(const char* what, int e) {
    return std::string(what) + ": " + std::strerror(e);
}

bool is_ip_literal(const std::string& s) {
    in6_addr a6{};
    in_addr a4{};
    return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

std::string openssl_errors() {
    std::string out;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

}  // namespace

std::optional<Endpoint> make_endpoint(const std::string& address, uint16_t port) {
    Endpoint ep;
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ep.addr);
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    if (inet_pton(AF_INET, address.c_str(), &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        ep.len = sizeof(sockaddr_in);
        return ep;
    }
    ep = Endpoint{};
    if (inet_pton(AF_INET6, address.c_str(), &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        ep.len = sizeof(sockaddr_in6);
        return ep;
    }
    return std::nullopt;
}

// ---- UDP -----------------------------------------------------------------------

UdpChannel::~UdpChannel() { close(); }

void UdpChannel::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool UdpChannel::send(std::span<const uint8_t> msg, std::string* err) {
    if (fd_ < 0) {
        fd_ = ::socket(ep_.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            *err = errno_text("udp socket", errno);
            return false;
        }
        // Connected: the kernel filters other sources and reports ICMP errors.
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&ep_.addr), ep_.len) != 0) {
            *err = errno_text("udp connect", errno);
            close();
            return false;
        }
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        const ssize_t n = ::send(fd_, msg.data(), msg.size(), 0);
        if (n == static_cast<ssize_t>(msg.size())) return true;
        // A pending ICMP error from an earlier datagram is reported by this
        // send; the datagram itself was not sent, so try once more.
        if (n < 0 && errno == ECONNREFUSED && attempt == 0) continue;
        *err = errno_text("udp send", n < 0 ? errno : EMSGSIZE);
        return false;
    }
    return false;
}

bool UdpChannel::receive(std::vector<std::vector<uint8_t>>& out, std::string* err) {
    if (fd_ < 0) return true;
    for (;;) {
        std::vector<uint8_t> buf(65535);
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n >= 0) {
            buf.resize(static_cast<size_t>(n));
            out.push_back(std::move(buf));
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == EINTR) continue;
        *err = errno_text("udp recv", errno);
        return false;
    }
}

// ---- TLS context ---------------------------------------------------------------

std::shared_ptr<TlsContext> TlsContext::create(const std::string& ca_file, std::string* err) {
    std::shared_ptr<TlsContext> t(new TlsContext());
    t->ctx_ = SSL_CTX_new(TLS_client_method());
    if (t->ctx_ == nullptr) {
        *err = "SSL_CTX_new: " + openssl_errors();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(t->ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(t->ctx_, SSL_VERIFY_PEER, nullptr);
    const int ok = ca_file.empty()
                       ? SSL_CTX_set_default_verify_paths(t->ctx_)
                       : SSL_CTX_load_verify_locations(t->ctx_, ca_file.c_str(), nullptr);
    if (ok != 1) {
        *err = "cannot load CA " + (ca_file.empty() ? std::string("store") : ca_file) + ": " +
               openssl_errors();
        return nullptr;
    }
    return t;
}

TlsContext::~TlsContext() {
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

// ---- TCP / TLS -----------------------------------------------------------------

StreamChannel::StreamChannel(const Endpoint& ep, std::shared_ptr<TlsContext> tls,
                             std::string tls_name)
    : ep_(ep), tls_(std::move(tls)), tls_name_(std::move(tls_name)) {}

StreamChannel::~StreamChannel() { close(); }

void StreamChannel::close() {
    if (ssl_ != nullptr) SSL_free(ssl_);  // frees both BIOs
    ssl_ = nullptr;
    rbio_ = wbio_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    state_ = State::closed;
    app_out_.clear();
    raw_out_.clear();
    app_in_.clear();
    busy_ = false;
    exchanged_ = false;
}

short StreamChannel::events() const {
    switch (state_) {
        case State::closed:
            return 0;
        case State::connecting:
            return POLLOUT;
        case State::handshake:
        case State::open:
            // Always read: the answer, TLS records, or a peer close while idle.
            return static_cast<short>(POLLIN | (raw_out_.empty() && app_out_.empty() ? 0 : POLLOUT));
    }
    return 0;
}

bool StreamChannel::start_connect(std::string* err) {
    fd_ = ::socket(ep_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        *err = errno_text("tcp socket", errno);
        return false;
    }
    const int one = 1;
    // Small request/response exchanges: no Nagle delay on the framed writes.
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ++connects_;
    exchanged_ = false;
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&ep_.addr), ep_.len) == 0) {
        state_ = State::open;
    } else if (errno == EINPROGRESS) {
        state_ = State::connecting;
        return true;
    } else {
        *err = errno_text("tcp connect", errno);
        return false;
    }
    return true;
}

void StreamChannel::send(std::span<const uint8_t> msg) {
    app_out_.push_back(static_cast<uint8_t>(msg.size() >> 8));
    app_out_.push_back(static_cast<uint8_t>(msg.size() & 0xFF));
    app_out_.insert(app_out_.end(), msg.begin(), msg.end());
    busy_ = true;
}

StreamChannel::Event StreamChannel::fail(std::string msg) {
    const bool was_busy = busy_;
    const bool stale = exchanged_;
    close();
    // An idle connection that breaks (idle timeout, close_notify, reset) is
    // simply gone; the next send() reconnects.
    if (!was_busy) return {};
    Event ev;
    ev.kind = Event::Kind::error;
    ev.error = std::move(msg);
    ev.stale_connection = stale;
    return ev;
}

std::string StreamChannel::ssl_error_text(int rc) const {
    const int e = SSL_get_error(ssl_, rc);
    std::string s = "tls error " + std::to_string(e);
    const long v = SSL_get_verify_result(ssl_);
    if (v != X509_V_OK) s += ": certificate: " + std::string(X509_verify_cert_error_string(v));
    const std::string q = openssl_errors();
    if (!q.empty()) s += ": " + q;
    return s;
}

bool StreamChannel::flush_socket(std::string* err) {
    size_t off = 0;
    while (off < raw_out_.size()) {
        const ssize_t n = ::send(fd_, raw_out_.data() + off, raw_out_.size() - off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        *err = errno_text("tcp send", n < 0 ? errno : EPIPE);
        return false;
    }
    raw_out_.erase(raw_out_.begin(), raw_out_.begin() + static_cast<std::ptrdiff_t>(off));
    return true;
}

bool StreamChannel::read_socket(bool* eof, std::string* err) {
    uint8_t buf[16384];
    for (;;) {
        const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            if (ssl_ != nullptr) {
                BIO_write(rbio_, buf, static_cast<int>(n));
            } else {
                app_in_.insert(app_in_.end(), buf, buf + n);
            }
            continue;
        }
        if (n == 0) {
            *eof = true;
            return true;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        *err = errno_text("tcp recv", errno);
        return false;
    }
}

bool StreamChannel::pump_tls(std::string* err) {
    if (state_ == State::handshake) {
        const int rc = SSL_do_handshake(ssl_);
        if (rc == 1) {
            state_ = State::open;
        } else {
            const int e = SSL_get_error(ssl_, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                *err = "tls handshake with " + tls_name_ + ": " + ssl_error_text(rc);
                return false;
            }
        }
    }
    if (state_ == State::open) {
        while (!app_out_.empty()) {
            const int n = SSL_write(ssl_, app_out_.data(), static_cast<int>(app_out_.size()));
            if (n <= 0) {
                const int e = SSL_get_error(ssl_, n);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
                *err = "tls write: " + ssl_error_text(n);
                return false;
            }
            app_out_.erase(app_out_.begin(), app_out_.begin() + n);
        }
        uint8_t buf[16384];
        for (;;) {
            const int n = SSL_read(ssl_, buf, sizeof(buf));
            if (n > 0) {
                app_in_.insert(app_in_.end(), buf, buf + n);
                continue;
            }
            const int e = SSL_get_error(ssl_, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
            if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify
                *err = "tls closed by peer";
                return false;
            }
            *err = "tls read: " + ssl_error_text(n);
            return false;
        }
    }
    // Whatever SSL produced (handshake, records) goes to the socket.
    char buf[16384];
    int n;
    while ((n = BIO_read(wbio_, buf, sizeof(buf))) > 0) raw_out_.insert(raw_out_.end(), buf, buf + n);
    return true;
}

StreamChannel::Event StreamChannel::progress() {
    std::string err;
    if (state_ == State::closed) {
        if (!busy_) return {};
        // send() was called: keep the queued message across the (re)connect.
        std::vector<uint8_t> pending = std::move(app_out_);
        close();
        app_out_ = std::move(pending);
        busy_ = true;
        if (!start_connect(&err)) return fail(err);
    }
    if (state_ == State::connecting) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, 0) == 0) return {};
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) return fail(errno_text("tcp connect", soerr));
        state_ = State::open;
    }
    if (state_ == State::open && tls_ && ssl_ == nullptr) {
        ssl_ = SSL_new(tls_->get());
        if (ssl_ == nullptr) return fail("SSL_new: " + openssl_errors());
        rbio_ = BIO_new(BIO_s_mem());
        wbio_ = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl_, rbio_, wbio_);
        SSL_set_connect_state(ssl_);
        if (is_ip_literal(tls_name_)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), tls_name_.c_str());
        } else {
            SSL_set1_host(ssl_, tls_name_.c_str());
            // SNI; the SSL_set_tlsext_host_name macro hides a C cast.
            SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                     const_cast<char*>(tls_name_.c_str()));
        }
        // RFC 7858 needs no ALPN, but XoT-era servers (RFC 9103) expect "dot".
        static const unsigned char alpn[] = {3, 'd', 'o', 't'};
        SSL_set_alpn_protos(ssl_, alpn, sizeof(alpn));
        state_ = State::handshake;
    }

    bool eof = false;
    // Loop: a TLS handshake needs several rounds of reads and writes, each of
    // which may already be possible without waiting.
    for (int round = 0; round < 8; ++round) {
        const size_t before_in = app_in_.size();
        const State before_state = state_;
        if (ssl_ != nullptr) {
            if (!pump_tls(&err)) return fail(err);
        } else if (!app_out_.empty()) {
            raw_out_.insert(raw_out_.end(), app_out_.begin(), app_out_.end());
            app_out_.clear();
        }
        if (!flush_socket(&err)) return fail(err);
        if (!read_socket(&eof, &err)) return fail(err);
        if (ssl_ != nullptr) {
            if (!pump_tls(&err)) return fail(err);
            if (!flush_socket(&err)) return fail(err);
        }
        if (eof || (app_in_.size() == before_in && state_ == before_state)) break;
    }

    if (app_in_.size() >= 2) {
        const size_t len = (size_t{app_in_[0]} << 8) | app_in_[1];
        if (app_in_.size() >= 2 + len) {
            Event ev;
            ev.kind = Event::Kind::response;
            ev.data.assign(app_in_.begin() + 2, app_in_.begin() + 2 + static_cast<std::ptrdiff_t>(len));
            app_in_.erase(app_in_.begin(), app_in_.begin() + 2 + static_cast<std::ptrdiff_t>(len));
            if (!busy_) {
                // Nothing was asked on this connection: a stray message.
                close();
                return {};
            }
            busy_ = false;
            exchanged_ = true;
            return ev;
        }
    }
    if (eof) {
        if (!busy_) {  // the server closed an idle connection: fine
            close();
            return {};
        }
        return fail("connection closed by peer");
    }
    return {};
}

}  // namespace updproxy::control::upd
