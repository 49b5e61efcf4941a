#include "codec/message.hpp"

#include <cstring>

namespace updproxy::codec {

namespace {

// Smallest possible question (root name, type, class) and record (root name,
// type, class, TTL, RDLENGTH): used to distrust counts before any other work.
constexpr uint32_t kMinQuestion = 5;
constexpr uint32_t kMinRecord = 11;

// A name inside RDATA must end (its in-place bytes) exactly at `expected_end`
// or, when `expected_end` is 0, anywhere inside the RDATA.
Status check_rdata_name(const uint8_t* msg, uint32_t len, uint32_t pos, uint32_t rdend,
                        uint32_t* end_out) {
    auto r = validate_name(msg, len, pos);
    if (!r) return r.error();
    if (*r > rdend) return Status(Reason::rdata_length, pos);
    *end_out = *r;
    return {};
}

Status check_character_strings(const uint8_t* msg, uint32_t p, uint32_t rdend, int exact) {
    int n = 0;
    while (p < rdend) {
        if (p + 1u + msg[p] > rdend) return Status(Reason::txt_string_overrun, p);
        p += 1u + msg[p];
        ++n;
    }
    if (exact >= 0 && n != exact) return Status(Reason::rdata_length, rdend);
    return {};
}

// Whether the window blocks stay inside the RDATA (a bitmap that does not is
// malformed: the message is refused).
Status check_nsec_bitmap_bounds(const uint8_t* msg, uint32_t p, uint32_t rdend) {
    while (p < rdend) {
        if (p + 2 > rdend || p + 2u + msg[p + 1] > rdend) return Status(Reason::nsec_bitmap, p);
        p += 2u + msg[p + 1];
    }
    return {};
}

// RFC 4034 §4.1.2 rules inside the bounds: windows ascending, lengths 1..32.
// python-zeroconf 0.47 writes an empty window block first; like a bad next
// name (RFC 6762 §6.1), that costs the NSEC only.
bool nsec_bitmap_well_formed(const uint8_t* msg, uint32_t p, uint32_t rdend) {
    int last_window = -1;
    while (p < rdend) {
        const int window = msg[p];
        const uint8_t blen = msg[p + 1];
        if (window <= last_window || blen == 0 || blen > 32) return false;
        last_window = window;
        p += 2u + blen;
    }
    return true;
}

// True when the in-place bytes of the name at `pos` end in a compression
// pointer; the NSEC tolerance only covers a bad pointer, not a bad layout.
bool ends_in_pointer(const uint8_t* msg, uint32_t name_end) {
    return name_end >= 2 && (msg[name_end - 2] & 0xC0) == 0xC0;
}

Status check_rdata(const uint8_t* msg, uint32_t len, uint16_t type, uint32_t rdstart,
                   uint16_t rdlen, const ParseOptions& opts, bool* damaged) {
    const uint32_t rdend = rdstart + rdlen;
    uint32_t end = 0;
    switch (type) {
        case rrtype::A:
            return rdlen == 4 ? Status() : Status(Reason::rdata_length, rdstart);
        case rrtype::AAAA:
            return rdlen == 16 ? Status() : Status(Reason::rdata_length, rdstart);
        case rrtype::NS:
        case rrtype::CNAME:
        case rrtype::PTR: {
            if (auto s = check_rdata_name(msg, len, rdstart, rdend, &end); !s) return s;
            return end == rdend ? Status() : Status(Reason::rdata_length, end);
        }
        case rrtype::MX: {
            if (rdlen < 3) return Status(Reason::rdata_length, rdstart);
            if (auto s = check_rdata_name(msg, len, rdstart + 2, rdend, &end); !s) return s;
            return end == rdend ? Status() : Status(Reason::rdata_length, end);
        }
        case rrtype::SRV: {
            if (rdlen < 7) return Status(Reason::rdata_length, rdstart);
            if (auto s = check_rdata_name(msg, len, rdstart + 6, rdend, &end); !s) return s;
            return end == rdend ? Status() : Status(Reason::rdata_length, end);
        }
        case rrtype::SOA: {
            if (auto s = check_rdata_name(msg, len, rdstart, rdend, &end); !s) return s;
            if (auto s = check_rdata_name(msg, len, end, rdend, &end); !s) return s;
            return end + 20 == rdend ? Status() : Status(Reason::rdata_length, end);
        }
        case rrtype::TXT:
            return check_character_strings(msg, rdstart, rdend, -1);
        case rrtype::HINFO:
            return check_character_strings(msg, rdstart, rdend, 2);
        case rrtype::NSEC: {
            auto in_place = skip_name(msg, len, rdstart);
            if (!in_place) return in_place.error();
            if (*in_place > rdend) return Status(Reason::rdata_length, rdstart);
            auto full = validate_name(msg, len, rdstart);
            if (!full) {
                // RFC 6762 §6.1: the next-domain name is to be ignored; a bad
                // pointer there costs this record only.
                if (!opts.tolerate_nsec_next_name || !ends_in_pointer(msg, *in_place)) {
                    return full.error();
                }
                *damaged = true;
            }
            if (auto st = check_nsec_bitmap_bounds(msg, *in_place, rdend); !st) return st;
            if (!nsec_bitmap_well_formed(msg, *in_place, rdend)) {
                if (!opts.tolerate_nsec_next_name) return Status(Reason::nsec_bitmap, *in_place);
                *damaged = true;
            }
            return {};
        }
        case rrtype::OPT: {
            uint32_t p = rdstart;
            while (p < rdend) {
                if (p + 4 > rdend || p + 4u + rd16(msg + p + 2) > rdend) {
                    return Status(Reason::opt_option_overrun, p);
                }
                p += 4u + rd16(msg + p + 2);
            }
            return {};
        }
        case rrtype::TSIG: {
            if (auto s = check_rdata_name(msg, len, rdstart, rdend, &end); !s) return s;
            uint32_t p = end;
            if (p + 10 > rdend || p + 10u + rd16(msg + p + 8) > rdend) {
                return Status(Reason::tsig_rdata, p);
            }
            p += 10u + rd16(msg + p + 8);
            if (p + 6 > rdend || p + 6u + rd16(msg + p + 4) != rdend) {
                return Status(Reason::tsig_rdata, p);
            }
            return {};
        }
        default:
            if (type == opts.timeout_type) {
                if (rdlen < 12 || rdlen != 12u + 16u * msg[rdstart + 2]) {
                    return Status(Reason::timeout_rdata, rdstart);
                }
            }
            return {};
    }
}

}  // namespace

Result<Message> Message::parse(std::span<const uint8_t> wire, const ParseOptions& opts) {
    if (wire.size() < kHeaderSize) return Error{Reason::short_header, 0};
    if (wire.size() > 0xFFFF) return Error{Reason::trailing_bytes, 0xFFFF};
    const uint8_t* msg = wire.data();
    const auto len = static_cast<uint32_t>(wire.size());

    Message m;
    m.msg_ = msg;
    m.len_ = len;
    m.timeout_type_ = opts.timeout_type;
    m.header_.id = rd16(msg);
    m.header_.flags = rd16(msg + 2);
    for (int s = 0; s < 4; ++s) m.header_.count[s] = rd16(msg + 4 + 2 * s);

    const uint32_t min_size = kMinQuestion * m.header_.count[0] +
                              kMinRecord * (uint32_t{m.header_.count[1]} + m.header_.count[2] +
                                            m.header_.count[3]);
    if (min_size > len - kHeaderSize) return Error{Reason::counts_exceed_size, 4};

    uint32_t pos = kHeaderSize;
    m.section_offset_[0] = pos;
    for (uint16_t i = 0; i < m.header_.count[0]; ++i) {
        auto end = validate_name(msg, len, pos);
        if (!end) return end.error();
        if (*end + 4 > len) return Error{Reason::question_past_end, *end};
        pos = *end + 4;
    }

    for (int s = 1; s < 4; ++s) {
        m.section_offset_[s] = pos;
        const uint16_t n = m.header_.count[s];
        for (uint16_t i = 0; i < n; ++i) {
            const uint32_t start = pos;
            auto end = validate_name(msg, len, pos);
            if (!end) return end.error();
            if (*end + 10 > len) return Error{Reason::rr_header_past_end, *end};
            const uint8_t* f = msg + *end;
            const uint16_t type = rd16(f);
            const uint16_t rdlen = rd16(f + 8);
            const uint32_t rdstart = *end + 10;
            if (rdstart + rdlen > len) return Error{Reason::rdata_past_end, *end + 8};

            if (type == rrtype::OPT) {
                if (s != 3 || msg[start] != 0 || m.opt_offset_ != 0) {
                    return Error{Reason::opt_misplaced, start};
                }
                m.opt_offset_ = start;
            } else if (type == rrtype::TSIG) {
                if (s != 3 || i + 1 != n) return Error{Reason::tsig_misplaced, start};
                m.tsig_offset_ = start;
            }
            // RFC 2136 §2.4/2.5: prerequisites and deletions of class ANY or
            // NONE carry an empty RDATA whatever the type.
            const uint16_t cls = rd16(f + 2);
            const bool meta_empty = rdlen == 0 && (cls == rrclass::ANY || cls == rrclass::NONE);
            bool damaged = false;
            if (meta_empty) {
                // nothing to check
            } else if (auto st = check_rdata(msg, len, type, rdstart, rdlen, opts, &damaged);
                       !st) {
                return st.error();
            }
            if (damaged) ++m.damaged_;
            pos = rdstart + rdlen;
        }
    }
    if (pos != len) return Error{Reason::trailing_bytes, pos};
    return m;
}

QuestionRange Message::questions() const {
    return {QuestionIterator(msg_, section_offset_[0], header_.count[0]),
            QuestionIterator(msg_, 0, 0)};
}

RrRange Message::records(Section s) const {
    const int i = static_cast<int>(s);
    return {RrIterator(msg_, len_, section_offset_[i], header_.count[i], s, damaged_ > 0),
            RrIterator(msg_, len_, 0, 0, s, false)};
}

std::optional<RrView> Message::opt() const {
    if (opt_offset_ == 0) return std::nullopt;
    return *RrIterator(msg_, len_, opt_offset_, 1, Section::additional, false);
}

std::optional<RrView> Message::tsig() const {
    if (tsig_offset_ == 0) return std::nullopt;
    return *RrIterator(msg_, len_, tsig_offset_, 1, Section::additional, false);
}

Status check_update(const Message& m) {
    if (m.count(Section::question) != 1) return Status(Reason::update_zone, 4);
    const Question zone = *m.questions().begin();
    if (zone.type != rrtype::SOA || zone.rrclass() == rrclass::ANY ||
        zone.rrclass() == rrclass::NONE) {
        return Status(Reason::update_zone, zone.name.offset());
    }
    const uint16_t zclass = zone.rrclass();
    auto meta = [](uint16_t t) { return t == rrtype::ANY || t == rrtype::AXFR || t == rrtype::IXFR ||
                                        t == 253 || t == 254 || t == rrtype::OPT; };
    for (const RrView& rr : m.records(Section::answer)) {
        const uint16_t c = rr.rrclass();
        const bool ok = rr.ttl == 0 && ((c == rrclass::ANY && rr.rdlength() == 0) ||
                                        (c == rrclass::NONE && rr.rdlength() == 0) ||
                                        (c == zclass && !meta(rr.type)));
        if (!ok) return Status(Reason::update_prerequisite, rr.offset());
    }
    for (const RrView& rr : m.records(Section::authority)) {
        const uint16_t c = rr.rrclass();
        bool ok = false;
        if (c == zclass) {
            ok = !meta(rr.type);
        } else if (c == rrclass::ANY) {
            ok = rr.ttl == 0 && rr.rdlength() == 0 && rr.type != rrtype::AXFR &&
                 rr.type != rrtype::IXFR;
        } else if (c == rrclass::NONE) {
            ok = rr.ttl == 0 && !meta(rr.type);
        }
        if (!ok) return Status(Reason::update_record, rr.offset());
    }
    return {};
}

// ---- iterators ------------------------------------------------------------------

namespace {

// The in-place end of a name already validated by parse.
inline uint32_t skip_validated_name(const uint8_t* msg, uint32_t p) {
    for (;;) {
        const uint8_t l = msg[p];
        if (l == 0) return p + 1;
        if ((l & 0xC0) == 0xC0) return p + 2;
        p += 1u + l;
    }
}

}  // namespace

QuestionIterator::QuestionIterator(const uint8_t* msg, uint32_t pos, uint16_t remaining)
    : msg_(msg), pos_(pos), remaining_(remaining) {
    if (remaining_ > 0) load();
}

void QuestionIterator::load() {
    const uint32_t end = skip_validated_name(msg_, pos_);
    q_.name = NameView(msg_, pos_);
    q_.type = rd16(msg_ + end);
    q_.raw_class = rd16(msg_ + end + 2);
}

QuestionIterator& QuestionIterator::operator++() {
    pos_ = skip_validated_name(msg_, pos_) + 4;
    if (--remaining_ > 0) load();
    return *this;
}

RrIterator::RrIterator(const uint8_t* msg, uint32_t len, uint32_t pos, uint16_t remaining,
                       Section s, bool check_nsec)
    : msg_(msg), len_(len), pos_(pos), remaining_(remaining), section_(s),
      check_nsec_(check_nsec) {
    if (remaining_ > 0) load();
}

void RrIterator::load() {
    const uint32_t end = skip_validated_name(msg_, pos_);
    const uint8_t* f = msg_ + end;
    rr_.owner = NameView(msg_, pos_);
    rr_.type = rd16(f);
    rr_.raw_class = rd16(f + 2);
    rr_.ttl = rd32(f + 4);
    rr_.rdlength_ = rd16(f + 8);
    rr_.rdata_offset_ = end + 10;
    rr_.section = section_;
    rr_.msg_ = msg_;
    rr_.damaged_ = false;
    if (check_nsec_ && rr_.type == rrtype::NSEC) {
        // Same tests as parse: a bad next name, or a bitmap malformed within
        // its bounds (parse already refused anything out of bounds).
        if (!validate_name(msg_, len_, rr_.rdata_offset_).ok()) {
            rr_.damaged_ = true;
        } else {
            const uint32_t p = skip_validated_name(msg_, rr_.rdata_offset_);
            rr_.damaged_ = !nsec_bitmap_well_formed(msg_, p, rr_.rdata_offset_ + rr_.rdlength_);
        }
    }
}

RrIterator& RrIterator::operator++() {
    pos_ = rr_.rdata_offset_ + rr_.rdlength_;
    if (--remaining_ > 0) load();
    return *this;
}

// ---- typed RDATA ----------------------------------------------------------------

namespace {
constexpr Error kWrongType{Reason::rdata_length, 0};
}

Result<std::array<uint8_t, 4>> RrView::a() const {
    if (type != rrtype::A || rdlength_ != 4) return kWrongType;
    std::array<uint8_t, 4> v;
    std::memcpy(v.data(), msg_ + rdata_offset_, 4);
    return v;
}

Result<std::array<uint8_t, 16>> RrView::aaaa() const {
    if (type != rrtype::AAAA || rdlength_ != 16) return kWrongType;
    std::array<uint8_t, 16> v;
    std::memcpy(v.data(), msg_ + rdata_offset_, 16);
    return v;
}

Result<NameView> RrView::name_target() const {
    // RFC 2136 ANY/NONE records parse with no RDATA at all.
    if ((type != rrtype::PTR && type != rrtype::CNAME && type != rrtype::NS) || rdlength_ == 0) return kWrongType;
    return NameView(msg_, rdata_offset_);
}

Result<SoaView> RrView::soa() const {
    if ((type != rrtype::SOA) || rdlength_ == 0) return kWrongType;
    SoaView v;
    v.mname = NameView(msg_, rdata_offset_);
    const uint32_t r = skip_validated_name(msg_, rdata_offset_);
    v.rname = NameView(msg_, r);
    const uint8_t* p = msg_ + skip_validated_name(msg_, r);
    v.serial = rd32(p);
    v.refresh = rd32(p + 4);
    v.retry = rd32(p + 8);
    v.expire = rd32(p + 12);
    v.minimum = rd32(p + 16);
    return v;
}

Result<SrvView> RrView::srv() const {
    if ((type != rrtype::SRV) || rdlength_ == 0) return kWrongType;
    const uint8_t* p = msg_ + rdata_offset_;
    SrvView v;
    v.priority = rd16(p);
    v.weight = rd16(p + 2);
    v.port = rd16(p + 4);
    v.target = NameView(msg_, rdata_offset_ + 6);
    return v;
}

Result<TxtView> RrView::txt() const {
    if (type != rrtype::TXT) return kWrongType;
    return TxtView(rdata());
}

Result<HinfoView> RrView::hinfo() const {
    if ((type != rrtype::HINFO) || rdlength_ == 0) return kWrongType;
    const uint8_t* p = msg_ + rdata_offset_;
    HinfoView v;
    v.cpu = {p + 1, p[0]};
    const uint8_t* q = p + 1 + p[0];
    v.os = {q + 1, q[0]};
    return v;
}

Result<NsecView> RrView::nsec() const {
    if ((type != rrtype::NSEC) || rdlength_ == 0) return kWrongType;
    NsecView v;
    if (!damaged_) v.next = NameView(msg_, rdata_offset_);
    // The in-place layout was checked even for damaged records.
    uint32_t p = rdata_offset_;
    for (;;) {
        const uint8_t l = msg_[p];
        if (l == 0) {
            p += 1;
            break;
        }
        if ((l & 0xC0) == 0xC0) {
            p += 2;
            break;
        }
        p += 1u + l;
    }
    v.bitmap = {msg_ + p, rdata_offset_ + rdlength_ - p};
    return v;
}

Result<OptView> RrView::opt() const {
    if (type != rrtype::OPT) return kWrongType;
    return OptView(raw_class, ttl, rdata());
}

Result<TsigView> RrView::tsig() const {
    if ((type != rrtype::TSIG) || rdlength_ == 0) return kWrongType;
    TsigView v;
    v.algorithm = NameView(msg_, rdata_offset_);
    const uint8_t* p = msg_ + skip_validated_name(msg_, rdata_offset_);
    v.time_signed = rd48(p);
    v.fudge = rd16(p + 6);
    const uint16_t mac_len = rd16(p + 8);
    v.mac = {p + 10, mac_len};
    p += 10 + mac_len;
    v.original_id = rd16(p);
    v.error = rd16(p + 2);
    v.other = {p + 6, rd16(p + 4)};
    return v;
}

Result<TimeoutView> RrView::timeout(uint16_t timeout_type) const {
    if (type != timeout_type || rdlength_ < 12) return kWrongType;
    const uint8_t* p = msg_ + rdata_offset_;
    TimeoutView v;
    v.covered_type = rd16(p);
    v.count = p[2];
    v.method = p[3];
    v.expiry = rd64(p + 4);
    if (rdlength_ != 12u + 16u * v.count) return kWrongType;
    v.hashes = {p + 12, 16u * v.count};
    return v;
}

Result<size_t> RrView::rdata_uncompressed(std::span<uint8_t> out, bool canonical) const {
    const uint8_t* rd = msg_ + rdata_offset_;
    size_t n = 0;
    auto copy = [&](const uint8_t* src, size_t k) {
        if (n + k > out.size()) return false;
        std::memcpy(out.data() + n, src, k);
        n += k;
        return true;
    };
    auto name = [&](uint32_t off, bool lower) {
        if (n + kMaxNameWire > out.size()) {
            NameView v(msg_, off);
            if (n + v.wire_length() > out.size()) return false;
        }
        n += NameView(msg_, off).to_wire(out.data() + n, lower);
        return true;
    };
    const uint32_t rdend = rdata_offset_ + rdlength_;
    if (rdlength_ == 0) return size_t{0};  // RFC 2136 ANY/NONE forms
    bool ok = true;
    switch (type) {
        case rrtype::NS:
        case rrtype::CNAME:
        case rrtype::PTR:
            ok = name(rdata_offset_, canonical);
            break;
        case rrtype::MX:
            ok = copy(rd, 2) && name(rdata_offset_ + 2, canonical);
            break;
        case rrtype::SRV:
            ok = copy(rd, 6) && name(rdata_offset_ + 6, canonical);
            break;
        case rrtype::SOA: {
            const uint32_t r = skip_validated_name(msg_, rdata_offset_);
            const uint32_t tail = skip_validated_name(msg_, r);
            ok = name(rdata_offset_, canonical) && name(r, canonical) && copy(msg_ + tail, 20);
            break;
        }
        case rrtype::NSEC: {
            if (damaged_) return Error{Reason::rdata_name, rdata_offset_};
            const uint32_t tail = skip_validated_name(msg_, rdata_offset_);
            // RFC 6840 §5.1: NSEC's next name is not lowercased.
            ok = name(rdata_offset_, false) && copy(msg_ + tail, rdend - tail);
            break;
        }
        default:
            ok = copy(rd, rdlength_);
    }
    if (!ok) return Error{Reason::no_space, rdata_offset_};
    return n;
}

// ---- RDATA helpers ------------------------------------------------------------------

TxtView::Entry TxtView::iterator::operator*() const {
    Entry e;
    const uint8_t len = *p_;
    e.raw = {p_ + 1, len};
    const auto* eq = static_cast<const uint8_t*>(std::memchr(p_ + 1, '=', len));
    if (eq) {
        e.key = {p_ + 1, static_cast<size_t>(eq - (p_ + 1))};
        e.value = {eq + 1, static_cast<size_t>(p_ + 1 + len - (eq + 1))};
        e.has_value = true;
    } else {
        e.key = e.raw;
    }
    return e;
}

bool NsecView::has_type(uint16_t t) const {
    const uint8_t window = t >> 8;
    const uint8_t bit = t & 0xFF;
    size_t p = 0;
    while (p + 2 <= bitmap.size()) {
        const uint8_t w = bitmap[p], blen = bitmap[p + 1];
        if (w == window) {
            return bit / 8u < blen && (bitmap[p + 2 + bit / 8u] & (0x80 >> (bit % 8)));
        }
        p += 2u + blen;
    }
    return false;
}

EdnsOption OptView::iterator::operator*() const {
    return {rd16(p_), {p_ + 4, rd16(p_ + 2)}};
}

std::optional<EdnsOption> OptView::find(uint16_t code) const {
    for (const EdnsOption& o : *this) {
        if (o.code == code) return o;
    }
    return std::nullopt;
}

std::optional<UpdateLease> OptView::lease() const {
    auto o = find(edns::UPDATE_LEASE);
    if (!o) return std::nullopt;
    if (o->data.size() == 4) return UpdateLease{rd32(o->data.data()), std::nullopt};
    if (o->data.size() == 8) return UpdateLease{rd32(o->data.data()), rd32(o->data.data() + 4)};
    return std::nullopt;
}

}  // namespace updproxy::codec
