#include "control/zone/zone_store.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <unordered_map>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"

namespace updproxy::control::zone {

namespace {

using Key = std::string;  // lowercased uncompressed owner wire

Key key_of(const codec::Name& n) {
    codec::Name lc = n.lowercased();
    auto w = lc.wire();
    return Key(reinterpret_cast<const char*>(w.data()), w.size());
}

codec::Name name_of_key(const Key& k) {
    auto r = codec::Name::from_wire(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(k.data()), k.size()));
    return r ? *r : codec::Name();
}

// Length of the uncompressed name at the start of `b`, 0 when it is not one.
size_t plain_name_length(std::span<const uint8_t> b) {
    size_t p = 0;
    while (p < b.size() && p < codec::kMaxNameWire) {
        uint8_t l = b[p];
        if (l == 0) return p + 1;
        if (l > codec::kMaxLabel) return 0;
        p += 1 + l;
    }
    return 0;
}

std::optional<codec::Name> name_at(std::span<const uint8_t> b) {
    size_t n = plain_name_length(b);
    if (n == 0) return std::nullopt;
    auto r = codec::Name::from_wire(b.first(n));
    if (!r) return std::nullopt;
    return *r;
}

void lower_range(std::vector<uint8_t>& v, size_t from) {
    for (size_t i = from; i < v.size(); ++i) v[i] = codec::ascii_lower(v[i]);
}

// Checks RDATA against its type's layout and returns its canonical form
// (embedded names lowercased, RFC 4034 §6.2), or nullopt when it does not fit.
std::optional<std::vector<uint8_t>> canonical_rdata(uint16_t type, std::span<const uint8_t> rd) {
    std::vector<uint8_t> c(rd.begin(), rd.end());
    switch (type) {
        case codec::rrtype::A:
            if (rd.size() != 4) return std::nullopt;
            return c;
        case codec::rrtype::AAAA:
            if (rd.size() != 16) return std::nullopt;
            return c;
        case codec::rrtype::PTR:
        case codec::rrtype::NS:
        case codec::rrtype::CNAME:
            if (plain_name_length(rd) != rd.size() || !name_at(rd)) return std::nullopt;
            lower_range(c, 0);
            return c;
        case codec::rrtype::SRV:
            if (rd.size() < 7 || plain_name_length(rd.subspan(6)) != rd.size() - 6 ||
                !name_at(rd.subspan(6))) {
                return std::nullopt;
            }
            lower_range(c, 6);
            return c;
        case codec::rrtype::TXT: {
            if (rd.empty()) return std::nullopt;
            size_t p = 0;
            for (size_t n = 0; p < rd.size() && n < 65536; ++n) p += 1 + rd[p];
            if (p != rd.size()) return std::nullopt;
            return c;
        }
        case codec::rrtype::SOA:
        case codec::rrtype::OPT:
        case codec::rrtype::TSIG:
        case codec::rrtype::ANY:
        case codec::rrtype::AXFR:
        case codec::rrtype::IXFR:
            return std::nullopt;
        default:
            if (rd.size() > 0xFFFF) return std::nullopt;
            return c;
    }
}

struct WRec {
    uint32_t ttl = 0;
    std::vector<uint8_t> rdata;  // as published
    std::vector<uint8_t> canon;
};

struct WNode {
    codec::Name owner;
    size_t zone = 0;
    std::map<uint16_t, std::vector<WRec>> sets;
    std::vector<Key> deps;                  // names its additional sections read
    std::shared_ptr<const Node> node;       // last rendered (nullptr: none yet)
};

}  // namespace

struct ZoneStore::Impl {
    std::vector<ZoneConfig> cfgs;
    std::vector<Key> apex_keys;
    std::vector<std::map<Key, WNode>> nodes;        // per zone
    std::unordered_map<Key, std::set<Key>> rdeps;   // name -> nodes whose renders read it
    std::set<Key> changed;                           // owners touched since commit
    std::vector<uint32_t> serial;
    std::vector<std::vector<std::shared_ptr<const Diff>>> history;
    std::vector<std::shared_ptr<const ZoneData>> zone_data;
    std::vector<std::function<void(const codec::Name&, uint32_t)>> hooks;
    std::vector<uint8_t> scratch = std::vector<uint8_t>(65535);
    StoreStats st;

