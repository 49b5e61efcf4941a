// MetricSet and the control-plane collector: the exposition text, names
// that follow the conventions, histograms, hooks left out when empty.
#include "stats/metric_set.hpp"

#include <gtest/gtest.h>
#include <prometheus/check_names.h>

#include <set>

#include "stats/control_metrics.hpp"

namespace updproxy::stats {
namespace {

TEST(MetricSet, CountersGaugesAndText) {
    MetricSet m;
    auto& c = m.counter("updproxy_link_packets_total", "packets");
    auto& g = m.gauge("updproxy_link_records", "records");
    for (int i = 0; i < 50; ++i) m.gauge("updproxy_filler_" + std::to_string(i), "x");  // grows the set
    c.add({{"link", "a"}}, 3).add({{"link", "b"}}, 4);  // references survive growth
    g.add({{"link", "a"}}, 7);
    const auto fams = m.take();
    ASSERT_EQ(fams.size(), 2u);  // empty families are left out
    const std::string text = to_text(fams);
    EXPECT_NE(text.find("# TYPE updproxy_link_packets_total counter"), std::string::npos) << text;
    EXPECT_NE(text.find("updproxy_link_packets_total{link=\"b\"} 4"), std::string::npos) << text;
    EXPECT_NE(text.find("updproxy_link_records{link=\"a\"} 7"), std::string::npos) << text;
}

TEST(MetricSet, HistogramIsCumulative) {
    MetricSet m;
    m.histogram("updproxy_x_seconds", "x").add_histogram({{"zone", "z."}}, {0.01, 0.1}, {1, 2, 3}, 1.5);
    const auto fams = m.take();
    ASSERT_EQ(fams.size(), 1u);
    const auto& h = fams[0].metric[0].histogram;
    ASSERT_EQ(h.bucket.size(), 3u);
    EXPECT_EQ(h.bucket[0].cumulative_count, 1u);
    EXPECT_EQ(h.bucket[1].cumulative_count, 3u);
    EXPECT_EQ(h.bucket[2].cumulative_count, 6u);
    EXPECT_EQ(h.sample_count, 6u);
    const std::string text = to_text(fams);
    EXPECT_NE(text.find("updproxy_x_seconds_bucket{zone=\"z.\",le=\"+Inf\"} 6"), std::string::npos)
        << text;
}

ControlSnapshot sample_snapshot() {
    ControlSnapshot s;
    s.taken_unix = 1.7e9;
    s.records = 12;
    s.links.push_back({"lab-v4", "trunk", "192.0.2.0/24", "", "192.0.2.1", "lab.example.", 12, 2, 9});
    ZoneSample z;
    z.zone = "example.";
    z.server = "127.0.0.1:53";
    z.transport = "udp";
    z.messages_sent = 5;
    z.responses[0] = 4;
    z.responses[5] = 1;
    z.responses[12] = 1;  // two unassigned codes share one label value
    z.responses[13] = 1;
    z.reachable = true;
    s.zones.push_back(z);
    return s;
}

TEST(ControlMetrics, NamesFollowTheConventions) {
    MetricSet m;
    collect_control(sample_snapshot(), m);
    collect_process(m);
    collect_build_info(m, "0.1.0", "22.11.11");
    std::set<std::string> names;
    for (const auto& f : m.take()) {
        EXPECT_TRUE(prometheus::CheckMetricName(f.name)) << f.name;
        EXPECT_TRUE(names.insert(f.name).second) << "twice: " << f.name;
        const bool is_counter = f.type == prometheus::MetricType::Counter;
        const bool total = f.name.size() > 6 && f.name.substr(f.name.size() - 6) == "_total";
        EXPECT_EQ(is_counter, total) << f.name;
        EXPECT_TRUE(f.name.rfind("updproxy_", 0) == 0 || f.name.rfind("process_", 0) == 0) << f.name;
        EXPECT_FALSE(f.help.empty()) << f.name;
        std::set<std::vector<std::string>> seen;  // no two samples with the same labels
        for (const auto& s : f.metric) {
            std::vector<std::string> key;
            for (const auto& l : s.label) {
                EXPECT_TRUE(prometheus::CheckLabelName(l.name)) << f.name << " " << l.name;
                key.push_back(l.name + "=" + l.value);
            }
            EXPECT_TRUE(seen.insert(key).second) << f.name;
        }
    }
    EXPECT_TRUE(names.count("updproxy_update_responses_total"));
    EXPECT_TRUE(names.count("updproxy_link_services"));
    EXPECT_TRUE(names.count("process_start_time_seconds"));
    EXPECT_TRUE(names.count("updproxy_build_info"));
    // Hooks with nothing behind them are not exported.
    EXPECT_FALSE(names.count("updproxy_update_duration_seconds"));
    EXPECT_FALSE(names.count("updproxy_dns_responses_total"));
}

TEST(ControlMetrics, RcodesByName) {
    MetricSet m;
    collect_control(sample_snapshot(), m);
    const std::string text = to_text(m.take());
    EXPECT_NE(text.find("updproxy_update_responses_total{zone=\"example.\",rcode=\"REFUSED\"} 1"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("updproxy_update_responses_total{zone=\"example.\",rcode=\"RESERVED\"} 2"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("updproxy_update_server_up{zone=\"example.\"} 1"), std::string::npos);
}

TEST(ControlMetrics, HooksExportWhenFilled) {
    ControlSnapshot s = sample_snapshot();
    s.zones[0].latency_bounds = {0.001, 0.01};
    s.zones[0].latency_counts = {1, 1, 0};
    s.queries = QuerySample{};
    MetricSet m;
    collect_control(s, m);
    const std::string text = to_text(m.take());
    EXPECT_NE(text.find("updproxy_update_duration_seconds_count{zone=\"example.\"} 2"),
              std::string::npos);
    EXPECT_NE(text.find("updproxy_dns_responses_total{rcode=\"NOERROR\"} 0"), std::string::npos);
}

}  // namespace
}  // namespace updproxy::stats
