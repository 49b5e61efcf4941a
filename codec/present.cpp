#include "codec/present.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>

namespace updproxy::codec {

namespace {

// dig's master-file style (bin/dig/dig.c): TTL, class, type and RDATA start at
// columns 24, 32, 40 and 48, tab width 8; questions skip the TTL column.
constexpr unsigned kTtlColumn = 24;
constexpr unsigned kClassColumn = 32;
constexpr unsigned kTypeColumn = 40;
constexpr unsigned kRdataColumn = 48;
constexpr unsigned kTabWidth = 8;

constexpr std::string_view kDamagedNsec = "; damaged: NSEC next name ignored (RFC 6762 6.1)";

// BIND's indent() (lib/dns/masterdump.c): always at least one character, tabs
// while a whole tab stop fits, then spaces. A field that overran its column is
// therefore followed by a single space, not a tab, exactly as dig prints it.
void indent_to(std::string& out, unsigned& column, unsigned to) {
    to = std::max(to, column + 1);
    unsigned from = column;
    const unsigned ntabs = to / kTabWidth - from / kTabWidth;
    if (ntabs > 0) {
        out.append(ntabs, '\t');
        from = (to / kTabWidth) * kTabWidth;
    }
    out.append(to - from, ' ');
    column = to;
}

void append_text(std::string& out, unsigned& column, std::string_view s) {
    out += s;
    column += static_cast<unsigned>(s.size());
}

void append_hex(std::string& out, std::span<const uint8_t> b, bool upper,
                std::string_view sep = {}) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < b.size(); ++i) {
        if (i > 0) out += sep;
        out.push_back(digits[b[i] >> 4]);
        out.push_back(digits[b[i] & 0xF]);
    }
}

void append_base64(std::string& out, std::span<const uint8_t> b) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= b.size(); i += 3) {
        const uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8) | b[i + 2];
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(kAlphabet[(v >> 6) & 63]);
        out.push_back(kAlphabet[v & 63]);
    }
    const size_t rest = b.size() - i;
    if (rest == 1) {
        const uint32_t v = uint32_t{b[i]} << 16;
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out += "==";
    } else if (rest == 2) {
        const uint32_t v = (uint32_t{b[i]} << 16) | (uint32_t{b[i + 1]} << 8);
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(kAlphabet[(v >> 6) & 63]);
        out.push_back('=');
    }
}

// BIND's dns_ttl_totext(verbose): "1 day 2 hours", "0 seconds".
void append_duration(std::string& out, uint32_t secs) {
    struct Unit {
        uint32_t value;
        const char* name;
    };
    const std::array<Unit, 5> units{{{secs / 604800, "week"},
                                     {secs / 86400 % 7, "day"},
                                     {secs / 3600 % 24, "hour"},
                                     {secs / 60 % 60, "minute"},
                                     {secs % 60, "second"}}};
    bool first = true;
    for (size_t i = 0; i < units.size(); ++i) {
        const bool last = i + 1 == units.size();
        if (units[i].value == 0 && !(last && first)) continue;
        if (!first) out.push_back(' ');
        out += std::to_string(units[i].value);
        out.push_back(' ');
        out += units[i].name;
        if (units[i].value != 1) out.push_back('s');
        first = false;
    }
}

// RFC 8945 / BIND's dns_tsigrcode_totext: names for the TSIG/TKEY error
// values, the number otherwise.
std::string tsig_error_text(uint16_t e) {
    switch (e) {
        case 19:
            return "BADMODE";
        case 20:
            return "BADNAME";
        case 21:
            return "BADALG";
        case 23:
            return "BADCOOKIE";
        default:
            break;
    }
    const std::string_view n = rcode_name(e);
    if (n == "RESERVED") return std::to_string(e);
    return std::string(n);
}

// RFC 3597 §5: "\# LEN HEX" (dig prints the hex in upper case).
void append_unknown(std::string& out, std::span<const uint8_t> rdata) {
    out += "\\# ";
    out += std::to_string(rdata.size());
    if (!rdata.empty()) {
        out.push_back(' ');
        append_hex(out, rdata, true);
    }
}

