// `updproxy replay CAPTURE [--config FILE] [--json]`: the dataplane over a
// capture through DPDK's net_pcap, with the table's clock following the
// capture's timestamps; prints the service table at the last packet.
#pragma once

#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace updproxy::control {

struct ReplayOptions {
    std::string capture;
    std::string config;
    bool json = false;
    bool stats = false;
};

CLI::App* add_replay_command(CLI::App& app, ReplayOptions& opts);
int run_replay(const ReplayOptions& opts, const char* argv0, std::ostream& out, std::ostream& err);

}  // namespace updproxy::control
