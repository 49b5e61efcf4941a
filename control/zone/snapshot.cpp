#include "control/zone/snapshot.hpp"

#include <algorithm>

#include "codec/builder.hpp"

namespace updproxy::control::zone {

std::vector<uint8_t> ZoneData::soa_rdata_with_serial(uint32_t s) const {
    return codec::rdata::soa(cfg.mname, cfg.rname, s, cfg.refresh, cfg.retry, cfg.expire,
                             cfg.minimum);
}

ZoneSnapshot::ZoneSnapshot(std::vector<std::shared_ptr<const ZoneData>> zones, uint64_t generation)
    : zones_(std::move(zones)), generation_(generation) {
    size_t count = 0;
    for (const auto& z : zones_) count += z->nodes.size() + z->ents.size();
    // At most half full: probes stay short and always meet an empty slot.
    size_t size = 16;
    while (size < 2 * count) size *= 2;
    table_.assign(size, Slot{});
    mask_ = size - 1;
    for (const auto& z : zones_) {
        for (const auto& n : z->nodes) insert(n.get());
        for (const auto& n : z->ents) insert(n.get());
    }
}

void ZoneSnapshot::insert(const Node* n) {
    size_t i = n->hash & mask_;
    while (table_[i].hot != nullptr) i = (i + 1) & mask_;
    table_[i] = Slot{n->hash, n->hot.data()};
}

std::vector<uint8_t> pack_hot(uint32_t zone, bool ent, const codec::Name& owner_lc,
                              const std::vector<HotPiece>& pieces) {
    const auto w = owner_lc.wire();
    const size_t types = std::min<size_t>(pieces.size(), 255);
    const size_t index_off = (8 + w.size() + 3) & ~size_t{3};
    size_t cuts_off = index_off + types * sizeof(HotRendered);
    size_t total = cuts_off;
    for (size_t i = 0; i < types; ++i) total += pieces[i].cuts.size() * sizeof(Cut);
    size_t body_off = total;
    for (size_t i = 0; i < types; ++i) total += pieces[i].body.size();
    std::vector<uint8_t> b(total, 0);
    std::memcpy(b.data(), &zone, 4);
    b[4] = ent ? 1 : 0;
    b[5] = static_cast<uint8_t>(types);
    b[6] = static_cast<uint8_t>(w.size());
    std::memcpy(b.data() + 8, w.data(), w.size());
    for (size_t i = 0; i < types; ++i) {
        const HotPiece& p = pieces[i];
        HotRendered r;
        r.qtype = p.qtype;
        r.ncuts = static_cast<uint16_t>(std::min<size_t>(p.cuts.size(), 0xFFFF));
        r.cuts_off = static_cast<uint32_t>(cuts_off);
        r.body_off = static_cast<uint32_t>(body_off);
        std::memcpy(b.data() + index_off + i * sizeof(HotRendered), &r, sizeof r);
        for (size_t k = 0; k < r.ncuts; ++k) {
            std::memcpy(b.data() + cuts_off + k * sizeof(Cut), &p.cuts[k], sizeof(Cut));
        }
        cuts_off += r.ncuts * sizeof(Cut);
        if (!p.body.empty()) std::memcpy(b.data() + body_off, p.body.data(), p.body.size());
        body_off += p.body.size();
    }
    return b;
}

std::optional<size_t> ZoneSnapshot::zone_of(const codec::Name& name) const {
    std::optional<size_t> best;
    size_t best_len = 0;
    for (size_t i = 0; i < zones_.size(); ++i) {
        const codec::Name& apex = zones_[i]->cfg.apex;
        if (name.is_subdomain_of(apex) && (!best || apex.wire_length() > best_len)) {
            best = i;
            best_len = apex.wire_length();
        }
    }
    return best;
}

std::optional<size_t> ZoneSnapshot::zone_by_apex(const codec::Name& apex) const {
    for (size_t i = 0; i < zones_.size(); ++i) {
        if (zones_[i]->cfg.apex == apex) return i;
    }
    return std::nullopt;
}

}  // namespace updproxy::control::zone
