// Subdomain and update-server discovery (draft §3.1, §5.1) against a scripted
// resolver: the reverse-subnet names, the order of lookups, each fallback,
// changes and refusals. The real resolver and BIND are in
// tests/subdomain_discovery_test.py.
#include "control/subdomain_discovery.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <map>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"

using namespace updproxy;
using namespace updproxy::control;
namespace rt = codec::rrtype;

namespace {

codec::Name N(const char* s) { return *codec::Name::parse(s); }

struct FakeLookup : Lookup {
    std::map<std::pair<std::string, uint16_t>, LookupResult> answers;
    std::vector<std::string> asked;  // "name TYPE" in order
    std::deque<std::pair<LookupResult, Callback>> queue;
    bool silent = false;  // every query times out

    static std::string key(const codec::Name& n) { return n.lowercased().to_string(); }
    void set(const char* name, uint16_t type, LookupResult r) {
        r.answered = true;
        answers[{key(N(name)), type}] = std::move(r);
    }
    void ptr(const char* name, const char* target) {
        LookupResult r;
        r.ptr.push_back(N(target));
        set(name, rt::PTR, r);
    }
    void srv(const char* name, uint16_t port, const char* target) {
        LookupResult r;
        r.srv.push_back({0, 0, port, N(target)});
        set(name, rt::SRV, r);
    }
    void addr(const char* name, const char* a) {
        LookupResult r;
        r.addresses.push_back(a);
        set(name, rt::A, r);
    }
    void soa(const char* name, const char* zone, const char* mname) {
        LookupResult r;
        r.soa_zone = N(zone);
        r.soa_mname = N(mname);
        set(name, rt::SOA, r);
    }
    void query(const codec::Name& name, uint16_t type, uint64_t, Callback cb) override {
        asked.push_back(key(name) + " " + codec::type_name(type));
        LookupResult r;
        if (!silent) {
            auto it = answers.find({key(name), type});
            if (it != answers.end()) {
                r = it->second;
            } else {
                r.answered = true;
                r.rcode = codec::rcode::NXDOMAIN;
            }
        }
        queue.emplace_back(r, std::move(cb));
    }
    void pump() {
        for (int i = 0; i < 1000 && !queue.empty(); ++i) {
            auto [r, cb] = std::move(queue.front());
            queue.pop_front();
            cb(r);
        }
    }
};

struct Harness {
    FakeLookup dns;
    std::vector<std::pair<uint16_t, LinkResult>> reports;
    std::unique_ptr<SubdomainDiscovery> d;
    uint64_t now = 1000;

    explicit Harness(SubdomainOptions o = {}, std::optional<codec::Name> configured = {}) {
        SubdomainLink l;
        l.name = "lab";
        l.prefix = {192, 0, 2, 0};
        l.prefix_len = 24;
        l.configured = configured;
        d = std::make_unique<SubdomainDiscovery>(
            std::move(o), std::vector<SubdomainLink>{l}, &dns,
            [this](uint16_t link, const LinkResult& r) { reports.emplace_back(link, r); });
    }
    void run() {
        d->tick(now);
        dns.pump();
    }
};

}  // namespace

