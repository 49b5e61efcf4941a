// TSIG (RFC 8945) over OpenSSL 3's EVP_MAC.
//
// The MAC input is streamed into the HMAC piece by piece (request MAC, a
// patched copy of the 12-byte header, the rest of the message, the TSIG
// variables), so neither signing nor verifying copies the message.
#include "codec/tsig.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstring>

namespace updproxy::codec {

namespace {

struct AlgInfo {
    TsigAlgorithm alg;
    const char* wire_name;  // presentation form, lowercase (what BIND writes)
    const char* digest;     // OpenSSL digest name
    size_t mac_size;
};

// Indexed by TsigAlgorithm.
constexpr AlgInfo kAlgs[] = {
    {TsigAlgorithm::hmac_md5, "hmac-md5.sig-alg.reg.int.", "MD5", 16},
    {TsigAlgorithm::hmac_sha1, "hmac-sha1.", "SHA1", 20},
    {TsigAlgorithm::hmac_sha224, "hmac-sha224.", "SHA224", 28},
    {TsigAlgorithm::hmac_sha256, "hmac-sha256.", "SHA256", 32},
    {TsigAlgorithm::hmac_sha384, "hmac-sha384.", "SHA384", 48},
    {TsigAlgorithm::hmac_sha512, "hmac-sha512.", "SHA512", 64},
};
constexpr size_t kNumAlgs = sizeof(kAlgs) / sizeof(kAlgs[0]);
constexpr size_t kMaxMac = 64;

const AlgInfo& info(TsigAlgorithm a) { return kAlgs[static_cast<size_t>(a)]; }

struct AlgNames {
    Name names[kNumAlgs];
    Name md5_short;  // "hmac-md5.": what BIND key files say; never on the wire
};

const AlgNames& alg_names() {
    static const AlgNames names = [] {
        AlgNames n;
        for (size_t i = 0; i < kNumAlgs; ++i) n.names[i] = Name::parse(kAlgs[i].wire_name).value();
        n.md5_short = Name::parse("hmac-md5.").value();
        return n;
    }();
    return names;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(static_cast<uint8_t>(a[i])) != ascii_lower(static_cast<uint8_t>(b[i])))
            return false;
    }
    return true;
}

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
    put16(p, static_cast<uint16_t>(v >> 16));
    put16(p + 2, static_cast<uint16_t>(v));
}
void put48(uint8_t* p, uint64_t v) {
    put16(p, static_cast<uint16_t>(v >> 32));
    put32(p + 2, static_cast<uint32_t>(v));
}

// The HMAC implementation is fetched once: EVP_MAC objects are immutable and
// shareable between threads, and fetching is comparatively slow.
EVP_MAC* hmac_impl() {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    return mac;
}

// One HMAC computation. Any OpenSSL failure latches ok_ to false; the caller
// checks once at the end instead of after every update.
class Hmac {
public:
    Hmac(TsigAlgorithm a, std::span<const uint8_t> key) {
        EVP_MAC* impl = hmac_impl();
        if (impl == nullptr) return;
        ctx_ = EVP_MAC_CTX_new(impl);
        if (ctx_ == nullptr) return;
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                             const_cast<char*>(info(a).digest), 0),
            OSSL_PARAM_construct_end(),
        };
        // OpenSSL refuses an empty HMAC key; HMAC pads the key with zeros to the
        // block size, so one zero byte is the same key.
        static constexpr uint8_t kZero[1] = {0};
        const uint8_t* k = key.empty() ? kZero : key.data();
        size_t klen = key.empty() ? 1 : key.size();
        ok_ = EVP_MAC_init(ctx_, k, klen, params) == 1;
    }
    ~Hmac() { EVP_MAC_CTX_free(ctx_); }
    Hmac(const Hmac&) = delete;
    Hmac& operator=(const Hmac&) = delete;

    void update(const uint8_t* p, size_t n) {
        if (ok_ && n > 0) ok_ = EVP_MAC_update(ctx_, p, n) == 1;
    }
    void update(std::span<const uint8_t> s) { update(s.data(), s.size()); }
    // Writes the full MAC (at most kMaxMac bytes); 0 on failure.
    size_t final(uint8_t* out) {
        size_t len = 0;
        if (!ok_ || EVP_MAC_final(ctx_, out, &len, kMaxMac) != 1) return 0;
        return len;
    }

