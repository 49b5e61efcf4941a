// Addresses for the dataplane's tests, in LinkSpec/FrameInfo form (16
// bytes, IPv4 in the first 4).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>

namespace updproxy::dataplane::testing {

inline std::array<uint8_t, 16> v4(uint8_t a0, uint8_t a1, uint8_t a2, uint8_t a3) {
    return {a0, a1, a2, a3};
}
inline std::array<uint8_t, 16> v6(std::initializer_list<uint8_t> bytes) {
    std::array<uint8_t, 16> r{};
    std::copy(bytes.begin(), bytes.end(), r.begin());
    return r;
}

}  // namespace updproxy::dataplane::testing
