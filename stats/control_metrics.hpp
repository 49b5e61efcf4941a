// Metric families from the control plane's published snapshot.
#pragma once

#include "stats/control_snapshot.hpp"
#include "stats/metric_set.hpp"

namespace updproxy::stats {

void collect_control(const ControlSnapshot& s, MetricSet& m);

// Process metrics with their standard names (process_cpu_seconds_total,
// process_resident_memory_bytes, process_start_time_seconds, ...), as
// Prometheus client libraries export them, read from /proc/self.
void collect_process(MetricSet& m);

// updproxy_build_info{version, dpdk_version} 1.
void collect_build_info(MetricSet& m, const std::string& version, const std::string& dpdk_version);

}  // namespace updproxy::stats
