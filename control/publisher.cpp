#include "control/publisher.hpp"

#include "control/zone/zone_store.hpp"

namespace updproxy::control {

Publisher::Publisher(UpdateEngine* engine, std::vector<codec::Name> zones)
    : engine_(engine), zones_(std::move(zones)) {}

void Publisher::add_zone(const codec::Name& zone) {
    for (const auto& z : zones_) {
        if (z == zone) return;
    }
    zones_.push_back(zone);
}

const codec::Name* Publisher::zone_for(const codec::Name& owner) const {
    const codec::Name* best = nullptr;
    for (const auto& z : zones_) {
        if (owner.is_subdomain_of(z) && (!best || z.wire_length() > best->wire_length())) best = &z;
    }
    return best;
}

void Publisher::publish(uint16_t, const PubRecord& r) {
    ++published_;
    if (served_) served_->add(r);
    if (!engine_) return;
    const codec::Name* z = zone_for(r.owner);
    if (!z) {
        ++unroutable_;
        return;
    }
    if (!engine_->add(*z, r)) ++refused_;
}

void Publisher::unpublish(uint16_t, const PubRecord& r) {
    ++unpublished_;
    if (served_) served_->remove(r);
    if (!engine_) return;
    const codec::Name* z = zone_for(r.owner);
    if (!z) {
        ++unroutable_;
        return;
    }
    if (!engine_->remove(*z, r)) ++refused_;
}

}  // namespace updproxy::control
