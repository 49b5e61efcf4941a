// A query latency histogram written by one answering thread and read by
// whoever reports it (the daemon's metrics snapshot): relaxed loads and
// stores only, no read-modify-write, like AnswerCounters.
//
// Buckets are per bucket (not cumulative), one more for +Inf, in seconds:
// the form stats::MetricSet::add_histogram takes.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace updproxy::control::zone {

class LatencyHistogram {
public:
    static constexpr std::array<double, 14> kBounds = {
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
        0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    1.0};

    // The single writer: `n` answers that each took `ns` nanoseconds.
    void record(uint64_t ns, uint64_t n = 1) {
        size_t b = 0;
        const double s = static_cast<double>(ns) / 1e9;
        while (b < kBounds.size() && s > kBounds[b]) ++b;
        bump(counts_[b], n);
        bump(sum_ns_, ns * n);
    }

    // Any thread. `counts` gets kBounds.size() + 1 entries.
    void read(std::vector<double>* bounds, std::vector<uint64_t>* counts, double* sum) const {
        bounds->assign(kBounds.begin(), kBounds.end());
        counts->clear();
        for (const auto& c : counts_) counts->push_back(c.load(std::memory_order_relaxed));
        *sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    }

    uint64_t total() const {
        uint64_t t = 0;
        for (const auto& c : counts_) t += c.load(std::memory_order_relaxed);
        return t;
    }

private:
    static void bump(std::atomic<uint64_t>& c, uint64_t n) {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
    std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace updproxy::control::zone
