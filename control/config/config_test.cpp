// The configuration parser against the shipped examples, good test configs and
// a corpus of bad ones.
//
// Each file in testdata/bad/ starts with `# expect: <error>`, the exact error
// line without the leading file name: the message text is the interface an
// operator sees, so the tests hold it verbatim (line, column, key path and all).
#include "control/config/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "control/config/yaml_node.hpp"

namespace updproxy::config {
namespace {

namespace fs = std::filesystem;

const fs::path kRoot = UPDPROXY_SOURCE_ROOT;
const fs::path kTestdata = kRoot / "control" / "config" / "testdata";

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Config parse_ok(std::string_view text, std::string_view file = "test.yaml") {
    auto r = parse_config(text, file);
    if (auto* e = std::get_if<ConfigError>(&r)) {
        ADD_FAILURE() << e->to_string();
        return {};
    }
    return std::get<Config>(std::move(r));
}

std::string parse_err(std::string_view text, std::string_view file = "test.yaml") {
    auto r = parse_config(text, file);
    if (auto* e = std::get_if<ConfigError>(&r)) return e->to_string();
    ADD_FAILURE() << "parsed without error";
    return {};
}

// --- the shipped files ---------------------------------------------------

TEST(DefaultConfig, IsTheDevelopmentFileByteForByte) {
    EXPECT_EQ(default_config_text(), read_file(kRoot / "deploy" / "updproxy-dev.yaml"));
}

TEST(DefaultConfig, Parses) {
    const Config& c = default_config();
    EXPECT_EQ(c.source, "<embedded default>");
    EXPECT_TRUE(c.dpdk.no_huge);
    EXPECT_EQ(c.dpdk.lcores, (std::vector<unsigned>{0, 1}));
    ASSERT_EQ(c.dpdk.vdevs.size(), 1u);
    EXPECT_EQ(c.dpdk.vdevs[0], "net_null0");
    ASSERT_EQ(c.ports.size(), 1u);
    EXPECT_EQ(c.ports[0].device, "net_null0");
    ASSERT_EQ(c.links.size(), 2u);
    EXPECT_FALSE(c.links[0].prefix.v6);
    EXPECT_TRUE(c.links[1].prefix.v6);
    EXPECT_EQ(c.links[1].prefix.to_string(), "2001:db8:1::/64");
    ASSERT_TRUE(c.links[0].address.has_value());
    EXPECT_EQ(c.links[0].address->to_string(), "192.0.2.1");
    EXPECT_EQ(c.links[0].subdomain, "v4.dev.example.com.");
}

TEST(DefaultConfig, DevelopmentFileLoadsToTheSameConfig) {
    const std::string path = (kRoot / "deploy" / "updproxy-dev.yaml").string();
    auto r = load_config(path);
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).to_string();
    Config c = std::get<Config>(r);
    EXPECT_EQ(c.source, path);
    c.source = default_config().source;
    EXPECT_EQ(c, default_config());
}

TEST(DeployExample, Parses) {
    auto r = load_config((kRoot / "deploy" / "updproxy.yaml").string());
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).to_string();
    const Config& c = std::get<Config>(r);
    EXPECT_FALSE(c.dpdk.no_huge);
    EXPECT_GE(c.dpdk.lcores.size(), 3u);
    EXPECT_GE(c.ports.size(), 2u);
    EXPECT_GE(c.links.size(), 4u);
    // Every key of every section appears in the example, so a documented key
    // that the parser no longer knows fails here.
    bool qinq = false, untagged = false, no_ttl = false, v6 = false;
    for (const auto& l : c.links) {
        qinq |= l.vlan.size() == 2;
        untagged |= l.vlan.empty();
        no_ttl |= !l.check_ttl;
        v6 |= l.prefix.v6;
    }
    EXPECT_TRUE(qinq);
    EXPECT_TRUE(untagged);
    EXPECT_TRUE(no_ttl);
    EXPECT_TRUE(v6);
    for (const auto& p : c.ports) EXPECT_EQ(p.device.size(), 12u) << p.device;  // normalized PCI
}

// --- good test configs ---------------------------------------------------

TEST(GoodConfigs, AllParse) {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(kTestdata / "good")) {
        if (e.path().extension() != ".yaml") continue;
        ++n;
        auto r = load_config(e.path().string());
        EXPECT_TRUE(std::holds_alternative<Config>(r))
            << std::get<ConfigError>(r).to_string();
    }
    EXPECT_GE(n, 4u);
}