private:
    EVP_MAC_CTX* ctx_ = nullptr;
    bool ok_ = false;
};

// What goes into the MAC besides the message body.
struct MacInput {
    std::span<const uint8_t> prior_mac;  // request MAC or the previous message's MAC
    bool include_prior = false;
    const uint8_t* header = nullptr;     // the message's first 12 bytes as on the wire
    uint16_t original_id = 0;
    uint16_t arcount = 0;                // without the TSIG
    std::span<const uint8_t> body;       // message bytes after the header, up to the TSIG
    std::span<const uint8_t> key_name;   // wire form (lowercased here)
    TsigAlgorithm alg = TsigAlgorithm::hmac_sha256;
    uint64_t time_signed = 0;
    uint16_t fudge = 0;
    uint16_t error = 0;
    std::span<const uint8_t> other;
    bool timers_only = false;
};

// RFC 8945 §4.3 (full) or §5.3.1 (timers only). Returns the MAC length, 0 on
// a crypto failure.
size_t compute_mac(const MacInput& in, std::span<const uint8_t> secret, uint8_t* out) {
    Hmac h(in.alg, secret);
    if (in.include_prior) {
        uint8_t len[2];
        put16(len, static_cast<uint16_t>(in.prior_mac.size()));
        h.update(len, 2);
        h.update(in.prior_mac);
    }
    // §4.3.2: the message as it was before the TSIG was added, with the ID it
    // was signed under (the Original ID).
    uint8_t hdr[kHeaderSize];
    std::memcpy(hdr, in.header, kHeaderSize);
    put16(hdr, in.original_id);
    put16(hdr + 10, in.arcount);
    h.update(hdr, kHeaderSize);
    h.update(in.body);

    // §4.3.3 variables. Names go in canonical (lowercase, uncompressed) form;
    // lowercasing every byte of the wire form is safe because label lengths
    // (at most 63) are below 'A'.
    uint8_t vars[kMaxNameWire * 2 + 32];
    size_t n = 0;
    if (!in.timers_only) {
        for (uint8_t c : in.key_name) vars[n++] = ascii_lower(c);
        put16(vars + n, rrclass::ANY);
        put32(vars + n + 2, 0);  // TTL
        n += 6;
        for (uint8_t c : alg_names().names[static_cast<size_t>(in.alg)].wire())
            vars[n++] = ascii_lower(c);
    }
    put48(vars + n, in.time_signed);
    put16(vars + n + 6, in.fudge);
    n += 8;
    if (!in.timers_only) {
        put16(vars + n, in.error);
        put16(vars + n + 2, static_cast<uint16_t>(in.other.size()));
        n += 4;
    }
    h.update(vars, n);
    if (!in.timers_only) h.update(in.other);
    return h.final(out);
}

// A TSIG error response for which §5.3.2 says no MAC is computed.
bool unsigned_error(uint16_t error) {
    return error == rcode::BADSIG || error == rcode::BADKEY;
}

// ---- key file lexer ----------------------------------------------------------

enum class Tok : uint8_t { end, word, string, lbrace, rbrace, semi, error };

struct Token {
    Tok kind = Tok::end;
    std::string_view text;
    uint32_t line = 1;
};

// named.conf lexical rules, as far as key files need them: words, "strings"
// (with backslash escapes kept raw: key names and base64 never need them),
// braces, semicolons, and `#`, `//`, `/* */` comments.
class Lexer {
public:
    explicit Lexer(std::string_view text) : s_(text) {}

