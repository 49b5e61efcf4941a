// TSIG (RFC 8945) unit tests.
//
// Known answers come from ../shared/corpus/tsig/*.json, read in place. Each
// vector names its origin in its "source" field, and SOURCES.md lists them:
//   kea_*   isc-projects/kea src/lib/dns/tests/tsig_unittest.cc @ 9e1ebf610091
//           (MPL-2.0): TSIGTest.sign (MAC made by BIND 9's `dig -y`),
//           signUsingHMACSHA1, signUsingHMACSHA224, verifyThenSignResponse.
//   miekg_* miekg/dns tsig_test.go @ fa041eedc7a8 (BSD-3-Clause): TestTsigErrors,
//           TestTsigGenerate ("no request MAC", "with request MAC", "with other
//           data"), TestTSIGHMAC224And384.
// The miekg TestTsigGenerate/TestTSIGHMAC224And384 vectors have header ID 0 and
// Original ID 42: the MAC covers the header with ID 42 (§4.3.2). Three of them
// carry error 18 (BADTIME) inside the signed variables; their MACs must still
// verify, with the error handed back to the caller.
#include "codec/tsig.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "codec/message.hpp"
#include "codec/types.hpp"

namespace updproxy::codec {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes hex(std::string_view s) {
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    Bytes out;
    for (size_t i = 0; i + 1 < s.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(nib(s[i]) * 16 + nib(s[i + 1])));
    }
    return out;
}

std::span<const uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Name name(std::string_view s) {
    Result<Name> n = Name::parse(s);
    EXPECT_TRUE(n.ok()) << s;
    return n.value();
}

const std::filesystem::path kTsigDir = std::filesystem::path(UPDPROXY_CORPUS) / "tsig";

struct Vector {
    std::string name;
    std::string source;  // repo @ commit, test: printed with every failure
    TsigKey key;
    uint64_t time_signed = 0;
    uint16_t fudge = 0;
    uint16_t original_id = 0;
    uint16_t error = 0;
    Bytes other, request_mac, unsigned_msg, signed_msg, expected_mac;
};

Vector load(const std::string& stem) {
    std::ifstream f(kTsigDir / (stem + ".json"));
    EXPECT_TRUE(f.good()) << stem;
    nlohmann::json j = nlohmann::json::parse(f);
    Vector v;
    v.name = j.at("name").get<std::string>();
    v.source = j.at("source").at("repo").get<std::string>() + " @ " +
               j.at("source").at("commit").get<std::string>() + " " +
               j.at("source").at("path").get<std::string>() + ", test " +
               j.at("source").at("test").get<std::string>();
    v.key.name = name(j.at("key_name").get<std::string>());
    auto alg = tsig_algorithm_from_name(j.at("algorithm").get<std::string>());
    EXPECT_TRUE(alg.has_value()) << j.at("algorithm");
    v.key.algorithm = alg.value_or(TsigAlgorithm::hmac_sha256);
    auto secret = base64_decode(j.at("secret_base64").get<std::string>());
    EXPECT_TRUE(secret.has_value());
    v.key.secret = secret.value_or(Bytes{});
    v.time_signed = j.at("time_signed").get<uint64_t>();
    v.fudge = j.at("fudge").get<uint16_t>();
    v.original_id = j.at("original_id").get<uint16_t>();
    v.error = j.at("error").get<uint16_t>();
    v.other = hex(j.at("other_data_hex").get<std::string>());
    v.request_mac = hex(j.at("request_mac_hex").get<std::string>());
    v.unsigned_msg = hex(j.at("message_without_tsig_hex").get<std::string>());
    v.signed_msg = hex(j.at("message_signed_hex").get<std::string>());
    v.expected_mac = hex(j.at("expected_mac_hex").get<std::string>());
    return v;
}

std::vector<std::string> vector_names() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(kTsigDir, ec)) {
        if (e.path().extension() == ".json") out.push_back(e.path().stem().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

Result<TsigVerified> verify(const Bytes& wire, std::span<const TsigKey> keys,
                            const TsigVerifyParams& p) {
    Result<Message> m = Message::parse(wire);
    if (!m) return m.error();
    return tsig_verify(*m, keys, p);
}

// ---- known answers ---------------------------------------------------------------

TEST(TsigCorpus, AllVectorsPresent) {
    // SOURCES.md: "10 TSIG vectors".
    EXPECT_EQ(vector_names().size(), 10u);
}

class TsigVector : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        v_ = load(GetParam());
        RecordProperty("source", v_.source);
    }
    Vector v_;
};

TEST_P(TsigVector, VerifiesAtTimeSigned) {
    SCOPED_TRACE(v_.source);
    std::vector<TsigKey> keys{v_.key};
    TsigVerifyParams p;
    p.now = v_.time_signed;
    p.request_mac = v_.request_mac;
    Result<TsigVerified> r = verify(v_.signed_msg, keys, p);
    ASSERT_TRUE(r.ok()) << reason_name(r.reason());
    EXPECT_EQ(r->key, &keys[0]);
    EXPECT_EQ(r->mac, v_.expected_mac);
    EXPECT_EQ(r->time_signed, v_.time_signed);
    EXPECT_EQ(r->error, v_.error);  // BADTIME vectors: the peer's error, not a refusal
    EXPECT_EQ(r->original_id, v_.original_id);
    EXPECT_EQ(r->other, v_.other);

    // The edges of the fudge window.
    p.now = v_.time_signed + v_.fudge;
    EXPECT_TRUE(verify(v_.signed_msg, keys, p).ok());
    p.now = v_.time_signed - v_.fudge;
    EXPECT_TRUE(verify(v_.signed_msg, keys, p).ok());
    p.now = v_.time_signed + v_.fudge + 1;
    Result<TsigVerified> late = verify(v_.signed_msg, keys, p);
    if (!v_.request_mac.empty() && v_.error == rcode::BADTIME) {
        // A BADTIME answer to our request echoes our time: not judged (tsig.hpp).
        EXPECT_TRUE(late.ok());
    } else {
        EXPECT_EQ(late.reason(), Reason::tsig_bad_time);
    }
}

