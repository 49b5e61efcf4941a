#include "codec/name.hpp"

#include <algorithm>
#include <cstring>

namespace updproxy::codec {

namespace {

// A 255-octet name has at most 127 labels; more hops than that cannot be a
// real name, only a pointer chain built to waste time.
constexpr int kMaxHops = 127;

// Names start after the 12-byte header; a pointer into the header is as bad
// as one past the end.
constexpr uint32_t kHeaderSizeForNames = 12;

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

inline uint64_t fnv_step(uint64_t h, uint8_t b) { return (h ^ b) * kFnvPrime; }

}  // namespace

Result<uint32_t> validate_name(const uint8_t* msg, uint32_t len, uint32_t pos,
                               uint8_t* wire_len) {
    uint32_t p = pos;
    uint32_t run_start = pos;  // pointers must land before the run they end
    uint32_t end = 0;
    size_t total = 1;
    uint32_t label_at = pos;  // where the label that ran past the end began
    int hops = 0;
    for (;;) {
        if (p >= len) return Error{Reason::name_past_end, label_at};
        label_at = p;
        const uint8_t l = msg[p];
        if (l == 0) {
            if (end == 0) end = p + 1;
            break;
        }
        if ((l & 0xC0) == 0xC0) {
            if (p + 1 >= len) return Error{Reason::name_past_end, p};
            const uint32_t target = (uint32_t{l & 0x3Fu} << 8) | msg[p + 1];
            if (end == 0) end = p + 2;
            if (target >= len || target < kHeaderSizeForNames) {
                return Error{Reason::pointer_beyond, p};
            }
            if (target >= run_start) return Error{Reason::pointer_forward, p};
            if (++hops > kMaxHops) return Error{Reason::pointer_chain, p};
            run_start = target;
            p = target;
            continue;
        }
        if (l & 0xC0) return Error{Reason::label_too_long, p};
        total += l + 1u;
        if (total > kMaxNameWire) return Error{Reason::name_too_long, p};
        p += 1u + l;
    }
    if (wire_len) *wire_len = static_cast<uint8_t>(total);
    return end;
}

Result<uint32_t> skip_name(const uint8_t* msg, uint32_t len, uint32_t pos) {
    uint32_t p = pos;
    uint32_t label_at = pos;
    for (;;) {
        if (p >= len) return Error{Reason::name_past_end, label_at};
        label_at = p;
        const uint8_t l = msg[p];
        if (l == 0) return p + 1;
        if ((l & 0xC0) == 0xC0) {
            if (p + 1 >= len) return Error{Reason::name_past_end, p};
            return p + 2;
        }
        if (l & 0xC0) return Error{Reason::label_too_long, p};
        p += 1u + l;
    }
}

// ---- NameView ------------------------------------------------------------------

size_t NameView::wire_length() const {
    size_t n = 1;
    for_each_label([&](const uint8_t*, uint8_t l) { n += l + 1u; });
    return n;
}

size_t NameView::label_count() const {
    size_t n = 0;
    for_each_label([&](const uint8_t*, uint8_t) { ++n; });
    return n;
}

size_t NameView::to_wire(uint8_t* out, bool lowercase) const {
    size_t n = 0;
    for_each_label([&](const uint8_t* label, uint8_t l) {
        out[n++] = l;
        if (lowercase) {
            for (uint8_t i = 0; i < l; ++i) out[n + i] = ascii_lower(label[i]);
        } else {
            std::memcpy(out + n, label, l);
        }
        n += l;
    });
    out[n++] = 0;
    return n;
}

Name NameView::to_name() const {
    Name n;
    n.len_ = static_cast<uint8_t>(to_wire(n.wire_));
    return n;
}

std::string NameView::to_string() const {
    std::string s;
    for_each_label([&](const uint8_t* label, uint8_t l) {
        append_label_text(s, label, l);
        s.push_back('.');
    });
    if (s.empty()) s = ".";
    return s;
}

bool NameView::equals(const NameView& o) const {
    uint8_t a[kMaxNameWire], b[kMaxNameWire];
    const size_t la = to_wire(a, true);
    const size_t lb = o.to_wire(b, true);
    return la == lb && std::memcmp(a, b, la) == 0;
}

bool NameView::equals(const Name& o) const {
    uint8_t a[kMaxNameWire];
    const size_t la = to_wire(a, true);
    if (la != o.len_) return false;
    for (size_t i = 0; i < la; ++i) {
        if (a[i] != ascii_lower(o.wire_[i])) return false;
    }
    return true;
}

uint64_t NameView::hash() const {
    uint64_t h = kFnvOffset;
    for_each_label([&](const uint8_t* label, uint8_t l) {
        h = fnv_step(h, l);
        for (uint8_t i = 0; i < l; ++i) h = fnv_step(h, ascii_lower(label[i]));
    });
    return fnv_step(h, 0);
}

// ---- Name ----------------------------------------------------------------------

Result<Name> Name::parse(std::string_view text) {
    Name n;
    if (text.empty() || text == ".") return n;
    uint8_t buf[kMaxNameWire];
    size_t out = 0;
    size_t label_start = 0;  // index of the length byte of the current label
    buf[0] = 0;
    out = 1;
    bool label_open = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '.') {
            if (!label_open) return Error{Reason::bad_presentation, static_cast<uint32_t>(i)};
            label_open = false;
            label_start = out;
            if (out >= kMaxNameWire) return Error{Reason::name_too_long, static_cast<uint32_t>(i)};
            buf[out++] = 0;
            continue;
        }
        uint8_t byte = static_cast<uint8_t>(c);
        if (c == '\\') {
            if (i + 1 >= text.size()) {
                return Error{Reason::bad_presentation, static_cast<uint32_t>(i)};
            }
            const char d = text[i + 1];
            if (d >= '0' && d <= '9') {
                if (i + 3 >= text.size()) {
                    return Error{Reason::bad_presentation, static_cast<uint32_t>(i)};
                }
                int v = 0;
                for (size_t k = 1; k <= 3; ++k) {
                    const char e = text[i + k];
                    if (e < '0' || e > '9') {
                        return Error{Reason::bad_presentation, static_cast<uint32_t>(i)};
                    }
                    v = v * 10 + (e - '0');
                }
                if (v > 255) return Error{Reason::bad_presentation, static_cast<uint32_t>(i)};
                byte = static_cast<uint8_t>(v);
                i += 3;
            } else {
                byte = static_cast<uint8_t>(d);
                i += 1;
            }
        }
        label_open = true;
        if (buf[label_start] == kMaxLabel) {
            return Error{Reason::label_too_long, static_cast<uint32_t>(i)};
        }
        if (out + 1 >= kMaxNameWire) return Error{Reason::name_too_long, static_cast<uint32_t>(i)};
        buf[out++] = byte;
        ++buf[label_start];
    }
    if (label_open) {
        if (out >= kMaxNameWire) {
            return Error{Reason::name_too_long, static_cast<uint32_t>(text.size())};
        }
        buf[out++] = 0;
    }
    std::memcpy(n.wire_, buf, out);
    n.len_ = static_cast<uint8_t>(out);
    return n;
}

