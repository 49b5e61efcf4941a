#include "control/record_store.hpp"

#include "codec/message.hpp"
#include "codec/types.hpp"

namespace updproxy::control {

namespace {

// Appends the name at `p` (uncompressed wire, validated by the shard) to
// `out` lowercased; returns the offset after it, or npos if malformed.
size_t lower_name(std::span<const uint8_t> rd, size_t p, std::string& out) {
    while (p < rd.size()) {
        const uint8_t l = rd[p];
        out.push_back(static_cast<char>(l));
        ++p;
        if (l == 0) return p;
        if (l > 63 || p + l > rd.size()) return std::string::npos;
        for (size_t i = 0; i < l; ++i) out.push_back(static_cast<char>(codec::ascii_lower(rd[p + i])));
        p += l;
    }
    return std::string::npos;
}

}  // namespace

std::string canonical_rdata(uint16_t type, std::span<const uint8_t> rdata) {
    std::string out;
    out.reserve(rdata.size());
    size_t p = 0;
    auto rest = [&] { out.append(reinterpret_cast<const char*>(rdata.data()) + p, rdata.size() - p); };
    auto fixed = [&](size_t n) {
        if (p + n > rdata.size()) return false;
        out.append(reinterpret_cast<const char*>(rdata.data()) + p, n);
        p += n;
        return true;
    };
    bool ok = true;
    switch (type) {
        case codec::rrtype::PTR:
        case codec::rrtype::CNAME:
        case codec::rrtype::NS:
            p = lower_name(rdata, p, out);
            break;
        case codec::rrtype::MX:
            ok = fixed(2);
            if (ok) p = lower_name(rdata, p, out);
            break;
        case codec::rrtype::SRV:
            ok = fixed(6);
            if (ok) p = lower_name(rdata, p, out);
            break;
        case codec::rrtype::SOA:
            p = lower_name(rdata, p, out);
            if (p != std::string::npos) p = lower_name(rdata, p, out);
            break;
        default:
            break;
    }
    if (!ok || p == std::string::npos) {
        // Not the type's layout: compare byte for byte.
        out.assign(reinterpret_cast<const char*>(rdata.data()), rdata.size());
        return out;
    }
    rest();
    return out;
}

RecordKey make_key(uint16_t link, const codec::Name& owner, uint16_t type, uint16_t rrclass,
                   std::span<const uint8_t> rdata) {
    RecordKey k;
    k.link = link;
    const codec::Name lower = owner.lowercased();
    const auto lw = lower.wire();
    k.owner.assign(reinterpret_cast<const char*>(lw.data()), lw.size());
    k.type = type;
    k.rrclass = rrclass;
    k.rdata = canonical_rdata(type, rdata);
    return k;
}

size_t RecordStore::link_size(uint16_t link) const {
    size_t n = 0;
    for (const auto& [k, r] : records_) n += k.link == link;
    return n;
}

const std::set<RecordKey>* RecordStore::by_host(uint16_t link,
                                                 const std::array<uint8_t, 16>& ip) const {
    auto it = hosts_.find({link, ip});
    return it == hosts_.end() ? nullptr : &it->second;
}

void RecordStore::index_host(const RecordKey& k, const Record& r, bool add) {
    const HostKey h{r.link, r.host.ip};
    if (add) {
        hosts_[h].insert(k);
        return;
    }
    auto it = hosts_.find(h);
    if (it == hosts_.end()) return;
    it->second.erase(k);
    if (it->second.empty()) hosts_.erase(it);
}

const Record* RecordStore::find(const RecordKey& k) const {
    auto it = records_.find(k);
    return it == records_.end() ? nullptr : &it->second;
}

void RecordStore::add_from(uint16_t shard, uint32_t id, const table::EventView& e,
                           std::vector<Applied>* out) {
    RecordKey key = make_key(e.h.link, e.owner, e.h.type, e.h.rrclass, e.rdata);
    auto& ids = ids_[shard];
    auto prev = ids.find(id);
    if (prev != ids.end() && !(prev->second == key)) drop_from(shard, id, out);
    ids[id] = key;
    if (stale_[shard]) stale_[shard]->erase(id);
    auto [it, inserted] = records_.try_emplace(key);
    Record& r = it->second;
    const bool had_any = r.shards.any();
    const uint32_t old_ttl = r.ttl;
    if (had_any) index_host(it->first, r, false);  // the host may have changed
    r.owner = e.owner;
    r.link = e.h.link;
    r.type = e.h.type;
    r.rrclass = e.h.rrclass;
    r.ttl = e.h.ttl;
    r.rdata.assign(e.rdata.begin(), e.rdata.end());
    r.host = e.h.host;
    r.cache_flush = e.h.cache_flush != 0;
    r.expire_ms = e.h.expire_ms;
    r.shards.set(shard);
    index_host(it->first, r, true);
    if (!had_any) {
        out->push_back({Change::added, &it->first, &r});
    } else if (old_ttl != r.ttl) {
        out->push_back({Change::ttl_changed, &it->first, &r});
    }
}

void RecordStore::drop_from(uint16_t shard, uint32_t id, std::vector<Applied>* out) {
    auto& ids = ids_[shard];
    auto k = ids.find(id);
    if (k == ids.end()) return;
    auto it = records_.find(k->second);
    ids.erase(k);
    if (it == records_.end()) return;
    it->second.shards.reset(shard);
    if (it->second.shards.none()) {
        index_host(it->first, it->second, false);
        removed_keys_.push_back(it->first);
        removed_.push_back(std::move(it->second));
        records_.erase(it);
        out->push_back({Change::removed, nullptr, nullptr});
    }
}

void RecordStore::apply(const table::EventView& e, std::vector<Applied>* out) {
    const uint16_t shard = e.h.shard;
    if (shard >= kMaxShards) return;
    const size_t first = out->size();
    removed_.clear();
    removed_keys_.clear();
    switch (e.h.kind) {
        case table::EventKind::add:
        case table::EventKind::resync_record:
            add_from(shard, e.h.record_id, e, out);
            break;
        case table::EventKind::ttl_change: {
            add_from(shard, e.h.record_id, e, out);
            break;
        }
        case table::EventKind::remove:
            drop_from(shard, e.h.record_id, out);
            break;
        case table::EventKind::refresh_due: {
            auto k = ids_[shard].find(e.h.record_id);
            if (k != ids_[shard].end()) {
                auto it = records_.find(k->second);
                if (it != records_.end()) {
                    // The shard refreshes records silently (no event for an
                    // unchanged TTL): this is where the control side learns
                    // the current expiry again.
                    it->second.expire_ms = e.h.expire_ms;
                    out->push_back({Change::refresh_due, &it->first, &it->second});
                }
            }
            break;
        }
        case table::EventKind::resync_begin:
            stale_[shard] = ids_[shard];
            break;
        case table::EventKind::resync_end:
            if (stale_[shard]) {
                for (const auto& [id, key] : *stale_[shard]) drop_from(shard, id, out);
                stale_[shard].reset();
            }
            break;
    }
    // Point removed entries at the kept copies (vectors no longer grow now).
    size_t r = 0;
    for (size_t i = first; i < out->size(); ++i) {
        if ((*out)[i].change == Change::removed) {
            (*out)[i].key = &removed_keys_[r];
            (*out)[i].record = &removed_[r];
            ++r;
        }
    }
}

}  // namespace updproxy::control