TEST_P(TsigVector, ResigningReproducesMacAndBytes) {
    SCOPED_TRACE(v_.source);
    Bytes buf(v_.unsigned_msg.size() + 512);
    std::copy(v_.unsigned_msg.begin(), v_.unsigned_msg.end(), buf.begin());
    TsigSignParams p;
    p.time_signed = v_.time_signed;
    p.fudge = v_.fudge;
    p.error = v_.error;
    p.other = v_.other;
    p.request_mac = v_.request_mac;
    // Only where the header disagrees (the miekg ID 0 / 42 quirk): elsewhere
    // the default, the header's own ID, must be what was signed.
    if (rd16(v_.unsigned_msg.data()) != v_.original_id) p.original_id = v_.original_id;
    Bytes mac;
    Result<size_t> n = tsig_sign(buf, v_.unsigned_msg.size(), v_.key, p, &mac);
    ASSERT_TRUE(n.ok()) << reason_name(n.reason());
    EXPECT_EQ(mac, v_.expected_mac);
    buf.resize(*n);
    EXPECT_EQ(buf, v_.signed_msg);
}

TEST_P(TsigVector, TamperedBodyIsBadSig) {
    SCOPED_TRACE(v_.source);
    std::vector<TsigKey> keys{v_.key};
    TsigVerifyParams p;
    p.now = v_.time_signed;
    p.request_mac = v_.request_mac;
    // The last byte before the TSIG is a class or an address byte: flipping its
    // low bit keeps the message well-formed, so only the MAC can notice.
    Bytes m = v_.signed_msg;
    m[v_.unsigned_msg.size() - 1] ^= 0x01;
    EXPECT_EQ(verify(m, keys, p).reason(), Reason::tsig_bad_sig);

    // The last MAC byte (the MAC ends 6 + other bytes before the end).
    m = v_.signed_msg;
    m[m.size() - 7 - v_.other.size()] ^= 0x80;
    EXPECT_EQ(verify(m, keys, p).reason(), Reason::tsig_bad_sig);

    // Time Signed is a digested variable: a later time fails the MAC (checked
    // first, §5.2), not the clock.
    m = v_.signed_msg;
    size_t time_at = v_.unsigned_msg.size() + v_.key.name.wire_length() + 10 +
                     tsig_algorithm_name(v_.key.algorithm).wire_length();
    m[time_at + 5] ^= 0x01;
    EXPECT_EQ(verify(m, keys, p).reason(), Reason::tsig_bad_sig);

    // A request MAC that is not the one the response answers.
    if (!v_.request_mac.empty()) {
        Bytes other_req = v_.request_mac;
        other_req[0] ^= 1;
        TsigVerifyParams q = p;
        q.request_mac = other_req;
        EXPECT_EQ(verify(v_.signed_msg, keys, q).reason(), Reason::tsig_bad_sig);
        q.request_mac = {};
        EXPECT_EQ(verify(v_.signed_msg, keys, q).reason(), Reason::tsig_bad_sig);
    }
}

TEST_P(TsigVector, OriginalIdIsWhatCounts) {
    SCOPED_TRACE(v_.source);
    std::vector<TsigKey> keys{v_.key};
    TsigVerifyParams p;
    p.now = v_.time_signed;
    p.request_mac = v_.request_mac;
    // A forwarder may rewrite the header ID: the MAC covers the Original ID.
    Bytes m = v_.signed_msg;
    m[0] ^= 0x5A;
    EXPECT_TRUE(verify(m, keys, p).ok());
    // Hashing the header ID instead of the Original ID (as a naive verifier
    // would) fails where they differ; changing the Original ID always fails.
    m = v_.signed_msg;
    const size_t orig_at = m.size() - 6 - v_.other.size();
    m[orig_at] ^= 0x01;
    EXPECT_EQ(verify(m, keys, p).reason(), Reason::tsig_bad_sig);
}

