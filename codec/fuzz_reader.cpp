// libFuzzer target for the zero-copy reader (Message::parse and Name::parse).
//
// Parsing alone is not enough: the views Message::parse hands out are walked
// later without bounds checks of their own (NameView, TxtView, OptView trust
// the validation parse did), so a gap in validation only shows when a consumer
// touches the data. This target therefore does, for every accepted message,
// everything the dataplane, the control plane and the presentation code do:
// every section, every typed accessor, every name (to_string, wire_length,
// to_name, hash, label walk), every TXT entry and EDNS option, and the
// uncompressed RDATA in both forms.
//
// Besides "no crash, no hang" it checks a few invariants the headers promise
// (abort() so libFuzzer keeps the input): record counts match the header, views
// stay inside the message, a name's presentation form parses back to the same
// bytes, case-insensitive equality agrees between NameView and Name and hashes
// agree with it, accessors refuse records of other types, and the strict NSEC
// mode rejects exactly what the tolerant mode marks damaged.
//
// Built two ways (codec/meson.build): with -fsanitize=fuzzer for libFuzzer
// (clang, scripts/fuzz.sh), and with fuzz_runner.cpp as a plain program that
// replays files, so gcc builds and `meson test --suite fuzz` run it too.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "codec/message.hpp"
#include "codec/name.hpp"
#include "codec/result.hpp"
#include "codec/types.hpp"

