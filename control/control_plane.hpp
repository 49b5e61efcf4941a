// The control plane's state and its reactions, shared by `updproxy run` and
// `updproxy replay`: the RecordStore mirroring the shards, the ServiceModel,
// the Publisher and the UPDATE engine (when the configuration has `update`).
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <poll.h>

#include "control/config/config.hpp"
#include "control/discovery.hpp"
#include "control/publisher.hpp"
#include "control/record_store.hpp"
#include "control/resolver.hpp"
#include "control/service_model.hpp"
#include "control/subdomain_discovery.hpp"
#include "control/update/update_engine.hpp"
#include "dataplane/dpdk_dataplane.hpp"
#include "dataplane/links.hpp"
#include "dataplane/table/events.hpp"

namespace updproxy::control {

// Subdomain of each link: configured, or the algorithmic label under
// publish.domain (draft §3.1 methods 2 and 3).
std::vector<LinkPublication> link_publications(const config::Config& cfg,
                                               const std::vector<dataplane::LinkSpec>& links);

// The discovery section as the Discovery component's options.
DiscoveryOptions discovery_options(const config::Config& cfg);

class ControlPlane {
public:
    // Errors: the UPDATE engine refused its configuration.
    static std::unique_ptr<ControlPlane> create(const config::Config& cfg,
                                                const std::vector<dataplane::LinkSpec>& links,
                                                std::ostream& log, std::string* error);

    // The embedded DNS service's zones receive the model's publications too
    // (before start(); the caller commits them).
    void serve_zones(zone::ZoneStore* store) { publisher_->serve(store); }
    // Publishes the browse records.
    void start();
    // Live mode: refresh and enumeration queries go out through the
    // dataplane's TX rings (draft §4.2). Without it (replay), refresh_due
    // records are handed to on_event's caller instead.
    void enable_discovery(dataplane::Dataplane& dp, const DiscoveryOptions& opts);
    // The same with the options of the configuration create() was given.
    void enable_discovery(dataplane::Dataplane& dp) { enable_discovery(dp, discovery_opts_); }
    // Subdomain and update-server discovery through DNS (draft §3.1, §5.1),
    // when the configuration names resolvers; null otherwise.
    const SubdomainDiscovery* subdomains() const { return subdomains_.get(); }
    const Resolver* resolver() const { return resolver_.get(); }
    SubdomainStats subdomain_stats() const { return subdomains_ ? subdomains_->stats() : SubdomainStats{}; }
    const Discovery* discovery() const { return discovery_.get(); }
    // One event from a shard. Records whose refresh is due are appended to
    // `refresh` (the caller sends the queries).
    void on_event(const table::EventView& e, std::vector<const Record*>* refresh);

    // The UPDATE engine in the caller's poll loop.
    void add_pollfds(std::vector<pollfd>& fds) const;
    void on_io(uint64_t now_ms);
    // Milliseconds until the engine wants to run again, at most `cap`.
    int timeout_ms(uint64_t now_ms, int cap) const;
    bool updates_idle() const { return !engine_ || engine_->idle(); }
    uint64_t failed_changes() const { return engine_ ? engine_->failed_changes() : 0; }

    const RecordStore& store() const { return store_; }
    const ServiceModel& model() const { return *model_; }
    const Publisher& publisher() const { return *publisher_; }
    UpdateEngine* engine() const { return engine_.get(); }

private:
    ControlPlane() = default;
    std::ostream* log_ = nullptr;
    bool debug_ = false;
    std::vector<std::string> link_names_;
    RecordStore store_;
    std::unique_ptr<UpdateEngine> engine_;
    std::unique_ptr<Publisher> publisher_;
    std::unique_ptr<ServiceModel> model_;
    std::vector<Applied> changes_;
    uint64_t failed_logged_ = 0;
    uint64_t readback_failures_logged_ = 0;

    // Sends queries through the worker's tx ring for the link.
    class RingSender : public QuerySender {
    public:
        explicit RingSender(dataplane::Dataplane& dp) : dp_(dp) {}
        bool send_query(uint16_t link, bool multicast, const uint8_t* ip, const uint8_t* mac,
                        const std::vector<uint8_t>& payload) override;
        uint64_t ring_full = 0;

    private:
        dataplane::Dataplane& dp_;
    };
    std::unique_ptr<RingSender> sender_;
    std::unique_ptr<Discovery> discovery_;

    // DNS discovery of subdomains and update servers.
    void on_subdomain(uint16_t link, const LinkResult& r);
    void check_refusals(uint64_t now_ms);
    DiscoveryOptions discovery_opts_;
    bool register_reverse_ = false;
    std::unique_ptr<Resolver> resolver_;
    std::unique_ptr<SubdomainDiscovery> subdomains_;
    std::vector<std::optional<codec::Name>> link_zone_;  // the zone each link publishes into
    std::vector<uint64_t> link_refused_;                 // its failed_changes seen so far
};

}  // namespace updproxy::control
