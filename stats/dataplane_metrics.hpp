// Metric families from the dataplane, read at scrape time on the exporter's
// thread: each worker's counters (relaxed atomics, one writer each, summed
// here), the mirror of each shard's counters the worker refreshes, the
// rings' produced/dropped counters and DPDK's port statistics. Nothing is
// counted twice and nothing on the packet path knows a scrape happened.
#pragma once

#include <string>

#include "stats/metric_set.hpp"

namespace updproxy::dataplane {
class Dataplane;
}

namespace updproxy::stats {

void collect_dataplane(dataplane::Dataplane& dp, MetricSet& m);

// "22.11.11" (rte_version() without the "DPDK " prefix).
std::string dpdk_version();

}  // namespace updproxy::stats
