#include "control/zone/zone_file.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "codec/builder.hpp"
#include "codec/types.hpp"

namespace updproxy::control::zone {

std::string ZoneFileError::to_string() const {
    return line == 0 ? message : "line " + std::to_string(line) + ": " + message;
}

namespace {

struct Token {
    std::string text;    // escapes kept for unquoted tokens, decoded for quoted ones
    bool quoted = false;
};

struct Line {
    size_t number = 0;
    bool blank_owner = false;  // started with white space
    std::vector<Token> tokens;
};

bool fail(ZoneFileError* err, size_t line, std::string msg) {
    if (err != nullptr) *err = ZoneFileError{line, std::move(msg)};
    return false;
}

// Splits the text into logical lines (parentheses join physical lines).
bool tokenize(std::string_view t, std::vector<Line>& out, ZoneFileError* err) {
    size_t line = 1;
    size_t i = 0;
    int depth = 0;
    size_t paren_line = 0;  // where the outermost open '(' is, for errors
    Line cur;
    bool at_line_start = true;
    auto flush = [&]() {
        if (!cur.tokens.empty()) out.push_back(std::move(cur));
        cur = Line{};
    };
    while (i < t.size()) {
        char c = t[i];
        if (at_line_start && depth == 0) {
            flush();
            cur.number = line;
            cur.blank_owner = (c == ' ' || c == '\t');
            at_line_start = false;
        }
        if (c == '\n') {
            ++line;
            ++i;
            if (depth == 0) at_line_start = true;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            ++i;
            continue;
        }
        if (c == ';') {
            while (i < t.size() && t[i] != '\n') ++i;
            continue;
        }
        if (c == '(') {
            if (depth == 0) paren_line = line;
            ++depth;
            ++i;
            continue;
        }
        if (c == ')') {
            if (depth == 0) return fail(err, line, "unbalanced ')'");
            --depth;
            ++i;
            continue;
        }
        Token tok;
        if (c == '"') {
            tok.quoted = true;
            const size_t quote_line = line;
            ++i;
            bool closed = false;
            while (i < t.size()) {
                char d = t[i];
                if (d == '"') {
                    closed = true;
                    ++i;
                    break;
                }
                if (d == '\n') ++line;
                if (d == '\\' && i + 1 < t.size()) {
                    char e = t[i + 1];
                    if (std::isdigit(static_cast<unsigned char>(e))) {
                        if (i + 3 >= t.size()) return fail(err, line, "bad \\DDD escape");
                        int v = 0;
                        for (size_t k = 1; k <= 3; ++k) {
                            char f = t[i + k];
                            if (!std::isdigit(static_cast<unsigned char>(f))) {
                                return fail(err, line, "bad \\DDD escape");
                            }
                            v = v * 10 + (f - '0');
                        }
                        if (v > 255) return fail(err, line, "bad \\DDD escape");
                        tok.text.push_back(static_cast<char>(v));
                        i += 4;
                    } else {
                        tok.text.push_back(e);
                        i += 2;
                    }
                    continue;
                }
                tok.text.push_back(d);
                ++i;
            }
            if (!closed) return fail(err, quote_line, "unterminated quoted string");
        } else {
            while (i < t.size()) {
                char d = t[i];
                if (d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == ';' || d == '(' ||
                    d == ')' || d == '"') {
                    break;
                }
                if (d == '\\' && i + 1 < t.size()) {
                    tok.text.push_back(d);
                    tok.text.push_back(t[i + 1]);
                    i += 2;
                    continue;
                }
                tok.text.push_back(d);
                ++i;
            }
        }
        cur.tokens.push_back(std::move(tok));
    }
    if (depth != 0) return fail(err, paren_line, "unbalanced '('");
    flush();
    return true;
}

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

// Unescaped trailing dot: an absolute name.
bool absolute(std::string_view s) {
    if (s.empty() || s.back() != '.') return false;
    size_t bs = 0;
    for (size_t i = s.size() - 1; i > 0 && s[i - 1] == '\\'; --i) ++bs;
    return bs % 2 == 0;
}

std::optional<codec::Name> make_name(std::string_view s, const codec::Name& origin) {
    if (s == "@") return origin;
    auto n = codec::Name::parse(s);
    if (!n) return std::nullopt;
    if (absolute(s)) return *n;
    // Relative: its labels, then the origin's.
    auto w = n->wire();
    auto o = origin.wire();
    if (w.size() - 1 + o.size() > codec::kMaxNameWire) return std::nullopt;
    std::vector<uint8_t> buf(w.begin(), w.end() - 1);
    buf.insert(buf.end(), o.begin(), o.end());
    auto r = codec::Name::from_wire(buf);
    if (!r) return std::nullopt;
    return *r;
}

std::optional<uint32_t> parse_u32(std::string_view s) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > 0xFFFFFFFFull) return std::nullopt;
    return static_cast<uint32_t>(v);
}

