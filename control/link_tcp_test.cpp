// LinkTcp against a scripted TCP client: segments in, segments out, a real
// AuthServer (zone store with the lab zone) answering.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "control/link_tcp.hpp"
#include "control/zone/test_util.hpp"
#include "dataplane/frame_build.hpp"

using namespace updproxy;
using namespace updproxy::control;
using namespace updproxy::control::zone::test;

namespace {

constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

uint16_t g16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t g32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

struct Seg {
    uint16_t sport = 0, dport = 0;
    uint32_t seq = 0, ack = 0;
    uint8_t flags = 0;
    uint16_t window = 0;
    uint16_t mss = 0;  // the MSS option, when present
    std::vector<uint8_t> data;
};

Seg parse(std::span<const uint8_t> s) {
    Seg g;
    g.sport = g16(s.data());
    g.dport = g16(s.data() + 2);
    g.seq = g32(s.data() + 4);
    g.ack = g32(s.data() + 8);
    const size_t hl = static_cast<size_t>(s[12] >> 4) * 4;
    g.flags = s[13];
    g.window = g16(s.data() + 14);
    if (hl >= 24 && s[20] == 2 && s[21] == 4) g.mss = g16(s.data() + 22);
    g.data.assign(s.begin() + static_cast<std::ptrdiff_t>(hl), s.end());
    return g;
}

struct Fixture {
    std::unique_ptr<zone::AuthServer> srv;
    std::unique_ptr<LinkTcp> tcp;
    std::deque<Seg> out;
    TcpRoute route;
    uint64_t now = 1000;
    uint16_t cport = 40001;
    uint32_t cseq = 5000;  // the client's next sequence number
    uint32_t srv_next = 0;  // the server's next sequence number we expect

    explicit Fixture(LinkTcpConfig cfg = {}, const std::string& zone = kLabZone) {
        zone::ZoneFile z = parse_or_die(zone);
        zone::AuthConfig ac;
        ac.zones.push_back(z.config);
        std::string err;
        srv = zone::AuthServer::create(ac, &err);
        EXPECT_TRUE(srv) << err;
        for (const auto& r : z.records) srv->store().add(r);
        srv->store().commit(true);
        route.link = 0;
        route.client = {192, 0, 2, 50};
        route.ours = {192, 0, 2, 1};
        tcp = std::make_unique<LinkTcp>(
            srv.get(),
            [this](const TcpRoute& r, std::span<const uint8_t> s) {
                EXPECT_EQ(r.client, route.client);
                out.push_back(parse(s));
            },
            cfg);
    }

