#include "stats/exporter.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <atomic>
#include <exception>

namespace updproxy::stats {

namespace {

class Collector : public prometheus::Collectable {
public:
    explicit Collector(Exporter::Collect fn) : fn_(std::move(fn)) {}
    std::vector<prometheus::MetricFamily> Collect() const override {
        scrapes_.fetch_add(1, std::memory_order_relaxed);
        MetricSet m;
        try {
            fn_(m);
        } catch (const std::exception&) {
            // A collector bug must not take the listener thread down; the
            // scrape then lacks the families after the failure.
        }
        return m.take();
    }
    uint64_t scrapes() const { return scrapes_.load(std::memory_order_relaxed); }

private:
    Exporter::Collect fn_;
    mutable std::atomic<uint64_t> scrapes_{0};
};

}  // namespace

std::unique_ptr<Exporter> Exporter::start(const std::string& listen, Collect collect,
                                          std::string* error) {
    std::unique_ptr<Exporter> e(new Exporter());
    e->listen_ = listen;
    try {
        // One civetweb worker thread: scrapes are rare and cheap to serialise.
        e->exposer_ = std::make_unique<prometheus::Exposer>(
            std::vector<std::string>{"listening_ports", listen, "num_threads", "1"});
    } catch (const std::exception&) {
        *error = "metrics: cannot listen on " + listen + " (address in use, or not an address of "
                 "this host)";
        return nullptr;
    }
    const auto ports = e->exposer_->GetListeningPorts();
    e->port_ = ports.empty() ? 0 : static_cast<uint16_t>(ports.front());
    e->collectable_ = std::make_shared<Collector>(std::move(collect));
    e->exposer_->RegisterCollectable(e->collectable_);
    return e;
}

Exporter::~Exporter() {
    // The listener first: after this no thread calls the collector.
    exposer_.reset();
}

uint64_t Exporter::scrapes() const {
    return static_cast<const Collector*>(collectable_.get())->scrapes();
}

}  // namespace updproxy::stats
