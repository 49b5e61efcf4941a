// Stable link ids across configuration reloads.
//
// Everything per link - the dataplane's LinkTable, a shard record's
// Origin.link, the workers' per-link counters, the RecordStore, the
// ServiceModel, Discovery - names a link by its id. At start a link's id is
// its position in `links:`. A reload that adds or removes links keeps the
// ids of the links it keeps, so none of that state has to move:
//
//   - a link of the new file whose name, port, VLANs and prefix match a live
//     slot keeps that slot (its address, check_ttl and subdomain may change);
//   - any other link of the new file takes the next unused slot (a link whose
//     name stays but whose port, VLANs or prefix change is a removal plus an
//     addition: its records were learned under another identity);
//   - a live slot the new file does not keep becomes a tombstone: inactive
//     (never matched by the dataplane, nothing discovered or published, not
//     shown), its records purged; its id is not reused before a restart, so
//     nothing that still names it (an event in a ring, a counter) can be
//     taken for another link.
//
// The number of slots is fixed at start (links + table.spare_link_slots):
// the shards and the per-link counters are sized for it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "control/config/config.hpp"
#include "dataplane/links.hpp"

namespace updproxy::control {

struct LinkSlot {
    config::LinkConfig cfg;  // for a tombstone: the link it was
    bool active = true;
};

// The slots at start: the configuration's links in order.
std::vector<LinkSlot> initial_slots(const config::Config& cfg);

// The slots after a reload to `next`, from the running ones. Returns "" on
// success, else why not (no slot left: names table.spare_link_slots).
// `capacity` is the number of slots the dataplane was sized for.
std::string assign_slots(const std::vector<LinkSlot>& now, const config::Config& next,
                         size_t capacity, std::vector<LinkSlot>* out);

// `cfg` with its links in slot order, tombstones included: what the control
// plane is built from (it indexes links by id).
config::Config slotted_config(const config::Config& cfg, const std::vector<LinkSlot>& slots);

// The dataplane's link table for the slots (ports by index into cfg.ports).
std::vector<dataplane::LinkSpec> slot_specs(const config::Config& cfg,
                                            const std::vector<LinkSlot>& slots);

// The slot of a live link of `cfg.links[i]`, or -1.
int slot_of(const std::vector<LinkSlot>& slots, const config::LinkConfig& link);

}  // namespace updproxy::control