TEST(SubdomainDiscovery, ReverseSubnetNames) {
    const uint8_t v4[16] = {192, 0, 2, 77};
    EXPECT_EQ(reverse_subnet_name(v4, 24, false).to_string(), "0.2.0.192.in-addr.arpa.");
    EXPECT_EQ(reverse_subnet_name(v4, 16, false).to_string(), "0.0.0.192.in-addr.arpa.");
    const uint8_t v4b[16] = {198, 51, 100, 130};
    EXPECT_EQ(reverse_subnet_name(v4b, 25, false).to_string(), "128.100.51.198.in-addr.arpa.");
    const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99};
    EXPECT_EQ(reverse_subnet_name(v6, 64, true).to_string(),
              "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
    const uint8_t v6b[16] = {0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0x12, 0x34, 0xff};
    EXPECT_EQ(reverse_subnet_name(v6b, 52, true).to_string(),
              "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa.");
    const auto names = address_derived_names(reverse_subnet_name(v4, 24, false));
    ASSERT_EQ(names.size(), 5u);
    EXPECT_EQ(names[0].to_string(), "dr._dns-sd._udp.0.2.0.192.in-addr.arpa.");
    EXPECT_EQ(names[1].to_string(), "r._dns-sd._udp.0.2.0.192.in-addr.arpa.");
    EXPECT_EQ(names[2].to_string(), "db._dns-sd._udp.0.2.0.192.in-addr.arpa.");
    EXPECT_EQ(names[3].to_string(), "b._dns-sd._udp.0.2.0.192.in-addr.arpa.");
    EXPECT_EQ(names[4].to_string(), "lb._dns-sd._udp.0.2.0.192.in-addr.arpa.");
}

TEST(SubdomainDiscovery, LookupOrderAndFirstAnswerWins) {
    Harness h;
    h.dns.ptr("db._dns-sd._udp.0.2.0.192.in-addr.arpa.", "lab.example.com.");
    h.dns.ptr("b._dns-sd._udp.0.2.0.192.in-addr.arpa.", "other.example.com.");
    h.dns.soa("lab.example.com.", "example.com.", "ns1.example.com.");
    h.dns.srv("_dns-update._udp.example.com.", 5353, "primary.example.com.");
    h.dns.addr("primary.example.com.", "203.0.113.5");
    h.run();
    const std::vector<std::string> want = {
        "dr._dns-sd._udp.0.2.0.192.in-addr.arpa. PTR",
        "r._dns-sd._udp.0.2.0.192.in-addr.arpa. PTR",
        "db._dns-sd._udp.0.2.0.192.in-addr.arpa. PTR",
        "lab.example.com. SOA",
        "_dns-update-tls._tcp.lab.example.com. SRV",
        "_dns-update._tcp.lab.example.com. SRV",
        "_dns-update._udp.lab.example.com. SRV",
        "_dns-update-tls._tcp.example.com. SRV",
        "_dns-update._tcp.example.com. SRV",
        "_dns-update._udp.example.com. SRV",
        "primary.example.com. A",
    };
    EXPECT_EQ(h.dns.asked, want);
    ASSERT_EQ(h.reports.size(), 1u);
    const LinkResult& r = h.reports[0].second;
    EXPECT_EQ(r.source, SubdomainSource::dns);
    EXPECT_EQ(r.subdomain, N("lab.example.com."));
    EXPECT_EQ(r.update.source, ServerSource::srv_parent);
    EXPECT_EQ(r.update.server.zone, N("example.com."));
    EXPECT_EQ(r.update.server.address, "203.0.113.5");
    EXPECT_EQ(r.update.server.port, 5353);
    EXPECT_EQ(r.update.server.transport, Transport::udp);
    EXPECT_FALSE(r.reverse_server.has_value()) << "found in DNS: nothing to register";
}

TEST(SubdomainDiscovery, TlsServerInTheSubdomainIsPreferred) {
    Harness h;
    h.dns.ptr("dr._dns-sd._udp.0.2.0.192.in-addr.arpa.", "lab.example.com.");
    h.dns.soa("lab.example.com.", "lab.example.com.", "ns1.example.com.");
    h.dns.srv("_dns-update-tls._tcp.lab.example.com.", 853, "dot.example.com.");
    h.dns.srv("_dns-update._udp.lab.example.com.", 53, "plain.example.com.");
    h.dns.addr("dot.example.com.", "203.0.113.8");
    h.run();
    ASSERT_EQ(h.reports.size(), 1u);
    const auto& u = h.reports[0].second.update;
    EXPECT_EQ(u.source, ServerSource::srv_subdomain);
    EXPECT_EQ(u.server.transport, Transport::tls);
    EXPECT_EQ(u.server.tls_name, "dot.example.com");
    EXPECT_EQ(u.server.zone, N("lab.example.com."));
    EXPECT_EQ(h.dns.asked.size(), 1u + 1u + 1u + 1u) << "dr PTR, SOA, TLS SRV, A";
}