    // Publication (see the header).
    std::shared_ptr<const ZoneSnapshot> current;
    std::atomic<std::shared_ptr<const ZoneSnapshot>> current_shared;
    std::atomic<const ZoneSnapshot*> current_raw{nullptr};
    std::atomic<uint64_t> gen{0};
    std::array<std::atomic<uint64_t>, kMaxReaders> active{};
    std::array<std::atomic<bool>, kMaxReaders> used{};
    std::vector<std::pair<uint64_t, std::shared_ptr<const ZoneSnapshot>>> retired;

    std::optional<size_t> zone_of(const codec::Name& n) const {
        std::optional<size_t> best;
        size_t best_len = 0;
        for (size_t i = 0; i < cfgs.size(); ++i) {
            if (n.is_subdomain_of(cfgs[i].apex) &&
                (!best || cfgs[i].apex.wire_length() > best_len)) {
                best = i;
                best_len = cfgs[i].apex.wire_length();
            }
        }
        return best;
    }

    // The RRsets served at a node: published records (TTL the smallest of the
    // set, RDATA deduplicated and in canonical order), and at the apex the SOA
    // and the configured NS merged with any published NS.
    std::vector<RRset> effective(const WNode* w, size_t z, bool apex) const {
        std::map<uint16_t, std::vector<const WRec*>> sets;
        std::vector<WRec> extra;
        if (apex) {
            const ZoneConfig& c = cfgs[z];
            extra.reserve(1 + c.ns.size() + 1);
            extra.push_back(WRec{c.soa_ttl,
                                 codec::rdata::soa(c.mname, c.rname, serial[z], c.refresh, c.retry,
                                                   c.expire, c.minimum),
                                 {}});
            std::vector<codec::Name> ns = c.ns;
            if (ns.empty()) ns.push_back(c.mname);
            for (const auto& n : ns) {
                auto rd = codec::rdata::name(n);
                auto canon = rd;
                lower_range(canon, 0);
                extra.push_back(WRec{c.ns_ttl, rd, canon});
            }
            sets[codec::rrtype::SOA].push_back(&extra[0]);
            for (size_t i = 1; i < extra.size(); ++i) sets[codec::rrtype::NS].push_back(&extra[i]);
        }
        if (w != nullptr) {
            for (const auto& [type, recs] : w->sets) {
                for (const auto& r : recs) sets[type].push_back(&r);
            }
        }
        std::vector<RRset> out;
        for (auto& [type, recs] : sets) {
            if (recs.empty()) continue;
            // Byte order of the canonical RDATA (RFC 4034 §6.3). Spelled out:
            // GCC 12 at -O3 warns (stringop-overread) on vector's operator<.
            std::stable_sort(recs.begin(), recs.end(), [](const WRec* a, const WRec* b) {
                const size_t n = std::min(a->canon.size(), b->canon.size());
                const int c = n == 0 ? 0 : std::memcmp(a->canon.data(), b->canon.data(), n);
                return c < 0 || (c == 0 && a->canon.size() < b->canon.size());
            });
            RRset s;
            s.type = type;
            s.ttl = recs.front()->ttl;
            const std::vector<uint8_t>* prev = nullptr;
            for (const WRec* r : recs) {
                s.ttl = std::min(s.ttl, r->ttl);
                if (prev != nullptr && *prev == r->canon && type != codec::rrtype::SOA) continue;
                prev = &r->canon;
                s.rdata.push_back(r->rdata);
            }
            out.push_back(std::move(s));
        }
        return out;
    }

    std::vector<RRset> effective_of(const Key& k, size_t z) const {
        auto it = nodes[z].find(k);
        bool apex = k == apex_keys[z];
        if (it == nodes[z].end()) return apex ? effective(nullptr, z, true) : std::vector<RRset>{};
        return effective(&it->second, z, apex);
    }

