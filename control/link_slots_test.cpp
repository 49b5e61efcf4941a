#include "control/link_slots.hpp"

#include <gtest/gtest.h>

#include <string>

namespace updproxy::control {
namespace {

// A configuration with two ports and the given `links:` items.
config::Config parse(const std::string& links, unsigned spare = 64) {
    const std::string text = "dpdk:\n  vdevs: [net_null0, net_null1]\nports:\n"
                             "  - name: p0\n    device: net_null0\n"
                             "  - name: p1\n    device: net_null1\n"
                             "table:\n  spare_link_slots: " + std::to_string(spare) + "\n"
                             "links:\n" + links;
    auto r = config::parse_config(text, "test.yaml");
    if (auto* e = std::get_if<config::ConfigError>(&r)) {
        ADD_FAILURE() << e->to_string();
        return {};
    }
    return std::get<config::Config>(r);
}

const std::string kA = "  - {name: a, port: p0, prefix: 192.0.2.0/24, address: 192.0.2.1}\n";
const std::string kB = "  - {name: b, port: p1, prefix: 198.51.100.0/24}\n";
const std::string kC = "  - {name: c, port: p0, prefix: 203.0.113.0/24}\n";

std::vector<std::string> names(const std::vector<LinkSlot>& s) {
    std::vector<std::string> out;
    for (const auto& l : s) out.push_back(l.cfg.name + (l.active ? "" : "(x)"));
    return out;
}

TEST(LinkSlots, StartIsTheFileOrder) {
    const auto cfg = parse(kA + kB);
    const auto s = initial_slots(cfg);
    EXPECT_EQ(names(s), (std::vector<std::string>{"a", "b"}));
    const auto specs = slot_specs(cfg, s);
    ASSERT_EQ(specs.size(), 2u);
    EXPECT_EQ(specs[1].port, 1);
    EXPECT_TRUE(specs[0].active && specs[1].active);
}

TEST(LinkSlots, KeptLinksKeepTheirIdsWhateverTheOrder) {
    const auto a = parse(kA + kB);
    std::vector<LinkSlot> s;
    // c added first in the file, a and b swapped: ids 0 and 1 stay theirs.
    const auto b = parse(kC + kB + kA);
    ASSERT_EQ(assign_slots(initial_slots(a), b, 66, &s), "");
    EXPECT_EQ(names(s), (std::vector<std::string>{"a", "b", "c"}));
    const auto specs = slot_specs(b, s);
    EXPECT_EQ(specs[2].name, "c");
    EXPECT_EQ(specs[2].prefix_len, 24);
    const auto sc = slotted_config(b, s);
    ASSERT_EQ(sc.links.size(), 3u);
    EXPECT_EQ(sc.links[0].name, "a");
    EXPECT_EQ(sc.links[2].name, "c");
}

TEST(LinkSlots, RemovedLinkLeavesATombstoneNeverReused) {
    const auto a = parse(kA + kB);
    std::vector<LinkSlot> s1, s2;
    ASSERT_EQ(assign_slots(initial_slots(a), parse(kB), 66, &s1), "");
    EXPECT_EQ(names(s1), (std::vector<std::string>{"a(x)", "b"}));
    const auto specs = slot_specs(parse(kB), s1);
    EXPECT_FALSE(specs[0].active);
    EXPECT_EQ(specs[0].name, "a");  // what it was
    // a comes back: a new id, the tombstone stays.
    ASSERT_EQ(assign_slots(s1, parse(kA + kB), 66, &s2), "");
    EXPECT_EQ(names(s2), (std::vector<std::string>{"a(x)", "b", "a"}));
}

TEST(LinkSlots, IdentityChangeIsRemovePlusAdd) {
    const auto a = parse(kA + kB);
    std::vector<LinkSlot> s;
    // b's prefix changes: a new slot; a's address and subdomain change: kept.
    const auto b = parse("  - {name: a, port: p0, prefix: 192.0.2.0/24, address: 192.0.2.9, "
                         "subdomain: lab.example.}\n"
                         "  - {name: b, port: p1, prefix: 198.51.100.0/25}\n");
    ASSERT_EQ(assign_slots(initial_slots(a), b, 66, &s), "");
    EXPECT_EQ(names(s), (std::vector<std::string>{"a", "b(x)", "b"}));
    EXPECT_EQ(s[0].cfg.subdomain, std::optional<std::string>("lab.example."));
    EXPECT_EQ(s[0].cfg.address->to_string(), "192.0.2.9");
    // A rename is a new link too.
    std::vector<LinkSlot> r;
    ASSERT_EQ(assign_slots(initial_slots(a),
                           parse("  - {name: a2, port: p0, prefix: 192.0.2.0/24}\n" + kB), 66, &r),
              "");
    EXPECT_EQ(names(r), (std::vector<std::string>{"a(x)", "b", "a2"}));
}

TEST(LinkSlots, CapacityIsRefusedNamingTheKey) {
    const auto a = parse(kA, 1);
    std::vector<LinkSlot> s1, s2, s3;
    ASSERT_EQ(assign_slots(initial_slots(a), parse(kA + kB, 1), 2, &s1), "");
    // a removed and c added: the tombstone holds its slot, none is left.
    const std::string e = assign_slots(s1, parse(kB + kC, 1), 2, &s2);
    EXPECT_NE(e.find("table.spare_link_slots"), std::string::npos) << e;
    EXPECT_NE(e.find("1 link(s) added but only 0 link slot(s) left"), std::string::npos) << e;
    EXPECT_NE(e.find("1 held by removed links"), std::string::npos) << e;
    EXPECT_TRUE(s2.empty());
    // Removing alone needs no slot.
    ASSERT_EQ(assign_slots(s1, parse(kB, 1), 2, &s3), "");
    EXPECT_EQ(names(s3), (std::vector<std::string>{"a(x)", "b"}));
}

}  // namespace
}  // namespace updproxy::control
