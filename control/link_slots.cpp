#include "control/link_slots.hpp"

#include <algorithm>

#include "control/dataplane_options.hpp"

namespace updproxy::control {

namespace {

// What the records of a link were learned under: a slot is kept only when
// this stays.
bool same_identity(const config::LinkConfig& a, const config::LinkConfig& b) {
    return a.name == b.name && a.port == b.port && a.vlan == b.vlan && a.prefix == b.prefix;
}

}  // namespace

std::vector<LinkSlot> initial_slots(const config::Config& cfg) {
    std::vector<LinkSlot> out;
    for (const auto& l : cfg.links) out.push_back({l, true});
    return out;
}

int slot_of(const std::vector<LinkSlot>& slots, const config::LinkConfig& link) {
    for (size_t i = 0; i < slots.size(); ++i) {
        if (slots[i].active && same_identity(slots[i].cfg, link)) return static_cast<int>(i);
    }
    return -1;
}

std::string assign_slots(const std::vector<LinkSlot>& now, const config::Config& next,
                         size_t capacity, std::vector<LinkSlot>* out) {
    std::vector<LinkSlot> slots = now;
    std::vector<bool> kept(slots.size(), false);
    std::vector<const config::LinkConfig*> added;
    for (const auto& l : next.links) {
        const int s = slot_of(now, l);
        if (s < 0) {
            added.push_back(&l);
            continue;
        }
        kept[static_cast<size_t>(s)] = true;
        slots[static_cast<size_t>(s)].cfg = l;  // address, check_ttl, subdomain, line
    }
    for (size_t i = 0; i < now.size(); ++i) {
        if (!kept[i]) slots[i].active = false;
    }
    if (slots.size() + added.size() > capacity) {
        size_t tombstones = 0;
        for (const auto& s : slots) tombstones += s.active ? 0 : 1;
        return std::to_string(added.size()) + " link(s) added but only " +
               std::to_string(capacity - std::min(capacity, slots.size())) +
               " link slot(s) left (table.spare_link_slots; " + std::to_string(tombstones) +
               " held by removed links until a restart)";
    }
    for (const auto* l : added) slots.push_back({*l, true});
    *out = std::move(slots);
    return "";
}

config::Config slotted_config(const config::Config& cfg, const std::vector<LinkSlot>& slots) {
    config::Config c = cfg;
    c.links.clear();
    for (const auto& s : slots) c.links.push_back(s.cfg);
    return c;
}

std::vector<dataplane::LinkSpec> slot_specs(const config::Config& cfg,
                                            const std::vector<LinkSlot>& slots) {
    std::vector<dataplane::LinkSpec> specs = dataplane_options(slotted_config(cfg, slots)).links;
    for (size_t i = 0; i < specs.size(); ++i) specs[i].active = slots[i].active;
    return specs;
}

}  // namespace updproxy::control