TEST(GoodConfigs, MinimalTakesEveryDefault) {
    auto r = load_config((kTestdata / "good" / "minimal.yaml").string());
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).to_string();
    Config c = std::get<Config>(r);
    EXPECT_EQ(c.dpdk.lcores, (std::vector<unsigned>{0, 1}));
    EXPECT_EQ(c.dpdk.memory_mb, 512u);
    EXPECT_TRUE(c.dpdk.no_huge);
    EXPECT_EQ(c.dpdk.file_prefix, "updproxy");
    EXPECT_EQ(c.ports[0].rx_descriptors, 1024u);
    EXPECT_EQ(c.ports[0].tx_descriptors, 1024u);
    EXPECT_TRUE(c.ports[0].promiscuous);
    EXPECT_EQ(c.ports[0].line, 4);
    EXPECT_TRUE(c.links[0].vlan.empty());
    EXPECT_TRUE(c.links[0].check_ttl);
    EXPECT_FALSE(c.links[0].address.has_value());
    EXPECT_FALSE(c.links[0].subdomain.has_value());
    EXPECT_EQ(c.links[0].line, 7);
    EXPECT_EQ(c.table, TableConfig{});
    EXPECT_EQ(c.log.level, "info");
    EXPECT_EQ(c.metrics, MetricsConfig{});
    EXPECT_TRUE(c.metrics.enabled);
    EXPECT_EQ(c.metrics.listen(), "127.0.0.1:9464");
    EXPECT_EQ(c.burst_size, 32u);
}

TEST(GoodConfigs, FlowStyleQinqAndNormalization) {
    auto r = load_config((kTestdata / "good" / "flow-qinq.yaml").string());
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).to_string();
    const Config& c = std::get<Config>(r);
    ASSERT_EQ(c.ports.size(), 1u);
    EXPECT_EQ(c.ports[0].device, "0000:3b:00.1");  // "3B:00.1" given
    EXPECT_EQ(c.dpdk.allow, (std::vector<std::string>{"0000:3b:00.1,rx_vec_en=1"}));
    ASSERT_EQ(c.links.size(), 3u);
    EXPECT_EQ(c.links[0].vlan, (std::vector<uint16_t>{100, 20}));
    EXPECT_EQ(c.links[1].vlan, (std::vector<uint16_t>{100, 21}));
    EXPECT_EQ(c.links[2].vlan, (std::vector<uint16_t>{7}));  // `vlan: 7` shorthand
    EXPECT_EQ(c.links[0].subdomain, "a.example.com.");       // trailing dot added
    EXPECT_EQ(c.links[0].prefix.to_string(), "198.51.100.0/25");
    EXPECT_EQ(c.table.event_ring_bytes, 1u << 16);
    EXPECT_EQ(c.table.max_records_per_link, 100u);
}

TEST(GoodConfigs, PointToPointLinksUseBothAddresses) {
    const Config c = parse_ok(R"(
dpdk: {vdevs: [net_null0]}
ports: [{name: p, device: net_null0}]
links:
  - {name: a, port: p, prefix: 192.0.2.0/31, address: 192.0.2.0}
  - {name: b, port: p, prefix: 192.0.2.2/31, address: 192.0.2.3}
  - {name: c, port: p, prefix: 2001:db8::/127, address: "2001:db8::"}
)");
    ASSERT_EQ(c.links.size(), 3u);
    EXPECT_EQ(c.links[2].address->to_string(), "2001:db8::");
}

TEST(GoodConfigs, SamePrefixOnDifferentSegmentsIsAllowed) {
    // Overlap only matters where frames could not be told apart.
    const Config c = parse_ok(R"(
dpdk: {vdevs: [net_null0, net_null1]}
ports: [{name: p, device: net_null0}, {name: q, device: net_null1}]
links:
  - {name: a, port: p, prefix: 192.0.2.0/24}
  - {name: b, port: q, prefix: 192.0.2.0/24}
  - {name: c, port: p, vlan: 10, prefix: 192.0.2.0/24}
  - {name: d, port: p, vlan: [10, 1], prefix: 192.0.2.0/24}
  - {name: e, port: p, prefix: 198.51.100.0/24}
)");
    EXPECT_EQ(c.links.size(), 5u);
}