void append_type_bitmap(std::string& out, std::span<const uint8_t> bitmap) {
    bool first = true;
    size_t p = 0;
    // The parser validated the window layout; the bounds checks keep this
    // safe for a view that did not come from Message::parse.
    while (p + 2 <= bitmap.size()) {
        const size_t window = bitmap[p];
        const size_t len = bitmap[p + 1];
        if (p + 2 + len > bitmap.size()) break;
        for (size_t i = 0; i < len; ++i) {
            const uint8_t bits = bitmap[p + 2 + i];
            for (unsigned bit = 0; bit < 8; ++bit) {
                if ((bits & (0x80u >> bit)) == 0) continue;
                if (!first) out.push_back(' ');
                out += type_name(static_cast<uint16_t>(window * 256 + i * 8 + bit));
                first = false;
            }
        }
        p += 2 + len;
    }
}

// The message an RrView points into: rdata() is msg + rdata_offset().
const uint8_t* message_base(const RrView& rr) {
    return rr.rdata().data() - rr.rdata_offset();
}

// TKEY (RFC 2930) is not checked by Message::parse, so its algorithm name is
// read here only when it lies uncompressed inside the RDATA (as RFC 2930
// requires); anything else falls back to the RFC 3597 form.
bool append_tkey(std::string& out, std::span<const uint8_t> rd) {
    std::string alg;
    size_t p = 0;
    for (;;) {
        if (p >= rd.size()) return false;
        const uint8_t l = rd[p];
        if (l == 0) {
            ++p;
            break;
        }
        if (l > kMaxLabel || p + 1 + l > rd.size()) return false;
        append_label_text(alg, rd.data() + p + 1, l);
        alg.push_back('.');
        p += 1u + l;
    }
    if (alg.empty()) alg = ".";
    // inception, expiration (4 each), mode, error, key size (2 each)
    if (p + 14 > rd.size()) return false;
    const uint8_t* f = rd.data() + p;
    const uint16_t key_len = rd16(f + 12);
    if (p + 14 + key_len + 2 > rd.size()) return false;
    const uint8_t* o = f + 14 + key_len;
    const uint16_t other_len = rd16(o);
    if (p + 14 + key_len + 2 + other_len != rd.size()) return false;

    out += alg;
    out += ' ' + std::to_string(rd32(f)) + ' ' + std::to_string(rd32(f + 4)) + ' ' +
           std::to_string(rd16(f + 8)) + ' ' + tsig_error_text(rd16(f + 10)) + ' ' +
           std::to_string(key_len) + ' ';
    append_base64(out, {f + 14, key_len});
    out += ' ' + std::to_string(other_len);
    if (other_len > 0) {
        out.push_back(' ');
        append_base64(out, {o + 2, other_len});
    }
    return true;
}

// dig's "; EDNS: ..." line (lib/dns/message.c), without the leading "; ".
void append_edns_header(std::string& out, const OptView& opt) {
    out += "EDNS: version: " + std::to_string(opt.version()) + ", flags:";
    if (opt.dnssec_ok()) out += " do";
    const uint16_t mbz = opt.z();
    if (mbz != 0) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "0x%.4x", mbz);
        out += "; MBZ: ";
        out += buf;
        out += ", udp: ";
    } else {
        out += "; udp: ";
    }
    out += std::to_string(opt.udp_size());
}