INSTANTIATE_TEST_SUITE_P(Corpus, TsigVector, ::testing::ValuesIn(vector_names()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// Real signed traffic whose keys are not public (gss-tsig from Windows AD and
// sssd, hmac-md5 from zeek's capture; see SOURCES.md): every such message is
// refused as BADKEY, never crashes, and never verifies.
TEST(TsigCorpus, UnknownKeysInRealTrafficAreBadKey) {
    std::vector<TsigKey> keys{load("miekg_update_a_record_sha256").key};
    int signed_seen = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(
             std::filesystem::path(UPDPROXY_CORPUS) / "dns", ec)) {
        if (e.path().extension() != ".bin") continue;
        std::ifstream f(e.path(), std::ios::binary);
        Bytes wire((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        Result<Message> m = Message::parse(wire);
        if (!m || !m->tsig()) continue;
        ++signed_seen;
        TsigVerifyParams p;
        p.now = 1600000000;
        EXPECT_EQ(tsig_verify(*m, keys, p).reason(), Reason::tsig_bad_key) << e.path();
    }
    EXPECT_EQ(signed_seen, 6) << "SOURCES.md lists six signed messages under dns/";
}

// ---- verification errors on one vector -----------------------------------------

class TsigErrors : public ::testing::Test {
protected:
    void SetUp() override { v_ = load("miekg_update_a_record_sha256"); }
    TsigVerifyParams at_time() const {
        TsigVerifyParams p;
        p.now = v_.time_signed;
        return p;
    }
    Vector v_;
};

TEST_F(TsigErrors, WrongKeyNameIsBadKey) {
    TsigKey k = v_.key;
    k.name = name("otherkey.");
    std::vector<TsigKey> keys{k};
    EXPECT_EQ(verify(v_.signed_msg, keys, at_time()).reason(), Reason::tsig_bad_key);
}

TEST_F(TsigErrors, KeyNameIsCaseInsensitive) {
    TsigKey k = v_.key;
    k.name = name("TestKey.");
    std::vector<TsigKey> keys{k};
    EXPECT_TRUE(verify(v_.signed_msg, keys, at_time()).ok());
}

TEST_F(TsigErrors, SameNameOtherAlgorithmIsBadKey) {
    TsigKey k = v_.key;
    k.algorithm = TsigAlgorithm::hmac_sha512;
    std::vector<TsigKey> keys{k};
    EXPECT_EQ(verify(v_.signed_msg, keys, at_time()).reason(), Reason::tsig_bad_key);
    // With the right one also present, that one is picked.
    keys.push_back(v_.key);
    Result<TsigVerified> r = verify(v_.signed_msg, keys, at_time());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->key, &keys[1]);
}

TEST_F(TsigErrors, NoKeysIsBadKey) {
    EXPECT_EQ(verify(v_.signed_msg, {}, at_time()).reason(), Reason::tsig_bad_key);
}

TEST_F(TsigErrors, WrongSecretIsBadSig) {
    TsigKey k = v_.key;
    k.secret[0] ^= 1;
    std::vector<TsigKey> keys{k};
    EXPECT_EQ(verify(v_.signed_msg, keys, at_time()).reason(), Reason::tsig_bad_sig);
}

TEST_F(TsigErrors, OutsideFudgeIsBadTime) {
    std::vector<TsigKey> keys{v_.key};
    TsigVerifyParams p = at_time();
    p.now = v_.time_signed + 301;
    EXPECT_EQ(verify(v_.signed_msg, keys, p).reason(), Reason::tsig_bad_time);
    p.now = v_.time_signed - 301;
    EXPECT_EQ(verify(v_.signed_msg, keys, p).reason(), Reason::tsig_bad_time);
    p.now = 0;
    EXPECT_EQ(verify(v_.signed_msg, keys, p).reason(), Reason::tsig_bad_time);
}

TEST_F(TsigErrors, BadTimeComesAfterTheMac) {
    // §5.2: a forged message is BADSIG whatever its clock says.
    TsigKey k = v_.key;
    k.secret[0] ^= 1;
    std::vector<TsigKey> keys{k};
    TsigVerifyParams p = at_time();
    p.now += 100000;
    EXPECT_EQ(verify(v_.signed_msg, keys, p).reason(), Reason::tsig_bad_sig);
}

TEST_F(TsigErrors, UnsignedIsMissing) {
    std::vector<TsigKey> keys{v_.key};
    EXPECT_EQ(verify(v_.unsigned_msg, keys, at_time()).reason(), Reason::tsig_missing);
}

// Appends a TSIG record built by hand (for MAC lengths tsig_sign never makes).
Bytes with_tsig(const Bytes& unsigned_msg, const Name& key, const Bytes& rdata) {
    Bytes m = unsigned_msg;
    m.insert(m.end(), key.wire().begin(), key.wire().end());
    const uint8_t fixed[] = {0, 250, 0, 255, 0, 0, 0, 0, static_cast<uint8_t>(rdata.size() >> 8),
                             static_cast<uint8_t>(rdata.size())};
    m.insert(m.end(), std::begin(fixed), std::end(fixed));
    m.insert(m.end(), rdata.begin(), rdata.end());
    m[11] = static_cast<uint8_t>(m[11] + 1);
    return m;
}

TEST_F(TsigErrors, TruncatedMacs) {
    std::vector<TsigKey> keys{v_.key};
    const Name& alg = tsig_algorithm_name(v_.key.algorithm);
    auto truncated = [&](size_t n) {
        Bytes mac(v_.expected_mac.begin(),
                  v_.expected_mac.begin() + static_cast<std::ptrdiff_t>(n));
        return with_tsig(v_.unsigned_msg, v_.key.name,
                         tsig_rdata(alg, v_.time_signed, v_.fudge, mac, v_.original_id, 0));
    };
    // The hand-built full-length record is the corpus message itself.
    EXPECT_EQ(truncated(32), v_.signed_msg);
    // §5.2.2.1: half of SHA-256 (16 octets) is the shortest allowed.
    EXPECT_TRUE(verify(truncated(16), keys, at_time()).ok());
    EXPECT_TRUE(verify(truncated(20), keys, at_time()).ok());
    EXPECT_EQ(verify(truncated(15), keys, at_time()).reason(), Reason::tsig_bad_sig);
    EXPECT_EQ(verify(truncated(0), keys, at_time()).reason(), Reason::tsig_bad_sig);
    // Longer than the hash.
    Bytes long_mac = v_.expected_mac;
    long_mac.push_back(0);
    EXPECT_EQ(verify(with_tsig(v_.unsigned_msg, v_.key.name,
                               tsig_rdata(alg, v_.time_signed, v_.fudge, long_mac,
                                          v_.original_id, 0)),
                     keys, at_time())
                  .reason(),
              Reason::tsig_bad_sig);
    // A wrong truncated MAC is still wrong.
    Bytes t16 = truncated(16);
    t16[t16.size() - 7] ^= 1;
    EXPECT_EQ(verify(t16, keys, at_time()).reason(), Reason::tsig_bad_sig);
    // §5.2.4: local policy may want more than the RFC minimum.
    TsigVerifyParams strict = at_time();
    strict.min_mac_size = 32;
    EXPECT_EQ(verify(truncated(16), keys, strict).reason(), Reason::tsig_bad_trunc);
    EXPECT_TRUE(verify(truncated(32), keys, strict).ok());
}

TEST(TsigTruncation, Md5MinimumIsTenOctets) {
    // HMAC-MD5 is 16 octets; half is 8, so the floor of 10 applies.
    Vector v = load("kea_query_md5_dig");
    std::vector<TsigKey> keys{v.key};
    TsigVerifyParams p;
    p.now = v.time_signed;
    const Name& alg = tsig_algorithm_name(TsigAlgorithm::hmac_md5);
    auto truncated = [&](size_t n) {
        Bytes mac(v.expected_mac.begin(), v.expected_mac.begin() + static_cast<std::ptrdiff_t>(n));
        return with_tsig(v.unsigned_msg, v.key.name,
                         tsig_rdata(alg, v.time_signed, v.fudge, mac, v.original_id, 0));
    };
    EXPECT_TRUE(verify(truncated(10), keys, p).ok());
    EXPECT_EQ(verify(truncated(9), keys, p).reason(), Reason::tsig_bad_sig);
}

// ---- signing ---------------------------------------------------------------------

constexpr TsigAlgorithm kAllAlgs[] = {TsigAlgorithm::hmac_md5,    TsigAlgorithm::hmac_sha1,
                                      TsigAlgorithm::hmac_sha224, TsigAlgorithm::hmac_sha256,
                                      TsigAlgorithm::hmac_sha384, TsigAlgorithm::hmac_sha512};

TsigKey test_key(TsigAlgorithm a, std::string_view key_name = "roundtrip.example.") {
    TsigKey k;
    k.name = name(key_name);
    k.algorithm = a;
    for (int i = 0; i < 32; ++i) k.secret.push_back(static_cast<uint8_t>(i * 7 + 1));
    return k;
}

Bytes sign(const Bytes& msg, const TsigKey& k, const TsigSignParams& p, Bytes* mac = nullptr) {
    Bytes buf(msg.size() + 512);
    std::copy(msg.begin(), msg.end(), buf.begin());
    Result<size_t> n = tsig_sign(buf, msg.size(), k, p, mac);
    EXPECT_TRUE(n.ok()) << reason_name(n.reason());
    buf.resize(n.ok() ? *n : 0);
    return buf;
}

TEST(TsigSign, RoundTripAllAlgorithms) {
    const Bytes request = load("miekg_update_a_record_sha256").unsigned_msg;
    const Bytes response = load("kea_response_md5_with_request_mac").unsigned_msg;
    constexpr uint64_t kNow = 1700000000;
    for (TsigAlgorithm a : kAllAlgs) {
        SCOPED_TRACE(tsig_algorithm_name(a).to_string());
        std::vector<TsigKey> keys{test_key(a)};
        TsigSignParams sp;
        sp.time_signed = kNow;
        Bytes req_mac;
        Bytes signed_req = sign(request, keys[0], sp, &req_mac);
        EXPECT_EQ(req_mac.size(), tsig_mac_size(a));

        Result<Message> m = Message::parse(signed_req);
        ASSERT_TRUE(m.ok()) << reason_name(m.reason());
        EXPECT_EQ(m->count(Section::additional), 1);
        ASSERT_TRUE(m->tsig().has_value());
        EXPECT_EQ(m->tsig()->type, rrtype::TSIG);
        EXPECT_EQ(m->tsig()->rrclass(), rrclass::ANY);
        EXPECT_EQ(m->tsig()->ttl, 0u);
        EXPECT_TRUE(m->tsig()->owner.equals(keys[0].name));
        Result<TsigView> tv = m->tsig()->tsig();
        ASSERT_TRUE(tv.ok());
        EXPECT_TRUE(tv->algorithm.equals(tsig_algorithm_name(a)));
        EXPECT_EQ(tv->fudge, 300);
        EXPECT_EQ(tv->original_id, rd16(request.data()));

        TsigVerifyParams vp;
        vp.now = kNow + 10;
        Result<TsigVerified> r = tsig_verify(*m, keys, vp);
        ASSERT_TRUE(r.ok()) << reason_name(r.reason());
        EXPECT_EQ(r->mac, req_mac);

        // The response, chained to the request's MAC (§4.3.1).
        sp.request_mac = req_mac;
        Bytes resp_mac;
        Bytes signed_resp = sign(response, keys[0], sp, &resp_mac);
        vp.request_mac = req_mac;
        Result<TsigVerified> rr = verify(signed_resp, keys, vp);
        ASSERT_TRUE(rr.ok()) << reason_name(rr.reason());
        EXPECT_EQ(rr->mac, resp_mac);
        vp.request_mac = {};
        EXPECT_EQ(verify(signed_resp, keys, vp).reason(), Reason::tsig_bad_sig);
    }
}

TEST(TsigSign, DistinctAlgorithmsGiveDistinctMacs) {
    const Bytes msg = load("kea_query_sha1").unsigned_msg;
    // (a set of strings: sorting vectors of bytes trips a GCC 12 -O3 false
    // -Wstringop-overread in lexicographical_compare_three_way)
    std::set<std::string> macs;
    size_t n = 0;
    for (TsigAlgorithm a : kAllAlgs) {
        Bytes mac;
        TsigSignParams p;
        p.time_signed = 1;
        sign(msg, test_key(a), p, &mac);
        EXPECT_FALSE(mac.empty());
        macs.insert(std::string(mac.begin(), mac.end()));
        ++n;
    }
    EXPECT_EQ(macs.size(), n);
}

TEST(TsigSign, KeyNameIsDigestedLowercase) {
    // §4.3.3: names in canonical form; the owner keeps its case on the wire.
    const Bytes msg = load("kea_query_sha1").unsigned_msg;
    TsigSignParams p;
    p.time_signed = 1000;
    Bytes mac_lower, mac_upper;
    sign(msg, test_key(TsigAlgorithm::hmac_sha256, "key.example."), p, &mac_lower);
    Bytes upper = sign(msg, test_key(TsigAlgorithm::hmac_sha256, "KEY.Example."), p, &mac_upper);
    EXPECT_EQ(mac_lower, mac_upper);
    std::vector<TsigKey> keys{test_key(TsigAlgorithm::hmac_sha256, "key.example.")};
    TsigVerifyParams vp;
    vp.now = 1000;
    EXPECT_TRUE(verify(upper, keys, vp).ok());
}

TEST(TsigSign, Errors) {
    TsigKey k = test_key(TsigAlgorithm::hmac_sha256);
    TsigSignParams p;
    Bytes buf(11);
    EXPECT_EQ(tsig_sign(buf, 11, k, p).reason(), Reason::short_header);

    // Too small for the record: no_space and the message untouched.
    const Bytes msg = load("kea_query_sha1").unsigned_msg;
    buf = msg;
    buf.resize(msg.size() + 40);
    Result<size_t> n = tsig_sign(buf, msg.size(), k, p);
    EXPECT_EQ(n.reason(), Reason::no_space);
    EXPECT_TRUE(std::equal(msg.begin(), msg.end(), buf.begin()));

    // Exactly enough room.
    buf.resize(msg.size() + k.name.wire_length() + 10 +
               tsig_algorithm_name(k.algorithm).wire_length() + 16 + 32);
    n = tsig_sign(buf, msg.size(), k, p);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, buf.size());
}

TEST(TsigSign, BadKeyAndBadSigErrorsAreUnsigned) {
    // §5.3.2: with BADSIG/BADKEY the MAC is empty; such a message cannot verify.
    const Bytes msg = load("kea_query_sha1").unsigned_msg;
    TsigKey k = test_key(TsigAlgorithm::hmac_sha256);
    for (uint16_t e : {rcode::BADSIG, rcode::BADKEY}) {
        TsigSignParams p;
        p.error = e;
        p.time_signed = 5;
        Bytes mac{1, 2, 3};
        Bytes m = sign(msg, k, p, &mac);
        EXPECT_TRUE(mac.empty());
        Result<Message> pm = Message::parse(m);
        ASSERT_TRUE(pm.ok());
        Result<TsigView> tv = pm->tsig()->tsig();
        ASSERT_TRUE(tv.ok());
        EXPECT_TRUE(tv->mac.empty());
        EXPECT_EQ(tv->error, e);
        std::vector<TsigKey> keys{k};
        TsigVerifyParams vp;
        vp.now = 5;
        EXPECT_EQ(tsig_verify(*pm, keys, vp).reason(), Reason::tsig_bad_sig);
    }
}

TEST(TsigSign, BadTimeReplyCarriesServerClock) {
    // A server's BADTIME answer: our Time Signed echoed, its clock in Other
    // Data (§5.2.3). The client verifies it though the time is far off.
    const Bytes req = load("kea_query_sha1").unsigned_msg;
    const Bytes resp = load("kea_response_md5_with_request_mac").unsigned_msg;
    TsigKey k = test_key(TsigAlgorithm::hmac_sha256);
    TsigSignParams p;
    p.time_signed = 1000;
    Bytes req_mac;
    sign(req, k, p, &req_mac);
    const uint8_t server_clock[6] = {0, 0, 0, 0, 0x27, 0x10};  // 10000
    p.error = rcode::BADTIME;
    p.other = server_clock;
    p.request_mac = req_mac;
    Bytes m = sign(resp, k, p);
    std::vector<TsigKey> keys{k};
    TsigVerifyParams vp;
    vp.now = 10000;
    vp.request_mac = req_mac;
    Result<TsigVerified> r = verify(m, keys, vp);
    ASSERT_TRUE(r.ok()) << reason_name(r.reason());
    EXPECT_EQ(r->error, rcode::BADTIME);
    EXPECT_EQ(r->other, Bytes(std::begin(server_clock), std::end(server_clock)));
    // Without a request MAC to bind it (not a reply to us) the clock is judged.
    vp.request_mac = {};
    Bytes unbound = sign(resp, k, [&] {
        TsigSignParams q = p;
        q.request_mac = {};
        return q;
    }());
    EXPECT_EQ(verify(unbound, keys, vp).reason(), Reason::tsig_bad_time);
}

// ---- TCP continuation (§5.3.1) ---------------------------------------------------

// The timers-only digest computed independently with OpenSSL's one-shot HMAC().
Bytes timers_only_reference(const TsigKey& k, const Bytes& prior_mac, const Bytes& msg,
                            uint64_t time, uint16_t fudge) {
    Bytes in;
    in.push_back(static_cast<uint8_t>(prior_mac.size() >> 8));
    in.push_back(static_cast<uint8_t>(prior_mac.size()));
    in.insert(in.end(), prior_mac.begin(), prior_mac.end());
    in.insert(in.end(), msg.begin(), msg.end());
    for (int s = 40; s >= 0; s -= 8) in.push_back(static_cast<uint8_t>(time >> s));
    in.push_back(static_cast<uint8_t>(fudge >> 8));
    in.push_back(static_cast<uint8_t>(fudge));
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), k.secret.data(), static_cast<int>(k.secret.size()), in.data(), in.size(),
         out, &len);
    return Bytes(out, out + len);
}

