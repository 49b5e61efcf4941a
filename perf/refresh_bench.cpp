// perf/run refresh: the refresh traffic active discovery (control/discovery.*)
// generates to keep N live services on one link, and its CPU cost, against
// the theoretical minimum of one query per host per refresh period.
//
// What runs is the real thing minus the wire: a table::Shard (the worker's
// table: expiry, refresh_due 5-10 s before expiry with jitter), its event
// ring, the control plane's RecordStore and Discovery, on a synthetic clock
// stepped every 100 ms. The QuerySender stands in for the TX ring: it counts
// each query and plays the host, answering (1 ms later) with exactly the
// records the query asked for, which the shard ingests as a real answer.
// Hosts announce once, spread over the first TTL period, and never again:
// only the proxy's queries keep their records.
//
// Measured in a window of whole TTL periods after a warm-up period:
//   - refresh queries per second (ours) vs hosts / TTL (the minimum: one
//     query per host per 120 s period); ratio = minimum / ours (1 = ideal;
//     < 1 because a refresh comes 5-10 s before expiry, so periods are
//     ~112.5 s);
//   - what a per-record proxy would send: one query per record asked for
//     (the questions our gathered queries carry);
//   - records that expired anyway (must be 0: every host answers);
//   - control-plane CPU (thread CPU time in RecordStore::apply, Discovery::
//     refresh_due and Discovery::tick) per simulated second and per query.
//     The shard's work and the host simulation are timed apart, not included.
//
// Run twice: with the default pacing (link_qps 100) and with 20 queries/s
// per link (the default before this bench), which cannot keep 10,000
// one-service hosts (89 queries/s needed): records expire, shown as such.
#include <time.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"
#include "control/discovery.hpp"
#include "control/record_store.hpp"
#include "dataplane/table/event_ring.hpp"
#include "dataplane/table/events.hpp"
#include "dataplane/table/shard.hpp"

using namespace updproxy;
namespace rt = codec::rrtype;

