// Which link a frame belongs to: (port, VLAN tags, source subnet).
//
// A link is one IP subnet on one (port, VLAN): IPv4 and IPv6 on one VLAN are
// two links, as are two IPv4 subnets on one VLAN (draft §4.5, §4.6).
// Link-local sources (169.254/16, fe80::/10) join the first link of their
// port, VLAN and family: most IPv6 mDNS comes from fe80:: addresses.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/frame.hpp"

namespace updproxy::dataplane {

inline constexpr uint16_t kNoLink = 0xFFFF;

struct LinkSpec {
    std::string name;
    uint16_t port = 0;
    uint8_t vlan_count = 0;
    std::array<uint16_t, 2> vlan{0, 0};  // outermost first
    bool v6 = false;
    std::array<uint8_t, 16> prefix{};  // IPv4 in the first 4 bytes
    uint8_t prefix_len = 0;
    bool has_address = false;
    std::array<uint8_t, 16> address{};  // the proxy's own address on the link
    bool check_ttl = true;              // RFC 6762 §11: IP TTL / hop limit 255
    // False: a tombstone, the slot of a link a reload removed. Its id is
    // never given to another link until a restart; lookup() and owner_of()
    // never return it.
    bool active = true;
};

enum class LinkMiss : uint8_t {
    ok = 0,
    no_link,      // no link configured on this port + VLAN + family
    off_link,     // a link exists there but the source is not on its subnet (draft §8)
};

bool prefix_contains(const std::array<uint8_t, 16>& prefix, uint8_t len, const uint8_t* addr,
                     bool v6);
bool is_link_local(const uint8_t* addr, bool v6);

// A link's id is its slot: its index here. Slots are stable across reloads
// (control/link_slots.hpp): a removed link leaves an inactive tombstone, an
// added one takes the next slot. A LinkTable is immutable once a worker may
// read it: a reload publishes a new one (Dataplane::set_links).
class LinkTable {
public:
    LinkTable() = default;
    explicit LinkTable(std::vector<LinkSpec> links) : links_(std::move(links)) {}
    // Returns the new link's id (its index).
    uint16_t add(const LinkSpec& spec);
    size_t size() const { return links_.size(); }
    const LinkSpec& operator[](uint16_t id) const { return links_[id]; }
    const std::vector<LinkSpec>& all() const { return links_; }

    // The link of a classified frame from `port`; `miss` says why there is none.
    uint16_t lookup(uint16_t port, const FrameInfo& f, LinkMiss* miss) const;
    // The link on (port, vlans, family) that owns `addr` as its address (ARP, ND,
    // unicast to us), or kNoLink.
    uint16_t owner_of(uint16_t port, const FrameInfo& f, const uint8_t* addr, bool v6) const;

private:
    bool same_segment(const LinkSpec& l, uint16_t port, const FrameInfo& f, bool v6) const;
    std::vector<LinkSpec> links_;
};

// Whether `next` may follow `now` as the dataplane's link table: at most
// `capacity` slots; no fewer slots than `now` (a removed link stays as a
// tombstone); every port below `port_count`; a link that stays active in
// its slot keeps its port, VLANs, family and prefix (its records were
// learned under them). "" when it may, else why not.
std::string check_next_links(const LinkTable& now, const std::vector<LinkSpec>& next,
                             size_t capacity, size_t port_count);

}  // namespace updproxy::dataplane