    // Renders every RRset of one node (see snapshot.hpp), recording which
    // names its additional sections read.
    std::shared_ptr<const Node> render(const codec::Name& owner, size_t z, std::vector<RRset> sets,
                                       std::vector<Key>& deps) {
        auto node = std::make_shared<Node>();
        node->owner = owner;
        node->owner_lc = owner.lowercased();
        auto lw = node->owner_lc.wire();
        node->hash = name_hash(lw.data(), lw.size());
        node->zone = static_cast<uint32_t>(z);
        node->rrsets = std::move(sets);
        deps.clear();
        std::vector<HotPiece> pieces;
        for (const RRset& s : node->rrsets) {
            HotPiece piece;
            piece.qtype = s.type;
            codec::Builder b(scratch);
            b.add_question(owner, s.type, codec::rrclass::IN);
            size_t body = b.size();
            bool whole = true;
            for (const auto& rd : s.rdata) {
                if (!b.add_rr(codec::Section::answer, owner, s.type, codec::rrclass::IN, s.ttl, rd)) {
                    whole = false;
                    break;
                }
            }
            if (whole) {
                piece.cuts.push_back(Cut{static_cast<uint32_t>(b.size() - body),
                                         b.count(codec::Section::answer), 0, 0});
                add_additional(b, body, node->owner_lc, z, s, piece.cuts, deps);
            }
            // No cut at all: even TCP cannot carry the RRset; answers set TC.
            if (!piece.cuts.empty()) {
                auto w = b.wire();
                piece.body.assign(w.begin() + static_cast<std::ptrdiff_t>(body),
                                  w.begin() + static_cast<std::ptrdiff_t>(body + piece.cuts.back().len));
            }
            pieces.push_back(std::move(piece));
        }
        node->hot = pack_hot(node->zone, false, node->owner_lc, pieces);
        std::sort(deps.begin(), deps.end());
        deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
        ++st.nodes_rendered;
        return node;
    }

    // Additional records: RFC 6763 §12 for PTR (the instances' SRV and TXT,
    // the SRV targets' addresses) and SRV (the targets' addresses); NS gets
    // its targets' addresses, as every authoritative server does. Only names
    // of the same zone are looked at, as Knot and BIND do.
    void add_additional(codec::Builder& b, size_t body, const codec::Name& self_lc, size_t z,
                        const RRset& s, std::vector<Cut>& cuts, std::vector<Key>& deps) {
        std::set<std::pair<Key, uint16_t>> done;
        done.insert({key_of(self_lc), s.type});
        bool full = false;
        auto put_set = [&](const codec::Name& owner, uint16_t type) {
            if (full) return;
            Key k = key_of(owner);
            if (zone_of(owner) != z) return;
            deps.push_back(k);
            if (!done.insert({k, type}).second) return;
            auto sets = effective_of(k, z);
            for (const RRset& a : sets) {
                if (a.type != type) continue;
                // The published owner's case, not the target's spelling.
                auto it = nodes[z].find(k);
                const codec::Name& o = it != nodes[z].end() ? it->second.owner : owner;
                for (const auto& rd : a.rdata) {
                    if (!b.add_rr(codec::Section::additional, o, type, codec::rrclass::IN, a.ttl,
                                  rd)) {
                        full = true;
                        return;
                    }
                }
                Cut c;
                c.len = static_cast<uint32_t>(b.size() - body);
                c.an = b.count(codec::Section::answer);
                c.ar = b.count(codec::Section::additional);
                cuts.push_back(c);
            }
        };
        auto addresses = [&](const codec::Name& target) {
            put_set(target, codec::rrtype::A);
            put_set(target, codec::rrtype::AAAA);
        };
        auto srv_target = [](std::span<const uint8_t> rd) -> std::optional<codec::Name> {
            if (rd.size() < 7) return std::nullopt;
            return name_at(rd.subspan(6));
        };
        if (s.type == codec::rrtype::PTR) {
            for (const auto& rd : s.rdata) {
                auto inst = name_at(rd);
                if (!inst) continue;
                put_set(*inst, codec::rrtype::SRV);
                put_set(*inst, codec::rrtype::TXT);
                if (zone_of(*inst) != z) continue;
                for (const RRset& a : effective_of(key_of(*inst), z)) {
                    if (a.type != codec::rrtype::SRV) continue;
                    for (const auto& srd : a.rdata) {
                        if (auto t = srv_target(srd)) addresses(*t);
                    }
                }
            }
        } else if (s.type == codec::rrtype::SRV) {
            for (const auto& rd : s.rdata) {
                if (auto t = srv_target(rd)) addresses(*t);
            }
        } else if (s.type == codec::rrtype::NS) {
            for (const auto& rd : s.rdata) {
                if (auto t = name_at(rd)) addresses(*t);
            }
        }
    }

