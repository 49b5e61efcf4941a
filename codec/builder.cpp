#include "codec/builder.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>

namespace updproxy::codec {

namespace {

// A DNS message never exceeds 65535 bytes (TCP length prefix, RDLENGTH).
constexpr size_t kMaxMessage = 0xFFFF;
// Compression pointers carry 14 bits of offset.
constexpr size_t kMaxPointerTarget = 0x3FFF;
// The largest uncompressed RDATA of a type whose names may be compressed
// (SOA: two names and five 32-bit fields); lets add_rr(RrView) expand those
// on the stack.
constexpr size_t kMaxNameTypeRdata = 2 * kMaxNameWire + 20;

void store16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

void append16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

void append32(std::vector<uint8_t>& out, uint32_t v) {
    append16(out, static_cast<uint16_t>(v >> 16));
    append16(out, static_cast<uint16_t>(v));
}

void append64(std::vector<uint8_t>& out, uint64_t v) {
    append32(out, static_cast<uint32_t>(v >> 32));
    append32(out, static_cast<uint32_t>(v));
}

void append_bytes(std::vector<uint8_t>& out, std::span<const uint8_t> b) {
    out.insert(out.end(), b.begin(), b.end());
}

bool append_string(std::vector<uint8_t>& out, std::string_view s) {
    if (s.size() > 255) return false;
    out.push_back(static_cast<uint8_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
    return true;
}

// Types whose RDATA names are known to every implementation (RFC 1035 types
// named by RFC 3597 §4), plus SRV, whose target mDNS compresses.
bool has_compressible_names(uint16_t type) {
    switch (type) {
        case rrtype::NS:
        case rrtype::CNAME:
        case rrtype::SOA:
        case rrtype::PTR:
        case rrtype::MX:
        case rrtype::SRV:
            return true;
        default:
            return false;
    }
}

// Length of the uncompressed name at the start of `b`, or 0 when it is not
// one (pointer, extended label, runs off the end, longer than 255).
size_t plain_name_length(std::span<const uint8_t> b) {
    size_t p = 0;
    while (p < b.size() && p < kMaxNameWire) {
        uint8_t l = b[p];
        if (l == 0) return p + 1;
        if (l > kMaxLabel) return 0;
        p += 1 + l;
    }
    return 0;
}

}  // namespace

// ---- Builder -----------------------------------------------------------------

Builder::Builder(std::span<uint8_t> buf, BuilderOptions opts) : buf_(buf), opts_(opts) {
    if (buf_.size() < kHeaderSize) {
        // Not even a header fits: every add fails and wire() stays empty.
        buf_ = buf_.first(0);
        pos_ = 0;
        limit_ = 0;
        return;
    }
    std::memset(buf_.data(), 0, kHeaderSize);
    set_limit(opts.limit);
}

void Builder::set_id(uint16_t id) {
    if (!buf_.empty()) store16(buf_.data(), id);
}

void Builder::set_flags(uint16_t flags) {
    if (!buf_.empty()) store16(buf_.data() + 2, flags);
}

uint16_t Builder::flags() const {
    return buf_.empty() ? 0 : rd16(buf_.data() + 2);
}

void Builder::set_opcode(uint8_t op) {
    set_flags(static_cast<uint16_t>((flags() & ~0x7800u) | ((op & 0xFu) << 11)));
}

void Builder::set_rcode(uint8_t rc) {
    // The header holds the low 4 bits; the rest goes in OPT's extended rcode.
    set_flags(static_cast<uint16_t>((flags() & ~0xFu) | (rc & 0xFu)));
}

void Builder::set_limit(size_t lim) {
    size_t cap = std::min(buf_.size(), kMaxMessage);
    limit_ = lim == 0 ? cap : std::min(lim, cap);
}

Status Builder::rollback(const Mark& m, Reason r) {
    pos_ = m.pos;
    ntargets_ = m.ntargets;
    section_ = m.section;
    return Status(r, static_cast<uint32_t>(m.pos));
}

Status Builder::begin(Section s) {
    if (buf_.empty()) return Status(Reason::no_space, 0);
    if (s < section_) return Status(Reason::rdata_length, static_cast<uint32_t>(pos_));
    if (count_[static_cast<int>(s)] == 0xFFFF) {
        return Status(Reason::no_space, static_cast<uint32_t>(pos_));
    }
    section_ = s;
    return {};
}

bool Builder::put(const uint8_t* p, size_t n) {
    if (!room(n)) return false;
    if (n != 0) std::memmove(buf_.data() + pos_, p, n);
    pos_ += n;
    return true;
}

bool Builder::put16(uint16_t v) {
    if (!room(2)) return false;
    store16(buf_.data() + pos_, v);
    pos_ += 2;
    return true;
}

bool Builder::put32(uint32_t v) {
    if (!room(4)) return false;
    store16(buf_.data() + pos_, static_cast<uint16_t>(v >> 16));
    store16(buf_.data() + pos_ + 2, static_cast<uint16_t>(v));
    pos_ += 4;
    return true;
}

void Builder::remember(size_t at, size_t suffix_len) {
    if (at > kMaxPointerTarget || ntargets_ == kMaxTargets) return;
    targets_[ntargets_] = static_cast<uint16_t>(at);
    target_len_[ntargets_] = static_cast<uint8_t>(suffix_len);
    ++ntargets_;
}

// True when the name written at `target` (possibly ending in pointers) equals
// the uncompressed name `suffix`, ignoring ASCII case (RFC 1035 §4.1.4 with
// RFC 4343). Everything it walks was written by this builder, so it is well
// formed; the hop cap is only a guard.
bool Builder::suffix_at(size_t target, const uint8_t* suffix) const {
    const uint8_t* m = buf_.data();
    size_t p = target;
    for (int hops = 0; hops < 128;) {
        uint8_t l = m[p];
        if ((l & 0xC0) == 0xC0) {
            p = (static_cast<size_t>(l & 0x3F) << 8) | m[p + 1];
            ++hops;
            continue;
        }
        if (l != *suffix) return false;
        if (l == 0) return true;
        for (size_t k = 1; k <= l; ++k) {
            if (ascii_lower(m[p + k]) != ascii_lower(suffix[k])) return false;
        }
        p += 1 + l;
        suffix += 1 + l;
    }
    return false;
}

bool Builder::write_name(const Name& n, bool compress) {
    std::span<const uint8_t> w = n.wire();
    size_t label_at[kMaxNameWire / 2 + 1];
    size_t nlabels = 0;
    for (size_t o = 0; w[o] != 0; o += 1 + w[o]) label_at[nlabels++] = o;

    // The longest suffix already in the message wins: try suffixes from the
    // whole name down to the last label; the root alone is never worth a pointer.
    size_t literal = w.size();
    size_t pointer = 0;
    bool use_pointer = false;
    if (compress) {
        for (size_t i = 0; i < nlabels && !use_pointer; ++i) {
            size_t suffix_len = w.size() - label_at[i];
            for (size_t t = 0; t < ntargets_; ++t) {
                if (target_len_[t] != suffix_len) continue;
                if (suffix_at(targets_[t], w.data() + label_at[i])) {
                    pointer = targets_[t];
                    literal = label_at[i];
                    use_pointer = true;
                    break;
                }
            }
        }
    }
    if (!room(literal + (use_pointer ? 2 : 0))) return false;
    size_t start = pos_;
    put(w.data(), literal);
    if (use_pointer) put16(static_cast<uint16_t>(0xC000 | pointer));
    if (compress) {
        for (size_t i = 0; i < nlabels && label_at[i] < literal; ++i) {
            remember(start + label_at[i], w.size() - label_at[i]);
        }
    }
    return true;
}

// Writes RDATA given in uncompressed form, compressing the names of the types
// that allow it. Malformed RDATA of those types is refused rather than copied,
// since a peer would reject the message.
Reason Builder::write_rdata(uint16_t type, std::span<const uint8_t> rd) {
    bool compress = opts_.compress && !rd.empty() && has_compressible_names(type) &&
                    (type != rrtype::SRV || opts_.compress_srv);
    if (!compress) return put(rd.data(), rd.size()) ? Reason::ok : Reason::no_space;

    size_t fixed_before = 0, names = 1, fixed_after = 0;
    if (type == rrtype::MX) fixed_before = 2;
    if (type == rrtype::SRV) fixed_before = 6;
    if (type == rrtype::SOA) {
        names = 2;
        fixed_after = 20;
    }
    if (rd.size() < fixed_before) return Reason::rdata_length;
    if (!put(rd.data(), fixed_before)) return Reason::no_space;
    size_t off = fixed_before;
    for (size_t i = 0; i < names; ++i) {
        size_t len = plain_name_length(rd.subspan(off));
        if (len == 0) return Reason::rdata_name;
        auto name = Name::from_wire(rd.subspan(off, len));
        if (!name) return Reason::rdata_name;
        if (!write_name(*name, true)) return Reason::no_space;
        off += len;
    }
    if (rd.size() - off != fixed_after) return Reason::rdata_length;
    return put(rd.data() + off, fixed_after) ? Reason::ok : Reason::no_space;
}

void Builder::put_counts() {
    for (size_t i = 0; i < 4; ++i) store16(buf_.data() + 4 + 2 * i, count_[i]);
}

Status Builder::add_question(const Name& name, uint16_t type, uint16_t cls) {
    Mark m = mark();
    if (Status st = begin(Section::question); !st) return st;
    if (!write_name(name, opts_.compress) || !put16(type) || !put16(cls)) {
        return rollback(m, Reason::no_space);
    }
    ++count_[static_cast<int>(Section::question)];
    put_counts();
    return {};
}

Status Builder::add_record(Section s, const Name& owner, uint16_t type, uint16_t cls, uint32_t ttl,
                           std::span<const uint8_t> rdata, const RrView* expand_from) {
    Mark m = mark();
    if (Status st = begin(s); !st) return st;
    if (rdata.size() > 0xFFFF) return rollback(m, Reason::rdata_length);
    // RFC 8945 readers hash the key name in canonical form, but some servers
    // have been strict about where it sits; written whole it is never in doubt.
    bool compress_owner = opts_.compress && type != rrtype::TSIG;
    if (!write_name(owner, compress_owner) || !put16(type) || !put16(cls) || !put32(ttl) ||
        !room(2)) {
        return rollback(m, Reason::no_space);
    }
    size_t rdlength_at = pos_;
    pos_ += 2;
    size_t rdata_at = pos_;
    if (expand_from != nullptr) {
        // Names of these types are copied as they are; expanding straight into
        // the output keeps large RDATA off the stack.
        size_t room_left = std::min(limit_ - pos_, size_t{0xFFFF});
        auto n = expand_from->rdata_uncompressed(buf_.subspan(pos_, room_left));
        if (!n) return rollback(m, n.reason());
        pos_ += *n;
    } else if (Reason r = write_rdata(type, rdata); r != Reason::ok) {
        return rollback(m, r);
    }
    size_t rdlength = pos_ - rdata_at;
    if (rdlength > 0xFFFF) return rollback(m, Reason::rdata_length);
    store16(buf_.data() + rdlength_at, static_cast<uint16_t>(rdlength));
    ++count_[static_cast<int>(s)];
    put_counts();
    return {};
}

Status Builder::add_rr(Section s, const Name& owner, uint16_t type, uint16_t cls, uint32_t ttl,
                       std::span<const uint8_t> rdata) {
    return add_record(s, owner, type, cls, ttl, rdata, nullptr);
}

Status Builder::add_rr(Section s, const RrView& rr) {
    Name owner = rr.owner.to_name();
    // RFC 2136 meta-records (class ANY/NONE) carry no RDATA whatever the type.
    if (rr.rdlength() == 0) {
        return add_record(s, owner, rr.type, rr.raw_class, rr.ttl, {}, nullptr);
    }
    if (has_compressible_names(rr.type)) {
        uint8_t tmp[kMaxNameTypeRdata];
        auto n = rr.rdata_uncompressed(tmp);
        if (!n) return Status(n.reason(), static_cast<uint32_t>(pos_));
        return add_record(s, owner, rr.type, rr.raw_class, rr.ttl,
                          std::span<const uint8_t>(tmp, *n), nullptr);
    }
    return add_record(s, owner, rr.type, rr.raw_class, rr.ttl, {}, &rr);
}

Status Builder::add_opt(uint16_t udp_size, uint8_t ext_rcode, uint8_t version, bool dnssec_ok,
                        std::span<const uint8_t> options) {
    uint32_t ttl =
        (uint32_t{ext_rcode} << 24) | (uint32_t{version} << 16) | (dnssec_ok ? 0x8000u : 0u);
    return add_record(Section::additional, Name(), rrtype::OPT, udp_size, ttl, options, nullptr);
}

// ---- rdata helpers -----------------------------------------------------------

namespace rdata {

std::vector<uint8_t> a(std::span<const uint8_t, 4> addr) {
    return {addr.begin(), addr.end()};
}

std::vector<uint8_t> aaaa(std::span<const uint8_t, 16> addr) {
    return {addr.begin(), addr.end()};
}

std::vector<uint8_t> name(const Name& target) {
    return {target.wire().begin(), target.wire().end()};
}

std::vector<uint8_t> soa(const Name& mname, const Name& rname, uint32_t serial, uint32_t refresh,
                         uint32_t retry, uint32_t expire, uint32_t minimum) {
    std::vector<uint8_t> out;
    out.reserve(mname.wire_length() + rname.wire_length() + 20);
    append_bytes(out, mname.wire());
    append_bytes(out, rname.wire());
    for (uint32_t v : {serial, refresh, retry, expire, minimum}) append32(out, v);
    return out;
}

std::vector<uint8_t> srv(uint16_t priority, uint16_t weight, uint16_t port, const Name& target) {
    std::vector<uint8_t> out;
    out.reserve(6 + target.wire_length());
    append16(out, priority);
    append16(out, weight);
    append16(out, port);
    append_bytes(out, target.wire());
    return out;
}

std::vector<uint8_t> txt(std::span<const std::string_view> strings) {
    if (strings.empty()) return {0};
    std::vector<uint8_t> out;
    for (std::string_view s : strings) {
        if (!append_string(out, s)) return {};
    }
    return out;
}

std::vector<uint8_t> hinfo(std::string_view cpu, std::string_view os) {
    std::vector<uint8_t> out;
    if (!append_string(out, cpu) || !append_string(out, os)) return {};
    return out;
}

// RFC 4034 §4.1.2: per 256-type window present, the window number, the
// bitmap length (up to the last non-zero octet, 1..32), then the bitmap, in
// increasing window order.
std::vector<uint8_t> nsec(const Name& next, std::span<const uint16_t> types) {
    std::vector<uint16_t> sorted(types.begin(), types.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());

    std::vector<uint8_t> out(next.wire().begin(), next.wire().end());
    size_t i = 0;
    while (i < sorted.size()) {
        uint8_t window = static_cast<uint8_t>(sorted[i] >> 8);
        uint8_t bits[32] = {};
        size_t len = 0;
        for (; i < sorted.size() && (sorted[i] >> 8) == window; ++i) {
            uint8_t low = static_cast<uint8_t>(sorted[i]);
            bits[low >> 3] = static_cast<uint8_t>(bits[low >> 3] | (0x80u >> (low & 7)));
            len = static_cast<size_t>(low >> 3) + 1;
        }
        out.push_back(window);
        out.push_back(static_cast<uint8_t>(len));
        out.insert(out.end(), bits, bits + len);
    }
    return out;
}

std::vector<uint8_t> lease_option(uint32_t lease, std::optional<uint32_t> key_lease) {
    std::vector<uint8_t> out;
    append16(out, edns::UPDATE_LEASE);
    append16(out, key_lease ? 8 : 4);
    append32(out, lease);
    if (key_lease) append32(out, *key_lease);
    return out;
}

// draft-ietf-dnsop-update-timeout-01: the count is one octet, so more than 255
// hashes cannot be written (empty result).
std::vector<uint8_t> timeout(uint16_t covered_type, uint8_t method, uint64_t expiry,
                             std::span<const std::array<uint8_t, 16>> hashes) {
    if (hashes.size() > 255) return {};
    std::vector<uint8_t> out;
    out.reserve(12 + 16 * hashes.size());
    append16(out, covered_type);
    out.push_back(static_cast<uint8_t>(hashes.size()));
    out.push_back(method);
    append64(out, expiry);
    for (const auto& h : hashes) out.insert(out.end(), h.begin(), h.end());
    return out;
}

}  // namespace rdata

// ---- UpdateBuilder -----------------------------------------------------------

UpdateBuilder::UpdateBuilder(std::span<uint8_t> buf, uint16_t id, BuilderOptions opts)
    : b_(buf, opts) {
    b_.set_id(id);
    b_.set_opcode(opcode::UPDATE);
}

Status UpdateBuilder::zone(const Name& zone, uint16_t cls) {
    // RFC 2136 §2.3: ZOCOUNT is exactly one.
    if (b_.count(Section::question) != 0) {
        return Status(Reason::rdata_length, static_cast<uint32_t>(b_.size()));
    }
    Status st = b_.add_question(zone, rrtype::SOA, cls);
    if (st) zone_class_ = cls;
    return st;
}

Status UpdateBuilder::require_rrset_exists(const Name& name, uint16_t type) {
    return b_.add_rr(Section::answer, name, type, rrclass::ANY, 0, {});
}

Status UpdateBuilder::require_rrset_equals(const Name& name, uint16_t type,
                                           std::span<const uint8_t> rdata) {
    return b_.add_rr(Section::answer, name, type, zone_class_, 0, rdata);
}

Status UpdateBuilder::require_rrset_absent(const Name& name, uint16_t type) {
    return b_.add_rr(Section::answer, name, type, rrclass::NONE, 0, {});
}

Status UpdateBuilder::require_name_in_use(const Name& name) {
    return b_.add_rr(Section::answer, name, rrtype::ANY, rrclass::ANY, 0, {});
}

Status UpdateBuilder::require_name_absent(const Name& name) {
    return b_.add_rr(Section::answer, name, rrtype::ANY, rrclass::NONE, 0, {});
}

Status UpdateBuilder::add(const Name& name, uint16_t type, uint32_t ttl,
                          std::span<const uint8_t> rdata) {
    return b_.add_rr(Section::authority, name, type, zone_class_, ttl, rdata);
}

Status UpdateBuilder::delete_rrset(const Name& name, uint16_t type) {
    return b_.add_rr(Section::authority, name, type, rrclass::ANY, 0, {});
}

Status UpdateBuilder::delete_all(const Name& name) {
    return b_.add_rr(Section::authority, name, rrtype::ANY, rrclass::ANY, 0, {});
}

Status UpdateBuilder::delete_rr(const Name& name, uint16_t type, std::span<const uint8_t> rdata) {
    return b_.add_rr(Section::authority, name, type, rrclass::NONE, 0, rdata);
}

}  // namespace updproxy::codec