TEST(SubdomainDiscovery, ConfiguredSubdomainThenConfiguredServer) {
    SubdomainOptions o;
    o.configured.push_back(ZoneServer{N("example.org."), "192.0.2.53", 53, Transport::tcp});
    Harness h(o, N("lab.example.org."));
    h.run();
    ASSERT_EQ(h.reports.size(), 1u);
    const LinkResult& r = h.reports[0].second;
    EXPECT_EQ(r.source, SubdomainSource::config);
    EXPECT_EQ(r.subdomain, N("lab.example.org."));
    EXPECT_EQ(r.update.source, ServerSource::config);
    EXPECT_EQ(r.update.server.address, "192.0.2.53");
    EXPECT_EQ(r.update.server.zone, N("example.org."));
}

TEST(SubdomainDiscovery, AlgorithmicLabelThenMnameAndReverseRegistration) {
    SubdomainOptions o;
    o.parent = N("example.net.");
    o.register_reverse = true;
    Harness h(o);
    h.dns.soa("c0000200.example.net.", "example.net.", "ns.example.net.");
    h.dns.addr("ns.example.net.", "198.51.100.53");
    h.dns.soa("0.2.0.192.in-addr.arpa.", "2.0.192.in-addr.arpa.", "rev.example.net.");
    h.dns.srv("_dns-update._udp.2.0.192.in-addr.arpa.", 5300, "rev.example.net.");
    h.dns.addr("rev.example.net.", "198.51.100.54");
    h.run();
    ASSERT_EQ(h.reports.size(), 1u);
    const LinkResult& r = h.reports[0].second;
    EXPECT_EQ(r.source, SubdomainSource::algorithmic);
    EXPECT_EQ(r.subdomain, N("c0000200.example.net."));
    EXPECT_EQ(r.update.source, ServerSource::mname);
    EXPECT_EQ(r.update.server.address, "198.51.100.53");
    EXPECT_EQ(r.update.server.port, 53);
    ASSERT_TRUE(r.reverse_server.has_value());
    EXPECT_EQ(r.reverse_server->source, ServerSource::srv_parent);
    EXPECT_EQ(r.reverse_server->server.zone, N("2.0.192.in-addr.arpa."));
    EXPECT_EQ(r.reverse_server->server.address, "198.51.100.54");
    EXPECT_EQ(r.reverse_server->server.port, 5300);
}

TEST(SubdomainDiscovery, OwnRegistrationReadBackIsNotAnAnswer) {
    SubdomainOptions o;
    o.register_reverse = true;
    o.interval_s = 10;
    o.jitter = 0;
    o.configured.push_back(ZoneServer{N("example.org."), "192.0.2.53", 53, Transport::udp});
    o.configured.push_back(ZoneServer{N("2.0.192.in-addr.arpa."), "192.0.2.54", 53, Transport::udp});
    Harness h(o, N("lab.example.org."));
    h.run();
    ASSERT_EQ(h.reports.size(), 1u);
    EXPECT_EQ(h.reports[0].second.source, SubdomainSource::config);
    ASSERT_TRUE(h.reports[0].second.reverse_server.has_value());
    EXPECT_EQ(h.reports[0].second.reverse_server->server.zone, N("2.0.192.in-addr.arpa."));
    // The proxy registered b._dns-sd._udp... PTR lab.example.org.: the next
    // run reads it back and must not flip to "from DNS".
    h.dns.ptr("db._dns-sd._udp.0.2.0.192.in-addr.arpa.", "lab.example.org.");
    h.now += 10'000;
    h.run();
    EXPECT_EQ(h.reports.size(), 1u) << "no change reported";
    EXPECT_EQ(h.d->result(0)->source, SubdomainSource::config);
    // An operator's answer naming another subdomain is one.
    h.dns.ptr("dr._dns-sd._udp.0.2.0.192.in-addr.arpa.", "other.example.org.");
    h.now += 10'000;
    h.run();
    ASSERT_EQ(h.reports.size(), 2u);
    EXPECT_EQ(h.reports[1].second.source, SubdomainSource::dns);
    EXPECT_FALSE(h.reports[1].second.reverse_server.has_value()) << "registrations withdrawn";
}