TEST(TsigTcp, ThreeMessageChain) {
    TsigKey k = test_key(TsigAlgorithm::hmac_sha256, "xfr.example.");
    std::vector<TsigKey> keys{k};
    const Bytes query = load("kea_query_sha1").unsigned_msg;
    const Bytes parts[3] = {load("kea_response_md5_with_request_mac").unsigned_msg,
                            load("miekg_update_a_record_sha256").unsigned_msg,
                            load("miekg_update_sha224").unsigned_msg};
    constexpr uint64_t kT = 1600000000;

    TsigSignParams qp;
    qp.time_signed = kT;
    Bytes query_mac;
    sign(query, k, qp, &query_mac);

    // Sender: the first answer message in full, then timers only, each chained
    // to the MAC before it.
    Bytes signed_parts[3];
    Bytes macs[3];
    Bytes prior = query_mac;
    for (int i = 0; i < 3; ++i) {
        TsigSignParams p;
        p.time_signed = kT + static_cast<uint64_t>(i);
        p.request_mac = prior;
        p.timers_only = i > 0;
        signed_parts[i] = sign(parts[i], k, p, &macs[i]);
        prior = macs[i];
    }
    EXPECT_EQ(macs[1], timers_only_reference(k, macs[0], parts[1], kT + 1, 300));
    EXPECT_EQ(macs[2], timers_only_reference(k, macs[1], parts[2], kT + 2, 300));

    // Receiver, in order.
    prior = query_mac;
    for (int i = 0; i < 3; ++i) {
        SCOPED_TRACE(i);
        TsigVerifyParams vp;
        vp.now = kT + 5;
        vp.request_mac = prior;
        vp.timers_only = i > 0;
        Result<TsigVerified> r = verify(signed_parts[i], keys, vp);
        ASSERT_TRUE(r.ok()) << reason_name(r.reason());
        EXPECT_EQ(r->mac, macs[i]);
        prior = r->mac;
    }

    // Out of order or with the wrong digest rule, the chain breaks.
    TsigVerifyParams vp;
    vp.now = kT + 5;
    vp.request_mac = macs[0];
    vp.timers_only = true;
    EXPECT_EQ(verify(signed_parts[2], keys, vp).reason(), Reason::tsig_bad_sig);
    vp.request_mac = macs[0];
    vp.timers_only = false;
    EXPECT_EQ(verify(signed_parts[1], keys, vp).reason(), Reason::tsig_bad_sig);
    // The first message is not timers-only.
    vp.request_mac = query_mac;
    vp.timers_only = true;
    EXPECT_EQ(verify(signed_parts[0], keys, vp).reason(), Reason::tsig_bad_sig);
}

