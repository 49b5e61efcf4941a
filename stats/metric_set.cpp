#include "stats/metric_set.hpp"

#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>

namespace updproxy::stats {

prometheus::ClientMetric& MetricSet::Family::sample(std::initializer_list<Label> labels) {
    prometheus::ClientMetric& m = f_.metric.emplace_back();
    m.label.reserve(labels.size());
    for (const auto& [k, v] : labels) m.label.push_back({std::string(k), std::string(v)});
    return m;
}

MetricSet::Family& MetricSet::Family::add(std::initializer_list<Label> labels, double value) {
    prometheus::ClientMetric& m = sample(labels);
    if (f_.type == prometheus::MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    return *this;
}

MetricSet::Family& MetricSet::Family::add(
    const std::vector<std::pair<std::string, std::string>>& labels, double value) {
    prometheus::ClientMetric& m = sample({});
    for (const auto& [k, v] : labels) m.label.push_back({k, v});
    if (f_.type == prometheus::MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    return *this;
}

MetricSet::Family& MetricSet::Family::add_histogram(std::initializer_list<Label> labels,
                                                    const std::vector<double>& bounds,
                                                    const std::vector<uint64_t>& counts,
                                                    double sum) {
    prometheus::ClientMetric& m = sample(labels);
    uint64_t cum = 0;
    for (size_t i = 0; i <= bounds.size() && i < counts.size(); ++i) {
        cum += counts[i];
        if (i < bounds.size()) m.histogram.bucket.push_back({cum, bounds[i]});
    }
    m.histogram.bucket.push_back({cum, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = cum;
    m.histogram.sample_sum = sum;
    return *this;
}

MetricSet::Family& MetricSet::family(std::string name, std::string help,
                                     prometheus::MetricType type) {
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    return families_.emplace_back(Family(std::move(f)));
}

MetricSet::Family& MetricSet::counter(std::string name, std::string help) {
    return family(std::move(name), std::move(help), prometheus::MetricType::Counter);
}
MetricSet::Family& MetricSet::gauge(std::string name, std::string help) {
    return family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
}
MetricSet::Family& MetricSet::histogram(std::string name, std::string help) {
    return family(std::move(name), std::move(help), prometheus::MetricType::Histogram);
}

std::vector<prometheus::MetricFamily> MetricSet::take() {
    std::vector<prometheus::MetricFamily> out;
    out.reserve(families_.size());
    for (auto& f : families_) {
        if (!f.f_.metric.empty()) out.push_back(std::move(f.f_));
    }
    families_.clear();
    return out;
}

std::string to_text(const std::vector<prometheus::MetricFamily>& families) {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families);
    return out.str();
}

}  // namespace updproxy::stats
