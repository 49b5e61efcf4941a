#include "dataplane/links.hpp"

#include <cstring>

namespace updproxy::dataplane {

bool prefix_contains(const std::array<uint8_t, 16>& prefix, uint8_t len, const uint8_t* addr,
                     bool v6) {
    const size_t max = v6 ? 128 : 32;
    if (len > max) return false;
    const size_t full = len / 8;
    if (std::memcmp(prefix.data(), addr, full) != 0) return false;
    const unsigned rest = len % 8;
    if (rest == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
    return (prefix[full] & mask) == (addr[full] & mask);
}

bool is_link_local(const uint8_t* addr, bool v6) {
    if (v6) return addr[0] == 0xFE && (addr[1] & 0xC0) == 0x80;
    return addr[0] == 169 && addr[1] == 254;
}

std::string check_next_links(const LinkTable& now, const std::vector<LinkSpec>& next,
                             size_t capacity, size_t port_count) {
    if (next.size() > capacity) {
        return std::to_string(next.size()) + " link slots needed, " + std::to_string(capacity) +
               " available";
    }
    if (next.size() < now.size()) {
        return "a link table cannot shrink (" + std::to_string(now.size()) + " -> " +
               std::to_string(next.size()) + " slots): removed links stay as tombstones";
    }
    for (size_t i = 0; i < next.size(); ++i) {
        const LinkSpec& l = next[i];
        if (l.port >= port_count) return "link " + l.name + ": no port " + std::to_string(l.port);
        if (i >= now.size() || !l.active) continue;
        const LinkSpec& o = now[static_cast<uint16_t>(i)];
        if (!o.active) {
            return "link " + l.name + ": slot " + std::to_string(i) +
                   " is a tombstone (a removed link's id is not reused)";
        }
        if (o.port != l.port || o.vlan_count != l.vlan_count || o.vlan != l.vlan || o.v6 != l.v6 ||
            o.prefix != l.prefix || o.prefix_len != l.prefix_len) {
            return "link " + l.name + ": slot " + std::to_string(i) +
                   " changes port, VLAN or prefix (a new link needs a new slot)";
        }
    }
    return "";
}

uint16_t LinkTable::add(const LinkSpec& spec) {
    links_.push_back(spec);
    return static_cast<uint16_t>(links_.size() - 1);
}

bool LinkTable::same_segment(const LinkSpec& l, uint16_t port, const FrameInfo& f, bool v6) const {
    return l.port == port && l.v6 == v6 && l.vlan_count == f.vlan_count &&
           (l.vlan_count < 1 || l.vlan[0] == f.vlan[0]) &&
           (l.vlan_count < 2 || l.vlan[1] == f.vlan[1]);
}

uint16_t LinkTable::lookup(uint16_t port, const FrameInfo& f, LinkMiss* miss) const {
    const bool v6 = f.ip_version == 6;
    const uint8_t* src = f.src.data();
    uint16_t first_on_segment = kNoLink;
    for (size_t i = 0; i < links_.size(); ++i) {
        const LinkSpec& l = links_[i];
        if (!l.active || !same_segment(l, port, f, v6)) continue;
        if (prefix_contains(l.prefix, l.prefix_len, src, v6)) {
            *miss = LinkMiss::ok;
            return static_cast<uint16_t>(i);
        }
        if (first_on_segment == kNoLink) first_on_segment = static_cast<uint16_t>(i);
    }
    if (first_on_segment == kNoLink) {
        *miss = LinkMiss::no_link;
        return kNoLink;
    }
    if (is_link_local(src, v6)) {
        *miss = LinkMiss::ok;
        return first_on_segment;
    }
    *miss = LinkMiss::off_link;
    return kNoLink;
}

uint16_t LinkTable::owner_of(uint16_t port, const FrameInfo& f, const uint8_t* addr,
                             bool v6) const {
    for (size_t i = 0; i < links_.size(); ++i) {
        const LinkSpec& l = links_[i];
        if (!l.active || !l.has_address || !same_segment(l, port, f, v6)) continue;
        if (std::memcmp(l.address.data(), addr, v6 ? 16 : 4) == 0) {
            return static_cast<uint16_t>(i);
        }
    }
    return kNoLink;
}

}  // namespace updproxy::dataplane
