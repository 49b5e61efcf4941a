// The Prometheus endpoint: prometheus-cpp's Exposer (civetweb) serving
// GET /metrics from one thread of its own.
//
// Each scrape calls the `collect` function on that thread. It must only read
// what is safe to read from another thread: the workers' relaxed counters,
// DPDK port statistics, and snapshots the control loop publishes
// (stats::Published) — never the control plane's own state, never a lock a
// worker takes.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "stats/metric_set.hpp"

namespace prometheus {
class Exposer;
class Collectable;
}  // namespace prometheus

namespace updproxy::stats {

class Exporter {
public:
    using Collect = std::function<void(MetricSet&)>;

    // Listens on `listen` ("127.0.0.1:9464", "[::1]:9464"; port 0 = any free
    // port). nullptr with `error` set when it cannot (address in use, ...).
    static std::unique_ptr<Exporter> start(const std::string& listen, Collect collect,
                                           std::string* error);
    ~Exporter();  // stops the listener; no scrape runs after it returns
    Exporter(const Exporter&) = delete;
    Exporter& operator=(const Exporter&) = delete;

    const std::string& listen() const { return listen_; }
    uint16_t port() const { return port_; }  // the bound port (resolves port 0)
    uint64_t scrapes() const;

private:
    Exporter() = default;
    std::string listen_;
    uint16_t port_ = 0;
    std::shared_ptr<prometheus::Collectable> collectable_;
    std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace updproxy::stats
