// The DNS-SD closure and the .local -> subdomain mapping, driven by real
// announcements through a shard, its events and the RecordStore.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "control/record_format.hpp"
#include "control/service_model.hpp"
#include "dataplane/table/shard.hpp"
#include "dataplane/table/test_util.hpp"

using namespace updproxy;
using namespace updproxy::control;
using namespace updproxy::table;
using namespace updproxy::table::testing;
namespace rt = updproxy::codec::rrtype;

namespace {

struct Sink : PublishSink {
    std::map<std::string, uint32_t> live;  // "owner TYPE rdata" -> ttl
    int publishes = 0, unpublishes = 0;
    static std::string key(const PubRecord& r) {
        return r.owner.to_string() + " " + codec::type_name(r.type) + " " +
               rdata_text(r.type, codec::rrclass::IN, r.rdata);
    }
    void publish(uint16_t, const PubRecord& r) override {
        live[key(r)] = r.ttl;
        ++publishes;
    }
    void unpublish(uint16_t, const PubRecord& r) override {
        EXPECT_EQ(live.erase(key(r)), 1u) << key(r);
        ++unpublishes;
    }
    bool has(const std::string& k) const { return live.count(k) > 0; }
};

std::vector<uint8_t> aaaa_ll() {
    const uint8_t a6[16] = {0xFE, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
    return codec::rdata::aaaa(std::span<const uint8_t, 16>(a6, 16));
}
std::vector<uint8_t> a_ll() {
    const uint8_t a4[4] = {169, 254, 3, 4};
    return codec::rdata::a(std::span<const uint8_t, 4>(a4, 4));
}
std::vector<uint8_t> srv(const char* target, uint16_t port = 631) {
    return codec::rdata::srv(0, 0, port, name(target));
}
std::vector<uint8_t> ptr(const char* target) { return codec::rdata::name(name(target)); }
std::vector<uint8_t> txt(std::initializer_list<std::string_view> s) {
    std::vector<std::string_view> v(s);
    return codec::rdata::txt(v);
}

struct Fixture {
    EventRing ring{1 << 20};
    Shard shard{ShardConfig{}, &ring};
    RecordStore store;
    Sink sink;
    ServiceModel model;
    uint64_t now = 1'000'000;

    Fixture()
        : model({{"lab", true, name("lab.example.edu."), name("example.edu."), false}}, &sink) {
        model.attach(&store);
        model.start();
    }
    void feed(const std::vector<Rr>& rrs) {
        auto wire = response(rrs);
        auto m = codec::Message::parse(wire);
        ASSERT_TRUE(m.ok());
        shard.ingest(*m, Origin{}, now);
        pump();
    }
    void advance(uint64_t ms) {
        now += ms;
        shard.advance(now);
        pump();
    }
    void pump() {
        shard.flush_events();
        std::vector<Applied> changes;
        ring.consume([&](std::span<const uint8_t> b) {
            auto e = decode_event(b);
            ASSERT_TRUE(e.has_value());
            changes.clear();
            store.apply(*e, &changes);
            for (const auto& a : changes) model.apply(a);
        });
    }
    void printer(uint32_t ttl = 120) {
        feed({{"_ipp._tcp.local.", rt::PTR, 4500, ptr("Lab Printer._ipp._tcp.local.")},
              {"Lab Printer._ipp._tcp.local.", rt::SRV, ttl, srv("printer1.local."), true},
              {"Lab Printer._ipp._tcp.local.", rt::TXT, 4500, txt({"txtvers=1", "rp=ipp/print"}), true},
              {"printer1.local.", rt::A, 120, a(10), true},
              {"printer1.local.", rt::AAAA, 120, aaaa_ll(), true}});
    }
};

}  // namespace

TEST(ServiceModel, BrowseRecordsAtStart) {
    Fixture f;
    EXPECT_TRUE(f.sink.has("b._dns-sd._udp.lab.example.edu. PTR lab.example.edu."));
    EXPECT_TRUE(f.sink.has("b._dns-sd._udp.example.edu. PTR lab.example.edu."));
    EXPECT_TRUE(f.sink.has("lb._dns-sd._udp.example.edu. PTR lab.example.edu."));
    EXPECT_EQ(f.sink.live.size(), 3u);
}

TEST(ServiceModel, FullClosureMappedIntoTheSubdomain) {
    Fixture f;
    f.printer();
    const auto& L = f.sink;
    EXPECT_TRUE(L.has("_ipp._tcp.lab.example.edu. PTR Lab\\032Printer._ipp._tcp.lab.example.edu."));
    EXPECT_TRUE(L.has("Lab\\032Printer._ipp._tcp.lab.example.edu. SRV 0 0 631 printer1.lab.example.edu."));
    EXPECT_TRUE(L.has("Lab\\032Printer._ipp._tcp.lab.example.edu. TXT \"txtvers=1\" \"rp=ipp/print\""));
    EXPECT_TRUE(L.has("printer1.lab.example.edu. A 192.0.2.10"));
    EXPECT_TRUE(L.has("_services._dns-sd._udp.lab.example.edu. PTR _ipp._tcp.lab.example.edu."));
    // The link-local AAAA is never published (draft §4.4).
    for (const auto& [k, ttl] : L.live) EXPECT_EQ(k.find("fe80"), std::string::npos) << k;
    EXPECT_EQ(L.live.size(), 3u + 5u);
    EXPECT_EQ(f.model.instance_count(0), 1u);
}

TEST(ServiceModel, LinkLocalOnlyHostIsNotPublishedUntilItHasARoutableAddress) {
    Fixture f;
    f.feed({{"_ipp._tcp.local.", rt::PTR, 4500, ptr("Lonely._ipp._tcp.local.")},
            {"Lonely._ipp._tcp.local.", rt::SRV, 120, srv("lonely.local."), true},
            {"lonely.local.", rt::A, 120, a_ll(), true},
            {"lonely.local.", rt::AAAA, 120, aaaa_ll(), true}});
    EXPECT_EQ(f.sink.live.size(), 3u);  // browse records only
    f.feed({{"lonely.local.", rt::A, 120, a(44)}});
    EXPECT_TRUE(f.sink.has("lonely.lab.example.edu. A 192.0.2.44"));
    EXPECT_TRUE(f.sink.has("Lonely._ipp._tcp.lab.example.edu. SRV 0 0 631 lonely.lab.example.edu."));
    EXPECT_FALSE(f.sink.has("lonely.lab.example.edu. A 169.254.3.4"));
}

TEST(ServiceModel, GoodbyeUnpublishesTheInstanceAndItsHost) {
    Fixture f;
    f.printer();
    f.feed({{"Lab Printer._ipp._tcp.local.", rt::SRV, 0, srv("printer1.local."), true}});
    f.advance(1100);
    EXPECT_EQ(f.sink.live.size(), 3u) << "only the browse records remain";
}

TEST(ServiceModel, SharedHostAndServiceTypeAreReferenceCounted) {
    Fixture f;
    f.printer();
    f.feed({{"_ipp._tcp.local.", rt::PTR, 4500, ptr("Second._ipp._tcp.local.")},
            {"Second._ipp._tcp.local.", rt::SRV, 120, srv("printer1.local.", 632), true}});
    EXPECT_TRUE(f.sink.has("Second._ipp._tcp.lab.example.edu. SRV 0 0 632 printer1.lab.example.edu."));
    const int publishes = f.sink.publishes;
    // Remove the first instance: the shared A and the type enumeration stay.
    f.feed({{"Lab Printer._ipp._tcp.local.", rt::SRV, 0, srv("printer1.local."), true},
            {"_ipp._tcp.local.", rt::PTR, 0, ptr("Lab Printer._ipp._tcp.local.")}});
    f.advance(1100);
    EXPECT_TRUE(f.sink.has("printer1.lab.example.edu. A 192.0.2.10"));
    EXPECT_TRUE(f.sink.has("_services._dns-sd._udp.lab.example.edu. PTR _ipp._tcp.lab.example.edu."));
    EXPECT_FALSE(f.sink.has("Lab\\032Printer._ipp._tcp.lab.example.edu. SRV 0 0 631 printer1.lab.example.edu."));
    EXPECT_EQ(f.sink.publishes, publishes);  // nothing re-published
}

TEST(ServiceModel, SubtypesEnumerateTheirBaseType) {
    Fixture f;
    f.printer();
    f.feed({{"_printer._sub._ipp._tcp.local.", rt::PTR, 4500, ptr("Lab Printer._ipp._tcp.local.")}});
    EXPECT_TRUE(f.sink.has(
        "_printer._sub._ipp._tcp.lab.example.edu. PTR Lab\\032Printer._ipp._tcp.lab.example.edu."));
    EXPECT_FALSE(f.sink.has("_services._dns-sd._udp.lab.example.edu. PTR _printer._sub._ipp._tcp.lab.example.edu."));
}

TEST(ServiceModel, EscapesDotsAndUtf8SurviveTheMapping) {
    Fixture f;
    codec::Name inst = name("_airplay._tcp.local.");
    ASSERT_TRUE(inst.prepend_label(std::string_view("Café Müller's TV v2.1")).ok());
    const std::string text = inst.to_string();
    f.feed({{"_airplay._tcp.local.", rt::PTR, 4500, codec::rdata::name(inst)},
            {text, rt::SRV, 120, srv("tv.local.", 7000), true},
            {"tv.local.", rt::A, 120, a(50), true}});
    bool found = false;
    for (const auto& [k, ttl] : f.sink.live) {
        if (k.find(" SRV ") == std::string::npos) continue;
        auto owner = name(k.substr(0, k.find(' ')));
        ASSERT_EQ(owner.label(0).size(), std::string("Café Müller's TV v2.1").size());
        EXPECT_EQ(std::string(owner.label(0).begin(), owner.label(0).end()), "Café Müller's TV v2.1");
        EXPECT_TRUE(owner.is_subdomain_of(name("lab.example.edu.")));
        found = true;
    }
    EXPECT_TRUE(found);
}

TEST(ServiceModel, TtlChangeRepublishes) {
    Fixture f;
    f.printer();
    f.feed({{"Lab Printer._ipp._tcp.local.", rt::SRV, 240, srv("printer1.local."), true}});
    EXPECT_EQ(f.sink.live["Lab\\032Printer._ipp._tcp.lab.example.edu. SRV 0 0 631 printer1.lab.example.edu."],
              240u);
}

TEST(ServiceModel, NamesOutsideLocalAreIgnored) {
    Fixture f;
    f.feed({{"10.2.0.192.in-addr.arpa.", rt::PTR, 120, ptr("printer1.local."), true}});
    EXPECT_EQ(f.sink.live.size(), 3u);
}

TEST(ServiceModel, AlgorithmicLabels) {
    const uint8_t v4[4] = {192, 0, 2, 0};
    EXPECT_EQ(algorithmic_label(v4, 24, false), "c0000200");
    const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
    EXPECT_EQ(algorithmic_label(v6, 64, true), "20010db800010000");
    EXPECT_EQ(map_local(name("printer1.local."), name("lab.example.edu."))->to_string(),
              "printer1.lab.example.edu.");
    EXPECT_FALSE(map_local(name("printer1.example."), name("lab.example.edu.")).has_value());
}

TEST(ServiceModel, SubdomainChangeMovesEverything) {
    Fixture f;
    f.printer();
    ASSERT_EQ(f.sink.live.size(), 8u);
    const int unpub = f.sink.unpublishes, pub = f.sink.publishes;
    auto m = f.model.set_subdomain(0, name("new.example.edu."));
    EXPECT_EQ(m.removed, 8u);
    EXPECT_EQ(m.added, 8u);
    EXPECT_EQ(f.sink.unpublishes - unpub, 8);
    EXPECT_EQ(f.sink.publishes - pub, 8);
    for (const auto& [k, ttl] : f.sink.live) {
        EXPECT_EQ(k.find("lab.example.edu"), std::string::npos) << k;
    }
    EXPECT_TRUE(f.sink.has("Lab\\032Printer._ipp._tcp.new.example.edu. SRV 0 0 631 printer1.new.example.edu."));
    EXPECT_TRUE(f.sink.has("printer1.new.example.edu. A 192.0.2.10"));
    EXPECT_TRUE(f.sink.has("b._dns-sd._udp.new.example.edu. PTR new.example.edu."));
    EXPECT_TRUE(f.sink.has("lb._dns-sd._udp.example.edu. PTR new.example.edu."));
    EXPECT_EQ(f.model.link(0).subdomain, name("new.example.edu."));
    // Later announcements land in the new subdomain.
    f.feed({{"_ipp._tcp.local.", rt::PTR, 4500, ptr("Second._ipp._tcp.local.")},
            {"Second._ipp._tcp.local.", rt::SRV, 120, srv("printer1.local.", 632), true}});
    EXPECT_TRUE(f.sink.has("Second._ipp._tcp.new.example.edu. SRV 0 0 632 printer1.new.example.edu."));
}

TEST(ServiceModel, UnpublishedLinkKeepsItsRecordsForALaterSubdomain) {
    Fixture f;
    f.model.set_subdomain(0, std::nullopt);
    EXPECT_TRUE(f.sink.live.empty());
    f.printer();
    EXPECT_TRUE(f.sink.live.empty()) << "no subdomain: nothing published";
    auto m = f.model.set_subdomain(0, name("lab.example.edu."),
                                   {name("b._dns-sd._udp.0.2.0.192.in-addr.arpa.")});
    EXPECT_EQ(m.removed, 0u);
    EXPECT_EQ(m.added, 9u);
    EXPECT_TRUE(f.sink.has("b._dns-sd._udp.0.2.0.192.in-addr.arpa. PTR lab.example.edu."));
    EXPECT_TRUE(f.sink.has("Lab\\032Printer._ipp._tcp.lab.example.edu. SRV 0 0 631 printer1.lab.example.edu."));
    // The same subdomain again with no address-derived names: only that one
    // goes; the services are not touched.
    const int pub = f.sink.publishes, unpub = f.sink.unpublishes;
    m = f.model.set_subdomain(0, name("lab.example.edu."));
    EXPECT_FALSE(f.sink.has("b._dns-sd._udp.0.2.0.192.in-addr.arpa. PTR lab.example.edu."));
    EXPECT_EQ(f.sink.live.size(), 8u);
    EXPECT_EQ(m.removed, 1u);
    EXPECT_EQ(m.added, 0u);
    EXPECT_EQ(f.sink.publishes, pub);
    EXPECT_EQ(f.sink.unpublishes, unpub + 1);
}
