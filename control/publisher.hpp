// Where the service model's records go: the UPDATE engine (to the zone whose
// name matches longest) and the embedded DNS service's zone store (when the
// configuration has `dns:`; the daemon commits it once per control loop
// pass). Counts what could not be routed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/service_model.hpp"
#include "control/update/update_engine.hpp"

namespace updproxy::control::zone {
class ZoneStore;
}

namespace updproxy::control {

class Publisher : public PublishSink {
public:
    // `engine` may be null (no `update` section).
    Publisher(UpdateEngine* engine, std::vector<codec::Name> zones);

    // The embedded zones also receive every change (null: none). Records
    // outside every served zone are counted by the store.
    void serve(zone::ZoneStore* store) { served_ = store; }

    // A zone found at run time (draft §5.1); no-op when known.
    void add_zone(const codec::Name& zone);

    void publish(uint16_t link, const PubRecord& r) override;
    void unpublish(uint16_t link, const PubRecord& r) override;

    uint64_t unroutable() const { return unroutable_; }
    uint64_t refused() const { return refused_; }
    uint64_t published() const { return published_; }
    uint64_t unpublished() const { return unpublished_; }

private:
    const codec::Name* zone_for(const codec::Name& owner) const;

    UpdateEngine* engine_;
    zone::ZoneStore* served_ = nullptr;
    std::vector<codec::Name> zones_;
    uint64_t unroutable_ = 0, refused_ = 0, published_ = 0, unpublished_ = 0;
};

}  // namespace updproxy::control