    Token next() {
        skip_space_and_comments();
        Token t;
        t.line = line_;
        if (error_) {
            t.kind = Tok::error;
            t.line = error_line_;
            return t;
        }
        if (pos_ >= s_.size()) return t;
        char c = s_[pos_];
        if (c == '{' || c == '}' || c == ';') {
            t.kind = c == '{' ? Tok::lbrace : c == '}' ? Tok::rbrace : Tok::semi;
            t.text = s_.substr(pos_, 1);
            ++pos_;
            return t;
        }
        if (c == '"') {
            size_t start = ++pos_;
            while (pos_ < s_.size() && s_[pos_] != '"') {
                if (s_[pos_] == '\n') break;  // named strings do not span lines
                if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
                ++pos_;
            }
            if (pos_ >= s_.size() || s_[pos_] != '"') {
                t.kind = Tok::error;
                return t;
            }
            t.kind = Tok::string;
            t.text = s_.substr(start, pos_ - start);
            ++pos_;
            return t;
        }
        size_t start = pos_;
        while (pos_ < s_.size() && !is_space(s_[pos_]) && s_[pos_] != '{' && s_[pos_] != '}' &&
               s_[pos_] != ';' && s_[pos_] != '"' && s_[pos_] != '#' &&
               !(s_[pos_] == '/' && pos_ + 1 < s_.size() &&
                 (s_[pos_ + 1] == '/' || s_[pos_ + 1] == '*'))) {
            ++pos_;
        }
        t.kind = Tok::word;
        t.text = s_.substr(start, pos_ - start);
        return t;
    }

private:
    static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
    }

    void skip_space_and_comments() {
        while (pos_ < s_.size()) {
            char c = s_[pos_];
            if (c == '\n') {
                ++line_;
                ++pos_;
            } else if (is_space(c)) {
                ++pos_;
            } else if (c == '#' || (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/')) {
                while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
            } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') {
                uint32_t open_line = line_;
                pos_ += 2;
                for (;;) {
                    if (pos_ + 1 >= s_.size()) {
                        // An unterminated comment is reported where it opened.
                        error_ = true;
                        error_line_ = open_line;
                        pos_ = s_.size();
                        return;
                    }
                    if (s_[pos_] == '*' && s_[pos_ + 1] == '/') {
                        pos_ += 2;
                        break;
                    }
                    if (s_[pos_] == '\n') ++line_;
                    ++pos_;
                }
            } else {
                return;
            }
        }
    }

    std::string_view s_;
    size_t pos_ = 0;
    uint32_t line_ = 1;
    bool error_ = false;
    uint32_t error_line_ = 0;
};

Error syntax(uint32_t line) { return Error{Reason::keyfile_syntax, line}; }

// ---- base64 --------------------------------------------------------------------

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

// ---- algorithms ------------------------------------------------------------------

const Name& tsig_algorithm_name(TsigAlgorithm a) {
    return alg_names().names[static_cast<size_t>(a)];
}

std::optional<TsigAlgorithm> tsig_algorithm_from_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    for (const AlgInfo& a : kAlgs) {
        std::string_view w(a.wire_name);
        w.remove_suffix(1);
        if (ieq(name, w)) return a.alg;
    }
    // BIND's configuration name for HMAC-MD5.SIG-ALG.REG.INT.
    if (ieq(name, "hmac-md5")) return TsigAlgorithm::hmac_md5;
    return std::nullopt;
}

std::optional<TsigAlgorithm> tsig_algorithm_from_name(const Name& name) {
    const AlgNames& n = alg_names();
    for (size_t i = 0; i < kNumAlgs; ++i) {
        if (name == n.names[i]) return kAlgs[i].alg;
    }
    if (name == n.md5_short) return TsigAlgorithm::hmac_md5;
    return std::nullopt;
}

size_t tsig_mac_size(TsigAlgorithm a) { return info(a).mac_size; }

// ---- RDATA ---------------------------------------------------------------------

