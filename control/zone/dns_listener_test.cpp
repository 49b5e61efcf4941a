// The kernel-socket listener and the NOTIFY sender on real sockets
// (127.0.0.1, kernel-picked ports): UDP in the poll loop and on the UDP
// thread, TCP with pipelining, AXFR with TSIG, idle and limit closes, NOTIFY
// with retries against a fake secondary.
#include "control/zone/dns_listener.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>

#include "control/zone/server.hpp"
#include "control/zone/test_util.hpp"

namespace updproxy::control::zone {
namespace {

using namespace test;
namespace rt = codec::rrtype;

codec::TsigKey key() {
    codec::TsigKey k;
    k.name = N("xfr-key.");
    k.secret = std::vector<uint8_t>(32, 7);
    return k;
}

class ListenerTest : public ::testing::TestWithParam<bool> {
protected:
    void start(ListenerConfig lc, NotifyOptions no = {}) {
        ZoneFile z = parse_or_die(kLabZone);
        // A fake secondary: a UDP socket the NOTIFY sender talks to.
        sec_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(bind(sec_fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t al = sizeof a;
        getsockname(sec_fd, reinterpret_cast<sockaddr*>(&a), &al);
        z.config.notify.push_back(NotifyTarget{"127.0.0.1", ntohs(a.sin_port), N("xfr-key.")});
        z.config.transfer_keys.push_back(N("xfr-key."));
        AuthConfig cfg;
        cfg.zones.push_back(z.config);
        cfg.keys.push_back(key());
        lc.udp.push_back({"127.0.0.1", 0});
        lc.tcp.push_back({"127.0.0.1", 0});
        lc.udp_thread = GetParam();
        cfg.listen = lc;
        cfg.notify = no;
        std::string err;
        srv = AuthServer::create(cfg, &err);
        ASSERT_TRUE(srv) << err;
        for (const auto& r : z.records) srv->store().add(r);
        srv->store().commit(true);
        udp_to = srv->listener()->udp_addresses()[0];
        tcp_to = srv->listener()->tcp_addresses()[0];
    }
    void TearDown() override {
        srv.reset();
        if (sec_fd >= 0) close(sec_fd);
    }

    // Runs the server's poll loop until `done` or `ms` pass.
    bool pump(const std::function<bool()>& done, int ms = 3000) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end) {
            if (done()) return true;
            auto f = srv->fds();
            std::vector<pollfd> p;
            for (auto& x : f) p.push_back(pollfd{x.fd, x.events, 0});
            poll(p.data(), p.size(), 10);
            srv->on_ready(monotonic_ms());
        }
        return done();
    }

    std::vector<uint8_t> udp_ask(const std::vector<uint8_t>& q) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        sendto(fd, q.data(), q.size(), 0, udp_to.sa(), udp_to.len);
        std::vector<uint8_t> buf(4096);
        ssize_t n = -1;
        pump([&] {
            n = recv(fd, buf.data(), buf.size(), 0);
            return n > 0;
        });
        close(fd);
        buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
        return buf;
    }

    int tcp_connect() {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        EXPECT_EQ(connect(fd, tcp_to.sa(), tcp_to.len), 0);
        return fd;
    }
    static void tcp_send(int fd, const std::vector<uint8_t>& q) {
        uint8_t l[2] = {static_cast<uint8_t>(q.size() >> 8), static_cast<uint8_t>(q.size())};
        std::vector<uint8_t> b(l, l + 2);
        b.insert(b.end(), q.begin(), q.end());
        ASSERT_EQ(send(fd, b.data(), b.size(), 0), static_cast<ssize_t>(b.size()));
    }
    // Reads one length-prefixed message, pumping the server meanwhile.
    std::vector<uint8_t> tcp_read(int fd, std::vector<uint8_t>& pending) {
        std::vector<uint8_t> msg;
        pump([&] {
            uint8_t tmp[65536];
            ssize_t n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
            if (n > 0) pending.insert(pending.end(), tmp, tmp + n);
            if (pending.size() >= 2) {
                size_t len = (size_t{pending[0]} << 8) | pending[1];
                if (pending.size() >= 2 + len) {
                    msg.assign(pending.begin() + 2, pending.begin() + 2 + static_cast<long>(len));
                    pending.erase(pending.begin(), pending.begin() + 2 + static_cast<long>(len));
                    return true;
                }
            }
            return false;
        });
        return msg;
    }

