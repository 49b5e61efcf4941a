#include <gtest/gtest.h>

#include <string>
#include <unordered_set>
#include <vector>

#include "codec/name.hpp"

using namespace updproxy::codec;

namespace {

Name N(std::string_view s) {
    auto r = Name::parse(s);
    EXPECT_TRUE(r.ok()) << s << ": " << reason_name(r.reason());
    return *r;
}

}  // namespace

TEST(Name, ParsesAndPrintsPlainNames) {
    EXPECT_EQ(N("printer1.local.").to_string(), "printer1.local.");
    EXPECT_EQ(N("printer1.local").to_string(), "printer1.local.");
    EXPECT_EQ(N(".").to_string(), ".");
    EXPECT_TRUE(N("").is_root());
    EXPECT_EQ(N("a.b.c.").label_count(), 3u);
    EXPECT_EQ(N("a.b.c.").wire_length(), 7u);
}

TEST(Name, DnsSdInstanceNamesRoundTripThroughPresentation) {
    // Spaces, dots inside a label, backslashes, quotes and UTF-8 (é, ü, 日本):
    // the label bytes must survive to_string -> parse unchanged.
    const std::vector<std::string> labels = {
        "Lab Printer", "Dr. Smith's MacBook Pro", "back\\slash", "quote\"d", "Café Müller",
        "日本のプリンター", "semi;colon(paren)@$"};
    for (const auto& label : labels) {
        Name n = N("_ipp._tcp.local.");
        ASSERT_TRUE(n.prepend_label(label).ok()) << label;
        const std::string text = n.to_string();
        Name back = N(text);
        EXPECT_EQ(back, n) << text;
        ASSERT_EQ(back.label(0).size(), label.size()) << text;
        EXPECT_EQ(std::string(back.label(0).begin(), back.label(0).end()), label) << text;
    }
}

TEST(Name, PresentationEscapesAsDigDoes) {
    Name n = N("_ipp._tcp.local.");
    ASSERT_TRUE(n.prepend_label("Lab Printer v1.2").ok());
    EXPECT_EQ(n.to_string(), "Lab\\032Printer\\032v1\\.2._ipp._tcp.local.");
    Name u = N("x.");
    ASSERT_TRUE(u.prepend_label("é").ok());
    EXPECT_EQ(u.to_string(), "\\195\\169.x.");
    EXPECT_EQ(N("a\\.b.c.").label_count(), 2u);
    EXPECT_EQ(N("\\065\\066.").to_string(), "AB.");
}

TEST(Name, RejectsBadPresentation) {
    EXPECT_EQ(Name::parse("a..b").reason(), Reason::bad_presentation);
    EXPECT_EQ(Name::parse("..").reason(), Reason::bad_presentation);
    EXPECT_EQ(Name::parse("a\\").reason(), Reason::bad_presentation);
    EXPECT_EQ(Name::parse("a\\25").reason(), Reason::bad_presentation);
    EXPECT_EQ(Name::parse("a\\256").reason(), Reason::bad_presentation);
    EXPECT_EQ(Name::parse(std::string(64, 'x')).reason(), Reason::label_too_long);
    EXPECT_TRUE(Name::parse(std::string(63, 'x')).ok());
    // 255 octets is the limit: 4 labels of 63 = 4*64 + 1 = 257 > 255.
    std::string long_name;
    for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
    EXPECT_EQ(Name::parse(long_name).reason(), Reason::name_too_long);
    // Exactly 255: 3*64 + 62 + 1.
    std::string max_name;
    for (int i = 0; i < 3; ++i) max_name += std::string(63, 'a') + ".";
    max_name += std::string(61, 'b') + ".";
    auto m = Name::parse(max_name);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->wire_length(), 255u);
}

TEST(Name, CaseInsensitiveEqualityAndHashKeepCase) {
    Name a = N("Lab-Printer.LOCAL."), b = N("lab-printer.local.");
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.hash(), b.hash());
    EXPECT_EQ(a.to_string(), "Lab-Printer.LOCAL.");
    EXPECT_EQ(a.lowercased().to_string(), "lab-printer.local.");
    std::unordered_set<Name, NameHash> set{a};
    EXPECT_EQ(set.count(b), 1u);
    EXPECT_FALSE(N("a.local.") == N("b.local."));
}

TEST(Name, SubdomainAndSuffixRewrite) {
    Name inst = N("Lab\\032Printer._ipp._tcp.local.");
    EXPECT_TRUE(inst.is_subdomain_of(N("local.")));
    EXPECT_TRUE(inst.is_subdomain_of(N("LOCAL.")));
    EXPECT_TRUE(inst.is_subdomain_of(N(".")));
    EXPECT_FALSE(inst.is_subdomain_of(N("cal.")));
    EXPECT_FALSE(N("local.").is_subdomain_of(inst));
    auto r = inst.replace_suffix(N("local."), N("lab.example.edu."));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->to_string(), "Lab\\032Printer._ipp._tcp.lab.example.edu.");
    EXPECT_EQ(inst.replace_suffix(N("example."), N("x.")).reason(), Reason::bad_presentation);
    EXPECT_EQ(inst.parent(2).to_string(), "_tcp.local.");
    EXPECT_EQ(inst.parent(10).to_string(), ".");
}

