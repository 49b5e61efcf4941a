// Non-blocking DNS transports for the update engine: UDP, TCP and DNS over
// TLS (RFC 7858), all driven from the caller's poll loop.
//
// UdpChannel: one connected UDP socket, so only the server's datagrams
// arrive and an ICMP port unreachable surfaces as ECONNREFUSED at once (the
// engine then knows the server is down without waiting for its timeout).
//
// StreamChannel: one persistent TCP connection, optionally with TLS, carrying
// one message at a time with RFC 1035 §4.2.2 framing (2-byte length). It
// connects on demand (non-blocking connect, EINPROGRESS handled), keeps the
// connection open for the next message, and notices a server closing an idle
// connection (BIND closes idle TCP after tcp-idle-timeout) by reading it
// while idle. TLS runs over memory BIOs: OpenSSL never touches the socket,
// so every write is send(MSG_NOSIGNAL) (no SIGPIPE whatever the process's
// signal disposition) and all socket I/O stays non-blocking and visible.
// Certificates are verified (SSL_VERIFY_PEER) against a CA file or the
// system store and the configured name (SSL_set1_host, or the IP address).
#pragma once

#include <openssl/types.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>


namespace updproxy::control::upd {

struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
};

// Numeric IPv4 or IPv6 address (no name resolution: nothing may block).
std::optional<Endpoint> make_endpoint(const std::string& address, uint16_t port);

class UdpChannel {
public:
    explicit UdpChannel(const Endpoint& ep) : ep_(ep) {}
    ~UdpChannel();
    UdpChannel(const UdpChannel&) = delete;
    UdpChannel& operator=(const UdpChannel&) = delete;

    // Opens the socket on first use. False (with `err`) on a send error.
    bool send(std::span<const uint8_t> msg, std::string* err);
    // Appends every datagram waiting. False (with `err`) on a socket error
    // such as ECONNREFUSED (ICMP port unreachable from an earlier send).
    bool receive(std::vector<std::vector<uint8_t>>& out, std::string* err);
    int fd() const { return fd_; }
    void close();
    // Closes the socket; the next send goes to `ep`.
    void retarget(const Endpoint& ep) {
        close();
        ep_ = ep;
    }

private:
    Endpoint ep_;
    int fd_ = -1;
};

// A TLS client context: verification settings shared by a zone's connections.
class TlsContext {
public:
    // ca_file empty: the system store. Null with `err` on failure.
    static std::shared_ptr<TlsContext> create(const std::string& ca_file, std::string* err);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;
    SSL_CTX* get() const { return ctx_; }

private:
    TlsContext() = default;
    SSL_CTX* ctx_ = nullptr;
};

class StreamChannel {
public:
    // `tls` null: plain TCP. `tls_name`: the name (or IP literal) the
    // server's certificate must carry.
    StreamChannel(const Endpoint& ep, std::shared_ptr<TlsContext> tls, std::string tls_name);
    ~StreamChannel();
    StreamChannel(const StreamChannel&) = delete;
    StreamChannel& operator=(const StreamChannel&) = delete;

    // Queues one message (framed); connects if not connected. One at a time:
    // call again only after a response or error.
    void send(std::span<const uint8_t> msg);

    struct Event {
        enum class Kind : uint8_t { none, response, error } kind = Kind::none;
        std::vector<uint8_t> data;  // response: the DNS message (no length prefix)
        std::string error;
        // error: the connection had carried an earlier exchange and the peer
        // closed it before answering this one (an idle close racing our
        // send): worth one immediate retry on a new connection.
        bool stale_connection = false;
    };
    // Advances connect, handshake, write and read as far as possible without
    // blocking. While idle it only notices a peer close.
    Event progress();

    // A multi-message answer (AXFR): after a response, wait for the next
    // message of the same exchange.
    void expect_more() { busy_ = true; }

    int fd() const { return fd_; }
    short events() const;
    bool busy() const { return busy_; }
    bool connected() const { return fd_ >= 0; }
    // Number of connections opened (tests check persistence).
    uint64_t connects() const { return connects_; }
    void close();

private:
    enum class State : uint8_t { closed, connecting, handshake, open };
    bool start_connect(std::string* err);
    bool flush_socket(std::string* err);       // raw out -> socket
    bool read_socket(bool* eof, std::string* err);  // socket -> plain in
    bool pump_tls(std::string* err);           // handshake / app data through SSL
    Event fail(std::string msg);
    std::string ssl_error_text(int rc) const;

    Endpoint ep_;
    std::shared_ptr<TlsContext> tls_;
    std::string tls_name_;
    int fd_ = -1;
    State state_ = State::closed;
    SSL* ssl_ = nullptr;
    BIO* rbio_ = nullptr;  // network -> SSL (owned by ssl_)
    BIO* wbio_ = nullptr;  // SSL -> network (owned by ssl_)
    std::vector<uint8_t> app_out_;  // framed messages not yet given to SSL/socket
    std::vector<uint8_t> raw_out_;  // bytes for the socket
    std::vector<uint8_t> app_in_;   // received plaintext
    bool busy_ = false;
    bool exchanged_ = false;  // this connection completed an exchange before
    uint64_t connects_ = 0;
};

}  // namespace updproxy::control::upd
