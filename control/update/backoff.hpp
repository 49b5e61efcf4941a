// Retry and refresh schedules of the update engine, as pure functions of a
// uniform random number so tests can pin them.
#pragma once

#include <algorithm>
#include <cstdint>

namespace updproxy::control::upd {

// Delay before retry number `failures` (1 = after the first failure):
// initial_ms doubling per failure, capped at max_ms, then jittered by ±20%
// (u in [0, 1)) and capped at max_ms again, so synchronised proxies spread
// out and no delay ever exceeds the configured maximum.
inline uint64_t backoff_ms(uint32_t failures, uint32_t initial_ms, uint32_t max_ms, double u) {
    uint64_t base = std::max<uint32_t>(initial_ms, 1);
    for (uint32_t i = 1; i < failures && base < max_ms; ++i) base *= 2;
    base = std::min<uint64_t>(base, std::max(max_ms, initial_ms));
    const double f = 0.8 + 0.4 * u;
    const auto d = static_cast<uint64_t>(static_cast<double>(base) * f);
    return std::min<uint64_t>(std::max<uint64_t>(d, 1), std::max(max_ms, initial_ms));
}

// When to refresh a lease: at 80% of it, ±10% (u in [0, 1)), so the records
// are re-sent well before the server would expire them even at +10%.
inline uint64_t lease_refresh_ms(uint32_t lease_s, double u) {
    const double base = 0.8 * 1000.0 * lease_s;
    return static_cast<uint64_t>(base * (0.9 + 0.2 * u));
}

// Reconciliation period: the configured interval ±10%.
inline uint64_t reconcile_ms(uint32_t interval_s, double u) {
    return static_cast<uint64_t>(1000.0 * interval_s * (0.9 + 0.2 * u));
}

}  // namespace updproxy::control::upd