TEST(GoodConfigs, IntegerSpellings) {
    const Config c = parse_ok(R"(
dpdk: {vdevs: [net_null0], memory_mb: 0x400}
ports: [{name: p, device: net_null0, rx_descriptors: 0o4000, tx_descriptors: +512}]
links: [{name: l, port: p, prefix: 192.0.2.0/24}]
table: {max_records: 4294967295}
)");
    EXPECT_EQ(c.dpdk.memory_mb, 1024u);
    EXPECT_EQ(c.ports[0].rx_descriptors, 2048u);
    EXPECT_EQ(c.ports[0].tx_descriptors, 512u);
    EXPECT_EQ(c.table.max_records, 4294967295u);
}

// --- the bad corpus --------------------------------------------------------

std::vector<std::string> bad_files() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(kTestdata / "bad")) {
        if (e.path().extension() == ".yaml") out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

class BadConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(BadConfig, FailsWithTheExpectedMessage) {
    const std::string text = read_file(kTestdata / "bad" / GetParam());
    const std::string prefix = "# expect: ";
    ASSERT_EQ(text.compare(0, prefix.size(), prefix), 0) << "first line must be `# expect: ...`";
    const std::string expect = text.substr(prefix.size(), text.find('\n') - prefix.size());
    EXPECT_EQ(parse_err(text, GetParam()), GetParam() + ":" + expect);
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadConfig, ::testing::ValuesIn(bad_files()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                             std::string n = fs::path(param.param).stem().string();
                             for (char& ch : n) {
                                 if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             }
                             return n;
                         });

TEST(BadConfigCorpus, IsLargeEnough) { EXPECT_GE(bad_files().size(), 25u); }

// --- errors that a file cannot carry -------------------------------------

TEST(Errors, UnreadableFileHasNoLine) {
    auto r = load_config("/nonexistent/updproxy.yaml");
    ASSERT_TRUE(std::holds_alternative<ConfigError>(r));
    const auto& e = std::get<ConfigError>(r);
    EXPECT_EQ(e.line, 0);
    EXPECT_EQ(e.to_string(), "/nonexistent/updproxy.yaml: cannot read: No such file or directory");
}

TEST(Errors, EmptyText) {
    EXPECT_EQ(parse_err("", "u.yaml"),
              "u.yaml:1:1: the configuration is empty (it needs at least \"ports\" and \"links\")");
}

TEST(Errors, ToStringLeavesOutUnknownParts) {
    EXPECT_EQ((ConfigError{"f", 3, 0, "", "m"}).to_string(), "f:3: m");
    EXPECT_EQ((ConfigError{"f", 3, 7, "a.b", "m"}).to_string(), "f:3:7: a.b: m");
    EXPECT_EQ((ConfigError{"f", 0, 0, "a", "m"}).to_string(), "f: a: m");
}

TEST(Errors, ControlCharactersStayOnOneLine) {
    const std::string e = parse_err(
        "dpdk: {vdevs: [net_null0]}\n"
        "ports: [{name: p, device: net_null0}]\n"
        "links: [{name: l, port: p, prefix: 192.0.2.0/24}]\n"
        "log: {level: \"in\\tfo\"}\n");
    EXPECT_EQ(e, "test.yaml:4:14: log.level: \"in\\x09fo\" is not a log level (did you mean \"info\"?)");
    EXPECT_EQ(e.find('\t'), std::string::npos) << e;
    EXPECT_NE(e.find("\\x09"), std::string::npos) << e;
}

TEST(Errors, EmptyListItemIsReportedAtItsDash) {
    // yaml-cpp marks an empty item at the next token; the error must not.
    EXPECT_EQ(parse_err("dpdk:\n"
                        "  vdevs:\n"
                        "    - net_null0\n"
                        "    -    # to do\n"
                        "\n"
                        "    # more to do\n"
                        "    - net_null1\n"),
              "test.yaml:4:5: dpdk.vdevs[1]: list item has no value");
    EXPECT_EQ(parse_err("\n\ndpdk:\n  vdevs:\n  -\n"), "test.yaml:5:3: dpdk.vdevs[0]: list item has no value");
    EXPECT_EQ(parse_err("dpdk: {vdevs: [net_null0, , net_null1]}\n"),
              "test.yaml:1:25: dpdk.vdevs[1]: list item has no value");
}

TEST(Errors, FirstErrorInSectionOrder) {
    // Both the port and the link are wrong; ports are read first.
    EXPECT_EQ(parse_err("links: [{name: l, port: nope, prefix: 192.0.2.0/24}]\n"
                        "ports: [{name: p, device: net_null9}]\n"),
              "test.yaml:2:27: ports[0].device: \"net_null9\" is neither a PCI address nor a vdev "
              "in dpdk.vdevs (dpdk.vdevs is empty)");
}

// --- addresses -----------------------------------------------------------

TEST(IpPrefix, ContainsAndOverlaps) {
    const Config c = parse_ok(R"(
dpdk: {vdevs: [net_null0]}
ports: [{name: p, device: net_null0}]
links:
  - {name: a, port: p, prefix: 192.0.2.128/25}
  - {name: b, port: p, prefix: "2001:db8:1::/48"}
  - {name: c, port: p, prefix: 198.51.100.0/23}
)");
    const IpPrefix& a = c.links[0].prefix;
    const uint8_t in[4] = {192, 0, 2, 200}, out[4] = {192, 0, 2, 127};
    EXPECT_TRUE(a.contains(in, false));
    EXPECT_FALSE(a.contains(out, false));
    EXPECT_FALSE(a.contains(in, true));  // family matters
    const IpPrefix& b = c.links[1].prefix;
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0xff, 0xff};
    EXPECT_TRUE(b.contains(v6, true));
    v6[5] = 2;
    EXPECT_FALSE(b.contains(v6, true));
    EXPECT_EQ(b.to_string(), "2001:db8:1::/48");
    EXPECT_FALSE(a.overlaps(c.links[2].prefix));
    IpPrefix wide = a;
    wide.len = 16;
    EXPECT_TRUE(wide.overlaps(a));
    EXPECT_TRUE(a.overlaps(wide));
    EXPECT_FALSE(a.overlaps(b));
}