std::vector<uint8_t> tsig_rdata(const Name& algorithm, uint64_t time_signed, uint16_t fudge,
                                std::span<const uint8_t> mac, uint16_t original_id,
                                uint16_t error, std::span<const uint8_t> other) {
    std::vector<uint8_t> out(algorithm.wire_length() + 16 + mac.size() + other.size());
    uint8_t* p = out.data();
    std::memcpy(p, algorithm.wire().data(), algorithm.wire_length());
    p += algorithm.wire_length();
    put48(p, time_signed);
    put16(p + 6, fudge);
    put16(p + 8, static_cast<uint16_t>(mac.size()));
    p += 10;
    if (!mac.empty()) std::memcpy(p, mac.data(), mac.size());
    p += mac.size();
    put16(p, original_id);
    put16(p + 2, error);
    put16(p + 4, static_cast<uint16_t>(other.size()));
    p += 6;
    if (!other.empty()) std::memcpy(p, other.data(), other.size());
    return out;
}

// ---- signing ---------------------------------------------------------------------

Result<size_t> tsig_sign(std::span<uint8_t> buf, size_t len, const TsigKey& key,
                         const TsigSignParams& params, std::vector<uint8_t>* mac_out) {
    if (len < kHeaderSize) return Error{Reason::short_header, 0};
    if (len > buf.size()) return Error{Reason::no_space, 0};
    uint16_t arcount = rd16(buf.data() + 10);
    if (arcount == 0xFFFF) return Error{Reason::no_space, 10};

    const Name& alg_name = tsig_algorithm_name(key.algorithm);
    uint8_t mac[kMaxMac];
    size_t mac_len = 0;
    const uint16_t original_id = params.original_id.value_or(rd16(buf.data()));

    if (!unsigned_error(params.error)) {
        MacInput in;
        in.prior_mac = params.request_mac;
        in.include_prior = !params.request_mac.empty() || params.timers_only;
        in.header = buf.data();
        in.original_id = original_id;
        in.arcount = arcount;
        in.body = std::span<const uint8_t>(buf.data() + kHeaderSize, len - kHeaderSize);
        in.key_name = key.name.wire();
        in.alg = key.algorithm;
        in.time_signed = params.time_signed;
        in.fudge = params.fudge;
        in.error = params.error;
        in.other = params.other;
        in.timers_only = params.timers_only;
        mac_len = compute_mac(in, key.secret, mac);
        if (mac_len == 0) return Error{Reason::tsig_unsupported_alg, 0};
    }

    // The record: owner = key name, TYPE TSIG, CLASS ANY, TTL 0, no compression
    // (§4.2: names in TSIG are never compressed).
    const size_t rdlen = alg_name.wire_length() + 16 + mac_len + params.other.size();
    const size_t rrlen = key.name.wire_length() + 10 + rdlen;
    if (rdlen > 0xFFFF || rrlen > buf.size() - len) {
        return Error{Reason::no_space, static_cast<uint32_t>(len)};
    }

    uint8_t* p = buf.data() + len;
    std::memcpy(p, key.name.wire().data(), key.name.wire_length());
    p += key.name.wire_length();
    put16(p, rrtype::TSIG);
    put16(p + 2, rrclass::ANY);
    put32(p + 4, 0);
    put16(p + 8, static_cast<uint16_t>(rdlen));
    p += 10;
    std::memcpy(p, alg_name.wire().data(), alg_name.wire_length());
    p += alg_name.wire_length();
    put48(p, params.time_signed);
    put16(p + 6, params.fudge);
    put16(p + 8, static_cast<uint16_t>(mac_len));
    p += 10;
    if (mac_len > 0) std::memcpy(p, mac, mac_len);
    p += mac_len;
    put16(p, original_id);
    put16(p + 2, params.error);
    put16(p + 4, static_cast<uint16_t>(params.other.size()));
    p += 6;
    if (!params.other.empty()) std::memcpy(p, params.other.data(), params.other.size());

    put16(buf.data() + 10, static_cast<uint16_t>(arcount + 1));
    if (mac_out != nullptr) mac_out->assign(mac, mac + mac_len);
    return len + rrlen;
}

