// Domain names: a lazy view into a message, and an owned wire-form value.
//
// NameView points at a name inside a received message and follows compression
// pointers only when asked (labels, length, comparison, copy). It is only ever
// created over a name that Message::parse (or validate_name) has already
// checked, so its walks need no bounds checks of their own beyond a hop cap.
//
// Name owns up to 255 octets of uncompressed wire form. It is what the control
// plane keeps, rewrites (.local -> subdomain) and writes into messages.
// Comparison and hashing are ASCII case-insensitive (RFC 4343); case is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "codec/result.hpp"

namespace updproxy::codec {

inline constexpr size_t kMaxNameWire = 255;
inline constexpr size_t kMaxLabel = 63;

inline constexpr uint8_t ascii_lower(uint8_t c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c;
}

// Checks the name starting at `pos` in msg[0, len): label lengths, pointer
// direction (each pointer must point before the start of the run of labels it
// ends, so walks always terminate), total length. On success returns the offset
// just past the name's in-place bytes and stores its uncompressed length.
// Errors: name_past_end, label_too_long, name_too_long, pointer_forward,
// pointer_beyond, pointer_chain.
Result<uint32_t> validate_name(const uint8_t* msg, uint32_t len, uint32_t pos,
                               uint8_t* wire_len = nullptr);

// Checks only the in-place bytes of the name at `pos` (labels up to the
// terminating root or pointer) without following the pointer. Used for the NSEC
// quirk: the record's layout is known even when its pointer target is bad.
Result<uint32_t> skip_name(const uint8_t* msg, uint32_t len, uint32_t pos);

class Name;

class NameView {
public:
    NameView() = default;
    NameView(const uint8_t* msg, uint32_t offset) : msg_(msg), offset_(offset) {}

    bool empty() const { return msg_ == nullptr; }
    uint32_t offset() const { return offset_; }

    // Calls f(const uint8_t* label, uint8_t len) for each label, root excluded.
    template <class F>
    void for_each_label(F&& f) const {
        const uint8_t* p = msg_ + offset_;
        for (int hops = 0; hops < 128;) {
            uint8_t l = *p;
            if (l == 0) return;
            if ((l & 0xC0) == 0xC0) {
                p = msg_ + (((l & 0x3F) << 8) | p[1]);
                ++hops;
                continue;
            }
            f(p + 1, l);
            p += 1 + l;
        }
    }

    // Uncompressed wire length including the root label (1..255).
    size_t wire_length() const;
    size_t label_count() const;
    // Writes the uncompressed wire form (at most 255 bytes) to out.
    size_t to_wire(uint8_t* out, bool lowercase = false) const;
    Name to_name() const;
    // Presentation form with a trailing dot and RFC 1035 §5.1 escapes.
    std::string to_string() const;
    bool equals(const NameView& o) const;
    bool equals(const Name& o) const;
    uint64_t hash() const;

private:
    const uint8_t* msg_ = nullptr;
    uint32_t offset_ = 0;
};

class Name {
public:
    Name() { wire_[0] = 0; }  // the root

    // From presentation form ("Lab\032Printer._ipp._tcp.local." or with `\ `,
    // `\.` and `\DDD` escapes; a missing trailing dot is accepted, "." or "" is
    // the root). Errors: bad_presentation, label_too_long, name_too_long.
    static Result<Name> parse(std::string_view text);
    // From uncompressed wire form. Errors as validate_name.
    static Result<Name> from_wire(std::span<const uint8_t> wire);

    std::span<const uint8_t> wire() const& { return {wire_, len_}; }
    // A span into a temporary Name would dangle: keep the Name in a variable.
    std::span<const uint8_t> wire() const&& = delete;
    size_t wire_length() const { return len_; }
    size_t label_count() const;
    bool is_root() const { return len_ == 1; }
    std::string to_string() const;

    // Label i (0 = leftmost) as bytes.
    std::span<const uint8_t> label(size_t i) const&;
    std::span<const uint8_t> label(size_t i) const&& = delete;
    // The name with its leftmost `n` labels removed.
    Name parent(size_t n = 1) const;
    // True when this name equals `zone` or lies below it (case-insensitive).
    bool is_subdomain_of(const Name& zone) const;
    // Prepends one label. Errors: label_too_long, name_too_long.
    Status prepend_label(std::span<const uint8_t> label);
    Status prepend_label(std::string_view label) {
        return prepend_label(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(label.data()), label.size()));
    }
    // Replaces the suffix `from` (which must be a suffix) by `to`:
    // "printer1.local." with from "local." to "lab.example.edu." gives
    // "printer1.lab.example.edu.". Errors: bad_presentation (not a suffix), name_too_long.
    Result<Name> replace_suffix(const Name& from, const Name& to) const;
    Name lowercased() const;

    bool operator==(const Name& o) const;
    // Canonical DNS order (RFC 4034 §6.1).
    int canonical_compare(const Name& o) const;
    uint64_t hash() const;

private:
    uint8_t len_ = 1;
    uint8_t wire_[kMaxNameWire] = {};
    friend class NameView;
};

struct NameHash {
    size_t operator()(const Name& n) const { return static_cast<size_t>(n.hash()); }
};

// Appends the presentation form of one label (escaping . \ " ( ) ; @ $ and
// bytes outside 0x21..0x7e as \DDD, as BIND's dig does).
void append_label_text(std::string& out, const uint8_t* label, size_t len);
// Appends a <character-string> in quotes with the same escaping (TXT, HINFO).
void append_character_string(std::string& out, const uint8_t* s, size_t len);

}  // namespace updproxy::codec
