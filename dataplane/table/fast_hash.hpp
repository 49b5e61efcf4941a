// A fast non-cryptographic hash for the table's keys (the wyhash construction:
// 64x64->128-bit multiplies folded to 64 bits, 16 bytes per multiply, three
// independent lanes over long inputs), and a murmur3 finaliser for small
// integers. The earlier multiply-rotate loop took 8 bytes per step on one
// dependency chain: ~100 cycles for a 150-byte TXT record, twice the whole
// refresh budget. FNV-1a (one byte a step) cost ~4x more again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace updproxy::table {

__extension__ typedef unsigned __int128 hash_u128;

inline uint64_t hash_mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

// The two halves of a * b, xored.
inline uint64_t hash_mum(uint64_t a, uint64_t b) {
    const hash_u128 r = static_cast<hash_u128>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t hash_load64(const uint8_t* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
}

inline uint64_t hash_load32(const uint8_t* p) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    return w;
}

// Reads exactly p[0, n): never past the end.
inline uint64_t hash_bytes(const uint8_t* p, size_t n, uint64_t seed) {
    constexpr uint64_t s0 = 0xa0761d6478bd642fULL, s1 = 0xe7037ed1a0b428dbULL,
                       s2 = 0x8ebc6af09c88c6e3ULL, s3 = 0x589965cc75374cc3ULL;
    seed ^= hash_mum(seed ^ s0, s1);
    uint64_t a, b;
    if (n <= 16) {
        if (n >= 4) {
            const size_t q = (n >> 3) << 2;  // 0 for 4..7 bytes, 4 for 8..16
            a = (hash_load32(p) << 32) | hash_load32(p + q);
            b = (hash_load32(p + n - 4) << 32) | hash_load32(p + n - 4 - q);
        } else if (n > 0) {
            a = (uint64_t{p[0]} << 16) | (uint64_t{p[n >> 1]} << 8) | p[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = n;
        if (i > 48) {
            uint64_t see1 = seed, see2 = seed;
            do {
                seed = hash_mum(hash_load64(p) ^ s1, hash_load64(p + 8) ^ seed);
                see1 = hash_mum(hash_load64(p + 16) ^ s2, hash_load64(p + 24) ^ see1);
                see2 = hash_mum(hash_load64(p + 32) ^ s3, hash_load64(p + 40) ^ see2);
                p += 48;
                i -= 48;
            } while (i > 48);
            seed ^= see1 ^ see2;
        }
        while (i > 16) {
            seed = hash_mum(hash_load64(p) ^ s1, hash_load64(p + 8) ^ seed);
            p += 16;
            i -= 16;
        }
        a = hash_load64(p + i - 16);
        b = hash_load64(p + i - 8);
    }
    a ^= s1;
    b ^= seed;
    const hash_u128 r = static_cast<hash_u128>(a) * b;
    return hash_mum(static_cast<uint64_t>(r) ^ s0 ^ n, static_cast<uint64_t>(r >> 64) ^ s1);
}

}  // namespace updproxy::table