Result<Name> Name::from_wire(std::span<const uint8_t> wire) {
    if (wire.size() > 0xFFFF) return Error{Reason::name_too_long, 0};
    // Validate as if the name stood alone: no pointer can point anywhere valid.
    uint32_t p = 0;
    size_t total = 1;
    for (;;) {
        if (p >= wire.size()) return Error{Reason::name_past_end, p};
        const uint8_t l = wire[p];
        if (l == 0) break;
        if ((l & 0xC0) == 0xC0) return Error{Reason::pointer_beyond, p};
        if (l & 0xC0) return Error{Reason::label_too_long, p};
        total += l + 1u;
        if (total > kMaxNameWire) return Error{Reason::name_too_long, p};
        p += 1u + l;
    }
    Name n;
    std::memcpy(n.wire_, wire.data(), p + 1);
    n.len_ = static_cast<uint8_t>(p + 1);
    return n;
}

size_t Name::label_count() const {
    size_t n = 0;
    for (size_t p = 0; wire_[p] != 0; p += 1u + wire_[p]) ++n;
    return n;
}

std::string Name::to_string() const {
    if (is_root()) return ".";
    std::string s;
    for (size_t p = 0; wire_[p] != 0; p += 1u + wire_[p]) {
        append_label_text(s, wire_ + p + 1, wire_[p]);
        s.push_back('.');
    }
    return s;
}

std::span<const uint8_t> Name::label(size_t i) const& {
    size_t p = 0;
    for (; wire_[p] != 0 && i > 0; --i) p += 1u + wire_[p];
    return {wire_ + p + 1, wire_[p]};
}

Name Name::parent(size_t n) const {
    size_t p = 0;
    for (; wire_[p] != 0 && n > 0; --n) p += 1u + wire_[p];
    Name r;
    r.len_ = static_cast<uint8_t>(len_ - p);
    std::memcpy(r.wire_, wire_ + p, r.len_);
    return r;
}

