// A fast non-cryptographic hash for the table's keys: 8 bytes per step with a
// multiply-rotate mix and a murmur3 finaliser. FNV-1a (one byte a step) cost
// ~4x more on 40-byte owner names, which is most of a refresh.
#pragma once

#include <cstdint>
#include <cstring>

namespace updproxy::table {

inline uint64_t hash_mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

inline uint64_t hash_bytes(const uint8_t* p, size_t n, uint64_t seed) {
    constexpr uint64_t k1 = 0x9E3779B97F4A7C15ULL, k2 = 0xC2B2AE3D27D4EB4FULL;
    uint64_t h = seed ^ (n * k1);
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ (w * k2)) * k1;
        h = (h << 31) | (h >> 33);
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ (w * k2)) * k1;
    return hash_mix(h);
}

}  // namespace updproxy::table