    // Empty non-terminals of zone z: every name between an owner and the apex
    // that holds no records itself.
    std::vector<std::shared_ptr<const Node>> ents_of(size_t z) const {
        std::set<Key> ents;
        const codec::Name& apex = cfgs[z].apex;
        size_t apex_labels = apex.label_count();
        for (const auto& [k, w] : nodes[z]) {
            if (w.sets.empty()) continue;
            codec::Name n = w.owner;
            size_t labels = n.label_count();
            // Ancestors strictly between the owner and the apex.
            for (size_t up = 1; up < labels && labels - up > apex_labels; ++up) {
                codec::Name a = n.parent(up);
                Key ak = key_of(a);
                auto it = nodes[z].find(ak);
                if (it != nodes[z].end() && !it->second.sets.empty()) continue;
                ents.insert(ak);
            }
        }
        std::vector<std::shared_ptr<const Node>> out;
        for (const Key& k : ents) {
            auto node = std::make_shared<Node>();
            node->owner = name_of_key(k);
            node->owner_lc = node->owner;
            auto w = node->owner_lc.wire();
            node->hash = name_hash(w.data(), w.size());
            node->zone = static_cast<uint32_t>(z);
            node->ent = true;
            node->hot = pack_hot(node->zone, true, node->owner_lc, {});
            out.push_back(std::move(node));
        }
        return out;
    }

    static RelName rel_name(const codec::Name& n, const codec::Name& apex) {
        RelName r;
        auto w = n.wire();
        if (n.is_subdomain_of(apex)) {
            r.under_apex = true;
            r.prefix.assign(w.begin(), w.end() - static_cast<std::ptrdiff_t>(apex.wire_length()));
        } else {
            r.prefix.assign(w.begin(), w.end());
        }
        return r;
    }

    std::shared_ptr<const ZoneData> build_zone(size_t z) {
        auto d = std::make_shared<ZoneData>();
        d->cfg = cfgs[z];
        d->apex_lc = cfgs[z].apex.lowercased();
        d->serial = serial[z];
        d->soa_rdata = d->soa_rdata_with_serial(serial[z]);
        d->negative_ttl = std::min(cfgs[z].soa_ttl, cfgs[z].minimum);
        d->mname = rel_name(cfgs[z].mname, cfgs[z].apex);
        d->rname = rel_name(cfgs[z].rname, cfgs[z].apex);
        auto ait = nodes[z].find(apex_keys[z]);
        if (ait != nodes[z].end() && ait->second.node) d->nodes.push_back(ait->second.node);
        for (const auto& [k, w] : nodes[z]) {
            if (k == apex_keys[z] || !w.node || w.node->rrsets.empty()) continue;
            d->nodes.push_back(w.node);
        }
        d->ents = ents_of(z);
        d->history = history[z];
        return d;
    }

    void set_deps(const Key& k, std::vector<Key>& old_deps, std::vector<Key> new_deps) {
        for (const Key& d : old_deps) {
            auto it = rdeps.find(d);
            if (it == rdeps.end()) continue;
            it->second.erase(k);
            if (it->second.empty()) rdeps.erase(it);
        }
        for (const Key& d : new_deps) rdeps[d].insert(k);
        old_deps = std::move(new_deps);
    }

