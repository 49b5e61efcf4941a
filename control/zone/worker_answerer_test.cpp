// The worker's query path end to end without DPDK: a query frame goes
// through PacketPath with a WorkerAnswerer over a real ZoneStore, and the
// reply frame comes out (headers swapped, checksums right, the answer the
// answer code gives); what it must not answer goes to the query ring.
#include <gtest/gtest.h>

#include <vector>

#include "control/zone/test_util.hpp"
#include "control/zone/worker_answerer.hpp"
#include "dataplane/frame_build.hpp"
#include "dataplane/packet_path.hpp"
#include "dataplane/test_addr.hpp"

using namespace updproxy;
using namespace updproxy::control::zone;
using namespace updproxy::control::zone::test;
namespace dp = updproxy::dataplane;

namespace {

const dp::Mac kOurMac = {0x02, 0, 0, 0, 0, 1};
const dp::Mac kClientMac = {0x02, 0, 0, 0, 0, 0x42};

uint64_t g_ticks = 0;
uint64_t fake_clock() { return g_ticks; }

using dp::testing::v4;

struct Fixture {
    std::unique_ptr<ZoneStore> store;
    dp::LinkTable links;
    table::EventRing events{1 << 16};
    table::EventRing queries{1 << 16};
    table::Shard shard{table::ShardConfig{}, &events};
    dp::WorkerCounters counters{4};
    std::unique_ptr<dp::PacketPath> path;
    std::unique_ptr<WorkerAnswerer> answerer;
    std::vector<uint8_t> reply = std::vector<uint8_t>(4096 + 128);

    explicit Fixture(bool with_answerer = true, uint16_t max_udp = 1232,
                     const std::string& zone = kLabZone)
        : store(make_store({zone})) {
        dp::LinkSpec l4;
        l4.name = "lab4";
        l4.prefix = v4(192, 0, 2, 0);
        l4.prefix_len = 24;
        l4.has_address = true;
        l4.address = v4(192, 0, 2, 1);
        links.add(l4);
        dp::LinkSpec l6;
        l6.name = "lab6";
        l6.v6 = true;
        l6.prefix = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
        l6.prefix_len = 64;
        l6.has_address = true;
        l6.address = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        links.add(l6);
        dp::LinkSpec vl;
        vl.name = "vlan10";
        vl.vlan_count = 1;
        vl.vlan = {10, 0};
        vl.prefix = v4(198, 51, 100, 0);
        vl.prefix_len = 24;
        vl.has_address = true;
        vl.address = v4(198, 51, 100, 1);
        links.add(vl);
        path = std::make_unique<dp::PacketPath>(dp::PathConfig{&links, {kOurMac}, {}}, &shard,
                                                &queries, &counters);
        if (with_answerer) {
            answerer = std::make_unique<WorkerAnswerer>(store->make_reader(), max_udp, fake_clock,
                                                        1000000000);
            path->set_answerer(answerer.get());
        }
    }

    // A query frame from the client (port 40000) to `dst`:53.
    std::vector<uint8_t> query_frame(const std::vector<uint8_t>& dns, bool v6,
                                     const std::array<uint8_t, 16>& src,
                                     const std::array<uint8_t, 16>& dst, uint8_t vlans = 0,
                                     uint16_t vlan = 0) {
        dp::L2 l2;
        l2.src = kClientMac;
        l2.dst = kOurMac;
        l2.vlan_count = vlans;
        l2.vlan = {vlan, 0};
        std::vector<uint8_t> f(9000);
        f.resize(dp::build_udp(f, l2, v6, src.data(), dst.data(), 40000, 53, 64, dns));
        return f;
    }