bool Name::is_subdomain_of(const Name& zone) const {
    if (zone.len_ > len_) return false;
    // Walk labels until the remaining suffix has the zone's length, then compare.
    size_t p = 0;
    while (len_ - p > zone.len_) p += 1u + wire_[p];
    if (len_ - p != zone.len_) return false;
    for (size_t i = 0; i < zone.len_; ++i) {
        if (ascii_lower(wire_[p + i]) != ascii_lower(zone.wire_[i])) return false;
    }
    return true;
}

Status Name::prepend_label(std::span<const uint8_t> label) {
    if (label.empty() || label.size() > kMaxLabel) return Status(Reason::label_too_long);
    if (len_ + label.size() + 1 > kMaxNameWire) return Status(Reason::name_too_long);
    std::memmove(wire_ + label.size() + 1, wire_, len_);
    wire_[0] = static_cast<uint8_t>(label.size());
    std::memcpy(wire_ + 1, label.data(), label.size());
    len_ = static_cast<uint8_t>(len_ + label.size() + 1);
    return {};
}

Result<Name> Name::replace_suffix(const Name& from, const Name& to) const {
    if (!is_subdomain_of(from)) return Error{Reason::bad_presentation, 0};
    const size_t head = len_ - from.len_;
    if (head + to.len_ > kMaxNameWire) return Error{Reason::name_too_long, 0};
    Name r;
    std::memcpy(r.wire_, wire_, head);
    std::memcpy(r.wire_ + head, to.wire_, to.len_);
    r.len_ = static_cast<uint8_t>(head + to.len_);
    return r;
}

Name Name::lowercased() const {
    Name r = *this;
    for (size_t p = 0; r.wire_[p] != 0; p += 1u + r.wire_[p]) {
        for (size_t i = 1; i <= r.wire_[p]; ++i) r.wire_[p + i] = ascii_lower(r.wire_[p + i]);
    }
    return r;
}

bool Name::operator==(const Name& o) const {
    if (len_ != o.len_) return false;
    for (size_t i = 0; i < len_; ++i) {
        if (ascii_lower(wire_[i]) != ascii_lower(o.wire_[i])) return false;
    }
    return true;
}

int Name::canonical_compare(const Name& o) const {
    // Collect label offsets, then compare from the rightmost label.
    uint8_t a_off[128], b_off[128];
    size_t na = 0, nb = 0;
    for (size_t p = 0; wire_[p] != 0; p += 1u + wire_[p]) a_off[na++] = static_cast<uint8_t>(p);
    for (size_t p = 0; o.wire_[p] != 0; p += 1u + o.wire_[p]) b_off[nb++] = static_cast<uint8_t>(p);
    while (na > 0 && nb > 0) {
        const uint8_t* la = wire_ + a_off[--na];
        const uint8_t* lb = o.wire_ + b_off[--nb];
        const size_t n = std::min(la[0], lb[0]);
        for (size_t i = 1; i <= n; ++i) {
            const uint8_t x = ascii_lower(la[i]), y = ascii_lower(lb[i]);
            if (x != y) return x < y ? -1 : 1;
        }
        if (la[0] != lb[0]) return la[0] < lb[0] ? -1 : 1;
    }
    if (na == nb) return 0;
    return na < nb ? -1 : 1;
}

uint64_t Name::hash() const {
    uint64_t h = kFnvOffset;
    for (size_t p = 0; p < len_; ++p) h = fnv_step(h, ascii_lower(wire_[p]));
    return h;
}

// ---- presentation ------------------------------------------------------------------

namespace {

void append_ddd(std::string& out, uint8_t c) {
    out.push_back('\\');
    out.push_back(static_cast<char>('0' + c / 100));
    out.push_back(static_cast<char>('0' + (c / 10) % 10));
    out.push_back(static_cast<char>('0' + c % 10));
}

}  // namespace

void append_label_text(std::string& out, const uint8_t* label, size_t len) {
    for (size_t i = 0; i < len; ++i) {
        const uint8_t c = label[i];
        switch (c) {
            case '.': case '\\': case '"': case '(': case ')': case ';': case '@': case '$':
                out.push_back('\\');
                out.push_back(static_cast<char>(c));
                break;
            default:
                if (c < 0x21 || c > 0x7E) {
                    append_ddd(out, c);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
}

void append_character_string(std::string& out, const uint8_t* s, size_t len) {
    out.push_back('"');
    for (size_t i = 0; i < len; ++i) {
        const uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20 || c > 0x7E) {
            append_ddd(out, c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

}  // namespace updproxy::codec
