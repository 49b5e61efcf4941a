// ASCII case folding eight bytes at a time, for the table's owner names and
// the names inside RDATA (RFC 4343: only A-Z fold; every other byte, 0x80-0xFF
// included, is itself). Byte for byte the same as codec::ascii_lower, which
// the unit test checks for every byte value in every lane. Label length bytes
// (0..63) are never letters, so a whole wire-form name can be folded at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "codec/name.hpp"

namespace updproxy::table {

inline uint64_t lower8(uint64_t w) {
    constexpr uint64_t ones = 0x0101010101010101ULL, hi = 0x8080808080808080ULL;
    const uint64_t x = w & ~hi;                                 // 7 low bits of each byte
    const uint64_t ge_a = x + ones * (0x80 - 'A');              // bit 7 set: x >= 'A'
    const uint64_t gt_z = x + ones * (0x80 - 'Z' - 1);          // bit 7 set: x > 'Z'
    const uint64_t upper = ge_a & ~gt_z & ~w & hi;              // and bit 7 of w clear
    return w | (upper >> 2);                                    // + 0x20 where upper
}

// Folds p[0, n) in place.
inline void lower_in_place(uint8_t* p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        w = lower8(w);
        std::memcpy(p + i, &w, 8);
    }
    for (; i < n; ++i) p[i] = codec::ascii_lower(p[i]);
}

// True when `stored` folded equals `lower` (already folded), both n bytes.
// Words that are equal as they are (the usual case: names are mostly sent in
// lowercase) are not folded. The last partial word is compared as the 8
// bytes that end at n (overlapping the word before).
inline bool equal_folded(const uint8_t* stored, const uint8_t* lower, size_t n) {
    if (n < 8) {
        for (size_t i = 0; i < n; ++i) {
            if (codec::ascii_lower(stored[i]) != lower[i]) return false;
        }
        return true;
    }
    auto same = [&](size_t i) {
        uint64_t a, b;
        std::memcpy(&a, stored + i, 8);
        std::memcpy(&b, lower + i, 8);
        return a == b || lower8(a) == b;
    };
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if (!same(i)) return false;
    }
    return i == n || same(n - 8);
}

// Where the labels of the (validated) name at msg[off] start, compression
// pointers followed.
inline uint32_t name_label_start(const uint8_t* msg, uint32_t off) {
    for (int hops = 0; hops < 128 && (msg[off] & 0xC0) == 0xC0; ++hops) {
        off = static_cast<uint32_t>(((msg[off] & 0x3F) << 8) | msg[off + 1]);
    }
    return off;
}

// Writes the uncompressed wire form of the name at msg[off] - validated by
// codec::Message::parse - lowercased, to `out` and returns its length: what
// codec::NameView::to_wire(out, true) writes, 8 bytes at a time. `out` needs 7
// bytes of room past the name (they are overwritten with junk). Reads stay
// inside the message: whole words inside a label, and a label's last partial
// word is read as the 8 bytes that end where the label ends (a label is never
// in the 12-byte header unless a pointer was crafted to go there: then bytes).
template <bool Lower>
inline size_t flatten_name_as(const uint8_t* msg, uint32_t off, uint8_t* out) {
    const uint8_t* p = msg + off;
    size_t n = 0;
    for (int hops = 0; hops < 128;) {
        const uint8_t l = *p;
        if (l == 0) break;
        if ((l & 0xC0) == 0xC0) {
            p = msg + (((l & 0x3F) << 8) | p[1]);
            ++hops;
            continue;
        }
        out[n] = l;
        const uint8_t* src = p + 1;
        uint8_t* dst = out + n + 1;
        size_t i = 0;
        for (; i + 8 <= l; i += 8) {
            uint64_t w;
            std::memcpy(&w, src + i, 8);
            if constexpr (Lower) w = lower8(w);
            std::memcpy(dst + i, &w, 8);
        }
        if (i < l) {
            if (src + l >= msg + 8) {
                uint64_t w;
                std::memcpy(&w, src + l - 8, 8);
                w >>= 8 * (8 - (l - i));
                if constexpr (Lower) w = lower8(w);
                std::memcpy(dst + i, &w, 8);
            } else {
                for (; i < l; ++i) dst[i] = Lower ? codec::ascii_lower(src[i]) : src[i];
            }
        }
        n += 1u + l;
        p += 1u + l;
    }
    out[n++] = 0;
    return n;
}

inline size_t flatten_name_lower(const uint8_t* msg, uint32_t off, uint8_t* out) {
    return flatten_name_as<true>(msg, off, out);
}

// The same without folding: NameView::to_wire(out, false) (NSEC's next
// name, which keeps its case: RFC 6840 §5.1).
inline size_t flatten_name(const uint8_t* msg, uint32_t off, uint8_t* out) {
    return flatten_name_as<false>(msg, off, out);
}

// The canonical RDATA of an NSEC record (codec::RrView::rdata_uncompressed
// with canonical = true, for a record not damaged()): the next name
// uncompressed, case kept, then the type bitmap as it is. `rd` is the RDATA's
// offset in the validated message, `rdlen` its length; `out` needs room for
// 255 + 7 + rdlen bytes. Returns the length.
inline size_t nsec_canonical(const uint8_t* msg, uint32_t rd, uint16_t rdlen, uint8_t* out) {
    // The next name's in-place bytes: labels up to the root or a pointer.
    uint32_t p = rd;
    while (msg[p] != 0 && (msg[p] & 0xC0) != 0xC0) p += 1u + msg[p];
    const uint32_t tail = p + (msg[p] == 0 ? 1 : 2);
    const size_t n = flatten_name(msg, rd, out);
    const size_t bitmap = rd + rdlen - tail;
    std::memcpy(out + n, msg + tail, bitmap);
    return n + bitmap;
}

}  // namespace updproxy::table