    void publish(std::shared_ptr<const ZoneSnapshot> snap) {
        auto old = current;
        current = snap;
        current_shared.store(snap);
        // Pointer first, generation second: a reader that saw the new
        // generation also sees (at least) the new pointer (see Reader).
        current_raw.store(snap.get(), std::memory_order_seq_cst);
        gen.store(snap->generation(), std::memory_order_seq_cst);
        if (old) {
            retired.emplace_back(old->generation(), std::move(old));
            ++st.snapshots_retired;
        }
        reclaim();
    }

    void reclaim() {
        size_t kept = 0;
        for (size_t i = 0; i < retired.size(); ++i) {
            uint64_t r = retired[i].first;
            bool busy = false;
            for (size_t s = 0; s < kMaxReaders && !busy; ++s) {
                if (!used[s].load(std::memory_order_acquire)) continue;
                uint64_t a = active[s].load(std::memory_order_seq_cst);
                busy = a != 0 && a <= r;
            }
            if (busy) {
                if (kept != i) retired[kept] = std::move(retired[i]);
                ++kept;
            } else {
                ++st.snapshots_freed;
            }
        }
        retired.resize(kept);
    }

    void trim_history(size_t z) {
        auto& h = history[z];
        const ZoneConfig& c = cfgs[z];
        size_t records = 0;
        for (const auto& d : h) records += d->removed.size() + d->added.size();
        size_t drop = 0;
        while (drop < h.size() && (h.size() - drop > c.history || records > c.history_records)) {
            records -= h[drop]->removed.size() + h[drop]->added.size();
            ++drop;
        }
        h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(drop));
    }

    void commit_all(bool initial, bool quiet = false) {
        std::vector<bool> zone_touched(cfgs.size(), initial);
        std::vector<std::shared_ptr<Diff>> diffs(cfgs.size());
        // 1. Net differences per changed owner, against what was last rendered.
        std::set<std::pair<size_t, Key>> to_render;
        for (const Key& k : changed) {
            codec::Name owner = name_of_key(k);
            auto zo = zone_of(owner);
            if (!zo) continue;
            size_t z = *zo;
            auto it = nodes[z].find(k);
            if (it == nodes[z].end()) continue;
            WNode& w = it->second;
            bool apex = k == apex_keys[z];
            std::vector<RRset> now = effective(&w, z, apex);
            static const std::vector<RRset> none;
            const std::vector<RRset>& before = w.node ? w.node->rrsets : none;
            auto find = [](const std::vector<RRset>& v, uint16_t t) -> const RRset* {
                for (const auto& s : v) {
                    if (s.type == t) return &s;
                }
                return nullptr;
            };
            std::set<uint16_t> types;
            for (const auto& s : before) types.insert(s.type);
            for (const auto& s : now) types.insert(s.type);
            bool differs = false;
            for (uint16_t t : types) {
                if (t == codec::rrtype::SOA) continue;
                const RRset* a = find(before, t);
                const RRset* b = find(now, t);
                std::vector<std::vector<uint8_t>> empty;
                const auto& ar = a ? a->rdata : empty;
                const auto& br = b ? b->rdata : empty;
                bool ttl_changed = a && b && a->ttl != b->ttl;
                auto in = [](const std::vector<std::vector<uint8_t>>& v, const std::vector<uint8_t>& x) {
                    return std::find(v.begin(), v.end(), x) != v.end();
                };
                for (const auto& rd : ar) {
                    if (ttl_changed || !in(br, rd)) {
                        if (!diffs[z]) diffs[z] = std::make_shared<Diff>();
                        diffs[z]->removed.push_back(XfrRecord{w.owner, t, a->ttl, rd});
                        differs = true;
                    }
                }
                for (const auto& rd : br) {
                    if (ttl_changed || !in(ar, rd)) {
                        if (!diffs[z]) diffs[z] = std::make_shared<Diff>();
                        diffs[z]->added.push_back(XfrRecord{w.owner, t, b->ttl, rd});
                        differs = true;
                    }
                }
            }
            if (!differs && w.node) continue;
            to_render.insert({z, k});
            zone_touched[z] = true;
            auto rit = rdeps.find(k);
            if (rit != rdeps.end()) {
                for (const Key& d : rit->second) to_render.insert({z, d});
            }
        }
        changed.clear();

        // 2. Serials and history.
        std::vector<bool> bumped(cfgs.size(), false);
        for (size_t z = 0; z < cfgs.size(); ++z) {
            if (!diffs[z] || (diffs[z]->removed.empty() && diffs[z]->added.empty())) continue;
            if (quiet) {
                zone_touched[z] = true;
                to_render.insert({z, apex_keys[z]});
                continue;
            }
            diffs[z]->from = serial[z];
            serial[z] = serial[z] + 1;
            diffs[z]->to = serial[z];
            history[z].push_back(diffs[z]);
            trim_history(z);
            bumped[z] = true;
            zone_touched[z] = true;
            to_render.insert({z, apex_keys[z]});
        }
        if (initial) {
            for (size_t z = 0; z < cfgs.size(); ++z) to_render.insert({z, apex_keys[z]});
        }

        // 3. Re-render (working copy is current; the old nodes served the diff).
        for (const auto& [z, k] : to_render) {
            auto it = nodes[z].find(k);
            bool apex = k == apex_keys[z];
            if (it == nodes[z].end()) {
                if (!apex) continue;
                WNode w;
                w.owner = cfgs[z].apex;
                w.zone = z;
                it = nodes[z].emplace(k, std::move(w)).first;
            }
            WNode& w = it->second;
            std::vector<Key> deps;
            auto sets = effective(&w, z, apex);
            w.node = render(w.owner, z, std::move(sets), deps);
            set_deps(k, w.deps, std::move(deps));
        }
        // Owners left without records disappear (their dependents were re-rendered).
        for (size_t z = 0; z < cfgs.size(); ++z) {
            if (!zone_touched[z]) continue;
            for (auto it = nodes[z].begin(); it != nodes[z].end();) {
                if (it->second.sets.empty() && it->first != apex_keys[z]) {
                    std::vector<Key> none;
                    set_deps(it->first, it->second.deps, std::move(none));
                    it = nodes[z].erase(it);
                } else {
                    ++it;
                }
            }
        }

        // 4. Publish.
        bool any = initial;
        for (size_t z = 0; z < cfgs.size(); ++z) {
            if (!zone_touched[z]) continue;
            zone_data[z] = build_zone(z);
            any = true;
        }
        if (!any) {
            reclaim();
            return;
        }
        uint64_t g = gen.load(std::memory_order_relaxed) + 1;
        publish(std::make_shared<const ZoneSnapshot>(zone_data, g));
        ++st.commits;
        for (size_t z = 0; z < cfgs.size(); ++z) {
            if (!bumped[z]) continue;
            for (auto& h : hooks) h(cfgs[z].apex, serial[z]);
        }
    }
};