// ---- key files ---------------------------------------------------------------------

TEST(TsigKeyfile, TsigKeygenOutput) {
    // Verbatim `tsig-keygen -a hmac-sha256 foo.key` (BIND 9.18).
    const char* text =
        "key \"foo.key\" {\n"
        "\talgorithm hmac-sha256;\n"
        "\tsecret \"A3fCL7/og/4DXQuYj4hSRtBPDEiNfDZ7B8d215jj+L4=\";\n"
        "};\n";
    Result<std::vector<TsigKey>> r = parse_tsig_keyfile(text);
    ASSERT_TRUE(r.ok()) << reason_name(r.reason()) << " line " << r.error().offset;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].name, name("foo.key."));
    EXPECT_EQ((*r)[0].algorithm, TsigAlgorithm::hmac_sha256);
    EXPECT_EQ(base64_encode((*r)[0].secret), "A3fCL7/og/4DXQuYj4hSRtBPDEiNfDZ7B8d215jj+L4=");
}

TEST(TsigKeyfile, SeveralKeysAndComments) {
    const char* text =
        "# keys for the lab\n"
        "// two of them\n"
        "/* a block\n"
        "   comment */ key \"a.example.\" { algorithm hmac-md5;\n"
        "  secret \"SFuWd/q99SzF8Yzd1QbB9g==\"; };\n"
        "key b.example {  # unquoted name\n"
        "    algorithm \"HMAC-SHA512\";  // quoted and upper case\n"
        "    secret \"MA+QDhXbyqUak+qnMFyTyEirzng=\";\n"
        "};\n"
        "key \"c\" { secret \"MA+QDhXbyqUak+qnMFyTyEirzng=\";\n"
        "  algorithm hmac-md5.sig-alg.reg.int.; };\n"
        "key \"d\"{algorithm hmac-sha1;secret \"MA+QDhXbyqUak+qnMFyTyEirzng=\";};"
        "key \"e\" { algorithm hmac-sha224; secret \"MA+QDhXbyqUak+qnMFyTyEirzng=\"; };\n"
        "key \"f\" { algorithm hmac-sha384; secret \"MA+QDhXbyqUak+qnMFyTyEirzng=\"; };\n";
    Result<std::vector<TsigKey>> r = parse_tsig_keyfile(text);
    ASSERT_TRUE(r.ok()) << reason_name(r.reason()) << " line " << r.error().offset;
    ASSERT_EQ(r->size(), 6u);
    EXPECT_EQ((*r)[0].name, name("a.example"));
    EXPECT_EQ((*r)[0].algorithm, TsigAlgorithm::hmac_md5);
    EXPECT_EQ((*r)[0].secret.size(), 16u);
    EXPECT_EQ((*r)[1].name, name("b.example"));
    EXPECT_EQ((*r)[1].algorithm, TsigAlgorithm::hmac_sha512);
    EXPECT_EQ((*r)[2].name, name("c."));
    EXPECT_EQ((*r)[2].algorithm, TsigAlgorithm::hmac_md5);
    EXPECT_EQ((*r)[3].algorithm, TsigAlgorithm::hmac_sha1);
    EXPECT_EQ((*r)[4].algorithm, TsigAlgorithm::hmac_sha224);
    EXPECT_EQ((*r)[5].algorithm, TsigAlgorithm::hmac_sha384);
    EXPECT_EQ((*r)[5].secret.size(), 20u);
}