std::optional<uint16_t> parse_u16(std::string_view s) {
    auto v = parse_u32(s);
    if (!v || *v > 0xFFFF) return std::nullopt;
    return static_cast<uint16_t>(*v);
}

// A character-string from a token: unquoted tokens still carry escapes.
std::optional<std::string> char_string(const Token& t) {
    if (t.quoted) return t.text;
    std::string out;
    for (size_t i = 0; i < t.text.size(); ++i) {
        char c = t.text[i];
        if (c == '\\' && i + 1 < t.text.size()) {
            char e = t.text[i + 1];
            if (std::isdigit(static_cast<unsigned char>(e))) {
                if (i + 3 >= t.text.size()) return std::nullopt;
                int v = 0;
                for (size_t k = 1; k <= 3; ++k) {
                    char f = t.text[i + k];
                    if (!std::isdigit(static_cast<unsigned char>(f))) return std::nullopt;
                    v = v * 10 + (f - '0');
                }
                if (v > 255) return std::nullopt;
                out.push_back(static_cast<char>(v));
                i += 3;
            } else {
                out.push_back(e);
                i += 1;
            }
            continue;
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace

std::optional<uint32_t> parse_ttl(std::string_view s) {
    if (auto v = parse_u32(s)) return v;
    if (s.empty()) return std::nullopt;
    uint64_t total = 0, cur = 0;
    bool digits = false;
    for (char c : s) {
        if (c >= '0' && c <= '9') {
            cur = cur * 10 + static_cast<uint64_t>(c - '0');
            digits = true;
            if (cur > 0xFFFFFFFFull) return std::nullopt;
            continue;
        }
        uint64_t mult = 0;
        switch (std::tolower(static_cast<unsigned char>(c))) {
            case 's': mult = 1; break;
            case 'm': mult = 60; break;
            case 'h': mult = 3600; break;
            case 'd': mult = 86400; break;
            case 'w': mult = 604800; break;
            default: return std::nullopt;
        }
        if (!digits) return std::nullopt;
        total += cur * mult;
        if (total > 0xFFFFFFFFull) return std::nullopt;
        cur = 0;
        digits = false;
    }
    if (digits) return std::nullopt;  // "1h30": a bare number after a unit
    return static_cast<uint32_t>(total);
}

std::optional<ZoneFile> parse_zone_file(std::string_view text, ZoneFileError* err,
                                        const codec::Name& initial_origin) {
    std::vector<Line> lines;
    if (!tokenize(text, lines, err)) return std::nullopt;
    codec::Name origin = initial_origin;
    std::optional<uint32_t> default_ttl, last_ttl;
    std::optional<codec::Name> last_owner;
    ZoneFile zf;
    bool have_soa = false;
    struct Pending {
        size_t line;
        PubRecord r;
    };
    std::vector<Pending> recs;

    for (const Line& l : lines) {
        const auto& tk = l.tokens;
        if (!l.blank_owner && !tk[0].quoted && tk[0].text.size() > 1 && tk[0].text[0] == '$') {
            const std::string& d = tk[0].text;
            if (ieq(d, "$ORIGIN")) {
                if (tk.size() != 2) return fail(err, l.number, "$ORIGIN takes one name"), std::nullopt;
                auto n = make_name(tk[1].text, origin);
                if (!n) return fail(err, l.number, "bad $ORIGIN name"), std::nullopt;
                origin = *n;
            } else if (ieq(d, "$TTL")) {
                std::optional<uint32_t> v;
                if (tk.size() == 2) v = parse_ttl(tk[1].text);
                if (!v) return fail(err, l.number, "bad $TTL"), std::nullopt;
                default_ttl = v;
            } else {
                return fail(err, l.number, "unsupported directive " + d), std::nullopt;
            }
            continue;
        }
        size_t i = 0;
        codec::Name owner;
        if (l.blank_owner) {
            if (!last_owner) return fail(err, l.number, "no previous owner"), std::nullopt;
            owner = *last_owner;
        } else {
            auto n = make_name(tk[0].text, origin);
            if (!n) return fail(err, l.number, "bad owner name '" + tk[0].text + "'"), std::nullopt;
            owner = *n;
            i = 1;
        }
        last_owner = owner;
        std::optional<uint32_t> ttl;
        uint16_t type = 0;
        for (int k = 0; k < 3 && i < tk.size(); ++k) {
            const std::string& s = tk[i].text;
            if (auto v = parse_ttl(s); v && !ttl && !tk[i].quoted) {
                ttl = v;
                ++i;
                continue;
            }
            if (ieq(s, "IN")) {
                ++i;
                continue;
            }
            if (ieq(s, "CH") || ieq(s, "HS") || ieq(s, "CS") || ieq(s, "ANY")) {
                return fail(err, l.number, "class " + s + " is not supported"), std::nullopt;
            }
            auto t = codec::type_from_name(s);
            if (!t) return fail(err, l.number, "unknown type '" + s + "'"), std::nullopt;
            type = *t;
            ++i;
            break;
        }
        if (type == 0) return fail(err, l.number, "no type"), std::nullopt;
        if (!ttl) ttl = default_ttl ? default_ttl : last_ttl;
        if (!ttl) return fail(err, l.number, "no TTL and no $TTL"), std::nullopt;
        last_ttl = ttl;
        std::vector<Token> rd(tk.begin() + static_cast<std::ptrdiff_t>(i), tk.end());
        auto need = [&](size_t n) {
            if (rd.size() != n) {
                fail(err, l.number,
                     codec::type_name(type) + " takes " + std::to_string(n) + " fields");
                return false;
            }
            return true;
        };
        auto name_field = [&](const Token& t) -> std::optional<codec::Name> {
            auto n = make_name(t.text, origin);
            if (!n) fail(err, l.number, "bad name '" + t.text + "'");
            return n;
        };
        std::vector<uint8_t> rdata;
        if (rd.size() >= 1 && rd[0].text == "\\#" && !rd[0].quoted) {
            // RFC 3597 §5: \# length hex...
            if (rd.size() < 2) return fail(err, l.number, "\\# needs a length"), std::nullopt;
            auto len = parse_u16(rd[1].text);
            std::string hex;
            for (size_t k = 2; k < rd.size(); ++k) hex += rd[k].text;
            if (!len || hex.size() != 2u * *len) {
                return fail(err, l.number, "\\# length does not match the data"), std::nullopt;
            }
            for (size_t k = 0; k < hex.size(); k += 2) {
                unsigned v = 0;
                for (size_t m = 0; m < 2; ++m) {
                    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(hex[k + m])));
                    v <<= 4;
                    if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
                    else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
                    else return fail(err, l.number, "bad hex in \\#"), std::nullopt;
                }
                rdata.push_back(static_cast<uint8_t>(v));
            }
        } else {
            switch (type) {
                case codec::rrtype::A:
                case codec::rrtype::AAAA: {
                    if (!need(1)) return std::nullopt;
                    bool v6 = type == codec::rrtype::AAAA;
                    uint8_t buf[16];
                    if (inet_pton(v6 ? AF_INET6 : AF_INET, rd[0].text.c_str(), buf) != 1) {
                        return fail(err, l.number, "bad address '" + rd[0].text + "'"), std::nullopt;
                    }
                    rdata.assign(buf, buf + (v6 ? 16 : 4));
                    break;
                }
                case codec::rrtype::NS:
                case codec::rrtype::PTR:
                case codec::rrtype::CNAME: {
                    if (!need(1)) return std::nullopt;
                    auto n = name_field(rd[0]);
                    if (!n) return std::nullopt;
                    rdata = codec::rdata::name(*n);
                    break;
                }
                case codec::rrtype::SRV: {
                    if (!need(4)) return std::nullopt;
                    auto p = parse_u16(rd[0].text), w = parse_u16(rd[1].text),
                         port = parse_u16(rd[2].text);
                    if (!p || !w || !port) {
                        return fail(err, l.number, "bad SRV numbers"), std::nullopt;
                    }
                    auto n = name_field(rd[3]);
                    if (!n) return std::nullopt;
                    rdata = codec::rdata::srv(*p, *w, *port, *n);
                    break;
                }
                case codec::rrtype::TXT: {
                    if (rd.empty()) return fail(err, l.number, "TXT needs a string"), std::nullopt;
                    for (const Token& t : rd) {
                        auto s = char_string(t);
                        if (!s || s->size() > 255) {
                            return fail(err, l.number, "bad TXT string"), std::nullopt;
                        }
                        rdata.push_back(static_cast<uint8_t>(s->size()));
                        rdata.insert(rdata.end(), s->begin(), s->end());
                    }
                    break;
                }
                case codec::rrtype::SOA: {
                    if (!need(7)) return std::nullopt;
                    auto m = name_field(rd[0]);
                    auto r = name_field(rd[1]);
                    if (!m || !r) return std::nullopt;
                    auto serial = parse_u32(rd[2].text);
                    auto refresh = parse_ttl(rd[3].text), retry = parse_ttl(rd[4].text),
                         expire = parse_ttl(rd[5].text), minimum = parse_ttl(rd[6].text);
                    if (!serial || !refresh || !retry || !expire || !minimum) {
                        return fail(err, l.number, "bad SOA numbers"), std::nullopt;
                    }
                    if (have_soa) return fail(err, l.number, "a second SOA"), std::nullopt;
                    have_soa = true;
                    ZoneConfig& c = zf.config;
                    c.apex = owner;
                    c.mname = *m;
                    c.rname = *r;
                    c.serial = *serial;
                    c.refresh = *refresh;
                    c.retry = *retry;
                    c.expire = *expire;
                    c.minimum = *minimum;
                    c.soa_ttl = *ttl;
                    continue;
                }
                default:
                    return fail(err, l.number,
                                "type " + codec::type_name(type) +
                                    " needs the generic form (\\# length hex)"),
                           std::nullopt;
            }
        }
        recs.push_back(Pending{l.number, PubRecord{owner, type, *ttl, std::move(rdata)}});
    }
    if (!have_soa) return fail(err, 0, "no SOA record"), std::nullopt;
    bool first_ns = true;
    for (auto& p : recs) {
        if (!p.r.owner.is_subdomain_of(zf.config.apex)) {
            return fail(err, p.line, "owner " + p.r.owner.to_string() + " is outside the zone " +
                                         zf.config.apex.to_string()),
                   std::nullopt;
        }
        if (p.r.type == codec::rrtype::NS) {
            if (!(p.r.owner == zf.config.apex)) {
                return fail(err, p.line, "delegations (NS below the apex) are not supported"),
                       std::nullopt;
            }
            auto n = codec::Name::from_wire(p.r.rdata);
            if (n) zf.config.ns.push_back(*n);
            if (first_ns) zf.config.ns_ttl = p.r.ttl;
            first_ns = false;
            continue;
        }
        zf.records.push_back(std::move(p.r));
    }
    return zf;
}

std::optional<ZoneFile> load_zone_file(const std::string& path, ZoneFileError* err) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        if (err != nullptr) *err = ZoneFileError{0, path + ": cannot open"};
        return std::nullopt;
    }
    std::ostringstream ss;
    ss << f.rdbuf();
    ZoneFileError e;
    auto z = parse_zone_file(ss.str(), &e);
    if (!z && err != nullptr) *err = ZoneFileError{e.line, path + ": " + e.message};
    return z;
}

}  // namespace updproxy::control::zone