// One EDNS option as dig prints it, without the leading "; ". UPDATE-LEASE
// follows BIND 9.20 ("7200/86400 (2 hours/1 day)"); 9.18 only knew it as OPT=2.
// OWNER (draft-cheshire-edns0-owner-option, carried by every Apple OPT) is
// shown as hex.
void append_edns_option(std::string& out, const EdnsOption& o) {
    const auto& d = o.data;
    switch (o.code) {
        case edns::UPDATE_LEASE:
            out += "UPDATE-LEASE:";
            if (d.size() == 4 || d.size() == 8) {
                const uint32_t lease = rd32(d.data());
                out += ' ' + std::to_string(lease);
                if (d.size() == 8) out += '/' + std::to_string(rd32(d.data() + 4));
                out += " (";
                append_duration(out, lease);
                if (d.size() == 8) {
                    out.push_back('/');
                    append_duration(out, rd32(d.data() + 4));
                }
                out.push_back(')');
                return;
            }
            break;
        case edns::OWNER:
            out += "OWNER:";
            if (!d.empty()) {
                out.push_back(' ');
                append_hex(out, d, false, " ");
            }
            return;
        case edns::COOKIE:
            out += "COOKIE:";
            if (!d.empty()) {
                out.push_back(' ');
                append_hex(out, d, false);
            }
            return;
        case 3:
            out += "NSID:";
            break;
        default:
            out += "OPT=" + std::to_string(o.code) + ":";
            break;
    }
    // dig's generic form: hex bytes, then the printable rendering.
    if (d.empty()) return;
    out.push_back(' ');
    for (uint8_t b : d) {
        append_hex(out, {&b, 1}, false);
        out.push_back(' ');
    }
    out += "(\"";
    for (uint8_t b : d) out.push_back(b >= 0x20 && b < 0x7F ? static_cast<char>(b) : '.');
    out += "\")";
}

// The OPT pseudo-section lines (without "; " prefixes), in order.
template <class F>
void for_each_edns_line(const OptView& opt, F&& emit) {
    std::string line;
    append_edns_header(line, opt);
    emit(line);
    for (const EdnsOption& o : opt) {
        line.clear();
        append_edns_option(line, o);
        emit(line);
    }
}

// RFC 2136 §2.4/§2.5 meta-records (delete an RRset or name, "RRset exists")
// have no RDATA; dig prints nothing in its place.
bool is_update_meta(const RrView& rr) {
    const uint16_t c = rr.rrclass();
    return rr.rdlength() == 0 && rr.type != rrtype::OPT &&
           (c == rrclass::ANY || c == rrclass::NONE);
}

// The owner/TTL/class/type columns of an ordinary record line.
void append_rr_prefix(std::string& out, unsigned& column, const RrView& rr) {
    append_text(out, column, rr.owner.to_string());
    indent_to(out, column, kTtlColumn);
    append_text(out, column, std::to_string(rr.ttl));
    indent_to(out, column, kClassColumn);
    append_text(out, column, class_name(rr.rrclass()));
    indent_to(out, column, kTypeColumn);
    append_text(out, column, type_name(rr.type));
    if (!is_update_meta(rr)) indent_to(out, column, kRdataColumn);
}

uint16_t full_rcode(const Message& m) {
    uint16_t rc = m.header().rcode();
    if (auto opt = m.opt())
        rc = static_cast<uint16_t>(rc | (uint16_t{opt->opt()->ext_rcode()} << 4));
    return rc;
}

std::string rcode_text(uint16_t rc) {
    // 16 is BADVERS as a message rcode (RFC 6891), BADSIG only inside TSIG.
    if (rc == 16) return "BADVERS";
    const std::string_view n = rcode_name(rc);
    if (n == "RESERVED") return "RESERVED" + std::to_string(rc);
    return std::string(n);
}

bool is_pseudo(const RrView& rr) {
    return rr.type == rrtype::OPT || rr.type == rrtype::TSIG;
}

constexpr std::array<const char*, 4> kSectionNames{"QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL"};
constexpr std::array<const char*, 4> kUpdateSectionNames{"ZONE", "PREREQUISITE", "UPDATE",
                                                         "ADDITIONAL"};
constexpr std::array<const char*, 4> kJsonSections{"question", "answer", "authority", "additional"};

void append_json_bool(std::string& out, std::string_view key, bool v) {
    out += ", \"";
    out += key;
    out += "\": ";
    out += v ? "true" : "false";
}

void append_json_uint(std::string& out, std::string_view key, uint64_t v) {
    out += ", \"";
    out += key;
    out += "\": ";
    out += std::to_string(v);
}

void append_json_str(std::string& out, std::string_view key, std::string_view v) {
    out += ", \"";
    out += key;
    out += "\": ";
    append_json_string(out, v);
}