// --- helpers -------------------------------------------------------------

TEST(Suggest, EditDistance) {
    EXPECT_EQ(detail::edit_distance("prefix", "prefix"), 0u);
    EXPECT_EQ(detail::edit_distance("prefxi", "prefix"), 1u);  // transposition
    EXPECT_EQ(detail::edit_distance("Links", "links"), 0u);
    EXPECT_EQ(detail::edit_distance("lnks", "links"), 1u);
    EXPECT_EQ(detail::edit_distance("", "log"), 3u);
    EXPECT_EQ(detail::suggest("linkz", {"dpdk", "ports", "links"}), "links");
    EXPECT_EQ(detail::suggest("vdev", {"vdevs", "allow"}), "vdevs");
    EXPECT_EQ(detail::suggest("colour", {"dpdk", "ports"}), "");
    EXPECT_EQ(detail::suggest("x", {"lo", "a"}), "");  // every short word is 2 edits away
}

// --- the update and publish sections -----------------------------------------

TEST(Update, KeyFileRelativeToTheConfigurationAndZones) {
    const fs::path dir = fs::temp_directory_path() / ("updproxy-cfg-" + std::to_string(getpid()));
    fs::create_directories(dir);
    {
        std::ofstream k(dir / "tsig.key");
        k << "key \"updproxy-key\" {\n\talgorithm hmac-sha256;\n"
             "\tsecret \"qwErTyUiOpAsDfGhJkLzXcVbNm1234567890abcdefg=\";\n};\n";
        std::ofstream c(dir / "updproxy.yaml");
        c << "dpdk:\n  vdevs: [net_null0]\nports:\n  - name: p0\n    device: net_null0\n"
             "links:\n  - name: lab\n    port: p0\n    prefix: 192.0.2.0/24\n"
             "  - name: lab6\n    port: p0\n    prefix: 2001:db8:1::/64\n"
             "publish:\n  domain: example.test.\n"
             "update:\n  key_file: tsig.key\n  lease: 7200\n  key_lease: 86400\n"
             "  zones:\n    - zone: example.test.\n      server: 127.0.0.1\n      port: 5300\n"
             "    - zone: tls.example.test.\n      server: ::1\n      transport: tls\n";
    }
    auto r = load_config((dir / "updproxy.yaml").string());
    fs::remove_all(dir);
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).to_string();
    const auto& c = std::get<Config>(r);
    ASSERT_TRUE(c.update.enabled);
    ASSERT_TRUE(c.update.key.has_value());
    EXPECT_EQ(c.update.key->name.to_string(), "updproxy-key.");
    EXPECT_EQ(c.update.key->algorithm, codec::TsigAlgorithm::hmac_sha256);
    EXPECT_EQ(c.update.lease, 7200u);
    EXPECT_EQ(c.update.key_lease.value_or(0), 86400u);
    ASSERT_EQ(c.update.zones.size(), 2u);
    EXPECT_EQ(c.update.zones[0].port, 5300);
    EXPECT_EQ(c.update.zones[1].port, 853);  // TLS default
    EXPECT_TRUE(c.update.zones[1].server.v6);
    EXPECT_EQ(c.publish.domain.value_or(""), "example.test.");
}