ZoneStore::ZoneStore(std::vector<ZoneConfig> zones, uint64_t now_unix) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    if (now_unix == 0) now_unix = static_cast<uint64_t>(std::time(nullptr));
    m.cfgs = std::move(zones);
    for (auto& c : m.cfgs) {
        if (c.history == 0) c.history = 1;
    }
    m.nodes.resize(m.cfgs.size());
    m.history.resize(m.cfgs.size());
    m.zone_data.resize(m.cfgs.size());
    for (const auto& c : m.cfgs) {
        m.apex_keys.push_back(key_of(c.apex));
        m.serial.push_back(c.serial.value_or(static_cast<uint32_t>(now_unix)));
    }
    for (auto& a : m.active) a.store(0);
    for (auto& u : m.used) u.store(false);
    m.commit_all(true);
}

ZoneStore::~ZoneStore() = default;

std::optional<size_t> ZoneStore::zone_of(const codec::Name& owner) const {
    return impl_->zone_of(owner);
}

size_t ZoneStore::zone_count() const { return impl_->cfgs.size(); }

const ZoneConfig& ZoneStore::zone_config(size_t i) const { return impl_->cfgs[i]; }

bool ZoneStore::add(const PubRecord& r) {
    Impl& m = *impl_;
    auto z = m.zone_of(r.owner);
    if (!z) {
        ++m.st.rejected_outside;
        return false;
    }
    auto canon = canonical_rdata(r.type, r.rdata);
    if (!canon) {
        ++m.st.rejected_type;
        return false;
    }
    Key k = key_of(r.owner);
    auto [it, fresh] = m.nodes[*z].try_emplace(k);
    WNode& w = it->second;
    if (fresh) {
        w.owner = r.owner;
        w.zone = *z;
    } else if (w.sets.empty() && k != m.apex_keys[*z]) {
        w.owner = r.owner;  // a name coming back takes its new spelling
    }
    auto& recs = w.sets[r.type];
    for (auto& e : recs) {
        if (e.canon == *canon) {
            if (e.ttl == r.ttl) return true;
            e.ttl = r.ttl;
            m.changed.insert(k);
            ++m.st.adds;
            return true;
        }
    }
    recs.push_back(WRec{r.ttl, r.rdata, std::move(*canon)});
    m.changed.insert(k);
    ++m.st.adds;
    return true;
}