namespace {

using namespace updproxy::codec;

// Keeps the optimizer from dropping reads whose results are otherwise unused:
// the point is that the bytes are touched (ASan sees every read).
volatile uint64_t g_sink = 0;
void sink(uint64_t v) {
    g_sink = g_sink + v;
}
void sink_bytes(std::span<const uint8_t> s) {
    uint64_t h = s.size();
    for (uint8_t b : s) h = h * 31 + b;
    sink(h);
}

[[noreturn]] void fail(const char* what, int line) {
    std::fprintf(stderr, "fuzz_reader: invariant violated (line %d): %s\n", line, what);
    std::abort();
}
#define FUZZ_CHECK(cond)                    \
    do {                                    \
        if (!(cond)) fail(#cond, __LINE__); \
    } while (0)

bool same_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

// True when `inner` lies within `outer` (both views into the same message).
bool within(std::span<const uint8_t> inner, std::span<const uint8_t> outer) {
    return inner.data() >= outer.data() &&
           inner.data() + inner.size() <= outer.data() + outer.size();
}

// Everything a consumer does with a name inside a received message.
void touch_name(const NameView& v) {
    FUZZ_CHECK(!v.empty());
    const size_t wl = v.wire_length();
    FUZZ_CHECK(wl >= 1 && wl <= kMaxNameWire);

    size_t walked = 1, labels = 0;
    v.for_each_label([&](const uint8_t* label, uint8_t len) {
        FUZZ_CHECK(len >= 1 && len <= kMaxLabel);
        sink_bytes({label, len});
        walked += 1 + len;
        ++labels;
    });
    FUZZ_CHECK(walked == wl);
    FUZZ_CHECK(v.label_count() == labels);

    uint8_t wire[kMaxNameWire], lower[kMaxNameWire];
    FUZZ_CHECK(v.to_wire(wire, false) == wl);
    FUZZ_CHECK(v.to_wire(lower, true) == wl);
    for (size_t i = 0; i < wl; ++i) FUZZ_CHECK(lower[i] == ascii_lower(wire[i]));

    const Name n = v.to_name();
    FUZZ_CHECK(same_bytes(n.wire(), {wire, wl}));
    FUZZ_CHECK(n.label_count() == labels);
    FUZZ_CHECK(v.equals(n));
    FUZZ_CHECK(v.equals(v));

    // The presentation form must read back to the very same bytes (case kept).
    const std::string text = v.to_string();
    FUZZ_CHECK(!text.empty() && text.back() == '.');
    auto back = Name::parse(text);
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(same_bytes(back->wire(), n.wire()));
    FUZZ_CHECK(n.to_string() == text);

    sink(v.hash());
    sink(n.hash());
    sink(text.size());
}

// Two names of one message: NameView and Name must agree on equality, and
// equal names must hash alike (RFC 4343 case-insensitivity on both sides).
void compare_names(const NameView& a, const NameView& b) {
    const bool eq = a.equals(b);
    FUZZ_CHECK(eq == b.equals(a));
    FUZZ_CHECK(eq == (a.to_name() == b.to_name()));
    FUZZ_CHECK(eq == a.equals(b.to_name()));
    if (eq) {
        FUZZ_CHECK(a.hash() == b.hash());
        FUZZ_CHECK(a.to_name().hash() == b.to_name().hash());
        FUZZ_CHECK(a.to_name().canonical_compare(b.to_name()) == 0);
    }
}

void touch_question(const Question& q, std::span<const uint8_t> wire) {
    FUZZ_CHECK(q.name.offset() < wire.size());
    touch_name(q.name);
    sink(q.type + q.rrclass() + (q.qu() ? 1U : 0U));
    sink(type_name(q.type).size() + class_name(q.rrclass()).size());
}

// RDATA in uncompressed form, as the control plane stores it and the TIMEOUT
// hash and the UPDATE builder need it. 65535 + 2 * 255 always suffices.
uint8_t g_rdata[66000];
uint8_t g_rdata_canon[66000];

void touch_rr(const RrView& rr, const Message& m, uint16_t timeout_type) {
    const auto wire = m.wire();
    FUZZ_CHECK(rr.offset() < rr.rdata_offset());
    FUZZ_CHECK(rr.end_offset() <= wire.size());
    FUZZ_CHECK(rr.rdata().size() == rr.rdlength());
    FUZZ_CHECK(within(rr.rdata(), wire));
    touch_name(rr.owner);
    sink(rr.ttl + rr.rrclass() + (rr.cache_flush() ? 1U : 0U));
    sink(type_name(rr.type).size());
    if (rr.type != rrtype::OPT) sink(class_name(rr.rrclass()).size());
    sink_bytes(rr.rdata());

    // Only NSEC (its next-domain name) may be tolerated as damaged; callers
    // skip such records, so nothing but the header and nsec() is touched.
    if (rr.damaged()) {
        FUZZ_CHECK(rr.type == rrtype::NSEC);
        auto nsec = rr.nsec();
        if (nsec.ok()) {
            FUZZ_CHECK(nsec->next.empty());
            FUZZ_CHECK(within(nsec->bitmap, rr.rdata()));
            for (uint32_t t = 0; t < 256; ++t) sink(nsec->has_type(static_cast<uint16_t>(t)));
        }
        return;
    }

    // Every accessor is called whatever the type: the matching one must hand
    // out views into this record, the others must refuse.
    if (auto a = rr.a(); a.ok()) {
        FUZZ_CHECK(rr.type == rrtype::A);
        sink_bytes(*a);
    }
    if (auto aaaa = rr.aaaa(); aaaa.ok()) {
        FUZZ_CHECK(rr.type == rrtype::AAAA);
        sink_bytes(*aaaa);
    }
    if (auto t = rr.name_target(); t.ok()) {
        FUZZ_CHECK(rr.type == rrtype::PTR || rr.type == rrtype::CNAME || rr.type == rrtype::NS);
        touch_name(*t);
        compare_names(rr.owner, *t);
    }
    if (auto soa = rr.soa(); soa.ok()) {
        FUZZ_CHECK(rr.type == rrtype::SOA);
        touch_name(soa->mname);
        touch_name(soa->rname);
        compare_names(soa->mname, soa->rname);
        sink(soa->serial + soa->refresh + soa->retry + soa->expire + soa->minimum);
    }
    if (auto srv = rr.srv(); srv.ok()) {
        FUZZ_CHECK(rr.type == rrtype::SRV);
        touch_name(srv->target);
        compare_names(rr.owner, srv->target);
        sink(srv->priority + srv->weight + srv->port);
    }
    if (auto txt = rr.txt(); txt.ok()) {
        FUZZ_CHECK(rr.type == rrtype::TXT);
        FUZZ_CHECK(within(txt->rdata(), rr.rdata()));
        size_t covered = 0;
        std::string text;
        for (const TxtView::Entry& e : *txt) {
            FUZZ_CHECK(within(e.raw, txt->rdata()));
            FUZZ_CHECK(e.key.size() + (e.has_value ? 1 + e.value.size() : 0) == e.raw.size());
            FUZZ_CHECK(e.has_value || e.value.empty());
            sink_bytes(e.key);
            sink_bytes(e.value);
            append_character_string(text, e.raw.data(), e.raw.size());
            covered += 1 + e.raw.size();
        }
        FUZZ_CHECK(covered == txt->rdata().size());
        sink(text.size());
    }
    if (auto h = rr.hinfo(); h.ok()) {
        FUZZ_CHECK(rr.type == rrtype::HINFO);
        FUZZ_CHECK(within(h->cpu, rr.rdata()) && within(h->os, rr.rdata()));
        std::string text;
        append_character_string(text, h->cpu.data(), h->cpu.size());
        append_character_string(text, h->os.data(), h->os.size());
        sink(text.size());
    }
    if (auto nsec = rr.nsec(); nsec.ok()) {
        FUZZ_CHECK(rr.type == rrtype::NSEC);
        touch_name(nsec->next);
        compare_names(rr.owner, nsec->next);
        FUZZ_CHECK(within(nsec->bitmap, rr.rdata()));
        for (uint32_t t = 0; t < 65536; t += (t < 1024 ? 1 : 257))
            sink(nsec->has_type(static_cast<uint16_t>(t)));
        sink(nsec->has_type(0xFFFF));
    }
    if (auto opt = rr.opt(); opt.ok()) {
        FUZZ_CHECK(rr.type == rrtype::OPT);
        sink(opt->udp_size() + opt->ext_rcode() + opt->version() + opt->z() + opt->raw_ttl() +
             (opt->dnssec_ok() ? 1U : 0U));
        size_t covered = 0;
        for (const EdnsOption& o : *opt) {
            FUZZ_CHECK(within(o.data, rr.rdata()));
            sink(o.code);
            sink_bytes(o.data);
            covered += 4 + o.data.size();
            auto found = opt->find(o.code);
            FUZZ_CHECK(found.has_value() && found->code == o.code);
        }
        FUZZ_CHECK(covered == rr.rdlength());
        if (auto lease = opt->lease()) {
            auto raw = opt->find(edns::UPDATE_LEASE);
            FUZZ_CHECK(raw.has_value() && (raw->data.size() == 4 || raw->data.size() == 8));
            FUZZ_CHECK(lease->key_lease.has_value() == (raw->data.size() == 8));
            sink(lease->lease + lease->key_lease.value_or(0));
        }
    }
    if (auto tsig = rr.tsig(); tsig.ok()) {
        FUZZ_CHECK(rr.type == rrtype::TSIG);
        touch_name(tsig->algorithm);
        FUZZ_CHECK(within(tsig->mac, rr.rdata()) && within(tsig->other, rr.rdata()));
        FUZZ_CHECK(tsig->time_signed < (uint64_t{1} << 48));
        sink(tsig->time_signed + tsig->fudge + tsig->original_id + tsig->error);
        sink(rcode_name(tsig->error).size());
        sink_bytes(tsig->mac);
        sink_bytes(tsig->other);
    }
    if (auto to = rr.timeout(timeout_type); to.ok()) {
        FUZZ_CHECK(rr.type == timeout_type);
        FUZZ_CHECK(to->hashes.size() == size_t{to->count} * 16);
        FUZZ_CHECK(within(to->hashes, rr.rdata()));
        sink(to->covered_type + to->count + to->method + to->expiry);
        sink_bytes(to->hashes);
    }

    auto plain = rr.rdata_uncompressed(g_rdata, false);
    auto canon = rr.rdata_uncompressed(g_rdata_canon, true);
    FUZZ_CHECK(plain.ok() && canon.ok());
    FUZZ_CHECK(*plain == *canon);
    sink_bytes({g_rdata, *plain});
    sink_bytes({g_rdata_canon, *canon});
    // Too small a buffer is refused, never overrun (ASan would see it).
    if (*plain > 0) {
        auto tight = rr.rdata_uncompressed({g_rdata, *plain - 1}, false);
        FUZZ_CHECK(!tight.ok() && tight.reason() == Reason::no_space);
    }
}

void touch_message(const Message& m, std::span<const uint8_t> input) {
    FUZZ_CHECK(m.wire().data() == input.data() && m.wire().size() == input.size());
    const Header& h = m.header();
    sink(h.id + h.opcode() + h.rcode() + (h.qr() ? 1U : 0U) + (h.aa() ? 2U : 0U) +
         (h.tc() ? 4U : 0U) + (h.rd() ? 8U : 0U) + (h.ra() ? 16U : 0U) + (h.ad() ? 32U : 0U) +
         (h.cd() ? 64U : 0U));
    sink(opcode_name(h.opcode()).size() + rcode_name(h.rcode()).size());

    size_t nq = 0;
    NameView prev;
    for (const Question& q : m.questions()) {
        touch_question(q, m.wire());
        if (!prev.empty()) compare_names(prev, q.name);
        prev = q.name;
        ++nq;
    }
    FUZZ_CHECK(nq == m.count(Section::question));

    uint16_t damaged = 0;
    uint32_t last_additional = 0;
    bool seen_opt = false;
    for (Section s : {Section::answer, Section::authority, Section::additional}) {
        size_t n = 0;
        for (const RrView& rr : m.records(s)) {
            FUZZ_CHECK(rr.section == s);
            touch_rr(rr, m, rrtype::TIMEOUT_DEFAULT);
            if (!prev.empty()) compare_names(prev, rr.owner);
            prev = rr.owner;
            if (rr.damaged()) ++damaged;
            if (s == Section::additional) last_additional = rr.offset();
            if (rr.type == rrtype::OPT) {
                // Parse allows one OPT, in the additional section only.
                FUZZ_CHECK(s == Section::additional && !seen_opt);
                seen_opt = true;
            }
            ++n;
        }
        FUZZ_CHECK(n == m.count(s));
    }
    FUZZ_CHECK(damaged == m.damaged_count());

    if (auto opt = m.opt()) {
        FUZZ_CHECK(opt->type == rrtype::OPT && opt->section == Section::additional);
        FUZZ_CHECK(opt->opt().ok());
        touch_rr(*opt, m, rrtype::TIMEOUT_DEFAULT);
    } else {
        FUZZ_CHECK(!seen_opt);
    }
    if (auto tsig = m.tsig()) {
        // RFC 8945 §5.1: the TSIG is the last record of the message.
        FUZZ_CHECK(tsig->type == rrtype::TSIG && tsig->section == Section::additional);
        FUZZ_CHECK(tsig->offset() == m.tsig_offset());
        FUZZ_CHECK(tsig->offset() == last_additional);
        FUZZ_CHECK(tsig->end_offset() == m.wire().size());
        touch_rr(*tsig, m, rrtype::TIMEOUT_DEFAULT);
    }
}

// Name::parse reads configuration and CLI input; from_wire reads stored
// names. Neither may crash on any bytes, and what they accept must behave.
void touch_owned_name(const Name& n) {
    FUZZ_CHECK(n.wire_length() >= 1 && n.wire_length() <= kMaxNameWire);
    const std::string text = n.to_string();
    auto back = Name::parse(text);
    FUZZ_CHECK(back.ok() && same_bytes(back->wire(), n.wire()));
    auto again = Name::from_wire(n.wire());
    FUZZ_CHECK(again.ok() && *again == n);

    const size_t labels = n.label_count();
    size_t walked = 1;
    for (size_t i = 0; i < labels; ++i) {
        auto l = n.label(i);
        FUZZ_CHECK(l.size() >= 1 && l.size() <= kMaxLabel);
        walked += 1 + l.size();
    }
    FUZZ_CHECK(walked == n.wire_length());
    FUZZ_CHECK(n.is_root() == (labels == 0));

    const Name lower = n.lowercased();
    FUZZ_CHECK(lower == n && lower.hash() == n.hash() && n.canonical_compare(lower) == 0);
    const Name root;
    FUZZ_CHECK(n.is_subdomain_of(root) && n.is_subdomain_of(n));
    if (labels > 0) {
        const Name up = n.parent();
        FUZZ_CHECK(up.label_count() == labels - 1 && n.is_subdomain_of(up));
        FUZZ_CHECK(n.canonical_compare(up) > 0 && up.canonical_compare(n) < 0);
        // The .local -> subdomain rewrite the control plane does.
        auto moved = n.replace_suffix(up, Name::parse("lab.example.edu.").value());
        if (moved.ok()) {
            FUZZ_CHECK(moved->label_count() == 1 + 3);
        } else {
            FUZZ_CHECK(moved.reason() == Reason::name_too_long);
        }
    }
    Name longer = n;
    if (longer.prepend_label(std::string_view("_sub")).ok()) {
        FUZZ_CHECK(longer.label_count() == labels + 1 && longer.is_subdomain_of(n));
    }
    sink(n.hash() + text.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> input(data, size);

    // The tolerant (default) parse is what the dataplane uses; the strict one
    // must agree with it except for the records the tolerance marked damaged.
    auto msg = Message::parse(input);
    ParseOptions strict_opts;
    strict_opts.tolerate_nsec_next_name = false;
    auto strict = Message::parse(input, strict_opts);
    if (msg.ok()) {
        touch_message(*msg, input);
        FUZZ_CHECK(strict.ok() == (msg->damaged_count() == 0));
    } else {
        FUZZ_CHECK(!strict.ok());
        FUZZ_CHECK(msg.error().offset <= size);
        sink(reason_name(msg.reason()).size());
    }
    if (strict.ok()) {
        FUZZ_CHECK(strict->damaged_count() == 0);
        touch_message(*strict, input);
    }

    // The same bytes as presentation text and as an uncompressed wire name.
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto n = Name::parse(text); n.ok()) {
        touch_owned_name(*n);
    } else {
        sink(reason_name(n.reason()).size());
    }
    if (auto n = Name::from_wire(input); n.ok()) touch_owned_name(*n);

    // A name validated on its own (how the NSEC quirk and TSIG code use it).
    if (size > 0 && size <= 0xFFFFFFFF) {
        uint8_t wire_len = 0;
        auto end = validate_name(data, static_cast<uint32_t>(size), 0, &wire_len);
        if (end.ok()) {
            FUZZ_CHECK(*end <= size);
            const NameView v(data, 0);
            touch_name(v);
            FUZZ_CHECK(v.wire_length() == wire_len);
        }
        auto skipped = skip_name(data, static_cast<uint32_t>(size), 0);
        if (skipped.ok()) FUZZ_CHECK(*skipped <= size);
    }
    return 0;
}