    // Runs one poll with one frame; returns the reply frame (empty: none).
    std::vector<uint8_t> poll(const std::vector<uint8_t>& frame) {
        if (answerer) answerer->begin_poll(g_ticks);
        dp::ResponseBatch batch;
        const size_t n = path->receive(frame, 0, {}, 1000, reply, batch);
        path->flush(batch, 1000);
        if (answerer) answerer->end_poll();
        return {reply.begin(), reply.begin() + static_cast<std::ptrdiff_t>(n)};
    }
};

// The reply's headers: addresses and ports swapped, MACs swapped, checksums valid.
dp::FrameInfo check_reply_frame(const std::vector<uint8_t>& r, bool v6,
                                const std::array<uint8_t, 16>& client,
                                const std::array<uint8_t, 16>& ours) {
    dp::FrameInfo f;
    EXPECT_EQ(dp::parse_ethernet(r, f), dp::DropReason::ok);
    EXPECT_EQ(0, std::memcmp(r.data(), kClientMac.data(), 6));
    EXPECT_EQ(0, std::memcmp(r.data() + 6, kOurMac.data(), 6));
    const size_t alen = v6 ? 16 : 4;
    EXPECT_EQ(0, std::memcmp(f.src.data(), ours.data(), alen));
    EXPECT_EQ(0, std::memcmp(f.dst.data(), client.data(), alen));
    EXPECT_EQ(f.src_port, 53);
    EXPECT_EQ(f.dst_port, 40000);
    if (!v6) {
        std::vector<uint8_t> ip(r.begin() + f.l3_offset, r.begin() + f.l3_offset + 20);
        const uint16_t sent = static_cast<uint16_t>(ip[10] << 8 | ip[11]);
        ip[10] = ip[11] = 0;
        EXPECT_EQ(dp::ipv4_header_checksum(ip.data(), 20), sent);
    }
    std::vector<uint8_t> udp(r.begin() + f.l4_offset, r.begin() + f.l4_offset + 8 + static_cast<std::ptrdiff_t>(f.payload.size()));
    const uint16_t sent = static_cast<uint16_t>(udp[6] << 8 | udp[7]);
    udp[6] = udp[7] = 0;
    EXPECT_EQ(dp::l4_checksum(v6, f.src.data(), f.dst.data(), 17, udp), sent);
    return f;
}

TEST(WorkerAnswerer, AnswersInTheWorkerWithTheAnswerCodesAnswer) {
    Fixture fx;
    const auto dns = make_query("Printer\\032One._ipp._tcp.lab.example.edu", codec::rrtype::SRV,
                                {.edns_size = 1232});
    const auto client = v4(203, 0, 113, 7);  // off-link: unicast DNS may come from anywhere
    const auto r = fx.poll(fx.query_frame(dns, false, client, v4(192, 0, 2, 1)));
    ASSERT_FALSE(r.empty());
    const auto f = check_reply_frame(r, false, client, v4(192, 0, 2, 1));
    // Exactly what the answer code gives for the same query and snapshot.
    std::vector<uint8_t> want(4096);
    const auto snap = fx.store->snapshot();
    const AnswerResult a = answer_wire(dns, *snap, ClientInfo{}, want);
    ASSERT_EQ(a.what, Disposition::reply);
    ASSERT_EQ(f.payload.size(), a.size);
    EXPECT_EQ(0, std::memcmp(f.payload.data(), want.data(), a.size));
    const Parsed p = parse_response(f.payload);
    EXPECT_TRUE(p.h.flags & codec::flag::AA);
    EXPECT_EQ(p.an_types.count("printer\\032one._ipp._tcp.lab.example.edu. SRV"), 1u);
    EXPECT_EQ(fx.counters.dns_answered.get(), 1u);
    EXPECT_EQ(fx.counters.dns_queries.get(), 0u);  // nothing for the control plane
    EXPECT_EQ(fx.answerer->answered(), 1u);
    EXPECT_EQ(fx.answerer->counters().rcode[0].load(), 1u);
    EXPECT_EQ(fx.answerer->latency().total(), 1u);
    EXPECT_TRUE(fx.queries.empty());
}

TEST(WorkerAnswerer, Ipv6AndVlanRepliesKeepTheQuerysPath) {
    Fixture fx;
    const std::array<uint8_t, 16> c6 = {0x20, 0x01, 0x0d, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    const auto ours6 = fx.links[1].address;
    auto r = fx.poll(fx.query_frame(make_query("printer1.lab.example.edu", codec::rrtype::AAAA), true,
                                    c6, ours6));
    ASSERT_FALSE(r.empty());
    auto f = check_reply_frame(r, true, c6, ours6);
    EXPECT_EQ(parse_response(f.payload).an.size(), 1u);

    const auto c4 = v4(198, 51, 100, 9);
    r = fx.poll(fx.query_frame(make_query("nothere.lab.example.edu", codec::rrtype::A), false, c4,
                               v4(198, 51, 100, 1), 1, 10));
    ASSERT_FALSE(r.empty());
    f = check_reply_frame(r, false, c4, v4(198, 51, 100, 1));
    EXPECT_EQ(f.vlan_count, 1);
    EXPECT_EQ(f.vlan[0], 10);
    const Parsed p = parse_response(f.payload);
    EXPECT_EQ(p.h.flags & 0xF, codec::rcode::NXDOMAIN);
    EXPECT_EQ(p.ns.size(), 1u);  // the SOA
    EXPECT_EQ(fx.counters.dns_answered.get(), 2u);
}

TEST(WorkerAnswerer, IxfrGoesToTheControlPlaneAndResponsesAreDropped) {
    Fixture fx;
    // IXFR over UDP: the slow path's (punted with the frame's addresses).
    auto r = fx.poll(fx.query_frame(make_query("lab.example.edu", codec::rrtype::IXFR), false,
                                    v4(192, 0, 2, 20), v4(192, 0, 2, 1)));
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(fx.counters.dns_queries.get(), 1u);
    EXPECT_EQ(fx.answerer->counters().punted.load(), 1u);
    size_t handed = 0;
    fx.queries.flush();
    fx.queries.consume([&](std::span<const uint8_t> msg) {
        ASSERT_GE(msg.size(), sizeof(dp::QueryHeader));
        dp::QueryHeader h;
        std::memcpy(&h, msg.data(), sizeof h);
        EXPECT_EQ(int{h.link}, 0);
        EXPECT_EQ(int{h.src_port}, 40000);  // (a copy: the packed field may be misaligned)
        ++handed;
    }, 16);
    EXPECT_EQ(handed, 1u);
    // A response (QR set) is never answered, nor handed on: a reflection loop otherwise.
    auto resp = make_query("lab.example.edu", codec::rrtype::SOA, {.flags = codec::flag::QR});
    r = fx.poll(fx.query_frame(resp, false, v4(192, 0, 2, 20), v4(192, 0, 2, 1)));
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(fx.answerer->counters().drop_response.load(), 1u);
    EXPECT_EQ(fx.counters.dns_queries.get(), 1u);
    // A query to an address that is not ours: not answered.
    r = fx.poll(fx.query_frame(make_query("lab.example.edu", codec::rrtype::SOA), false,
                               v4(192, 0, 2, 20), v4(192, 0, 2, 99)));
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(fx.counters.dns_answered.get(), 0u);
}

TEST(WorkerAnswerer, WithoutAnAnswererEveryQueryGoesToTheRing) {
    Fixture fx(false);
    auto r = fx.poll(fx.query_frame(make_query("lab.example.edu", codec::rrtype::SOA), false,
                                    v4(192, 0, 2, 20), v4(192, 0, 2, 1)));
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(fx.counters.dns_queries.get(), 1u);
    EXPECT_EQ(fx.counters.dns_answered.get(), 0u);
}

TEST(WorkerAnswerer, LargeAnswersFitTheConfiguredPayloadOrTruncate) {
    // 40 instances of one type: a PTR answer well over 512 bytes.
    std::string zone = kLabZone;
    for (int i = 0; i < 40; ++i) {
        zone += "_ipp._tcp IN PTR printer-number-" + std::to_string(i) + "._ipp._tcp\n";
    }
    for (uint16_t max : {uint16_t{4096}, uint16_t{512}}) {
        Fixture fx(true, max, zone);
        const auto dns = make_query("_ipp._tcp.lab.example.edu", codec::rrtype::PTR, {.edns_size = 4096});
        const auto r = fx.poll(fx.query_frame(dns, false, v4(192, 0, 2, 20), v4(192, 0, 2, 1)));
        ASSERT_FALSE(r.empty());
        const auto f = check_reply_frame(r, false, v4(192, 0, 2, 20), v4(192, 0, 2, 1));
        const Parsed p = parse_response(f.payload);
        if (max == 4096) {
            EXPECT_GT(f.payload.size(), 1232u);
            EXPECT_FALSE(p.h.flags & codec::flag::TC);
            EXPECT_EQ(p.an.size(), 42u);
        } else {
            EXPECT_LE(f.payload.size(), 512u);
            EXPECT_TRUE(p.h.flags & codec::flag::TC);
        }
    }
}

TEST(WorkerAnswerer, HoldsTheSnapshotOnlyDuringAPoll) {
    Fixture fx;
    const auto dns = make_query("printer1.lab.example.edu", codec::rrtype::A);
    const auto frame = fx.query_frame(dns, false, v4(192, 0, 2, 20), v4(192, 0, 2, 1));
    // Inside a poll the entered snapshot survives a commit...
    fx.answerer->begin_poll(0);
    dp::ResponseBatch batch;
    ASSERT_GT(fx.path->receive(frame, 0, {}, 1000, fx.reply, batch), 0u);
    control::PubRecord rec;
    rec.owner = N("printer3.lab.example.edu");
    rec.type = codec::rrtype::A;
    rec.ttl = 120;
    rec.rdata = {192, 0, 2, 12};
    ASSERT_TRUE(fx.store->add(rec));
    fx.store->commit();
    const uint64_t freed_before = fx.store->stats().snapshots_freed;
    fx.store->reclaim();
    EXPECT_EQ(fx.store->stats().snapshots_freed, freed_before);
    // ...and is freed once the poll ended; the next poll sees the new record.
    fx.answerer->end_poll();
    fx.store->reclaim();
    EXPECT_GT(fx.store->stats().snapshots_freed, freed_before);
    const auto r = fx.poll(fx.query_frame(make_query("printer3.lab.example.edu", codec::rrtype::A),
                                          false, v4(192, 0, 2, 20), v4(192, 0, 2, 1)));
    ASSERT_FALSE(r.empty());
    const auto f = check_reply_frame(r, false, v4(192, 0, 2, 20), v4(192, 0, 2, 1));
    EXPECT_EQ(parse_response(f.payload).an.size(), 1u);
}

}  // namespace