TEST(Update, BadKeyFileNamesTheFileAndLine) {
    const fs::path dir = fs::temp_directory_path() / ("updproxy-cfg2-" + std::to_string(getpid()));
    fs::create_directories(dir);
    {
        std::ofstream k(dir / "tsig.key");
        k << "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"!!!\";\n};\n";
        std::ofstream c(dir / "updproxy.yaml");
        c << "dpdk:\n  vdevs: [net_null0]\nports:\n  - name: p0\n    device: net_null0\n"
             "links:\n  - name: lab\n    port: p0\n    prefix: 192.0.2.0/24\n    subdomain: a.test.\n"
             "update:\n  key_file: tsig.key\n  zones:\n    - zone: test.\n      server: 127.0.0.1\n";
    }
    auto r = load_config((dir / "updproxy.yaml").string());
    fs::remove_all(dir);
    ASSERT_TRUE(std::holds_alternative<ConfigError>(r));
    const std::string msg = std::get<ConfigError>(r).to_string();
    EXPECT_NE(msg.find(":12:13: update.key_file: "), std::string::npos) << msg;
    EXPECT_NE(msg.find("tsig.key\" line 3: keyfile_syntax"), std::string::npos) << msg;
}

// --- metrics ---------------------------------------------------------------

TEST(Metrics, ListenForms) {
    const std::string base =
        "dpdk: {vdevs: [net_null0]}\nports: [{name: p0, device: net_null0}]\n"
        "links: [{name: l0, port: p0, prefix: 192.0.2.0/24}]\n";
    Config c = parse_ok(base + "metrics: {listen: \"0.0.0.0:0\"}\n");
    EXPECT_TRUE(c.metrics.enabled);
    EXPECT_EQ(c.metrics.port, 0);
    EXPECT_EQ(c.metrics.listen(), "0.0.0.0:0");
    c = parse_ok(base + "metrics: {listen: \"[2001:db8::1]:9100\"}\n");
    EXPECT_TRUE(c.metrics.address.v6);
    EXPECT_EQ(c.metrics.listen(), "[2001:db8::1]:9100");
    c = parse_ok(base + "metrics: {enabled: false}\n");
    EXPECT_FALSE(c.metrics.enabled);
    EXPECT_EQ(c.metrics.listen(), "127.0.0.1:9464");
    EXPECT_EQ(parse_err(base + "metrics: {listen: \"[::1]9464\"}\n"),
              "test.yaml:4:19: metrics.listen: \"[::1]9464\" is not a listen address "
              "(ADDRESS:PORT, or [IPv6]:PORT)");
}


// --- dns (the embedded query service) --------------------------------------

TEST(Dns, EmbeddedDefaultServesOnAnUnprivilegedLoopbackPort) {
    const Config& c = default_config();
    ASSERT_TRUE(c.dns.enabled);
    ASSERT_FALSE(c.dns.listen.empty());
    EXPECT_EQ(c.dns.listen[0].address.to_string(), "127.0.0.1");
    EXPECT_GE(c.dns.listen[0].port, 1024);  // no root-only port to try it out
    EXPECT_TRUE(c.dns.zones.empty());        // every link's subdomain
}

TEST(Dns, AbsentMeansNoService) {
    const Config c = parse_ok(
        "dpdk: {vdevs: [net_null0]}\nports: [{name: p0, device: net_null0}]\n"
        "links: [{name: l0, port: p0, prefix: 192.0.2.0/24, subdomain: a.test.}]\n");
    EXPECT_FALSE(c.dns.enabled);
}