namespace {

uint64_t thread_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct HostRr {
    codec::Name owner;
    uint16_t type;
    uint32_t ttl;
    std::vector<uint8_t> rdata;
    bool flush;
};

struct Host {
    std::array<uint8_t, 4> ip{};
    std::vector<HostRr> rrs;
    std::multimap<std::pair<std::string, uint16_t>, size_t> by_q;  // (lc name, type) -> rr
};

std::vector<uint8_t> build_response(const Host& h, const std::vector<size_t>& which) {
    std::vector<uint8_t> buf(9000);
    codec::Builder b(buf, codec::BuilderOptions{true, true, 0});
    b.set_flags(codec::flag::QR | codec::flag::AA);
    for (size_t i : which) {
        const HostRr& r = h.rrs[i];
        (void)b.add_rr(codec::Section::answer, r.owner, r.type,
                       codec::rrclass::IN | (r.flush ? codec::rrclass::MDNS_TOP_BIT : 0), r.ttl, r.rdata);
    }
    buf.resize(b.size());
    return buf;
}

struct Result {
    double queries_per_s = 0, minimum_per_s = 0, naive_per_s = 0, due_per_s = 0;
    double questions_per_query = 0;
    uint64_t expired = 0, queued_max = 0, send_failures = 0;
    double control_us_per_s = 0, ns_per_query = 0, shard_us_per_s = 0;
};

struct Sim : control::QuerySender {
    std::vector<Host>* hosts;
    std::map<std::array<uint8_t, 4>, size_t> host_of;
    uint64_t now = 0;
    uint64_t sent = 0;
    struct Pending {
        uint64_t at;
        size_t host;
        std::vector<uint8_t> wire;
    };
    std::vector<Pending> pending;
    bool send_query(uint16_t, bool multicast, const uint8_t* ip, const uint8_t*,
                    const std::vector<uint8_t>& payload) override {
        ++sent;
        if (multicast) return true;  // enumeration: the hosts already announced
        std::array<uint8_t, 4> a{};
        std::memcpy(a.data(), ip, 4);
        auto it = host_of.find(a);
        if (it == host_of.end()) return true;
        auto m = codec::Message::parse(payload);
        if (!m.ok()) return true;
        const Host& h = (*hosts)[it->second];
        std::vector<size_t> which;
        for (const auto& q : m->questions()) {
            auto [b, e] = h.by_q.equal_range({q.name.to_name().lowercased().to_string(), q.type});
            for (auto i = b; i != e; ++i) which.push_back(i->second);
        }
        if (!which.empty()) pending.push_back({now + 1, it->second, build_response(h, which)});
        return true;
    }
};

Result run(size_t services, size_t per_host, double link_qps, uint32_t periods) {
    const uint32_t ttl = 120;
    const size_t nhosts = (services + per_host - 1) / per_host;
    std::vector<Host> hosts(nhosts);
    const codec::Name type = *codec::Name::parse("_ipp._tcp.local.");
    size_t made = 0;
    for (size_t h = 0; h < nhosts; ++h) {
        Host& host = hosts[h];
        // 198.18.0.0/15: the benchmarking range (RFC 2544).
        host.ip = {198, static_cast<uint8_t>(18 + (h >> 16)), static_cast<uint8_t>(h >> 8),
                   static_cast<uint8_t>(h)};
        codec::Name hn = *codec::Name::parse("local.");
        (void)hn.prepend_label("host-" + std::to_string(h));
        host.rrs.push_back({hn, rt::A, ttl, codec::rdata::a(std::span<const uint8_t, 4>(host.ip)), true});
        for (size_t k = 0; k < per_host && made < services; ++k, ++made) {
            codec::Name inst = type;
            (void)inst.prepend_label("Printer " + std::to_string(h) + "-" + std::to_string(k));
            host.rrs.push_back({type, rt::PTR, 4500, codec::rdata::name(inst), false});
            host.rrs.push_back({inst, rt::SRV, ttl,
                                codec::rdata::srv(0, 0, static_cast<uint16_t>(631 + k), hn), true});
            const std::string_view txt[] = {"txtvers=1", "rp=ipp/print"};
            host.rrs.push_back({inst, rt::TXT, 4500, codec::rdata::txt(txt), true});
        }
        for (size_t i = 0; i < host.rrs.size(); ++i) {
            host.by_q.emplace(std::pair{host.rrs[i].owner.lowercased().to_string(), host.rrs[i].type}, i);
        }
    }

    table::EventRing ring(1u << 26);
    table::ShardConfig sc;
    sc.max_records = 1u << 22;
    sc.max_records_per_link = 1u << 22;
    table::Shard shard(sc, &ring);
    control::RecordStore store;
    dataplane::LinkSpec link;
    link.name = "lab";
    link.prefix = {198, 18, 0, 0};
    link.prefix_len = 15;
    link.has_address = true;
    link.address = {198, 18, 255, 254};
    control::DiscoveryOptions o;
    o.enumerate_interval_s = 0;
    o.link_qps = link_qps;
    o.global_qps = std::max(o.global_qps, link_qps);
    Sim sim;
    sim.hosts = &hosts;
    for (size_t h = 0; h < nhosts; ++h) sim.host_of[hosts[h].ip] = h;
    control::Discovery disc(o, {link}, &sim);

    uint64_t control_ns = 0, shard_ns = 0;
    uint64_t naive = 0, expired = 0;
    std::vector<control::Applied> changes;
    auto pump = [&](uint64_t now) {
        uint64_t t0 = thread_ns();
        shard.flush_events();
        shard_ns += thread_ns() - t0;
        t0 = thread_ns();
        ring.consume([&](std::span<const uint8_t> b) {
            auto e = table::decode_event(b);
            if (!e) return;
            changes.clear();
            store.apply(*e, &changes);
            for (const auto& a : changes) {
                if (a.change == control::Change::refresh_due) {
                    ++naive;
                    disc.refresh_due(*a.record, now);
                } else if (a.change == control::Change::removed) {
                    ++expired;
                }
            }
        });
        control_ns += thread_ns() - t0;
    };
    auto ingest = [&](size_t h, const std::vector<uint8_t>& wire, uint64_t now) {
        auto m = codec::Message::parse(wire);
        table::Origin org;
        org.host = table::HostAddr::from_v4(hosts[h].ip.data());
        const uint64_t t0 = thread_ns();
        shard.ingest(*m, org, now);
        shard_ns += thread_ns() - t0;
    };

    const uint64_t start = 1'000'000;
    const uint64_t step = 100;
    const uint64_t warm_end = start + 2ull * ttl * 1000;  // announcements + one full period
    const uint64_t end = warm_end + static_cast<uint64_t>(periods) * ttl * 1000;
    size_t announced = 0;
    uint64_t sent_at_warm = 0, naive_at_warm = 0, expired_at_warm = 0, questions_at_warm = 0;
    uint64_t cns_at_warm = 0, sns_at_warm = 0, queued_max = 0, ticks = 0;
    std::vector<uint8_t> all;
    // Like the daemon's poll loop: wake when Discovery asks to (pacing), at
    // the latest every 100 ms (the shard's expiry and refresh_due timers).
    for (uint64_t now = start, next = start; now < end; now = next) {
        sim.now = now;
        // Hosts announce once, spread over the first period.
        while (announced < nhosts && start + announced * ttl * 1000 / nhosts <= now) {
            std::vector<size_t> every(hosts[announced].rrs.size());
            for (size_t i = 0; i < every.size(); ++i) every[i] = i;
            ingest(announced, build_response(hosts[announced], every), now);
            ++announced;
        }
        // Answers to earlier queries.
        for (auto& p : sim.pending) {
            if (p.at <= now) ingest(p.host, p.wire, now);
        }
        std::erase_if(sim.pending, [&](const Sim::Pending& p) { return p.at <= now; });
        uint64_t t0 = thread_ns();
        shard.advance(now);
        shard_ns += thread_ns() - t0;
        pump(now);
        t0 = thread_ns();
        disc.tick(store, now);
        control_ns += thread_ns() - t0;
        ++ticks;
        next = std::min(now + step, std::max(now + 1, disc.next_wakeup_ms(now)));
        for (const auto& p : sim.pending) next = std::min(next, std::max(now + 1, p.at));
        if (now >= warm_end) queued_max = std::max<uint64_t>(queued_max, disc.stats().queued);
        if (now < warm_end && next >= warm_end) {
            sent_at_warm = disc.stats().refresh_queries;
            naive_at_warm = naive;
            expired_at_warm = expired;
            questions_at_warm = disc.stats().refresh_questions;
            cns_at_warm = control_ns;
            sns_at_warm = shard_ns;
        }
    }
    const double secs = static_cast<double>(end - warm_end) / 1000.0;
    Result r;
    const uint64_t q = disc.stats().refresh_queries - sent_at_warm;
    r.queries_per_s = static_cast<double>(q) / secs;
    r.minimum_per_s = static_cast<double>(nhosts) / ttl;
    r.naive_per_s = static_cast<double>(disc.stats().refresh_questions - questions_at_warm) / secs;
    r.due_per_s = static_cast<double>(naive - naive_at_warm) / secs;
    r.questions_per_query =
        q ? static_cast<double>(disc.stats().refresh_questions - questions_at_warm) / static_cast<double>(q) : 0;
    r.expired = expired - expired_at_warm;
    r.queued_max = queued_max;
    r.send_failures = disc.stats().send_failures;
    r.control_us_per_s = static_cast<double>(control_ns - cns_at_warm) / 1000.0 / secs;
    r.ns_per_query = q ? static_cast<double>(control_ns - cns_at_warm) / static_cast<double>(q) : 0;
    r.shard_us_per_s = static_cast<double>(shard_ns - sns_at_warm) / 1000.0 / secs;
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    size_t services = 10000, per_host = 1;
    uint32_t periods = 5;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("--services=", 0) == 0) services = std::stoul(a.substr(11));
        else if (a.rfind("--per-host=", 0) == 0) per_host = std::max<size_t>(1, std::stoul(a.substr(11)));
        else if (a.rfind("--periods=", 0) == 0) periods = static_cast<uint32_t>(std::stoul(a.substr(10)));
        else {
            std::fprintf(stderr, "usage: refresh_bench [--services=N] [--per-host=K] [--periods=P]\n");
            return 2;
        }
    }
    std::printf("refresh: %zu services, %zu per host (%zu hosts), one link, TTL 120 s, "
                "window %u periods after warm-up; hosts never re-announce\n",
                services, per_host, (services + per_host - 1) / per_host, periods);
    std::printf("%-22s %10s %10s %8s %10s %9s %8s %11s %9s %10s\n", "pacing", "queries/s", "minimum/s",
                "ratio", "per-rec/s", "q/query", "expired", "ctl us/s", "ns/query", "shard us/s");
    Result main_r;
    for (double qps : {control::DiscoveryOptions{}.link_qps, 20.0}) {
        const Result r = run(services, per_host, qps, periods);
        char label[64];
        std::snprintf(label, sizeof label, "link_qps %.0f%s", qps,
                      qps == control::DiscoveryOptions{}.link_qps ? " (default)" : "");
        std::printf("%-22s %10.2f %10.2f %8.3f %10.2f %9.2f %8" PRIu64 " %11.1f %9.0f %10.1f\n", label,
                    r.queries_per_s, r.minimum_per_s, r.minimum_per_s / r.queries_per_s, r.naive_per_s,
                    r.questions_per_query, r.expired, r.control_us_per_s, r.ns_per_query, r.shard_us_per_s);
        if (qps == control::DiscoveryOptions{}.link_qps) main_r = r;
    }
    std::printf("minimum = hosts / 120 s (one query per host per TTL period); ratio = minimum / ours "
                "(1 = ideal; meaningless when records expired: the proxy fell behind); per-rec = records "
                "asked for per second (a proxy sending one query per record would send that many); "
                "q/query = records per query; ctl = control-plane CPU (RecordStore + Discovery) per "
                "simulated second; shard = the worker table's CPU for the answers and expiry, apart\n");
    std::printf("{\"bench\": \"refresh\", \"metric\": \"refresh queries per second, %zu services\", "
                "\"unit\": \"queries/s\", \"value\": %.3f, \"peer\": \"theoretical minimum (1 query/host/"
                "120 s)\", \"peer_value\": %.3f, \"ratio\": %.3f, \"control_cpu_us_per_s\": %.1f, "
                "\"ns_per_query\": %.0f, \"expired\": %" PRIu64 "}\n",
                services, main_r.queries_per_s, main_r.minimum_per_s,
                main_r.minimum_per_s / main_r.queries_per_s, main_r.control_us_per_s, main_r.ns_per_query,
                main_r.expired);
    return main_r.expired == 0 ? 0 : 1;
}
