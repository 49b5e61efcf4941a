// `updproxy run`: the daemon. The main lcore runs the control loop; worker
// lcores run the dataplane.
//
// Control loop, one thread, no locks shared with the workers:
//   - drains every worker's event ring into the RecordStore (and asks a
//     shard for a re-read when its ring dropped events);
//   - turns refresh_due events into unicast mDNS queries to the announcing
//     host (draft §4.2), and sends a service enumeration query on each link
//     with an address at start (RFC 6763 §9, QU bit);
//   - drains the unicast DNS query rings (answered by the query service);
//   - serves the control socket (updproxyctl);
//   - publishes a snapshot of its state every 500 ms for the threads that
//     must not touch it: the Prometheus exporter (stats/, its own thread,
//     `metrics:` in the configuration) and DPDK's telemetry thread
//     (/updproxy/links, /updproxy/services, /updproxy/zones, /updproxy/stats);
//     a telemetry request that needs the live table (services) is handed to
//     the control loop and answered between two polls;
//   - reloads the configuration on SIGHUP or `updproxyctl reload` without
//     dropping the table (see reload() in daemon.cpp and docs/configuration.md);
//   - stops on SIGINT/SIGTERM: workers stopped, ports drained and closed, exit 0.
#pragma once

#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace updproxy::control {

struct RunOptions {
    std::string config;          // empty: the embedded default
    std::string control_socket;  // empty: /run/updproxy/<file_prefix>.sock
    double for_seconds = 0;      // stop after this long (tests); 0 = until a signal
    bool check_only = false;     // validate the configuration and exit
};

CLI::App* add_run_command(CLI::App& app, RunOptions& opts);
int run_daemon(const RunOptions& opts, const char* argv0, std::ostream& out, std::ostream& err);

}  // namespace updproxy::control