TEST(SubdomainDiscovery, NothingAnywhereReportsNone) {
    Harness h;
    h.dns.silent = true;
    h.run();
    ASSERT_EQ(h.reports.size(), 1u);
    EXPECT_EQ(h.reports[0].second.source, SubdomainSource::none);
    EXPECT_EQ(h.d->stats().lookup_failures, 5u);
}

TEST(SubdomainDiscovery, RepeatsWithJitterAndReportsOnlyChanges) {
    SubdomainOptions o;
    o.interval_s = 300;
    o.jitter = 0.1;
    Harness h(o);
    h.dns.ptr("b._dns-sd._udp.0.2.0.192.in-addr.arpa.", "one.example.com.");
    h.dns.srv("_dns-update._udp.one.example.com.", 53, "ns.example.com.");
    h.dns.addr("ns.example.com.", "203.0.113.1");
    h.run();
    ASSERT_EQ(h.reports.size(), 1u);
    const uint64_t next = h.d->next_wakeup_ms(h.now);
    EXPECT_GE(next, h.now + 270'000);
    EXPECT_LE(next, h.now + 330'000);
    h.now = next;
    h.run();  // same answers: no report
    EXPECT_EQ(h.reports.size(), 1u);
    EXPECT_EQ(h.d->stats().runs, 2u);
    // The reverse PTR changes: the next run reports the move.
    h.dns.ptr("b._dns-sd._udp.0.2.0.192.in-addr.arpa.", "two.example.com.");
    h.dns.srv("_dns-update._udp.two.example.com.", 53, "ns.example.com.");
    h.now = h.d->next_wakeup_ms(h.now);
    h.run();
    ASSERT_EQ(h.reports.size(), 2u);
    EXPECT_EQ(h.reports[1].second.subdomain, N("two.example.com."));
    EXPECT_EQ(h.d->stats().changes, 1u);
}

TEST(SubdomainDiscovery, RefusalMarksUnpublishableAndRetriesSooner) {
    SubdomainOptions o;
    o.interval_s = 300;
    o.retry_s = 10;
    o.jitter = 0;
    Harness h(o);
    h.dns.ptr("b._dns-sd._udp.0.2.0.192.in-addr.arpa.", "one.example.com.");
    h.dns.srv("_dns-update._udp.one.example.com.", 53, "ns.example.com.");
    h.dns.addr("ns.example.com.", "203.0.113.1");
    h.run();
    h.d->server_refused(0, h.now);
    EXPECT_TRUE(h.d->unpublishable(0));
    EXPECT_EQ(h.d->stats().unpublishable, 1u);
    EXPECT_EQ(h.d->next_wakeup_ms(h.now), h.now + 10'000);
    // DNS now names another server: the retry finds it.
    h.dns.addr("ns.example.com.", "203.0.113.2");
    h.now += 10'000;
    h.run();
    EXPECT_FALSE(h.d->unpublishable(0));
    ASSERT_EQ(h.reports.size(), 2u);
    EXPECT_EQ(h.reports[1].second.update.server.address, "203.0.113.2");
}

TEST(Resolver, ParsesServerAddresses) {
    EXPECT_TRUE(Resolver::parse_server("192.0.2.1").has_value());
    EXPECT_TRUE(Resolver::parse_server("192.0.2.1:5300").has_value());
    EXPECT_TRUE(Resolver::parse_server("2001:db8::1").has_value());
    EXPECT_TRUE(Resolver::parse_server("[2001:db8::1]:5300").has_value());
    EXPECT_FALSE(Resolver::parse_server("192.0.2.1:0").has_value());
    EXPECT_FALSE(Resolver::parse_server("192.0.2.1:70000").has_value());
    EXPECT_FALSE(Resolver::parse_server("ns.example.com").has_value());
    EXPECT_FALSE(Resolver::parse_server("[192.0.2.1]:53").has_value());
    EXPECT_FALSE(Resolver::parse_server("[2001:db8::1]x").has_value());
}

// ---- the resolver against sockets on 127.0.0.1 -------------------------------

namespace {

// A UDP DNS server that answers PTR queries with `ptr_target` and every
// other type with NXDOMAIN and an SOA in the authority section; or never
// answers (`silent`), or answers with another ID (`wrong_id`).
struct TinyServer {
    int fd = -1;
    uint16_t port = 0;
    bool silent = false, wrong_id = false;
    int queries = 0;
    TinyServer() {
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~TinyServer() { close(fd); }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
    void serve() {
        uint8_t buf[2048];
        sockaddr_in from{};
        socklen_t flen = sizeof from;
        for (;;) {
            const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
            if (n <= 0) return;
            ++queries;
            if (silent) continue;
            auto q = codec::Message::parse({buf, static_cast<size_t>(n)});
            ASSERT_TRUE(q.ok());
            const auto question = *q->questions().begin();
            std::vector<uint8_t> out(1232);
            codec::Builder b(out);
            b.set_id(static_cast<uint16_t>(q->header().id + (wrong_id ? 1 : 0)));
            const codec::Name qname = question.name.to_name();
            ASSERT_TRUE(b.add_question(qname, question.type, codec::rrclass::IN).ok());
            if (question.type == rt::PTR) {
                b.set_flags(codec::flag::QR | codec::flag::AA);
                ASSERT_TRUE(b.add_rr(codec::Section::answer, qname, rt::PTR, codec::rrclass::IN, 300,
                                     codec::rdata::name(N("lab.example.com.")))
                                .ok());
            } else {
                b.set_flags(codec::flag::QR | codec::flag::AA | codec::rcode::NXDOMAIN);
                ASSERT_TRUE(b.add_rr(codec::Section::authority, N("example.com."), rt::SOA,
                                     codec::rrclass::IN, 300,
                                     codec::rdata::soa(N("ns1.example.com."), N("host.example.com."), 1,
                                                       3600, 600, 86400, 300))
                                .ok());
            }
            sendto(fd, b.wire().data(), b.wire().size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
        }
    }
};

// Runs the resolver and the servers until `done` or 3 s (of real time).
void pump(Resolver& r, std::vector<TinyServer*> servers, const bool& done) {
    const auto t0 = std::chrono::steady_clock::now();
    while (!done && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)) {
        for (auto* s : servers) s->serve();
        const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::steady_clock::now().time_since_epoch())
                                                   .count());
        r.on_ready(now);
        usleep(1000);
    }
}

uint64_t mono_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

}  // namespace

TEST(Resolver, AnswersPtrAndSoaFromTheAuthoritySection) {
    TinyServer srv;
    std::string err;
    auto r = Resolver::create({srv.addr()}, 200, 2, &err);
    ASSERT_TRUE(r) << err;
    LookupResult ptr, soa;
    bool done1 = false, done2 = false;
    r->query(N("b._dns-sd._udp.0.2.0.192.in-addr.arpa."), rt::PTR, mono_ms(), [&](const LookupResult& x) {
        ptr = x;
        done1 = true;
    });
    r->query(N("lab.example.com."), rt::SOA, mono_ms(), [&](const LookupResult& x) {
        soa = x;
        done2 = true;
    });
    bool both = false;
    const auto t0 = std::chrono::steady_clock::now();
    while (!both && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)) {
        pump(*r, {&srv}, both);
        both = done1 && done2;
    }
    ASSERT_TRUE(done1 && done2);
    EXPECT_TRUE(ptr.answered);
    ASSERT_EQ(ptr.ptr.size(), 1u);
    EXPECT_EQ(ptr.ptr[0], N("lab.example.com."));
    EXPECT_TRUE(soa.answered);
    EXPECT_EQ(soa.rcode, codec::rcode::NXDOMAIN);
    ASSERT_TRUE(soa.soa_zone.has_value());
    EXPECT_EQ(*soa.soa_zone, N("example.com."));
    EXPECT_EQ(*soa.soa_mname, N("ns1.example.com."));
    EXPECT_TRUE(r->idle());
}

TEST(Resolver, SilentServerTimesOutAndTheNextOneAnswers) {
    TinyServer dead, live;
    dead.silent = true;
    std::string err;
    // Two servers, two attempts: whichever is asked first, the other gets the retry.
    auto r = Resolver::create({dead.addr(), live.addr()}, 100, 2, &err);
    ASSERT_TRUE(r) << err;
    int answered = 0, done = 0;
    for (int i = 0; i < 6; ++i) {
        r->query(N("dr._dns-sd._udp.0.2.0.192.in-addr.arpa."), rt::PTR, mono_ms(), [&](const LookupResult& x) {
            answered += x.answered && !x.ptr.empty();
            ++done;
        });
    }
    bool all = false;
    const auto t0 = std::chrono::steady_clock::now();
    while (!all && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3)) {
        pump(*r, {&dead, &live}, all);
        all = done == 6;
    }
    EXPECT_EQ(done, 6);
    EXPECT_EQ(answered, 6);
    EXPECT_GE(dead.queries, 1);
    EXPECT_EQ(r->stats().timeouts, 0u);
}