TEST(Dns, EveryKeyAndTheKeyFile) {
    const fs::path dir = fs::temp_directory_path() / ("updproxy-cfg-dns-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const std::string base =
        "dpdk:\n  vdevs: [net_null0]\nports:\n  - name: p0\n    device: net_null0\n"
        "links:\n  - name: lab\n    port: p0\n    prefix: 192.0.2.0/24\n    subdomain: lab.example.test.\n"
        "  - name: lab6\n    port: p0\n    prefix: 2001:db8:1::/64\n"
        "publish:\n  domain: example.test.\n";
    {
        std::ofstream k(dir / "xfr.key");
        k << "key \"xfr-key\" {\n\talgorithm hmac-sha256;\n"
             "\tsecret \"qwErTyUiOpAsDfGhJkLzXcVbNm1234567890abcdefg=\";\n};\n"
             "key \"notify-key\" {\n\talgorithm hmac-sha512;\n"
             "\tsecret \"qwErTyUiOpAsDfGhJkLzXcVbNm1234567890abcdefg=\";\n};\n";
        std::ofstream c(dir / "good.yaml");
        c << base
          << "dns:\n  listen: [\"127.0.0.1:5300\", \"[::1]:0\"]\n  udp_thread: true\n"
             "  zones: [example.test.]\n"
             "  soa: {mname: ns1.example.test., rname: admin.example.test., refresh: 1200,\n"
             "        retry: 300, expire: 604800, minimum: 30, ttl: 600}\n"
             "  ns: [ns1.example.test., ns2.example.test.]\n  ns_ttl: 7200\n"
             "  key_file: xfr.key\n  transfer_keys: [xfr-key]\n  allow_unsigned_transfer: true\n"
             "  notify:\n    - address: 198.51.100.2\n      key: notify-key\n"
             "    - address: 2001:db8::2\n      port: 5301\n"
             "  max_udp_payload: 4096\n  history: 10\n";
        std::ofstream b(dir / "bad.yaml");
        b << base << "dns:\n  key_file: xfr.key\n  notify:\n    - address: 198.51.100.2\n"
                     "      key: other-key\n";
    }
    auto r = load_config((dir / "good.yaml").string());
    auto bad = load_config((dir / "bad.yaml").string());
    fs::remove_all(dir);
    ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).to_string();
    const DnsConfig& d = std::get<Config>(r).dns;
    EXPECT_TRUE(d.enabled);
    ASSERT_EQ(d.listen.size(), 2u);
    EXPECT_EQ(d.listen[0].text(), "127.0.0.1:5300");
    EXPECT_EQ(d.listen[1].text(), "[::1]:0");
    EXPECT_TRUE(d.udp_thread);
    EXPECT_EQ(d.zones, std::vector<std::string>{"example.test."});
    EXPECT_EQ(d.mname, "ns1.example.test.");
    EXPECT_EQ(d.rname, "admin.example.test.");
    EXPECT_EQ(d.refresh, 1200u);
    EXPECT_EQ(d.retry, 300u);
    EXPECT_EQ(d.expire, 604800u);
    EXPECT_EQ(d.minimum, 30u);
    EXPECT_EQ(d.soa_ttl, 600u);
    EXPECT_EQ(d.ns.size(), 2u);
    EXPECT_EQ(d.ns_ttl, 7200u);
    ASSERT_EQ(d.keys.size(), 2u);
    EXPECT_EQ(d.transfer_keys, std::vector<std::string>{"xfr-key."});
    EXPECT_TRUE(d.allow_unsigned_transfer);
    ASSERT_EQ(d.notify.size(), 2u);
    EXPECT_EQ(d.notify[0].key, "notify-key.");
    EXPECT_EQ(d.notify[0].port, 53);
    EXPECT_TRUE(d.notify[1].address.v6);
    EXPECT_EQ(d.notify[1].port, 5301);
    EXPECT_EQ(d.max_udp_payload, 4096u);
    EXPECT_EQ(d.history, 10u);

    ASSERT_TRUE(std::holds_alternative<ConfigError>(bad));
    const std::string msg = std::get<ConfigError>(bad).to_string();
    EXPECT_NE(msg.find(":20:12: dns.notify[0].key: \"other-key\" is not a key in \"xfr.key\""),
              std::string::npos)
        << msg;
}

TEST(Dns, ZonesMayLeaveOutTheParentButNotALink) {
    const std::string base =
        "dpdk: {vdevs: [net_null0]}\nports: [{name: p0, device: net_null0}]\n"
        "links: [{name: l0, port: p0, prefix: 192.0.2.0/24, subdomain: a.example.test.},\n"
        "        {name: l1, port: p0, prefix: 198.51.100.0/24}]\n"
        "publish: {domain: example.test.}\n";
    // The parent holds l1's algorithmic subdomain: serving it covers both.
    Config c = parse_ok(base + "dns: {zones: [example.test.]}\n");
    EXPECT_EQ(c.dns.zones.size(), 1u);
    EXPECT_EQ(parse_err(base + "dns: {zones: [a.example.test.]}\n"),
              "test.yaml:6:14: dns.zones: links[1] \"l1\" publishes under example.test., which is "
              "in none of these zones");
}

}  // namespace
}  // namespace updproxy::config
