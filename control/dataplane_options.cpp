#include "control/dataplane_options.hpp"

#include <algorithm>

namespace updproxy::control {

dataplane::DataplaneOptions dataplane_options(const config::Config& cfg) {
    dataplane::DataplaneOptions o;
    o.eal.lcores = cfg.dpdk.lcores;
    o.eal.memory_mb = cfg.dpdk.memory_mb;
    o.eal.no_huge = cfg.dpdk.no_huge;
    o.eal.file_prefix = cfg.dpdk.file_prefix;
    o.eal.vdevs = cfg.dpdk.vdevs;
    o.eal.allow = cfg.dpdk.allow;
    o.eal.extra_args = cfg.dpdk.extra_args;
    for (const auto& p : cfg.ports) {
        o.ports.push_back({p.name, p.device, static_cast<uint16_t>(p.rx_descriptors),
                           static_cast<uint16_t>(p.tx_descriptors), p.promiscuous});
    }
    for (const auto& l : cfg.links) {
        dataplane::LinkSpec s;
        s.name = l.name;
        const auto port = std::find_if(cfg.ports.begin(), cfg.ports.end(),
                                       [&](const config::PortConfig& p) { return p.name == l.port; });
        s.port = static_cast<uint16_t>(port - cfg.ports.begin());
        s.vlan_count = static_cast<uint8_t>(l.vlan.size());
        for (size_t i = 0; i < l.vlan.size() && i < 2; ++i) s.vlan[i] = l.vlan[i];
        s.v6 = l.prefix.v6;
        s.prefix = l.prefix.addr;
        s.prefix_len = l.prefix.len;
        if (l.address) {
            s.has_address = true;
            s.address = l.address->addr;
        }
        s.check_ttl = l.check_ttl;
        o.links.push_back(s);
    }
    // A reload may add links (control/link_slots.hpp): room for them.
    o.link_capacity = o.links.size() + cfg.table.spare_link_slots;
    // The table limits are for the whole table; each worker's shard gets its
    // share (rounded up, so a small limit still admits records).
    const size_t workers = std::max<size_t>(cfg.dpdk.lcores.size(), 2) - 1;
    o.table.max_records = static_cast<uint32_t>((cfg.table.max_records + workers - 1) / workers);
    o.table.max_records_per_link =
        static_cast<uint32_t>((cfg.table.max_records_per_link + workers - 1) / workers);
    o.table.refresh_lead_min_ms = cfg.table.refresh_lead_min_ms;
    o.table.refresh_lead_jitter_ms = cfg.table.refresh_lead_jitter_ms;
    o.event_ring_bytes = cfg.table.event_ring_bytes;
    o.burst = static_cast<uint16_t>(cfg.burst_size);
    o.tx_drain_us = cfg.tx_drain_us;
    return o;
}

}  // namespace updproxy::control