// Length of a well-formed UTF-8 sequence starting at s[i] (RFC 3629: no
// overlongs, no surrogates, at most U+10FFFF), or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    const auto c1 = static_cast<uint8_t>(s[i + 1]);
    if (c1 < lo || c1 > hi) return 0;
    for (size_t k = 2; k < n; ++k) {
        const auto ck = static_cast<uint8_t>(s[i + k]);
        if (ck < 0x80 || ck > 0xBF) return 0;
    }
    return n;
}

}  // namespace

void append_rdata(std::string& out, const RrView& rr, const PresentOptions& o) {
    if (is_update_meta(rr)) return;
    if (rr.damaged()) {
        // The next-domain name's pointer is bad: printing it would follow
        // the pointer into garbage, so only the (validated) bitmap is shown.
        if (auto n = rr.nsec(); n.ok()) {
            out += kDamagedNsec;
            if (!n->bitmap.empty()) {
                out += "; types: ";
                append_type_bitmap(out, n->bitmap);
            }
            return;
        }
        out += "; damaged; ";
        append_unknown(out, rr.rdata());
        return;
    }
    if (o.timeout_type != 0 && rr.type == o.timeout_type) {
        if (auto t = rr.timeout(o.timeout_type); t.ok()) {
            out += type_name(t->covered_type) + ' ' + std::to_string(t->count) + ' ' +
                   std::to_string(t->method) + ' ' + std::to_string(t->expiry);
            for (size_t i = 0; i + 16 <= t->hashes.size(); i += 16) {
                out.push_back(' ');
                append_hex(out, t->hashes.subspan(i, 16), true);
            }
            return;
        }
        append_unknown(out, rr.rdata());
        return;
    }
    switch (rr.type) {
        case rrtype::A:
            if (auto a = rr.a(); a.ok()) {
                const auto& b = *a;
                out += std::to_string(b[0]) + '.' + std::to_string(b[1]) + '.' +
                       std::to_string(b[2]) + '.' + std::to_string(b[3]);
                return;
            }
            break;
        case rrtype::AAAA:
            if (auto a = rr.aaaa(); a.ok()) {
                char buf[INET6_ADDRSTRLEN];
                if (inet_ntop(AF_INET6, a->data(), buf, sizeof buf) != nullptr) {
                    out += buf;
                    return;
                }
            }
            break;
        case rrtype::NS:
        case rrtype::CNAME:
        case rrtype::PTR:
            if (auto n = rr.name_target(); n.ok()) {
                out += n->to_string();
                return;
            }
            break;
        case rrtype::MX:
            // No typed view; parse checked the exchange name at RDATA + 2.
            if (rr.rdlength() >= 3) {
                out += std::to_string(rd16(rr.rdata().data())) + ' ' +
                       NameView(message_base(rr), rr.rdata_offset() + 2).to_string();
                return;
            }
            break;
        case rrtype::SOA:
            if (auto s = rr.soa(); s.ok()) {
                out += s->mname.to_string() + ' ' + s->rname.to_string() + ' ' +
                       std::to_string(s->serial) + ' ' + std::to_string(s->refresh) + ' ' +
                       std::to_string(s->retry) + ' ' + std::to_string(s->expire) + ' ' +
                       std::to_string(s->minimum);
                return;
            }
            break;
        case rrtype::SRV:
            if (auto s = rr.srv(); s.ok()) {
                out += std::to_string(s->priority) + ' ' + std::to_string(s->weight) + ' ' +
                       std::to_string(s->port) + ' ' + s->target.to_string();
                return;
            }
            break;
        case rrtype::TXT:
            // An empty TXT RDATA has no presentation form of its own.
            if (auto t = rr.txt(); t.ok() && rr.rdlength() > 0) {
                bool first = true;
                for (const auto& e : *t) {
                    if (!first) out.push_back(' ');
                    append_character_string(out, e.raw.data(), e.raw.size());
                    first = false;
                }
                return;
            }
            break;
        case rrtype::HINFO:
            if (auto h = rr.hinfo(); h.ok()) {
                append_character_string(out, h->cpu.data(), h->cpu.size());
                out.push_back(' ');
                append_character_string(out, h->os.data(), h->os.size());
                return;
            }
            break;
        case rrtype::NSEC:
            if (auto n = rr.nsec(); n.ok()) {
                out += n->next.to_string();
                if (!n->bitmap.empty()) {
                    out.push_back(' ');
                    append_type_bitmap(out, n->bitmap);
                }
                return;
            }
            break;
        case rrtype::OPT:
            if (auto opt = rr.opt(); opt.ok()) {
                bool first = true;
                for_each_edns_line(*opt, [&](const std::string& line) {
                    if (!first) out += "; ";
                    out += line;
                    first = false;
                });
                return;
            }
            break;
        case rrtype::TSIG:
            if (auto t = rr.tsig(); t.ok()) {
                out += t->algorithm.to_string() + ' ' + std::to_string(t->time_signed) + ' ' +
                       std::to_string(t->fudge) + ' ' + std::to_string(t->mac.size());
                if (!t->mac.empty()) {
                    out.push_back(' ');
                    append_base64(out, t->mac);
                }
                out += ' ' + std::to_string(t->original_id) + ' ' + tsig_error_text(t->error) +
                       ' ' + std::to_string(t->other.size());
                if (!t->other.empty()) {
                    out.push_back(' ');
                    append_base64(out, t->other);
                }
                return;
            }
            break;
        case rrtype::TKEY:
            if (append_tkey(out, rr.rdata())) return;
            break;
        default:
            break;
    }
    append_unknown(out, rr.rdata());
}

