// LatencyHistogram: bucket edges (a value on a bound goes into that
// bucket, as Prometheus' `le` means), the +Inf bucket, counts and sum.
#include "control/zone/latency.hpp"

#include <gtest/gtest.h>

namespace updproxy::control::zone {
namespace {

TEST(LatencyHistogram, BucketsAreLessOrEqualAndPerBucket) {
    LatencyHistogram h;
    h.record(10'000);         // 10 µs: exactly the first bound
    h.record(10'001);         // just above: the second bucket
    h.record(1'000'000, 3);   // 1 ms, three answers of one batch
    h.record(5'000'000'000);  // 5 s: +Inf
    std::vector<double> bounds;
    std::vector<uint64_t> counts;
    double sum = 0;
    h.read(&bounds, &counts, &sum);
    ASSERT_EQ(bounds.size(), LatencyHistogram::kBounds.size());
    ASSERT_EQ(counts.size(), bounds.size() + 1);
    EXPECT_EQ(counts[0], 1u);
    EXPECT_EQ(counts[1], 1u);
    size_t ms = 0;
    while (bounds[ms] < 0.001) ++ms;
    EXPECT_EQ(counts[ms], 3u);
    EXPECT_EQ(counts.back(), 1u);
    EXPECT_EQ(h.total(), 6u);
    EXPECT_NEAR(sum, 10e-6 + 10.001e-6 + 3e-3 + 5.0, 1e-9);
    uint64_t all = 0;
    for (uint64_t c : counts) all += c;
    EXPECT_EQ(all, 6u);
}

TEST(LatencyHistogram, BoundsAscend) {
    for (size_t i = 1; i < LatencyHistogram::kBounds.size(); ++i) {
        EXPECT_LT(LatencyHistogram::kBounds[i - 1], LatencyHistogram::kBounds[i]);
    }
}

}  // namespace
}  // namespace updproxy::control::zone
