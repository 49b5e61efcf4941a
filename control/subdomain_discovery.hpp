// Finding each link's subdomain and the server that takes its UPDATEs from
// unicast DNS (draft-pusateri-dnssd-update-proxy-01 §3.1, §3.2, §5.1).
//
// Subdomain, per link (IP subnet), in this order:
//   1. address-derived PTR queries through the resolver (RFC 6763 §11 form of
//      the subnet's network address): `dr.`, `r.`, `db.`, `b.`, `lb.`
//      `_dns-sd._udp.<reverse-subnet>`; the first answer names the subdomain;
//   2. the link's configured subdomain;
//   3. the algorithmic label under the parent domain (publish.domain).
// Update server for the subdomain: its zone from an SOA query, then SRV
// `_dns-update-tls._tcp`, `_dns-update._tcp`, `_dns-update._udp` in the
// subdomain, then the same in the parent domain (publish.domain, else the
// subdomain minus its first label); then the configured server of the zone
// (update.zones); then the SOA MNAME's address (port 53, UDP falling back to
// TCP: the MNAME says nothing about TLS).
// When the subdomain came from configuration or the algorithm and
// `register_reverse` is set, the reverse zone's server is found the same way
// (SOA of the reverse name, SRV in that zone, configuration, MNAME) so the
// proxy can register `b`, `db`, `lb` `_dns-sd._udp.<reverse-subnet>` PTR
// `<subdomain>` there. Those registrations, read back by the next run, are
// recognised (same subdomain, a name the proxy registered) and not taken for
// an operator's answer.
//
// Every link repeats this every `interval_s` with ±`jitter` (a fraction);
// a result is reported when it differs from the last one. A server that
// refuses the proxy's UPDATEs (server_refused) marks the link unpublishable
// until the next attempt, `retry_s` later.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "codec/name.hpp"
#include "control/resolver.hpp"
#include "control/update/update_engine.hpp"

namespace updproxy::control {

// RFC 6763 §11: the subnet's network address in reverse-mapping form, all
// four octets (IPv4, "0.2.0.192.in-addr.arpa.") or all 32 nibbles (IPv6,
// "...8.b.d.0.1.0.0.2.ip6.arpa."), host bits zero.
codec::Name reverse_subnet_name(const uint8_t* prefix, uint8_t prefix_len, bool v6);

// The five address-derived names in query order: dr, r, db, b, lb.
std::vector<codec::Name> address_derived_names(const codec::Name& reverse);

enum class SubdomainSource : uint8_t { none, dns, config, algorithmic };
enum class ServerSource : uint8_t { none, srv_subdomain, srv_parent, config, mname };
const char* source_name(SubdomainSource s);
const char* source_name(ServerSource s);

struct SubdomainLink {
    std::string name;
    std::array<uint8_t, 16> prefix{};
    uint8_t prefix_len = 0;
    bool v6 = false;
    std::optional<codec::Name> configured;  // links[].subdomain
    bool active = true;  // false: a removed link's tombstone, never looked up
};

struct SubdomainOptions {
    uint32_t interval_s = 300;
    double jitter = 0.1;       // ± fraction of interval_s
    uint32_t retry_s = 60;     // after a refusal, or when nothing was found
    bool register_reverse = false;
    std::optional<codec::Name> parent;      // publish.domain
    std::vector<ZoneServer> configured;     // update.zones
    uint64_t seed = 1;
};

struct DiscoveredServer {
    ServerSource source = ServerSource::none;
    ZoneServer server;  // server.zone is the zone found by SOA (or the subdomain)
};

struct LinkResult {
    SubdomainSource source = SubdomainSource::none;
    codec::Name subdomain;
    DiscoveredServer update;             // for the subdomain's zone
    codec::Name reverse;                 // reverse-subnet name
    std::optional<DiscoveredServer> reverse_server;  // register_reverse and not from DNS
    bool operator==(const LinkResult& o) const;
};

struct SubdomainStats {
    uint64_t runs = 0, lookups = 0, lookup_failures = 0;
    uint64_t changes = 0;          // results that differed from the previous one
    uint64_t unpublishable = 0;    // refusals reported by server_refused()
    uint64_t no_server = 0;        // runs that found no update server
};

class SubdomainDiscovery {
public:
    using Report = std::function<void(uint16_t link, const LinkResult&)>;
    SubdomainDiscovery(SubdomainOptions opts, std::vector<SubdomainLink> links, Lookup* lookup,
                       Report report);

    void tick(uint64_t now_ms);
    uint64_t next_wakeup_ms(uint64_t now_ms) const;
    // The link's update server refused UPDATEs: unpublishable until the next
    // attempt, which comes retry_s from now.
    void server_refused(uint16_t link, uint64_t now_ms);
    bool unpublishable(uint16_t link) const { return links_[link].unpublishable; }
    const std::optional<LinkResult>& result(uint16_t link) const { return links_[link].last; }
    const SubdomainStats& stats() const { return stats_; }
    // Every link has a result (tests wait for this).
    bool settled() const;

private:
    struct State {
        SubdomainLink cfg;
        codec::Name reverse;
        uint64_t next_run = 0;  // 0: at the first tick
        uint64_t gen = 0;       // a run's callbacks check it
        bool running = false;
        bool unpublishable = false;
        LinkResult work;
        std::optional<LinkResult> last;
    };
    using Done = std::function<void(const DiscoveredServer&)>;

    using Names = std::vector<std::pair<codec::Name, ServerSource>>;
    void start(uint16_t l);
    void ptr_step(uint16_t l, uint64_t gen, size_t i);
    void subdomain_found(uint16_t l, uint64_t gen);
    // Finds the update server for `name` (SOA -> zone, SRV, config, MNAME).
    void find_server(uint16_t l, uint64_t gen, const codec::Name& name,
                     std::optional<codec::Name> parent, Done done);
    void srv_step(uint16_t l, uint64_t gen, std::shared_ptr<Names> names, size_t i,
                  codec::Name zone, std::optional<codec::Name> mname, Done done);
    void fallback(uint16_t l, uint64_t gen, const codec::Name& zone,
                  const std::optional<codec::Name>& mname, Done done);
    void address_of(uint16_t l, uint64_t gen, const codec::Name& host,
                    std::function<void(std::optional<std::string>)> done);
    void finish(uint16_t l);
    bool live(uint16_t l, uint64_t gen) const { return links_[l].gen == gen && links_[l].running; }
    std::optional<ZoneServer> configured_for(const codec::Name& name) const;
    void ask(const codec::Name& name, uint16_t type, Lookup::Callback cb);
    uint64_t next_after(uint32_t seconds);

    SubdomainOptions o_;
    std::vector<State> links_;
    Lookup* lookup_;
    Report report_;
    std::mt19937_64 rng_;
    uint64_t now_ = 0;
    SubdomainStats stats_;
};

}  // namespace updproxy::control