// ---- verifying -------------------------------------------------------------------

Result<TsigVerified> tsig_verify(const Message& msg, std::span<const TsigKey> keys,
                                 const TsigVerifyParams& params) {
    std::optional<RrView> rr = msg.tsig();
    if (!rr) return Error{Reason::tsig_missing, 0};
    Result<TsigView> tv = rr->tsig();
    if (!tv) return tv.error();
    const TsigView& t = *tv;
    const uint32_t at = rr->offset();

    // §5.2.1: the key is identified by name and algorithm together.
    const TsigKey* key = nullptr;
    for (const TsigKey& k : keys) {
        if (rr->owner.equals(k.name) && t.algorithm.equals(tsig_algorithm_name(k.algorithm))) {
            key = &k;
            break;
        }
    }
    if (key == nullptr) return Error{Reason::tsig_bad_key, at};

    // §5.2.2.1: a MAC longer than the hash, or shorter than the larger of 10
    // octets and half the hash, is never valid (this includes the empty MAC of
    // an unsigned BADSIG/BADKEY error, which cannot be authenticated).
    const size_t full = tsig_mac_size(key->algorithm);
    const size_t min_allowed = full / 2 > 10 ? full / 2 : 10;
    if (t.mac.size() > full || t.mac.size() < min_allowed) {
        return Error{Reason::tsig_bad_sig, at};
    }

    MacInput in;
    in.prior_mac = params.request_mac;
    in.include_prior = !params.request_mac.empty() || params.timers_only;
    std::span<const uint8_t> wire = msg.wire();
    in.header = wire.data();
    in.original_id = t.original_id;
    in.arcount = static_cast<uint16_t>(msg.count(Section::additional) - 1);
    in.body = wire.subspan(kHeaderSize, msg.tsig_offset() - kHeaderSize);
    in.key_name = key->name.wire();
    in.alg = key->algorithm;
    in.time_signed = t.time_signed;
    in.fudge = t.fudge;
    in.error = t.error;
    in.other = t.other;
    in.timers_only = params.timers_only;
    uint8_t mac[kMaxMac];
    size_t mac_len = compute_mac(in, key->secret, mac);
    if (mac_len == 0) return Error{Reason::tsig_unsupported_alg, at};
    // A truncated MAC is compared on its own length (§5.2.2.1), in constant time.
    if (CRYPTO_memcmp(mac, t.mac.data(), t.mac.size()) != 0) {
        return Error{Reason::tsig_bad_sig, at};
    }

    // §5.2.3 after the MAC: only an authentic message's clock is worth judging.
    // A response carrying BADTIME echoes our own request's Time Signed, so the
    // check would judge our clock against itself; see the header.
    const bool badtime_reply = !params.request_mac.empty() && t.error == rcode::BADTIME;
    if (!badtime_reply) {
        const uint64_t skew = params.now > t.time_signed ? params.now - t.time_signed
                                                         : t.time_signed - params.now;
        if (skew > t.fudge) return Error{Reason::tsig_bad_time, at};
    }

    // §5.2.4: truncation the RFC allows may still be below local policy.
    if (t.mac.size() < params.min_mac_size && t.mac.size() < full) {
        return Error{Reason::tsig_bad_trunc, at};
    }

    TsigVerified v;
    v.key = key;
    v.mac.assign(t.mac.begin(), t.mac.end());
    v.time_signed = t.time_signed;
    v.error = t.error;
    v.original_id = t.original_id;
    v.other.assign(t.other.begin(), t.other.end());
    return v;
}

// ---- key files -------------------------------------------------------------------

