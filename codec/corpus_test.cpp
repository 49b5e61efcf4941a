// Every message in the shared corpus of real packets (../shared/corpus, read in
// place): valid ones parse, malformed ones fail with their reason, the real
// devices' quirks keep their good records, and nothing crashes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "codec/message.hpp"

namespace fs = std::filesystem;
using namespace updproxy::codec;

namespace {

const fs::path kCorpus = UPDPROXY_CORPUS;

std::vector<uint8_t> read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

nlohmann::json manifest() {
    std::ifstream f(kCorpus / "manifest.json");
    return nlohmann::json::parse(f);
}

std::vector<std::string> files_of(const std::string& category) {
    std::vector<std::string> out;
    const auto m = manifest();
    for (const auto& f : m["files"]) {
        if (f["category"] == category) out.push_back(f["file"]);
    }
    return out;
}

// Touches everything a consumer would: every record, every typed accessor,
// every name. Returns the number of records read.
int walk(const Message& m) {
    int n = 0;
    for (const auto& q : m.questions()) {
        EXPECT_GE(q.name.wire_length(), 1u);
        ++n;
    }
    for (int s = 1; s < 4; ++s) {
        for (const auto& rr : m.records(static_cast<Section>(s))) {
            ++n;
            EXPECT_LE(rr.owner.wire_length(), kMaxNameWire);
            std::vector<uint8_t> buf(66000);
            auto u = rr.rdata_uncompressed(buf);
            EXPECT_TRUE(u.ok() || rr.damaged());
        }
    }
    return n;
}

}  // namespace

TEST(Corpus, ManifestCountsMatchSources) {
    EXPECT_EQ(files_of("valid").size(), 131u);
    EXPECT_EQ(files_of("malformed").size(), 11u);
    EXPECT_EQ(files_of("quirks").size(), 4u);
    EXPECT_EQ(files_of("semantic").size(), 6u);
}

TEST(Corpus, EveryValidMessageParses) {
    auto m = manifest();
    int checked = 0;
    for (const auto& f : m["files"]) {
        if (f["category"] != "valid") continue;
        const std::string name = f["file"];
        auto bytes = read_file(kCorpus / name);
        auto r = Message::parse(bytes);
        ASSERT_TRUE(r.ok()) << name << ": " << reason_name(r.reason()) << " at "
                            << r.error().offset;
        // Cross-check the header against the manifest (decoded by dnspython).
        EXPECT_EQ(r->header().id, std::stoi(f["id"].get<std::string>(), nullptr, 16)) << name;
        EXPECT_EQ(r->header().qr(), f["qr"].get<int>() != 0) << name;
        EXPECT_EQ(r->header().opcode(), f["opcode"].get<int>()) << name;
        EXPECT_EQ(r->count(Section::question), f["counts"]["qd"].get<int>()) << name;
        EXPECT_EQ(r->count(Section::answer), f["counts"]["an"].get<int>()) << name;
        EXPECT_EQ(r->count(Section::authority), f["counts"]["ns"].get<int>()) << name;
        EXPECT_EQ(r->count(Section::additional), f["counts"]["ar"].get<int>()) << name;
        EXPECT_EQ(r->damaged_count(), 0) << name;
        EXPECT_GE(walk(*r), 0);
        ++checked;
    }
    EXPECT_EQ(checked, 131);
}