bool ZoneStore::remove(const PubRecord& r) {
    Impl& m = *impl_;
    auto z = m.zone_of(r.owner);
    if (!z) {
        ++m.st.rejected_outside;
        return false;
    }
    auto canon = canonical_rdata(r.type, r.rdata);
    if (!canon) {
        ++m.st.rejected_type;
        return false;
    }
    Key k = key_of(r.owner);
    auto it = m.nodes[*z].find(k);
    if (it == m.nodes[*z].end()) return true;
    auto sit = it->second.sets.find(r.type);
    if (sit == it->second.sets.end()) return true;
    auto& recs = sit->second;
    for (size_t i = 0; i < recs.size(); ++i) {
        if (recs[i].canon == *canon) {
            recs.erase(recs.begin() + static_cast<std::ptrdiff_t>(i));
            if (recs.empty()) it->second.sets.erase(sit);
            m.changed.insert(k);
            ++m.st.removes;
            return true;
        }
    }
    return true;
}

void ZoneStore::commit(bool initial) { impl_->commit_all(false, initial); }

void ZoneStore::reclaim() { impl_->reclaim(); }

std::shared_ptr<const ZoneSnapshot> ZoneStore::snapshot() const {
    return impl_->current_shared.load();
}

void ZoneStore::on_change(std::function<void(const codec::Name&, uint32_t)> f) {
    impl_->hooks.push_back(std::move(f));
}

std::vector<PubRecord> ZoneStore::records(size_t zone) const {
    std::vector<PubRecord> out;
    for (const auto& [k, w] : impl_->nodes[zone]) {
        for (const auto& [type, recs] : w.sets) {
            for (const auto& r : recs) out.push_back(PubRecord{w.owner, type, r.ttl, r.rdata});
        }
    }
    return out;
}

StoreStats ZoneStore::stats() const { return impl_->st; }

std::unique_ptr<ZoneStore::Reader> ZoneStore::make_reader() {
    for (size_t s = 0; s < kMaxReaders; ++s) {
        bool expected = false;
        if (impl_->used[s].compare_exchange_strong(expected, true)) {
            impl_->active[s].store(0);
            return std::unique_ptr<Reader>(new Reader(this, s));
        }
    }
    return nullptr;
}

ZoneStore::Reader::~Reader() {
    store_->impl_->active[slot_].store(0);
    store_->impl_->used[slot_].store(false, std::memory_order_release);
}

const ZoneSnapshot* ZoneStore::Reader::enter() {
    Impl& m = *store_->impl_;
    // Announce the generation first, then load the pointer: the control
    // thread stores pointer then generation and frees a retired snapshot of
    // generation r only when every slot is 0 or above r, so whatever pointer
    // this load returns (of generation >= the announced one) stays alive.
    uint64_t g = m.gen.load(std::memory_order_seq_cst);
    m.active[slot_].store(g, std::memory_order_seq_cst);
    return m.current_raw.load(std::memory_order_seq_cst);
}

void ZoneStore::Reader::leave() {
    store_->impl_->active[slot_].store(0, std::memory_order_release);
}

}  // namespace updproxy::control::zone
