#include "dataplane/learned_links.hpp"

#include <cstring>

namespace updproxy::dataplane {

void LinkLearner::see(const FrameInfo& f) {
    if (f.src_port != 5353 && f.dst_port != 5353) return;
    const bool v6 = f.ip_version == 6;
    if (is_link_local(f.src.data(), v6)) {
        link_local_only_.insert({f.vlan_count, f.vlan[0], f.vlan[1], v6});
        return;
    }
    std::array<uint8_t, 16> net{};
    std::memcpy(net.data(), f.src.data(), v6 ? 8 : 3);
    subnets_.insert({f.vlan_count, f.vlan[0], f.vlan[1], v6, net});
}

std::vector<LinkSpec> LinkLearner::links() const {
    std::vector<LinkSpec> out;
    std::set<Segment> covered;
    for (const auto& k : subnets_) {
        LinkSpec l;
        l.vlan_count = std::get<0>(k);
        l.vlan = {std::get<1>(k), std::get<2>(k)};
        l.v6 = std::get<3>(k);
        l.prefix = std::get<4>(k);
        l.prefix_len = l.v6 ? 64 : 24;
        covered.insert({l.vlan_count, l.vlan[0], l.vlan[1], l.v6});
        out.push_back(l);
    }
    for (const auto& seg : link_local_only_) {
        if (covered.count(seg)) continue;
        LinkSpec l;
        l.vlan_count = std::get<0>(seg);
        l.vlan = {std::get<1>(seg), std::get<2>(seg)};
        l.v6 = std::get<3>(seg);
        if (l.v6) {
            l.prefix[0] = 0xFE;
            l.prefix[1] = 0x80;
            l.prefix_len = 10;
        } else {
            l.prefix[0] = 169;
            l.prefix[1] = 254;
            l.prefix_len = 16;
        }
        out.push_back(l);
    }
    return out;
}

}  // namespace updproxy::dataplane