TEST(TsigKeyfile, EmptyFileHasNoKeys) {
    Result<std::vector<TsigKey>> r = parse_tsig_keyfile("# nothing\n\n");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty());
}

struct BadKeyfile {
    const char* what;
    const char* text;
    Reason reason;
    uint32_t line;
};

TEST(TsigKeyfile, ErrorsCarryTheLine) {
    const BadKeyfile cases[] = {
        {"missing ; after algorithm",
         "key \"k\" {\n algorithm hmac-sha256\n secret \"MA+QDhXbyqUak+qnMFyTyEirzng=\";\n};\n",
         Reason::keyfile_syntax, 3},
        {"missing ; after }", "key \"k\" {\n algorithm hmac-sha256;\n secret \"AAAA\";\n}\n",
         Reason::keyfile_syntax, 4},
        {"missing ; after } then another key",
         "key \"k\" {\n algorithm hmac-sha256;\n secret \"AAAA\";\n}\nkey \"j\" {};\n",
         Reason::keyfile_syntax, 5},
        {"unknown statement", "key \"k\" {\n algorithm hmac-sha256;\n\n owner \"x\";\n};\n",
         Reason::keyfile_syntax, 4},
        {"not a key clause", "# c\noptions { };\n", Reason::keyfile_syntax, 2},
        {"missing {", "key \"k\"\n algorithm hmac-sha256;\n", Reason::keyfile_syntax, 2},
        {"unterminated string", "key \"k\" {\n secret \"AAAA;\n};\n", Reason::keyfile_syntax, 2},
        {"unterminated comment", "\n\n/* never closed\nkey \"k\" {};\n", Reason::keyfile_syntax,
         3},
        {"bad base64", "key \"k\" {\n algorithm hmac-sha256;\n secret \"AA*A\";\n};\n",
         Reason::keyfile_syntax, 3},
        {"bad base64 padding", "key \"k\" {\n algorithm hmac-sha256;\n secret \"AAA\";\n};\n",
         Reason::keyfile_syntax, 3},
        {"empty secret", "key \"k\" {\n algorithm hmac-sha256;\n secret \"\";\n};\n",
         Reason::keyfile_syntax, 3},
        {"no secret", "key \"k\" {\n algorithm hmac-sha256;\n};\n", Reason::keyfile_syntax, 3},
        {"no algorithm", "key \"k\" {\n secret \"AAAA\";\n\n};\n", Reason::keyfile_syntax, 4},
        {"two secrets", "key \"k\" {\n secret \"AAAA\";\n secret \"AAAA\";\n};\n",
         Reason::keyfile_syntax, 3},
        {"duplicate key",
         "key \"k\" { algorithm hmac-sha1; secret \"AAAA\"; };\nkey \"K.\" { algorithm hmac-sha1; "
         "secret \"AAAA\"; };\n",
         Reason::keyfile_syntax, 2},
        {"bad key name", "key \"a..b\" {\n};\n", Reason::keyfile_syntax, 1},
        {"root key name", "\nkey \".\" {\n};\n", Reason::keyfile_syntax, 2},
        {"unexpected end", "key \"k\" {\n algorithm hmac-sha1;\n", Reason::keyfile_syntax, 3},
        {"stray }", "};\n", Reason::keyfile_syntax, 1},
        {"lines counted through comments",
         "/* a\n b */ # c\n// d\nkey \"k\" {\n bogus x;\n};\n", Reason::keyfile_syntax, 5},
        {"unknown algorithm", "key \"k\" {\n\n algorithm hmac-sha3-256;\n secret \"AAAA\";\n};\n",
         Reason::tsig_unsupported_alg, 3},
        {"truncated algorithm", "key \"k\" {\n algorithm hmac-sha256-128;\n};\n",
         Reason::tsig_unsupported_alg, 2},
    };
    for (const BadKeyfile& c : cases) {
        SCOPED_TRACE(c.what);
        Result<std::vector<TsigKey>> r = parse_tsig_keyfile(c.text);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.reason(), c.reason) << reason_name(r.reason());
        EXPECT_EQ(r.error().offset, c.line);
    }
}