    // A segment from the client, checksummed as on the wire.
    void send(uint8_t flags, uint32_t seq, uint32_t ack, std::vector<uint8_t> data = {},
              uint16_t window = 65535, uint16_t mss = 0, bool corrupt = false) {
        std::vector<uint8_t> s(mss ? 24 : 20);
        s[0] = static_cast<uint8_t>(cport >> 8);
        s[1] = static_cast<uint8_t>(cport);
        s[3] = 53;
        for (int i = 0; i < 4; ++i) {
            s[4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
            s[8 + i] = static_cast<uint8_t>(ack >> (24 - 8 * i));
        }
        s[12] = static_cast<uint8_t>((s.size() / 4) << 4);
        s[13] = flags;
        s[14] = static_cast<uint8_t>(window >> 8);
        s[15] = static_cast<uint8_t>(window);
        if (mss) {
            s[20] = 2;
            s[21] = 4;
            s[22] = static_cast<uint8_t>(mss >> 8);
            s[23] = static_cast<uint8_t>(mss);
        }
        s.insert(s.end(), data.begin(), data.end());
        const uint16_t c = dataplane::l4_checksum(false, route.client.data(), route.ours.data(), 6, s);
        s[16] = static_cast<uint8_t>(c >> 8);
        s[17] = static_cast<uint8_t>(c);
        if (corrupt) s.back() ^= 1;
        tcp->on_segment(route, s, now);
    }

    Seg pop() {
        EXPECT_FALSE(out.empty());
        if (out.empty()) return {};
        Seg s = out.front();
        out.pop_front();
        return s;
    }

    // SYN, SYN-ACK, ACK.
    void connect(uint16_t window = 65535, uint16_t mss = 1460) {
        send(SYN, cseq, 0, {}, window, mss);
        ++cseq;
        const Seg sa = pop();
        EXPECT_EQ(sa.flags, SYN | ACK);
        EXPECT_EQ(sa.ack, cseq);
        srv_next = sa.seq + 1;
        send(ACK, cseq, srv_next, {}, window);
        EXPECT_TRUE(out.empty());
    }

    // A DNS query with its 2-byte length.
    static std::vector<uint8_t> framed(const std::string& name, uint16_t type, uint16_t id = 7) {
        auto q = make_query(name, type, {.id = id});
        std::vector<uint8_t> f(2 + q.size());
        f[0] = static_cast<uint8_t>(q.size() >> 8);
        f[1] = static_cast<uint8_t>(q.size());
        std::copy(q.begin(), q.end(), f.begin() + 2);
        return f;
    }

    // Reads every data segment now queued (in order, acking as it goes when
    // `ack`), returning the stream bytes.
    std::vector<uint8_t> read(bool ack = true) {
        std::vector<uint8_t> bytes;
        while (!out.empty()) {
            Seg s = pop();
            if (s.data.empty()) continue;
            EXPECT_EQ(s.seq, srv_next);
            srv_next += static_cast<uint32_t>(s.data.size());
            bytes.insert(bytes.end(), s.data.begin(), s.data.end());
            if (ack) send(ACK, cseq, srv_next);
        }
        return bytes;
    }
};

std::vector<Parsed> messages(const std::vector<uint8_t>& stream) {
    std::vector<Parsed> r;
    size_t off = 0;
    while (off + 2 <= stream.size()) {
        const size_t len = g16(stream.data() + off);
        EXPECT_LE(off + 2 + len, stream.size());
        if (off + 2 + len > stream.size()) break;
        r.push_back(parse_response({stream.data() + off + 2, len}));
        off += 2 + len;
    }
    EXPECT_EQ(off, stream.size());
    return r;
}

TEST(LinkTcp, HandshakeQueryAnswerAndCloseFromTheClient) {
    Fixture f;
    f.send(SYN, f.cseq, 0, {}, 65535, 1460);
    const Seg sa = f.pop();
    EXPECT_EQ(sa.flags, SYN | ACK);
    EXPECT_EQ(sa.ack, f.cseq + 1);
    EXPECT_EQ(sa.mss, 1400);  // ours caps the client's
    ++f.cseq;
    f.srv_next = sa.seq + 1;
    const auto q = Fixture::framed("Printer\\032One._ipp._tcp.lab.example.edu", codec::rrtype::SRV);
    // The handshake's last ACK carries the query.
    f.send(ACK | PSH, f.cseq, f.srv_next, q);
    f.cseq += static_cast<uint32_t>(q.size());
    const Seg d = f.pop();
    EXPECT_EQ(d.ack, f.cseq);  // the answer acknowledges the query
    EXPECT_TRUE(d.flags & PSH);
    f.srv_next += static_cast<uint32_t>(d.data.size());
    const auto msgs = messages(d.data);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].h.id, 7);
    EXPECT_TRUE(msgs[0].h.flags & codec::flag::AA);
    EXPECT_EQ(msgs[0].an.size(), 1u);
    f.send(ACK, f.cseq, f.srv_next);
    EXPECT_TRUE(f.out.empty());
    // The client closes; the server answers with its FIN, then forgets.
    f.send(FIN | ACK, f.cseq, f.srv_next);
    ++f.cseq;
    const Seg fin = f.pop();
    EXPECT_EQ(fin.flags, FIN | ACK);
    EXPECT_EQ(fin.ack, f.cseq);
    EXPECT_EQ(f.tcp->connections(), 1u);
    f.send(ACK, f.cseq, fin.seq + 1);
    EXPECT_EQ(f.tcp->connections(), 0u);
    EXPECT_EQ(f.tcp->stats().accepted, 1u);
    EXPECT_EQ(f.tcp->stats().closed, 1u);
    EXPECT_EQ(f.tcp->stats().queries, 1u);
}

