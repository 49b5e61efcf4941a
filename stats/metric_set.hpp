// Building one scrape's worth of metrics.
//
// Nothing in updproxy keeps a prometheus::Counter: every number already
// lives where it is counted (a worker's relaxed counters, the control
// plane's published snapshot) and the exporter reads them when scraped. A
// MetricSet is what one scrape returns: families of samples, built by the
// collectors (stats/dataplane_metrics.*, stats/control_metrics.*,
// stats/process_metrics.*) and handed to prometheus-cpp's serializer.
//
//   MetricSet m;
//   auto& f = m.counter("updproxy_link_packets_total", "mDNS packets accepted on a link");
//   f.add({{"link", "lab-v4"}}, 42);
//
// Names follow the Prometheus conventions: the `updproxy_` prefix, `_total`
// on counters, base units (`_seconds`, `_bytes`), labels from bounded sets
// (link, port, zone, reason, worker; never a service or host name).
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

namespace updproxy::stats {

using Label = std::pair<std::string_view, std::string_view>;

class MetricSet {
public:
    class Family {
    public:
        Family& add(std::initializer_list<Label> labels, double value);
        Family& add(const std::vector<std::pair<std::string, std::string>>& labels, double value);
        Family& add(double value) { return add({}, value); }
        // A histogram sample: `bounds` are the upper bounds (ascending, +Inf
        // implied), `counts` the per-bucket (not cumulative) counts with one
        // more entry for +Inf.
        Family& add_histogram(std::initializer_list<Label> labels, const std::vector<double>& bounds,
                              const std::vector<uint64_t>& counts, double sum);
        const prometheus::MetricFamily& family() const { return f_; }

    private:
        friend class MetricSet;
        explicit Family(prometheus::MetricFamily f) : f_(std::move(f)) {}
        prometheus::ClientMetric& sample(std::initializer_list<Label> labels);
        prometheus::MetricFamily f_;
    };

    Family& counter(std::string name, std::string help);
    Family& gauge(std::string name, std::string help);
    Family& histogram(std::string name, std::string help);

    // Families with no sample are left out (a label set that is empty right
    // now, e.g. no zones configured).
    std::vector<prometheus::MetricFamily> take();
    size_t size() const { return families_.size(); }

private:
    Family& family(std::string name, std::string help, prometheus::MetricType type);
    std::deque<Family> families_;  // references stay valid as families are added
};

// The Prometheus text exposition of `families` (tests, updproxyctl).
std::string to_text(const std::vector<prometheus::MetricFamily>& families);

}  // namespace updproxy::stats