void append_rr(std::string& out, const RrView& rr, const PresentOptions& o) {
    if (rr.type == rrtype::OPT) {
        if (auto opt = rr.opt(); opt.ok()) {
            bool first = true;
            for_each_edns_line(*opt, [&](const std::string& line) {
                if (!first) out.push_back('\n');
                out += "; ";
                out += line;
                first = false;
            });
            return;
        }
    }
    unsigned column = 0;
    append_rr_prefix(out, column, rr);
    append_rdata(out, rr, o);
    if (rr.cache_flush()) out += " ; cache-flush";
}

std::string format_message(const Message& m, const PresentOptions& o) {
    const Header& h = m.header();
    const bool update = h.opcode() == opcode::UPDATE;
    std::string out;
    out += ";; ->>HEADER<<- opcode: ";
    out += opcode_name(h.opcode());
    out += ", status: " + rcode_text(full_rcode(m)) + ", id: " + std::to_string(h.id) + '\n';
    out += ";; flags:";
    if (h.qr()) out += " qr";
    if (h.aa()) out += " aa";
    if (h.tc()) out += " tc";
    if (h.rd()) out += " rd";
    if (h.ra()) out += " ra";
    if (h.ad()) out += " ad";
    if (h.cd()) out += " cd";
    if (h.flags & 0x0040) out += "; MBZ: 0x4";
    // dig's own header always says QUERY/ANSWER/AUTHORITY; BIND's generic
    // dns_message_headertotext (nsupdate -d) uses the RFC 2136 names, which
    // say what the counts mean for an UPDATE.
    if (update) {
        out += "; ZONE: " + std::to_string(h.count[0]) + ", PREREQ: " + std::to_string(h.count[1]) +
               ", UPDATE: " + std::to_string(h.count[2]);
    } else {
        out += "; QUERY: " + std::to_string(h.count[0]) +
               ", ANSWER: " + std::to_string(h.count[1]) +
               ", AUTHORITY: " + std::to_string(h.count[2]);
    }
    out += ", ADDITIONAL: " + std::to_string(h.count[3]) + "\n\n";
    if (m.damaged_count() > 0) {
        out += ";; WARNING: " + std::to_string(m.damaged_count()) +
               " damaged record(s) kept (RFC 6762 6.1)\n\n";
    }

    // As in dig 9.18, the OPT pseudo-section is not followed by a blank line.
    if (auto opt = m.opt()) {
        out += ";; OPT PSEUDOSECTION:\n";
        append_rr(out, *opt, o);
        out.push_back('\n');
    }

    const auto& names = update ? kUpdateSectionNames : kSectionNames;
    if (h.count[0] > 0) {
        out += ";; ";
        out += names[0];
        out += " SECTION:\n";
        for (const Question& q : m.questions()) {
            unsigned column = 0;
            out.push_back(';');
            append_text(out, column, q.name.to_string());
            indent_to(out, column, kClassColumn);
            append_text(out, column, class_name(q.rrclass()));
            indent_to(out, column, kTypeColumn);
            append_text(out, column, type_name(q.type));
            if (q.qu()) out += " ; QU";
            out.push_back('\n');
        }
        out.push_back('\n');
    }
    for (int s = 1; s < 4; ++s) {
        std::string body;
        for (const RrView& rr : m.records(static_cast<Section>(s))) {
            if (s == 3 && is_pseudo(rr)) continue;
            append_rr(body, rr, o);
            body.push_back('\n');
        }
        if (body.empty()) continue;
        out += ";; ";
        out += names[static_cast<size_t>(s)];
        out += " SECTION:\n";
        out += body;
        out.push_back('\n');
    }
    if (auto tsig = m.tsig()) {
        out += ";; TSIG PSEUDOSECTION:\n";
        append_rr(out, *tsig, o);
        out += "\n\n";
    }
    return out;
}