TEST(LinkTcp, PipelinedQueriesSplitAcrossSegmentsAreAnsweredInOrder) {
    Fixture f;
    f.connect();
    auto a = Fixture::framed("printer1.lab.example.edu", codec::rrtype::A, 1);
    auto b = Fixture::framed("nothere.lab.example.edu", codec::rrtype::A, 2);
    auto c = Fixture::framed("lab.example.edu", codec::rrtype::SOA, 3);
    std::vector<uint8_t> all = a;
    all.insert(all.end(), b.begin(), b.end());
    all.insert(all.end(), c.begin(), c.end());
    // Three segments cutting through the length prefix and a message.
    const size_t cut1 = a.size() + 1, cut2 = a.size() + b.size() + 5;
    f.send(ACK, f.cseq, f.srv_next, {all.begin(), all.begin() + cut1});
    f.send(ACK, f.cseq + cut1, f.srv_next,
           {all.begin() + cut1, all.begin() + static_cast<std::ptrdiff_t>(cut2)});
    f.send(ACK | PSH, f.cseq + static_cast<uint32_t>(cut2), f.srv_next,
           {all.begin() + static_cast<std::ptrdiff_t>(cut2), all.end()});
    f.cseq += static_cast<uint32_t>(all.size());
    const auto msgs = messages(f.read());
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(msgs[0].h.id, 1);
    EXPECT_EQ(msgs[1].h.id, 2);
    EXPECT_EQ(msgs[1].h.flags & 0xF, codec::rcode::NXDOMAIN);
    EXPECT_EQ(msgs[2].h.id, 3);
    EXPECT_EQ(f.tcp->stats().queries, 3u);
}

TEST(LinkTcp, LargeAnswersFollowThePeersMssAndWindowAndAreRetransmitted) {
    std::string zone = kLabZone;
    for (int i = 0; i < 60; ++i) {
        zone += "_ipp._tcp IN PTR printer-with-a-long-name-" + std::to_string(i) + "._ipp._tcp\n";
    }
    LinkTcpConfig cfg;
    cfg.rto_ms = 200;
    Fixture f(cfg, zone);
    f.connect(/*window=*/600, /*mss=*/200);
    const auto q = Fixture::framed("_ipp._tcp.lab.example.edu", codec::rrtype::PTR);
    f.send(ACK | PSH, f.cseq, f.srv_next, q, 600);
    f.cseq += static_cast<uint32_t>(q.size());
    // At most the window (600) in flight, in segments of at most the MSS.
    size_t sent = 0;
    uint32_t first_seq = 0;
    std::vector<uint8_t> first;
    while (!f.out.empty()) {
        Seg s = f.pop();
        EXPECT_LE(s.data.size(), 200u);
        if (sent == 0) {
            first_seq = s.seq;
            first = s.data;
        }
        sent += s.data.size();
    }
    EXPECT_EQ(sent, 600u);
    // Nothing acknowledged: after the RTO the oldest segment comes again.
    f.now += 199;
    f.tcp->on_timer(f.now);
    EXPECT_TRUE(f.out.empty());
    f.now += 1;
    f.tcp->on_timer(f.now);
    ASSERT_FALSE(f.out.empty());
    const Seg again = f.pop();
    EXPECT_EQ(again.seq, first_seq);
    EXPECT_EQ(again.data, first);
    EXPECT_EQ(f.tcp->stats().retransmits, 1u);
    EXPECT_TRUE(f.out.empty());  // one segment: the congestion window restarts at 1 MSS
    // Acknowledge everything as it comes (bigger window now): the whole answer.
    std::vector<uint8_t> stream = again.data;
    f.srv_next = first_seq + static_cast<uint32_t>(again.data.size());
    f.send(ACK, f.cseq, f.srv_next, {}, 65535);
    for (int round = 0; round < 100 && !f.out.empty(); ++round) {
        Seg s = f.pop();
        if (s.data.empty()) continue;
        if (s.seq != f.srv_next) continue;  // a go-back-N duplicate
        stream.insert(stream.end(), s.data.begin(), s.data.end());
        f.srv_next += static_cast<uint32_t>(s.data.size());
        f.send(ACK, f.cseq, f.srv_next, {}, 65535);
    }
    const auto msgs = messages(stream);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_FALSE(msgs[0].h.flags & codec::flag::TC);
    EXPECT_EQ(msgs[0].an.size(), 62u);
    EXPECT_GT(stream.size(), 2000u);
}