    std::unique_ptr<AuthServer> srv;
    SockAddr udp_to, tcp_to;
    int sec_fd = -1;
};

TEST_P(ListenerTest, UdpAnswersAndDrops) {
    start({});
    auto r = udp_ask(make_query("printer1.lab.example.edu.", rt::A));
    Parsed p = parse_response(r);
    EXPECT_EQ(p.h.rcode(), 0);
    EXPECT_EQ(p.an.size(), 1u);
    auto nx = parse_response(udp_ask(make_query("nope.lab.example.edu.", rt::A)));
    EXPECT_EQ(nx.h.rcode(), codec::rcode::NXDOMAIN);
    // IXFR goes through the slow path (punt); unsigned, the transfer policy refuses it.
    auto ix = parse_response(udp_ask(make_query("lab.example.edu.", rt::IXFR)));
    EXPECT_EQ(ix.h.rcode(), codec::rcode::REFUSED);
    auto s = srv->listener()->stats();
    EXPECT_GE(s.udp_received, 3u);
    EXPECT_GE(s.udp_sent, 3u);
    EXPECT_EQ(s.udp_punted, 1u);
}

TEST_P(ListenerTest, TcpPipelinedQueriesAnsweredInOrder) {
    start({});
    int fd = tcp_connect();
    QueryOpts a, b;
    a.id = 1;
    b.id = 2;
    auto q1 = make_query("printer1.lab.example.edu.", rt::A, a);
    auto q2 = make_query("printer1.lab.example.edu.", rt::AAAA, b);
    std::vector<uint8_t> both;
    for (auto* q : {&q1, &q2}) {
        both.push_back(static_cast<uint8_t>(q->size() >> 8));
        both.push_back(static_cast<uint8_t>(q->size()));
        both.insert(both.end(), q->begin(), q->end());
    }
    ASSERT_EQ(send(fd, both.data(), both.size(), 0), static_cast<ssize_t>(both.size()));
    std::vector<uint8_t> pending;
    Parsed r1 = parse_response(tcp_read(fd, pending));
    Parsed r2 = parse_response(tcp_read(fd, pending));
    EXPECT_EQ(r1.h.id, 1);
    EXPECT_EQ(r2.h.id, 2);
    EXPECT_EQ(r2.an.size(), 1u);
    // The connection stays open for more.
    tcp_send(fd, q1);
    EXPECT_EQ(parse_response(tcp_read(fd, pending)).h.id, 1);
    close(fd);
    EXPECT_TRUE(pump([&] { return srv->listener()->tcp_connections() == 0; }));
}

TEST_P(ListenerTest, AxfrOverTcpWithTsig) {
    start({});
    int fd = tcp_connect();
    std::vector<uint8_t> buf(512);
    codec::Builder bld(buf);
    bld.set_id(77);
    bld.add_question(N("lab.example.edu."), rt::AXFR, codec::rrclass::IN);
    size_t len = bld.size();
    codec::TsigKey k = key();
    codec::TsigSignParams sp;
    sp.time_signed = static_cast<uint64_t>(std::time(nullptr));
    std::vector<uint8_t> mac;
    len = *codec::tsig_sign(buf, len, k, sp, &mac);
    buf.resize(len);
    tcp_send(fd, buf);
    std::vector<uint8_t> pending;
    size_t soas = 0, records = 0;
    for (int i = 0; i < 20 && soas < 2; ++i) {
        auto m = tcp_read(fd, pending);
        ASSERT_FALSE(m.empty());
        auto pm = codec::Message::parse(m);
        ASSERT_TRUE(pm.ok());
        codec::TsigVerifyParams vp;
        vp.now = static_cast<uint64_t>(std::time(nullptr));
        vp.request_mac = mac;
        vp.timers_only = i > 0;
        auto v = codec::tsig_verify(*pm, std::span<const codec::TsigKey>(&k, 1), vp);
        ASSERT_TRUE(v.ok());
        mac = v->mac;
        for (const auto& rr : pm->answers()) {
            ++records;
            soas += rr.type == rt::SOA;
        }
    }
    EXPECT_EQ(soas, 2u);
    EXPECT_EQ(records, 15u);
    close(fd);
}

TEST_P(ListenerTest, IdleAndExcessConnectionsAreClosed) {
    ListenerConfig lc;
    lc.tcp_idle_timeout_ms = 200;
    lc.tcp_max_connections = 2;
    start(lc);
    int a = tcp_connect();
    int b = tcp_connect();
    EXPECT_TRUE(pump([&] { return srv->listener()->tcp_connections() == 2; }));
    int c = tcp_connect();
    EXPECT_TRUE(pump([&] { return srv->listener()->stats().tcp_accepted == 3; }));
    EXPECT_LE(srv->listener()->tcp_connections(), 2u);
    EXPECT_EQ(srv->listener()->stats().tcp_closed_limit, 1u);
    EXPECT_TRUE(pump([&] { return srv->listener()->tcp_connections() == 0; }, 2000));
    EXPECT_GE(srv->listener()->stats().tcp_closed_idle, 1u);
    close(a);
    close(b);
    close(c);
}

TEST_P(ListenerTest, NotifyIsSentSignedRetriedAndAcknowledged) {
    NotifyOptions no;
    no.first_timeout_ms = 100;
    no.max_tries = 5;
    start({}, no);
    srv->store().add(PubRecord{N("new.lab.example.edu."), rt::A, 60, {192, 0, 2, 1}});
    srv->store().commit();
    uint32_t serial = srv->store().snapshot()->zone(0).serial;
    // Ignore the first NOTIFY: it must come again.
    std::vector<uint8_t> buf(4096);
    SockAddr from;
    ssize_t n = -1;
    auto recv_notify = [&] {
        from.len = sizeof from.ss;
        n = recvfrom(sec_fd, buf.data(), buf.size(), 0, from.sa(), &from.len);
        return n > 0;
    };
    ASSERT_TRUE(pump(recv_notify));
    ASSERT_TRUE(pump(recv_notify));
    EXPECT_GE(srv->notifier().stats().retries, 1u);
    auto m = codec::Message::parse(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->header().opcode(), codec::opcode::NOTIFY);
    EXPECT_TRUE(m->header().aa());
    ASSERT_EQ(m->count(codec::Section::answer), 1);
    EXPECT_EQ((*m->answers().begin()).soa()->serial, serial);
    codec::TsigKey k = key();
    codec::TsigVerifyParams vp;
    vp.now = static_cast<uint64_t>(std::time(nullptr));
    auto v = codec::tsig_verify(*m, std::span<const codec::TsigKey>(&k, 1), vp);
    ASSERT_TRUE(v.ok());
    // Answer it as a secondary does: same ID, QR, signed over the request MAC.
    std::vector<uint8_t> resp(512);
    codec::Builder b(resp);
    b.set_id(m->header().id);
    b.set_flags(codec::flag::QR | codec::flag::AA);
    b.set_opcode(codec::opcode::NOTIFY);
    b.add_question(N("lab.example.edu."), rt::SOA, codec::rrclass::IN);
    codec::TsigSignParams sp;
    sp.time_signed = vp.now;
    sp.request_mac = v->mac;
    size_t len = *codec::tsig_sign(resp, b.size(), k, sp);
    sendto(sec_fd, resp.data(), len, 0, from.sa(), from.len);
    EXPECT_TRUE(pump([&] { return srv->notifier().stats().acked == 1; }));
    EXPECT_TRUE(srv->notifier().idle());
}

INSTANTIATE_TEST_SUITE_P(PollLoopAndUdpThread, ListenerTest, ::testing::Values(false, true));

}  // namespace
}  // namespace updproxy::control::zone
