// The daemon's one configuration file: plain structs, a parser, the embedded
// default.
//
// The file is YAML (read with yaml-cpp), but nothing here exposes a YAML type:
// the dataplane and the control plane see only these structs, already checked.
// Validation is complete at start — types, ranges, names, references between
// sections, addresses against prefixes, overlapping links — so that nothing
// later has to re-check a value or fail at run time because of the file.
//
// Every error is one line naming the file, the 1-based line and column, and
// the key path, e.g.
//   updproxy.yaml:91:13: links[1].prefix: "192.0.2.0/33" is not an IPv4 or IPv6 prefix (...)
// The parser stops at the first error: one clear message to fix beats a
// cascade of consequences of the same mistake.
//
// docs/configuration.md documents every key; deploy/updproxy.yaml is a
// complete commented example; deploy/updproxy-dev.yaml is the embedded default.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "codec/tsig.hpp"

namespace updproxy::config {

// An IPv4 or IPv6 network prefix with its host bits zero (the parser refuses
// "192.0.2.1/24" and names the network instead).
struct IpPrefix {
    bool v6 = false;
    std::array<uint8_t, 16> addr{};  // network order; IPv4 in the first 4 bytes
    uint8_t len = 0;                 // 0..32 or 0..128

    // True when `a` (4 bytes for IPv4, 16 for IPv6, network order) is of the
    // same family and inside the prefix.
    bool contains(const uint8_t* a, bool is_v6) const;
    // True when the two prefixes share at least one address.
    bool overlaps(const IpPrefix& o) const;
    std::string to_string() const;  // "192.0.2.0/24", "2001:db8:1::/64"
    bool operator==(const IpPrefix&) const = default;
};

struct IpAddr {
    bool v6 = false;
    std::array<uint8_t, 16> addr{};  // network order; IPv4 in the first 4 bytes
    std::string to_string() const;
    bool operator==(const IpAddr&) const = default;
};

// EAL settings. The dataplane turns these into the EAL argument vector; the
// options this section owns may not be repeated in extra_args.
struct DpdkConfig {
    // First = main lcore (runs the control plane), rest = one worker each.
    std::vector<unsigned> lcores{0, 1};
    unsigned memory_mb = 512;              // -m
    bool no_huge = true;                   // --no-huge
    std::string file_prefix = "updproxy";  // --file-prefix
    std::vector<std::string> vdevs;        // --vdev, e.g. "net_pcap0,rx_pcap=x.pcap"
    std::vector<std::string> allow;        // -a, PCI addresses (normalized "0000:01:00.0"), optional ",devargs"
    std::vector<std::string> extra_args;   // passed to rte_eal_init as given
    bool operator==(const DpdkConfig&) const = default;
};

struct PortConfig {
    std::string name;    // [A-Za-z0-9_.-]+, unique among ports; used in logs and metric labels
    // DPDK ethdev name: a vdev's name from dpdk.vdevs ("net_null0") or a PCI
    // address, normalized to "0000:01:00.0" as rte_eth_dev_get_port_by_name wants.
    std::string device;
    unsigned rx_descriptors = 1024;
    unsigned tx_descriptors = 1024;
    bool promiscuous = true;
    int line = 0;        // where the entry starts in the file, for later messages
    bool operator==(const PortConfig&) const = default;
};

// One IP subnet on one L2 segment (port + VLAN tags). IPv4 and IPv6 on the
// same segment are two links (draft-pusateri-dnssd-update-proxy-01 §3.1, §4.6).
struct LinkConfig {
    std::string name;    // [A-Za-z0-9_.-]+, unique among links
    std::string port;    // a PortConfig::name
    std::vector<uint16_t> vlan;  // empty = untagged; {id} or {outer, inner} (QinQ); ids 0..4094
    IpPrefix prefix;     // the subnet: the on-link check for announcement sources
    // The proxy's own address on the link: source of refresh queries, and the
    // address it answers ARP / Neighbor Discovery for. Inside `prefix`.
    std::optional<IpAddr> address;
    bool check_ttl = true;  // RFC 6762 §11: drop mDNS whose IP TTL / hop limit is not 255
    // The configured unicast DNS subdomain for this subnet (draft §3.1: used
    // when the address-derived browse lookup finds none), normalized
    // presentation form with the trailing dot ("lab.example.com."). Unique
    // across links, never the root or under local.
    std::optional<std::string> subdomain;
    int line = 0;
    bool operator==(const LinkConfig&) const = default;
};

struct TableConfig {
    uint32_t max_records = 1000000;       // whole table, all shards
    uint32_t max_records_per_link = 65536;  // one link cannot starve the others
    // Refresh query sent min + random(0..jitter) ms before a record expires
    // (draft §4.2: 5–10 s before).
    uint32_t refresh_lead_min_ms = 5000;
    uint32_t refresh_lead_jitter_ms = 5000;
    uint32_t event_ring_bytes = 4u << 20;  // per worker → control ring, power of two
    // Link ids a reload may add beyond the links configured at start: the
    // dataplane's per-link state is sized for links + this. A removed link's
    // id is not reused before a restart.
    uint32_t spare_link_slots = 64;
    bool operator==(const TableConfig&) const = default;
};

// What the service model publishes under (draft §3.1, §3.3).
struct PublishConfig {
    // The parent domain: links without a subdomain get the algorithmic label
    // (hex of the IPv4 network, first 64 bits of an IPv6 prefix) under it,
    // and its b/lb browse PTRs list every link's subdomain. Normalised with a
    // trailing dot. Unset: every link needs its own subdomain.
    std::optional<std::string> domain;
    uint32_t browse_ttl = 3600;  // TTL of the browse and enumeration PTRs
    bool operator==(const PublishConfig&) const = default;
};

// Active discovery (control/discovery.*, control/subdomain_discovery.*):
// enumeration and refresh pacing, and finding each link's subdomain and
// update server in unicast DNS (draft §3.1, §5.1).
struct DiscoveryConfig {
    uint32_t enumerate_interval = 300;  // seconds between enumeration cycles; 0 = only at start
    double link_qps = 100;              // mDNS queries per second per link
    double global_qps = 1000;           // mDNS queries per second, all links
    // Unicast resolvers for the §3.1/§5.1 lookups: "ADDR", "ADDR:PORT",
    // "[IPv6]:PORT". Empty: no DNS discovery (configured subdomains and zones).
    std::vector<std::string> resolvers;
    uint32_t resolver_timeout_ms = 2000;
    uint32_t subdomain_interval = 300;  // seconds between rediscoveries
    uint32_t subdomain_jitter = 10;     // ± percent of subdomain_interval
    uint32_t subdomain_retry = 60;      // seconds: after a refusal or nothing found
    // Register b/db/lb._dns-sd._udp.<reverse-subnet> PTR <subdomain> when
    // the subdomain came from configuration or the algorithmic label.
    bool register_reverse = false;
    bool operator==(const DiscoveryConfig&) const = default;
};

// One zone the proxy sends UPDATEs for, and where its primary listens.
struct UpdateZoneConfig {
    std::string zone;    // normalised, trailing dot
    IpAddr server;
    uint16_t port = 53;
    std::string transport = "udp";  // udp (falls back to tcp), tcp, tls
    std::string tls_name;           // certificate name (tls); default: the address
    std::string ca_file;            // PEM bundle (tls); default: the system store
    int line = 0;
    bool operator==(const UpdateZoneConfig&) const = default;
};

// DNS UPDATE publication (RFC 2136, TSIG RFC 8945, Update Lease RFC 9664).
// Absent: the proxy publishes only through its own query service.
struct UpdateConfig {
    bool enabled = false;
    std::string key_file;       // BIND key file (tsig-keygen)
    std::string key_name;       // which key of the file; default: the only one
    std::optional<codec::TsigKey> key;  // read from key_file at load
    bool allow_unsigned = false;  // draft §5: refuse to run unauthenticated unless told
    uint32_t lease = 3600;        // Update Lease seconds; 0 = no option
    std::optional<uint32_t> key_lease;
    bool timeout_rrs = false;     // draft-ietf-dnsop-update-timeout-01
    uint16_t timeout_type = 65280;
    uint32_t batch_ms = 50;
    uint32_t udp_limit = 1232;
    uint32_t reconcile_interval = 300;  // seconds; 0 = only at lease refresh
    std::vector<UpdateZoneConfig> zones;
    bool operator==(const UpdateConfig& o) const {
        return enabled == o.enabled && key_file == o.key_file && key_name == o.key_name &&
               allow_unsigned == o.allow_unsigned && lease == o.lease &&
               key_lease == o.key_lease && timeout_rrs == o.timeout_rrs &&
               timeout_type == o.timeout_type && batch_ms == o.batch_ms &&
               udp_limit == o.udp_limit && reconcile_interval == o.reconcile_interval &&
               zones == o.zones;
    }
};

// The Prometheus exporter (stats/): an HTTP listener serving /metrics from its
// own thread. Enabled by default on the loopback, so a local Prometheus or a
// node exporter proxy can scrape it; an operator who wants it reachable from
// elsewhere names the address.
struct MetricsConfig {
    bool enabled = true;
    IpAddr address{false, {127, 0, 0, 1}};  // a literal: no name resolution at start
    uint16_t port = 9464;                   // 0: any free port (tests; the log names it)
    // "127.0.0.1:9464", "[::1]:9464": the form the listener takes.
    std::string listen() const;
    bool operator==(const MetricsConfig&) const = default;
};

// One address the embedded DNS service listens on (UDP and TCP).
struct DnsEndpoint {
    IpAddr address;
    uint16_t port = 53;   // 0: any free port (tests; the log names it)
    // "127.0.0.1:5300", "[::1]:5300".
    std::string text() const;
    bool operator==(const DnsEndpoint&) const = default;
};

// A secondary told by NOTIFY (RFC 1996) when a served zone changes.
struct DnsNotifyConfig {
    IpAddr address;
    uint16_t port = 53;
    std::string key;  // TSIG key name (one of dns.key_file's); empty: unsigned
    int line = 0;
    bool operator==(const DnsNotifyConfig&) const = default;
};

// The embedded authoritative DNS service (control/zone/): the proxy answers
// unicast queries for the zones it manages itself, from its live service
// model, on kernel sockets (`listen`) and on the DPDK links (queries to a
// link's `address`, port 53). Absent: no query service.
struct DnsConfig {
    bool enabled = false;
    std::vector<DnsEndpoint> listen;   // UDP and TCP each; may be empty (DPDK links only)
    bool udp_thread = false;           // kernel UDP answered on a thread of its own
    // Zones served (normalised, trailing dot). Empty: every link's subdomain
    // and publish.domain (its b/lb browse PTRs).
    std::vector<std::string> zones;
    std::string mname, rname;          // SOA; empty: ns.<zone>, hostmaster.<zone>
    std::vector<std::string> ns;       // NS at every apex; empty: [mname]
    uint32_t refresh = 3600, retry = 600, expire = 86400, minimum = 60, soa_ttl = 3600,
             ns_ttl = 3600;
    std::string key_file;              // BIND key file: transfers and NOTIFY
    std::vector<codec::TsigKey> keys;  // read from key_file at load
    std::vector<std::string> transfer_keys;  // names allowed to transfer; empty: any key
    bool allow_unsigned_transfer = false;
    std::vector<DnsNotifyConfig> notify;
    uint32_t max_udp_payload = 1232;
    uint32_t history = 64;             // IXFR serial steps kept
    int line = 0;
    bool operator==(const DnsConfig& o) const {
        auto same_keys = [&] {
            if (keys.size() != o.keys.size()) return false;
            for (size_t i = 0; i < keys.size(); ++i) {
                if (!(keys[i].name == o.keys[i].name) || keys[i].algorithm != o.keys[i].algorithm ||
                    keys[i].secret != o.keys[i].secret) {
                    return false;
                }
            }
            return true;
        };
        return enabled == o.enabled && listen == o.listen && udp_thread == o.udp_thread &&
               zones == o.zones && mname == o.mname && rname == o.rname && ns == o.ns &&
               refresh == o.refresh && retry == o.retry && expire == o.expire &&
               minimum == o.minimum && soa_ttl == o.soa_ttl && ns_ttl == o.ns_ttl &&
               key_file == o.key_file && same_keys() && transfer_keys == o.transfer_keys &&
               allow_unsigned_transfer == o.allow_unsigned_transfer && notify == o.notify &&
               max_udp_payload == o.max_udp_payload && history == o.history;
    }
};

struct LogConfig {
    std::string level = "info";  // trace debug info warn error
    bool operator==(const LogConfig&) const = default;
};

struct Config {
    std::string source;  // the file name errors were reported against
    DpdkConfig dpdk;
    std::vector<PortConfig> ports;
    std::vector<LinkConfig> links;
    TableConfig table;
    PublishConfig publish;
    UpdateConfig update;
    DiscoveryConfig discovery;
    DnsConfig dns;
    LogConfig log;
    MetricsConfig metrics;
    uint32_t burst_size = 32;  // rx/tx burst per poll
    uint32_t tx_drain_us = 0;  // how long a worker's reply may wait to share a TX call
    bool operator==(const Config&) const = default;
};

struct ConfigError {
    std::string file;
    int line = 0, column = 0;  // 1-based; 0 = not known (an unreadable file)
    std::string key;           // key path, "links[1].prefix"; empty for the whole file
    std::string message;
    // "file:line:column: key: message", leaving out the parts that are unknown.
    std::string to_string() const;
};

// Parses `text` as if it came from `file` (the name is only used in errors
// and Config::source). On error returns the first error.
std::variant<Config, ConfigError> parse_config(std::string_view text, std::string_view file);
// Reads and parses `path`; an unreadable file is an error with line 0.
std::variant<Config, ConfigError> load_config(const std::string& path);

// The embedded default: a working development configuration (no hugepages, one
// net_null port, an IPv4 and an IPv6 link on it). Its text is
// deploy/updproxy-dev.yaml, byte for byte (a unit test holds them together).
std::string_view default_config_text();
const Config& default_config();

}  // namespace updproxy::config