Result<std::vector<TsigKey>> parse_tsig_keyfile(std::string_view text) {
    std::vector<TsigKey> keys;
    Lexer lex(text);
    for (;;) {
        Token t = lex.next();
        if (t.kind == Tok::end) break;
        if (t.kind != Tok::word || !ieq(t.text, "key")) return syntax(t.line);

        Token name_tok = lex.next();
        if (name_tok.kind != Tok::string && name_tok.kind != Tok::word) {
            return syntax(name_tok.line);
        }
        Result<Name> name = Name::parse(name_tok.text);
        if (!name || name->is_root()) return syntax(name_tok.line);
        for (const TsigKey& k : keys) {
            if (k.name == *name) return syntax(name_tok.line);  // duplicate key
        }

        Token open = lex.next();
        if (open.kind != Tok::lbrace) return syntax(open.line);

        std::optional<TsigAlgorithm> alg;
        std::optional<std::vector<uint8_t>> secret;
        uint32_t close_line = 0;
        for (;;) {
            Token s = lex.next();
            if (s.kind == Tok::rbrace) {
                close_line = s.line;
                break;
            }
            if (s.kind != Tok::word) return syntax(s.line);
            Token v = lex.next();
            if (v.kind != Tok::word && v.kind != Tok::string) return syntax(v.line);
            if (ieq(s.text, "algorithm")) {
                if (alg) return syntax(s.line);
                alg = tsig_algorithm_from_name(v.text);
                if (!alg) return Error{Reason::tsig_unsupported_alg, v.line};
            } else if (ieq(s.text, "secret")) {
                if (secret) return syntax(s.line);
                secret = base64_decode(v.text);
                // An empty secret would authenticate nothing.
                if (!secret || secret->empty()) return syntax(v.line);
            } else {
                return syntax(s.line);
            }
            Token semi = lex.next();
            if (semi.kind != Tok::semi) return syntax(semi.line);
        }
        Token semi = lex.next();
        if (semi.kind != Tok::semi) return syntax(semi.kind == Tok::end ? close_line : semi.line);
        if (!alg || !secret) return syntax(close_line);

        TsigKey k;
        k.name = *name;
        k.algorithm = *alg;
        k.secret = std::move(*secret);
        keys.push_back(std::move(k));
    }
    return keys;
}

// ---- base64 ------------------------------------------------------------------------

std::string base64_encode(std::span<const uint8_t> data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += kB64[(v >> 6) & 63];
        out += kB64[v & 63];
    }
    size_t rest = data.size() - i;
    if (rest == 1) {
        uint32_t v = uint32_t{data[i]} << 16;
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += kB64[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

// Strict RFC 4648 §4 decoding with the padding required; ASCII white space is
// skipped because presentation formats split long base64 across lines.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text) {
    std::vector<uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    uint32_t acc = 0;
    int nchars = 0;   // in the current quantum
    int npad = 0;
    for (char c : text) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c == '=') {
            // Padding may only fill the last one or two places of a quantum.
            if (nchars + npad < 2) return std::nullopt;
            ++npad;
            if (nchars + npad > 4) return std::nullopt;
            continue;
        }
        if (npad > 0) return std::nullopt;  // data after padding
        int v = b64_value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        if (++nchars == 4) {
            out.push_back(static_cast<uint8_t>(acc >> 16));
            out.push_back(static_cast<uint8_t>(acc >> 8));
            out.push_back(static_cast<uint8_t>(acc));
            acc = 0;
            nchars = 0;
        }
    }
    if (npad > 0) {
        if (nchars + npad != 4) return std::nullopt;
        if (nchars == 2) {
            out.push_back(static_cast<uint8_t>(acc >> 4));
        } else {  // nchars == 3
            out.push_back(static_cast<uint8_t>(acc >> 10));
            out.push_back(static_cast<uint8_t>(acc >> 2));
        }
    } else if (nchars != 0) {
        return std::nullopt;  // a partial quantum without its padding
    }
    return out;
}

}  // namespace updproxy::codec