TEST(Name, CanonicalOrderPerRfc4034) {
    // RFC 4034 §6.1 example order.
    const std::vector<std::string> order = {
        "example.",   "a.example.",      "yljkjljk.a.example.", "Z.a.example.",
        "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.",    "*.z.example.",
        "\\200.z.example."};
    for (size_t i = 0; i + 1 < order.size(); ++i) {
        EXPECT_LT(N(order[i]).canonical_compare(N(order[i + 1])), 0)
            << order[i] << " < " << order[i + 1];
        EXPECT_GT(N(order[i + 1]).canonical_compare(N(order[i])), 0);
    }
    EXPECT_EQ(N("A.example.").canonical_compare(N("a.EXAMPLE.")), 0);
}

TEST(Name, ValidateRejectsLoopsAndBadPointers) {
    // header (12 bytes) then names
    auto msg = [](std::vector<uint8_t> tail) {
        // (sized once and filled by index: GCC 12 -O3 reports a false
        // -Warray-bounds for insert() at the end of a 12-byte vector)
        std::vector<uint8_t> m(12 + tail.size(), 0);
        for (size_t i = 0; i < tail.size(); ++i) m[12 + i] = tail[i];
        return m;
    };
    // self-pointer
    auto m1 = msg({0xC0, 12});
    EXPECT_EQ(validate_name(m1.data(), m1.size(), 12).reason(), Reason::pointer_forward);
    // a label, then a pointer back to that label: loops without the run rule
    auto m2 = msg({1, 'a', 0xC0, 12});
    EXPECT_EQ(validate_name(m2.data(), m2.size(), 12).reason(), Reason::pointer_forward);
    // a pointer into the header
    auto m3 = msg({0xC0, 2});
    EXPECT_EQ(validate_name(m3.data(), m3.size(), 12).reason(), Reason::pointer_beyond);
    // beyond the end
    auto m4 = msg({0xC0, 200});
    EXPECT_EQ(validate_name(m4.data(), m4.size(), 12).reason(), Reason::pointer_beyond);
    // extended label types 0x40 and 0x80
    auto m5 = msg({0x41, 'a', 0});
    EXPECT_EQ(validate_name(m5.data(), m5.size(), 12).reason(), Reason::label_too_long);
    // truncated label
    auto m6 = msg({5, 'a', 'b'});
    EXPECT_EQ(validate_name(m6.data(), m6.size(), 12).reason(), Reason::name_past_end);
    // a good backwards pointer: "a.b." then "c" + ptr
    auto m7 = msg({1, 'a', 1, 'b', 0, 1, 'c', 0xC0, 12});
    uint8_t wl = 0;
    auto r = validate_name(m7.data(), m7.size(), 17, &wl);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 21u);
    EXPECT_EQ(wl, 7u);
    NameView v(m7.data(), 17);
    EXPECT_EQ(v.to_string(), "c.a.b.");
    EXPECT_EQ(v.label_count(), 3u);
    EXPECT_TRUE(v.equals(N("C.A.b.")));
    EXPECT_EQ(v.hash(), N("c.a.b.").hash());
    EXPECT_EQ(v.to_name(), N("c.a.b."));
    // a chain of backwards pointer-to-pointer hops longer than any name needs
    std::vector<uint8_t> chain(12, 0);
    chain.push_back(0);  // root at 12
    for (int i = 0; i < 200; ++i) {
        const uint32_t prev = static_cast<uint32_t>(chain.size()) - (i == 0 ? 1 : 2);
        chain.push_back(static_cast<uint8_t>(0xC0 | (prev >> 8)));
        chain.push_back(static_cast<uint8_t>(prev & 0xFF));
    }
    EXPECT_EQ(validate_name(chain.data(), chain.size(), chain.size() - 2).reason(),
              Reason::pointer_chain);
}

TEST(Name, FromWire) {
    const uint8_t good[] = {3, 'f', 'o', 'o', 0};
    auto n = Name::from_wire(good);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->to_string(), "foo.");
    const uint8_t ptr[] = {3, 'f', 'o', 'o', 0xC0, 0};
    EXPECT_FALSE(Name::from_wire(ptr).ok());
    const uint8_t cut[] = {3, 'f', 'o'};
    EXPECT_EQ(Name::from_wire(cut).reason(), Reason::name_past_end);
}