std::string format_message_json(const Message& m, std::string_view source,
                                const PresentOptions& o) {
    const Header& h = m.header();
    std::string out = "{\"source\": ";
    append_json_string(out, source);
    append_json_uint(out, "id", h.id);
    append_json_bool(out, "qr", h.qr());
    append_json_uint(out, "opcode", h.opcode());
    append_json_bool(out, "aa", h.aa());
    append_json_bool(out, "tc", h.tc());
    append_json_bool(out, "rd", h.rd());
    append_json_bool(out, "ra", h.ra());
    append_json_uint(out, "rcode", full_rcode(m));

    out += ", \"question\": [";
    bool first = true;
    for (const Question& q : m.questions()) {
        out += first ? "{" : ", {";
        first = false;
        out += "\"name\": ";
        append_json_string(out, q.name.to_string());
        append_json_str(out, "type", type_name(q.type));
        append_json_str(out, "class", class_name(q.rrclass()));
        append_json_bool(out, "qu", q.qu());
        out.push_back('}');
    }
    out.push_back(']');

    for (int s = 1; s < 4; ++s) {
        out += ", \"";
        out += kJsonSections[static_cast<size_t>(s)];
        out += "\": [";
        first = true;
        for (const RrView& rr : m.records(static_cast<Section>(s))) {
            out += first ? "{" : ", {";
            first = false;
            out += "\"name\": ";
            append_json_string(out, rr.owner.to_string());
            append_json_uint(out, "ttl", rr.ttl);
            // OPT's class field is the UDP payload size: printed as its number.
            append_json_str(
                out, "class",
                rr.type == rrtype::OPT ? std::to_string(rr.raw_class) : class_name(rr.rrclass()));
            append_json_str(out, "type", type_name(rr.type));
            append_json_bool(out, "cache_flush", rr.cache_flush());
            std::string rdata;
            append_rdata(rdata, rr, o);
            append_json_str(out, "rdata", rdata);
            if (rr.damaged()) append_json_bool(out, "damaged", true);
            out.push_back('}');
        }
        out.push_back(']');
    }
    out.push_back('}');
    return out;
}

std::string format_error_json(std::string_view source, Error e) {
    std::string out = "{\"source\": ";
    append_json_string(out, source);
    append_json_str(out, "error", reason_name(e.reason));
    append_json_uint(out, "offset", e.offset);
    out.push_back('}');
    return out;
}

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<uint8_t>(s[i]);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
            ++i;
        } else if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
            ++i;
        } else if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
        } else if (const size_t n = utf8_sequence(s, i); n > 0) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            // A byte that is not part of valid UTF-8 (a raw file name, say)
            // would make the whole line invalid JSON.
            out += "\\ufffd";
            ++i;
        }
    }
    out.push_back('"');
}

}  // namespace updproxy::codec