TEST(LinkTcp, OutOfOrderDataIsNotConsumedAndTheGapIsAskedFor) {
    Fixture f;
    f.connect();
    const auto q = Fixture::framed("printer1.lab.example.edu", codec::rrtype::A);
    // The second half first: a duplicate ACK for the gap, no answer.
    f.send(ACK, f.cseq + 10, f.srv_next, {q.begin() + 10, q.end()});
    Seg dup = f.pop();
    EXPECT_TRUE(dup.data.empty());
    EXPECT_EQ(dup.ack, f.cseq);
    EXPECT_EQ(f.tcp->stats().out_of_order, 1u);
    // The client retransmits the whole message: answered once.
    f.send(ACK | PSH, f.cseq, f.srv_next, q);
    f.cseq += static_cast<uint32_t>(q.size());
    EXPECT_EQ(messages(f.read()).size(), 1u);
    // A retransmission of what we already have: re-acknowledged, not re-answered.
    f.send(ACK | PSH, f.cseq - static_cast<uint32_t>(q.size()), f.srv_next, q);
    dup = f.pop();
    EXPECT_TRUE(dup.data.empty());
    EXPECT_EQ(dup.ack, f.cseq);
    EXPECT_EQ(f.tcp->stats().queries, 1u);
}

TEST(LinkTcp, StrangersGetResetsAndBadChecksumsNothing) {
    LinkTcpConfig cfg;
    cfg.max_connections = 1;
    Fixture f(cfg);
    // An ACK for no connection: RST with its acknowledgement number as sequence.
    f.send(ACK, 100, 777);
    Seg r = f.pop();
    EXPECT_EQ(r.flags, RST);
    EXPECT_EQ(r.seq, 777u);
    // A corrupted SYN: dropped and counted, no answer.
    f.send(SYN, 1, 0, {}, 65535, 0, /*corrupt=*/true);
    f.send(SYN, 1, 0, {1, 2, 3}, 65535, 0, /*corrupt=*/true);
    EXPECT_TRUE(f.out.empty());
    EXPECT_EQ(f.tcp->stats().bad_checksum, 2u);
    // A segment whose checksum the sending kernel had not filled in yet
    // (veth/tap with offload: the field holds the pseudo-header sum) is taken.
    {
        std::vector<uint8_t> syn(20);
        syn[0] = 0x9c;
        syn[1] = 0x40;
        syn[3] = 53;
        syn[7] = 1;
        syn[12] = 5 << 4;
        syn[13] = SYN;
        syn[14] = syn[15] = 0xFF;
        uint32_t sum = 6 + 20 + (192 << 8 | 0) + (2 << 8 | 50) + (192 << 8 | 0) + (2 << 8 | 1);
        while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
        syn[16] = static_cast<uint8_t>(sum >> 8);
        syn[17] = static_cast<uint8_t>(sum);
        f.tcp->on_segment(f.route, syn, f.now);
        ASSERT_EQ(f.out.size(), 1u);
        EXPECT_EQ(f.pop().flags, SYN | ACK);
        EXPECT_EQ(f.tcp->stats().bad_checksum, 2u);
        f.cport = 0x9c40;  // that client resets its connection
        f.send(RST, 2, 0);
        f.cport = 40001;
        EXPECT_EQ(f.tcp->connections(), 0u);
    }
    // The connection limit: the second client gets a reset.
    f.connect();
    f.cport = 40002;
    f.send(SYN, 9000, 0, {}, 65535, 1460);
    r = f.pop();
    EXPECT_EQ(r.flags, RST | ACK);
    EXPECT_EQ(r.ack, 9001u);
    EXPECT_EQ(f.tcp->stats().refused, 1u);
    EXPECT_EQ(f.tcp->connections(), 1u);
    // A reset from the client ends its connection.
    f.cport = 40001;
    f.send(RST, f.cseq, 0);
    EXPECT_EQ(f.tcp->connections(), 0u);
}

TEST(LinkTcp, AnIdleConnectionIsClosedByTheServer) {
    LinkTcpConfig cfg;
    cfg.idle_ms = 1000;
    Fixture f(cfg);
    f.connect();
    EXPECT_EQ(f.tcp->next_wakeup_ms(), f.now + 1000);
    f.now += 1000;
    f.tcp->on_timer(f.now);
    const Seg fin = f.pop();
    EXPECT_EQ(fin.flags, FIN | ACK);
    // The client acknowledges and closes too.
    f.send(FIN | ACK, f.cseq, fin.seq + 1);
    const Seg last = f.pop();
    EXPECT_EQ(last.flags, ACK);
    EXPECT_EQ(last.ack, f.cseq + 1);
    EXPECT_EQ(f.tcp->connections(), 0u);
    // A handshake never completed is forgotten too.
    f.cport = 40003;
    f.send(SYN, 1, 0, {}, 65535, 1460);
    f.out.clear();
    f.now += cfg.handshake_ms;
    f.tcp->on_timer(f.now);
    EXPECT_EQ(f.tcp->connections(), 0u);
}

}  // namespace