TEST(Corpus, CacheFlushAndQuBitsMatchManifest) {
    const auto m = manifest();
    for (const auto& f : m["files"]) {
        if (f["category"] != "valid") continue;
        auto bytes = read_file(kCorpus / f["file"].get<std::string>());
        auto r = Message::parse(bytes);
        ASSERT_TRUE(r.ok());
        int qu = 0, flush = 0, goodbye = 0;
        for (const auto& q : r->questions()) qu += q.qu();
        for (int s = 1; s < 4; ++s) {
            for (const auto& rr : r->records(static_cast<Section>(s))) {
                flush += rr.cache_flush();
                goodbye += rr.ttl == 0 && rr.type != rrtype::OPT && rr.type != rrtype::TSIG &&
                           rr.type != rrtype::TKEY;
            }
        }
        if (f.contains("qu_questions") && f["qu_questions"].is_number()) {
            EXPECT_EQ(qu, f["qu_questions"].get<int>()) << f["file"];
        }
        if (f.contains("cache_flush_rrs") && f["cache_flush_rrs"].is_number()) {
            EXPECT_EQ(flush, f["cache_flush_rrs"].get<int>()) << f["file"];
        }
        if (f.contains("goodbye_ttl0_rrs") && f["goodbye_ttl0_rrs"].is_number()) {
            EXPECT_EQ(goodbye, f["goodbye_ttl0_rrs"].get<int>()) << f["file"];
        }
    }
}

TEST(Corpus, MalformedMessagesFailWithTheirReason) {
    // The reason each one must fail with, from the manifest's description.
    const std::map<std::string, Reason> expected = {
        {"synthetic_nsec_bitmap_len_overruns_rdlength.bin", Reason::nsec_bitmap},
        {"synthetic_nsec_bitmap_truncated_window_header.bin", Reason::nsec_bitmap},
        {"synthetic_txt_rdlength_0xffff_overruns_packet.bin", Reason::rdata_past_end},
        {"synthetic_hinfo_charstring_overruns_rdata.bin", Reason::txt_string_overrun},
        {"synthetic_a_rdlength_overruns_packet.bin", Reason::rdata_past_end},
        {"synthetic_compression_ptr_beyond_packet.bin", Reason::pointer_beyond},
        {"synthetic_compression_bad_label_byte.bin", Reason::name_past_end},
        {"synthetic_name_over_255_octets.bin", Reason::name_too_long},
        {"synthetic_compression_pointer_chain_1500_deep.bin", Reason::pointer_forward},
        {"dnscrypt-v2_f0001_not-mdns_xv4.bin", Reason::counts_exceed_size},
        {"update_badwirezonemulti.bin", Reason::pointer_forward},
    };
    int checked = 0;
    for (const auto& name : files_of("malformed")) {
        auto bytes = read_file(kCorpus / name);
        auto r = Message::parse(bytes);
        ASSERT_FALSE(r.ok()) << name;
        const std::string base = fs::path(name).filename();
        auto it = expected.find(base);
        ASSERT_NE(it, expected.end()) << "no expected reason for " << name << " (got "
                                      << reason_name(r.reason()) << ")";
        EXPECT_EQ(reason_name(r.reason()), reason_name(it->second)) << name;
        EXPECT_LE(r.error().offset, bytes.size()) << name;
        ++checked;
    }
    EXPECT_EQ(checked, 11);
}