TEST(TsigKeyfile, KeysFromFileVerifyCorpus) {
    // The miekg test secret written as a key file verifies the miekg vector.
    Vector v = load("miekg_update_a_record_sha256");
    std::string text = "key \"testkey\" { algorithm hmac-sha256; secret \"" +
                       base64_encode(v.key.secret) + "\"; };\n";
    Result<std::vector<TsigKey>> keys = parse_tsig_keyfile(text);
    ASSERT_TRUE(keys.ok());
    TsigVerifyParams p;
    p.now = v.time_signed;
    EXPECT_TRUE(verify(v.signed_msg, *keys, p).ok());
}

// ---- algorithms and base64 -------------------------------------------------------

TEST(TsigAlgorithms, Names) {
    EXPECT_EQ(tsig_algorithm_name(TsigAlgorithm::hmac_md5), name("HMAC-MD5.SIG-ALG.REG.INT."));
    EXPECT_EQ(tsig_algorithm_name(TsigAlgorithm::hmac_sha256).to_string(), "hmac-sha256.");
    EXPECT_EQ(tsig_algorithm_from_name("hmac-sha256"), TsigAlgorithm::hmac_sha256);
    EXPECT_EQ(tsig_algorithm_from_name("HMAC-SHA256."), TsigAlgorithm::hmac_sha256);
    EXPECT_EQ(tsig_algorithm_from_name("HMAC-MD5.SIG-ALG.REG.INT"), TsigAlgorithm::hmac_md5);
    EXPECT_EQ(tsig_algorithm_from_name("hmac-md5"), TsigAlgorithm::hmac_md5);
    EXPECT_EQ(tsig_algorithm_from_name("hmac-sha1."), TsigAlgorithm::hmac_sha1);
    EXPECT_EQ(tsig_algorithm_from_name("hmac-sha224"), TsigAlgorithm::hmac_sha224);
    EXPECT_EQ(tsig_algorithm_from_name("hmac-sha384"), TsigAlgorithm::hmac_sha384);
    EXPECT_EQ(tsig_algorithm_from_name("hmac-sha512"), TsigAlgorithm::hmac_sha512);
    EXPECT_FALSE(tsig_algorithm_from_name("hmac-sha256.."));
    EXPECT_FALSE(tsig_algorithm_from_name("gss-tsig"));
    EXPECT_FALSE(tsig_algorithm_from_name(""));
    EXPECT_EQ(tsig_algorithm_from_name(name("Hmac-Sha512.")), TsigAlgorithm::hmac_sha512);
    EXPECT_EQ(tsig_algorithm_from_name(name("hmac-md5.sig-alg.reg.int.")),
              TsigAlgorithm::hmac_md5);
    EXPECT_FALSE(tsig_algorithm_from_name(name("gss-tsig.")));
    const size_t sizes[] = {16, 20, 28, 32, 48, 64};
    for (size_t i = 0; i < 6; ++i) EXPECT_EQ(tsig_mac_size(kAllAlgs[i]), sizes[i]);
}

TEST(Base64, Rfc4648Vectors) {
    // RFC 4648 §10.
    const std::pair<const char*, const char*> v[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, enc] : v) {
        EXPECT_EQ(base64_encode(bytes(plain)), enc);
        auto d = base64_decode(enc);
        ASSERT_TRUE(d.has_value()) << enc;
        EXPECT_EQ(std::string(d->begin(), d->end()), plain);
    }
    Bytes all(256);
    for (int i = 0; i < 256; ++i) all[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
    EXPECT_EQ(base64_decode(base64_encode(all)), all);
    EXPECT_EQ(base64_decode("Zm9v\n YmFy\r\n"), Bytes({'f', 'o', 'o', 'b', 'a', 'r'}));
}

TEST(Base64, RejectsMalformed) {
    for (const char* bad : {"Zg=", "Zg", "Z", "Z===", "====", "=Zg=", "Zg==Zg==", "Zm9v!",
                            "Zm8=Zm8=", "Zm9vY", "Zg=a", "Zm-v"}) {
        EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
    }
}

}  // namespace
}  // namespace updproxy::codec