TEST(Resolver, AnswerWithAnotherIdIsIgnoredAndTheQueryFails) {
    TinyServer liar;
    liar.wrong_id = true;
    std::string err;
    auto r = Resolver::create({liar.addr()}, 100, 2, &err);
    ASSERT_TRUE(r) << err;
    bool done = false;
    LookupResult res;
    res.answered = true;
    r->query(N("r._dns-sd._udp.0.2.0.192.in-addr.arpa."), rt::PTR, mono_ms(), [&](const LookupResult& x) {
        res = x;
        done = true;
    });
    pump(*r, {&liar}, done);
    ASSERT_TRUE(done);
    EXPECT_FALSE(res.answered);
    EXPECT_EQ(liar.queries, 2);
    EXPECT_EQ(r->stats().timeouts, 1u);
}

TEST(SubdomainDiscovery, TombstoneLinksAreNeverLookedUp) {
    FakeLookup dns;
    std::vector<uint16_t> reported;
    SubdomainLink gone, live;
    gone.name = "gone";
    gone.prefix = {192, 0, 2, 0};
    gone.prefix_len = 24;
    gone.active = false;
    live.name = "live";
    live.prefix = {198, 51, 100, 0};
    live.prefix_len = 24;
    dns.ptr("db._dns-sd._udp.0.2.0.192.in-addr.arpa.", "gone.example.");
    dns.ptr("db._dns-sd._udp.0.100.51.198.in-addr.arpa.", "live.example.");
    SubdomainDiscovery d({}, {gone, live}, &dns,
                         [&](uint16_t link, const LinkResult&) { reported.push_back(link); });
    d.tick(1000);
    dns.pump();
    EXPECT_EQ(reported, std::vector<uint16_t>{1});
    ASSERT_FALSE(dns.asked.empty());
    for (const auto& q : dns.asked) EXPECT_EQ(q.find("0.2.0.192.in-addr"), std::string::npos) << q;
    EXPECT_TRUE(d.settled());  // the removed link does not hold it back
    EXPECT_GT(d.next_wakeup_ms(1000), 1000u);  // no run of the removed link is ever due
}