TEST(Corpus, QuirksKeepTheirGoodRecords) {
    // Android TV: NSEC next names with forward pointers; A, PTR, SRV, TXT good.
    {
        auto bytes = read_file(kCorpus /
                               "mdns/python-zeroconf/quirks/android-tv_remote_nsec_forward_ptr.bin");
        auto r = Message::parse(bytes);
        ASSERT_TRUE(r.ok()) << reason_name(r.reason());
        int good = 0, damaged = 0;
        for (const auto& rr : r->answers()) {
            if (rr.damaged()) {
                ++damaged;
                EXPECT_EQ(rr.type, rrtype::NSEC);
                EXPECT_TRUE(rr.nsec()->next.empty());
                continue;
            }
            ++good;
            if (rr.type == rrtype::SRV) {
                auto srv = rr.srv();
                ASSERT_TRUE(srv.ok());
                EXPECT_GT(srv->port, 0);
            }
        }
        EXPECT_EQ(damaged, r->damaged_count());
        EXPECT_GE(damaged, 1);
        EXPECT_GE(good, 4);
    }
    // Android ANY query with known answers: the A record survives.
    {
        auto bytes = read_file(
            kCorpus / "mdns/python-zeroconf/quirks/android_any_query_nsec_invalid_next_name.bin");
        auto r = Message::parse(bytes);
        ASSERT_TRUE(r.ok()) << reason_name(r.reason());
        bool saw_a = false;
        for (const auto& rr : r->answers()) {
            if (rr.type == rrtype::A) {
                saw_a = true;
                EXPECT_EQ(*rr.a(), (std::array<uint8_t, 4>{192, 168, 88, 60}));
            }
        }
        EXPECT_TRUE(saw_a);
        EXPECT_EQ(r->damaged_count(), 1);
    }
    // Roborock: its only record is the NSEC with a pointer beyond the packet.
    {
        auto bytes = read_file(
            kCorpus / "mdns/python-zeroconf/quirks/roborock-vacuum_nsec_ptr_beyond_packet.bin");
        auto r = Message::parse(bytes);
        ASSERT_TRUE(r.ok()) << reason_name(r.reason());
        EXPECT_EQ(r->damaged_count(), 1);
        // The bitmap is still readable even though the next name is not.
        for (const auto& rr : r->answers()) EXPECT_FALSE(rr.nsec()->bitmap.empty());
    }
    // Strict mode rejects them, which is what the tolerance is for.
    {
        auto bytes = read_file(kCorpus /
                               "mdns/python-zeroconf/quirks/android-tv_remote_nsec_forward_ptr.bin");
        ParseOptions strict;
        strict.tolerate_nsec_next_name = false;
        auto r = Message::parse(bytes, strict);
        EXPECT_FALSE(r.ok());
        EXPECT_EQ(r.reason(), Reason::pointer_forward);
    }
}

TEST(Corpus, HomeAssistantProbeIsRejectedWithAReason) {
    // A probe (a query): records are never taken from it (draft §4.3), and its
    // bad compression cannot be isolated to one record, so it fails cleanly.
    auto bytes = read_file(
        kCorpus / "mdns/python-zeroconf/quirks/homeassistant_workstation_probe_badcompress.bin");
    auto r = Message::parse(bytes);
    if (r.ok()) {
        EXPECT_FALSE(r->header().qr());
        walk(*r);
    } else {
        EXPECT_NE(r.reason(), Reason::ok);
        EXPECT_LE(r.error().offset, bytes.size());
    }
}

TEST(Corpus, SemanticUpdatesParseButBreakRfc2136) {
    int checked = 0;
    for (const auto& name : files_of("semantic")) {
        auto bytes = read_file(kCorpus / name);
        auto r = Message::parse(bytes);
        ASSERT_TRUE(r.ok()) << name << ": " << reason_name(r.reason());
        EXPECT_EQ(r->header().opcode(), opcode::UPDATE) << name;
        auto s = check_update(*r);
        EXPECT_FALSE(s.ok()) << name;
        ++checked;
    }
    EXPECT_EQ(checked, 6);
    for (const char* good : {"dns/dnspython/update_goodwire.bin",
                             "dns/dnspython/update_goodwirenone.bin",
                             "dns/zeek/dynamic-update_f3_update_unsigned.bin"}) {
        auto bytes = read_file(kCorpus / good);
        auto r = Message::parse(bytes);
        ASSERT_TRUE(r.ok()) << good;
        EXPECT_TRUE(check_update(*r).ok()) << good << ": " << reason_name(check_update(*r).reason());
    }
}

TEST(Corpus, TruncatedPrefixesOfEveryMessageNeverCrash) {
    // Every prefix of every corpus message: must fail or succeed, never crash.
    for (const auto& entry : fs::recursive_directory_iterator(kCorpus)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".bin") continue;
        auto bytes = read_file(entry.path());
        for (size_t n = 0; n < bytes.size(); ++n) {
            std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<long>(n));
            auto r = Message::parse(prefix);
            if (r.ok()) walk(*r);
        }
    }
}
