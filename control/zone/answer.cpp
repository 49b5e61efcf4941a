#include "control/zone/answer.hpp"

#include <algorithm>
#include <cstring>

#include "codec/types.hpp"

namespace updproxy::control::zone {

namespace {

using codec::rrtype::SOA;

constexpr size_t kOptSize = 11;  // root owner, type, class, TTL, RDLENGTH 0

inline void st16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline void st32(uint8_t* p, uint32_t v) {
    st16(p, static_cast<uint16_t>(v >> 16));
    st16(p + 2, static_cast<uint16_t>(v));
}

void count(AnswerCounters* c, std::atomic<uint64_t> AnswerCounters::*f) {
    if (c != nullptr) AnswerCounters::bump(c->*f);
}

void count_rcode(AnswerCounters* c, uint16_t rc) {
    if (c != nullptr) AnswerCounters::bump(c->rcode[rc & 0xF]);
}

struct Edns {
    bool present = false;
    uint16_t udp_size = 0;
    uint8_t version = 0;
    bool dnssec_ok = false;
};

Edns edns_of(const codec::Message& q) {
    Edns e;
    if (auto opt = q.opt()) {
        e.present = true;
        e.udp_size = opt->raw_class;
        e.version = static_cast<uint8_t>((opt->ttl >> 16) & 0xFF);
        e.dnssec_ok = (opt->ttl & 0x8000) != 0;
    }
    return e;
}

// The size a response may have: TCP 65535; UDP 512 without EDNS, else the
// client's size between 512 and our maximum (RFC 6891 §6.2.5); less what the
// caller will append; never more than the buffer.
size_t limit_for(const ClientInfo& ci, const Edns& e, size_t buf) {
    size_t l = 512;
    if (ci.tcp) {
        l = 65535;
    } else if (e.present) {
        l = std::max<size_t>(512, std::min<size_t>(e.udp_size, ci.max_udp_payload));
    }
    l = std::min(l, buf);
    return l > ci.reserve ? l - ci.reserve : 0;
}

void put_opt(uint8_t* p, const ClientInfo& ci, const Edns& e, uint8_t ext_rcode) {
    p[0] = 0;
    st16(p + 1, codec::rrtype::OPT);
    st16(p + 3, std::max<uint16_t>(512, ci.max_udp_payload));
    p[5] = ext_rcode;
    p[6] = 0;  // version
    st16(p + 7, e.dnssec_ok ? 0x8000 : 0);
    st16(p + 9, 0);
}

void put_header(uint8_t* out, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
                uint16_t ar) {
    st16(out, id);
    st16(out + 2, flags);
    st16(out + 4, qd);
    st16(out + 6, an);
    st16(out + 8, ns);
    st16(out + 10, ar);
}

// Base response flags: QR, the query's opcode and RD.
uint16_t base_flags(uint16_t qflags) {
    return static_cast<uint16_t>(codec::flag::QR | (qflags & 0x7800) | (qflags & codec::flag::RD));
}

// Writes the SOA of zone `z` for a negative answer at `p`, its owner a
// pointer to the apex inside the question (at `apex_off`). Returns the bytes
// written, 0 when they would pass `end`.
size_t put_negative_soa(uint8_t* p, const uint8_t* end, const ZoneData& z, size_t apex_off) {
    const size_t mlen = z.mname.prefix.size() + (z.mname.under_apex ? 2 : 0);
    const size_t rlen = z.rname.prefix.size() + (z.rname.under_apex ? 2 : 0);
    const size_t rdlen = mlen + rlen + 20;
    const size_t need = 2 + 10 + rdlen;
    if (p > end || static_cast<size_t>(end - p) < need) return 0;
    const uint16_t ptr = static_cast<uint16_t>(0xC000 | apex_off);
    st16(p, ptr);
    st16(p + 2, SOA);
    st16(p + 4, codec::rrclass::IN);
    st32(p + 6, z.negative_ttl);
    st16(p + 10, static_cast<uint16_t>(rdlen));
    uint8_t* w = p + 12;
    for (const RelName* n : {&z.mname, &z.rname}) {
        std::memcpy(w, n->prefix.data(), n->prefix.size());
        w += n->prefix.size();
        if (n->under_apex) {
            st16(w, ptr);
            w += 2;
        }
    }
    std::memcpy(w, z.soa_rdata.data() + z.soa_rdata.size() - 20, 20);
    return need;
}

// Writes the question (uncompressed, the client's case) at offset 12.
// Returns its end offset, 0 if it does not fit.
size_t put_question(const codec::Question& q, uint8_t* out, size_t limit) {
    size_t len = q.name.wire_length();
    if (12 + len + 4 > limit) return 0;
    q.name.to_wire(out + 12);
    st16(out + 12 + len, q.type);
    st16(out + 12 + len + 2, q.raw_class);
    return 12 + len + 4;
}

}  // namespace

size_t error_response(const codec::Message& query, uint16_t rcode, bool aa, const ClientInfo& ci,
                      std::span<uint8_t> out) {
    const codec::Header& h = query.header();
    Edns e = edns_of(query);
    size_t limit = limit_for(ci, e, out.size());
    if (limit < 12) return 0;
    uint16_t flags = static_cast<uint16_t>(base_flags(h.flags) | (rcode & 0xF));
    if (aa) flags |= codec::flag::AA;
    size_t pos = 12;
    uint16_t qd = 0;
    if (query.count(codec::Section::question) >= 1) {
        size_t end = put_question(*query.questions().begin(), out.data(), limit);
        if (end != 0) {
            pos = end;
            qd = 1;
        }
    }
    uint16_t ar = 0;
    if (e.present && pos + kOptSize <= limit) {
        put_opt(out.data() + pos, ci, e, static_cast<uint8_t>(rcode >> 4));
        pos += kOptSize;
        ar = 1;
    }
    put_header(out.data(), h.id, flags, qd, 0, 0, ar);
    return pos;
}

AnswerResult answer(const codec::Message& q, const ZoneSnapshot& snap, const ClientInfo& ci,
                    std::span<uint8_t> out, AnswerCounters* c) {
    const codec::Header& h = q.header();
    if (h.qr()) {
        count(c, &AnswerCounters::drop_response);
        return {Disposition::drop, 0};
    }
    count(c, &AnswerCounters::queries);
    auto reply = [&](size_t n, uint16_t rc) -> AnswerResult {
        if (n == 0) {
            count(c, &AnswerCounters::drop_no_room);
            return {Disposition::drop, 0};
        }
        count_rcode(c, rc);
        return {Disposition::reply, n};
    };
    auto punt = [&]() -> AnswerResult {
        count(c, &AnswerCounters::punted);
        return {Disposition::punt, 0};
    };

    if (h.opcode() != codec::opcode::QUERY) {
        uint16_t rc = (h.opcode() == codec::opcode::NOTIFY || h.opcode() == codec::opcode::UPDATE)
                          ? codec::rcode::REFUSED
                          : codec::rcode::NOTIMP;
        return reply(error_response(q, rc, false, ci, out), rc);
    }
    if (q.count(codec::Section::question) != 1) {
        return reply(error_response(q, codec::rcode::FORMERR, false, ci, out),
                     codec::rcode::FORMERR);
    }
    if (q.tsig() && !ci.tsig_verified) return punt();

    const Edns e = edns_of(q);
    const size_t limit = limit_for(ci, e, out.size());
    const size_t opt_len = e.present ? kOptSize : 0;
    if (e.present && e.version != 0) {
        // BADVERS (16): 0 in the header, 1 in the OPT's extended rcode.
        return reply(error_response(q, 16, false, ci, out), 0);
    }
    const codec::Question qs = *q.questions().begin();  // a copy: the iterator is a temporary
    if (qs.raw_class != codec::rrclass::IN) {
        return reply(error_response(q, codec::rcode::REFUSED, false, ci, out),
                     codec::rcode::REFUSED);
    }
    if (qs.type == codec::rrtype::AXFR || qs.type == codec::rrtype::IXFR) {
        // Transfers need the slow path (TCP streams, history, ACL); AXFR
        // over UDP is not a thing (RFC 5936 §4.2), as Knot answers.
        if (!ci.tcp && qs.type == codec::rrtype::AXFR) {
            return reply(error_response(q, codec::rcode::NOTIMP, false, ci, out),
                         codec::rcode::NOTIMP);
        }
        return punt();
    }

    uint8_t* o = out.data();
    // The question, echoed as sent, and its lowercased form (the lookup key).
    // A question name is almost never compressed (nothing precedes it to
    // point at): copy it label by label in one pass; the general walk is
    // the fallback.
    uint8_t lc[codec::kMaxNameWire];
    size_t qend = 0;
    {
        const uint8_t* w = q.wire().data();
        size_t p = 12;
        bool plain = true;
        // Parse checked the name: labels are in bounds and total <= 255.
        for (int guard = 0; guard < 128; ++guard) {
            uint8_t l = w[p];
            if ((l & 0xC0) != 0) {
                plain = false;
                break;
            }
            p += 1u + l;
            if (l == 0) break;
        }
        const size_t n = p - 12;
        if (plain && 12 + n + 4 <= limit) {
            std::memcpy(o + 12, w + 12, n + 4);  // name, type, class
            for (size_t i = 0; i < n; ++i) lc[i] = codec::ascii_lower(w[12 + i]);
            qend = 12 + n + 4;
        } else if (!plain) {
            qend = put_question(qs, o, limit);
            if (qend != 0) {
                for (size_t i = 0; i < qend - 16; ++i) lc[i] = codec::ascii_lower(o[12 + i]);
            }
        }
    }
    if (qend == 0 || qend + opt_len > limit) {
        count(c, &AnswerCounters::drop_no_room);
        return {Disposition::drop, 0};
    }
    const size_t qlen = qend - 12 - 4;

    uint16_t flags = base_flags(h.flags);
    uint16_t an = 0, ns = 0, ar = 0;
    uint16_t rc = codec::rcode::NOERROR;
    size_t pos = qend;
    const uint8_t* end = o + limit - opt_len;

    const HotNode node = snap.find(lc, qlen, name_hash(lc, qlen));
    const ZoneData* zone = nullptr;
    bool negative = false;
    if (node) {
        zone = &snap.zone(node.zone());
        flags |= codec::flag::AA;
        HotRendered r;
        bool have = false;
        if (!node.ent()) {
            const size_t types = node.types();
            if (qs.type == codec::rrtype::ANY) {
                if (types != 0) {
                    r = node.rendered(0);
                    have = true;
                }
            } else {
                for (size_t i = 0; i < types; ++i) {
                    r = node.rendered(i);
                    if (r.qtype == qs.type) {
                        have = true;
                        break;
                    }
                }
            }
        }
        if (have) {
            Cut best;
            bool fits = false;
            const size_t room = static_cast<size_t>(end - (o + pos));
            if (r.ncuts != 0) {
                const Cut last = node.cut(r, r.ncuts - 1u);
                if (last.len <= room) {
                    best = last;  // the usual case: everything fits
                    fits = true;
                } else {
                    // The answer and as many whole additional RRsets as fit.
                    for (size_t k = 0; k + 1 < r.ncuts; ++k) {
                        const Cut cut = node.cut(r, k);
                        if (cut.len > room) break;
                        best = cut;
                        fits = true;
                    }
                }
            }
            if (!fits) {
                flags |= codec::flag::TC;
                count(c, &AnswerCounters::truncated);
            } else {
                std::memcpy(o + pos, node.body(r), best.len);
                pos += best.len;
                an = best.an;
                ns = best.ns;
                ar = best.ar;
            }
        } else {
            negative = true;  // NODATA (also at an empty non-terminal)
        }
    } else {
        // Not a node: the closest enclosing one decides NXDOMAIN (in its
        // zone) or REFUSED (no zone). Label by label up to the root.
        size_t off = 0;
        for (int guard = 0; guard < 128 && lc[off] != 0; ++guard) {
            off += 1 + lc[off];
            const HotNode up = snap.find(lc + off, qlen - off, name_hash(lc + off, qlen - off));
            if (up) {
                zone = &snap.zone(up.zone());
                break;
            }
        }
        if (zone == nullptr) {
            rc = codec::rcode::REFUSED;
        } else {
            flags |= codec::flag::AA;
            rc = codec::rcode::NXDOMAIN;
            negative = true;
        }
    }
    if (negative) {
        size_t apex_off = 12 + qlen - zone->apex_lc.wire_length();
        size_t n = put_negative_soa(o + pos, end, *zone, apex_off);
        if (n == 0) {
            flags |= codec::flag::TC;
            count(c, &AnswerCounters::truncated);
        } else {
            pos += n;
            ns = 1;
        }
    }
    if (e.present) {
        put_opt(o + pos, ci, e, 0);
        pos += kOptSize;
        ++ar;
    }
    put_header(o, h.id, static_cast<uint16_t>(flags | rc), 1, an, ns, ar);
    return reply(pos, rc);
}

AnswerResult answer_wire(std::span<const uint8_t> query, const ZoneSnapshot& snap,
                         const ClientInfo& ci, std::span<uint8_t> out, AnswerCounters* c) {
    if (query.size() < codec::kHeaderSize) {
        count(c, &AnswerCounters::drop_short);
        return {Disposition::drop, 0};
    }
    const uint16_t qflags = codec::rd16(query.data() + 2);
    if (qflags & codec::flag::QR) {
        count(c, &AnswerCounters::drop_response);
        return {Disposition::drop, 0};
    }
    auto m = codec::Message::parse(query);
    if (m) return answer(*m, snap, ci, out, c);

    // FORMERR, with the question when its name and fields are readable.
    count(c, &AnswerCounters::queries);
    count(c, &AnswerCounters::formerr);
    const size_t limit = std::min<size_t>(out.size(), 512);
    if (limit < 12) {
        count(c, &AnswerCounters::drop_no_room);
        return {Disposition::drop, 0};
    }
    uint8_t* o = out.data();
    size_t pos = 12;
    uint16_t qd = 0;
    const uint32_t len = static_cast<uint32_t>(std::min<size_t>(query.size(), 0xFFFF));
    if (codec::rd16(query.data() + 4) >= 1) {
        uint8_t wl = 0;
        auto nend = codec::validate_name(query.data(), len, 12, &wl);
        if (nend && *nend + 4 <= len && 12u + wl + 4 <= limit) {
            codec::NameView nv(query.data(), 12);
            size_t n = nv.to_wire(o + 12);
            std::memcpy(o + 12 + n, query.data() + *nend, 4);
            pos = 12 + n + 4;
            qd = 1;
        }
    }
    put_header(o, codec::rd16(query.data()),
               static_cast<uint16_t>(base_flags(qflags) | codec::rcode::FORMERR), qd, 0, 0, 0);
    count_rcode(c, codec::rcode::FORMERR);
    return {Disposition::reply, pos};
}

}  // namespace updproxy::control::zone
