// Links learned from traffic, for when no configuration names them
// (`updproxy replay` without --config, perf/run dataplane): one link per
// (VLAN tags, address family, /24 or /64 of a non-link-local mDNS source);
// link-local sources (169.254/16, fe80::/10) join the links of their VLAN
// tags and family, or get 169.254/16 or fe80::/10 as a link of their own
// when that segment has no other.
#pragma once

#include <array>
#include <cstdint>
#include <set>
#include <tuple>
#include <vector>

#include "dataplane/frame.hpp"
#include "dataplane/links.hpp"

namespace updproxy::dataplane {

class LinkLearner {
public:
    // One frame that classified as ok (parse_frame); frames to or from
    // neither port 5353 are ignored.
    void see(const FrameInfo& f);

    // The links seen so far, unnamed, on port 0, default checks (check_ttl
    // on): the subnets in (VLANs, family, prefix) order, then the link-local
    // ones.
    std::vector<LinkSpec> links() const;

private:
    using Segment = std::tuple<uint8_t, uint16_t, uint16_t, bool>;  // VLANs, family
    std::set<std::tuple<uint8_t, uint16_t, uint16_t, bool, std::array<uint8_t, 16>>> subnets_;
    std::set<Segment> link_local_only_;
};

}  // namespace updproxy::dataplane
