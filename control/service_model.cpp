#include "control/service_model.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "codec/builder.hpp"
#include "codec/types.hpp"

namespace updproxy::control {

namespace {

const codec::Name& local_name() {
    static const codec::Name n = *codec::Name::parse("local.");
    return n;
}

std::string lc_wire(const codec::Name& n) {
    const codec::Name lower = n.lowercased();
    const auto w = lower.wire();
    return {reinterpret_cast<const char*>(w.data()), w.size()};
}

bool under_local(const std::string& owner_lc) {
    static const std::string suffix("\x05local\x00", 7);
    return owner_lc.size() >= suffix.size() &&
           owner_lc.compare(owner_lc.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool link_local_address(uint16_t type, const std::vector<uint8_t>& rd) {
    if (type == codec::rrtype::A) return rd.size() == 4 && rd[0] == 169 && rd[1] == 254;
    if (type == codec::rrtype::AAAA) return rd.size() == 16 && rd[0] == 0xFE && (rd[1] & 0xC0) == 0x80;
    return false;
}

std::optional<codec::Name> name_from_wire(std::span<const uint8_t> w) {
    auto n = codec::Name::from_wire(w);
    if (!n) return std::nullopt;
    return *n;
}

}  // namespace

std::string algorithmic_label(const uint8_t* prefix, uint8_t prefix_len, bool v6) {
    char buf[40];
    if (!v6) {
        std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x", prefix[0], prefix[1], prefix[2],
                      prefix[3]);
        return buf;
    }
    // The first 64 bits name an IPv6 subnet however long the prefix is.
    (void)prefix_len;
    std::string s;
    for (int i = 0; i < 8; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", prefix[i]);
        s += buf;
    }
    return s;
}

std::optional<codec::Name> map_local(const codec::Name& n, const codec::Name& sub) {
    auto r = n.replace_suffix(local_name(), sub);
    if (!r) return std::nullopt;
    return *r;
}

ServiceModel::ServiceModel(std::vector<LinkPublication> links, PublishSink* sink,
                           uint32_t browse_ttl)
    : sink_(sink), browse_ttl_(browse_ttl) {
    for (auto& l : links) {
        LinkState s;
        s.cfg = std::move(l);
        links_.push_back(std::move(s));
    }
}

ServiceModel::PubKey ServiceModel::key_of(const PubRecord& r) {
    return {lc_wire(r.owner), r.type, canonical_rdata(r.type, r.rdata)};
}

void ServiceModel::ref(uint16_t link, const PubRecord& r) {
    auto [it, inserted] = links_[link].pub.try_emplace(key_of(r));
    Published& p = it->second;
    if (p.refs++ == 0) {
        p.record = r;
        sink_->publish(link, r);
    }
}

void ServiceModel::unref(uint16_t link, const PubKey& k) {
    auto it = links_[link].pub.find(k);
    if (it == links_[link].pub.end()) return;
    if (--it->second.refs == 0) {
        sink_->unpublish(link, it->second.record);
        links_[link].pub.erase(it);
    }
}

void ServiceModel::start() {
    for (uint16_t l = 0; l < links_.size(); ++l) publish_browse(l);
}

std::vector<PubRecord> ServiceModel::browse_records(uint16_t l) const {
    const LinkState& s = links_[l];
    const codec::Name& sub = s.cfg.subdomain;
    std::vector<PubRecord> recs;
    auto browse = [&](const codec::Name& domain, const char* label) {
        codec::Name owner = domain;
        // label._dns-sd._udp.<domain>
        if (!owner.prepend_label(std::string_view("_udp")).ok() ||
            !owner.prepend_label(std::string_view("_dns-sd")).ok() ||
            !owner.prepend_label(std::string_view(label)).ok()) {
            return;
        }
        recs.push_back({owner, codec::rrtype::PTR, browse_ttl_, codec::rdata::name(sub)});
    };
    browse(sub, "b");
    if (s.cfg.parent) {
        browse(*s.cfg.parent, "b");
        browse(*s.cfg.parent, "lb");
    }
    for (const auto& n : s.cfg.address_derived) {
        recs.push_back({n, codec::rrtype::PTR, browse_ttl_, codec::rdata::name(sub)});
    }
    return recs;
}

void ServiceModel::publish_browse(uint16_t l) {
    LinkState& s = links_[l];
    if (!s.cfg.publish) return;
    for (const auto& r : browse_records(l)) {
        s.browse.push_back(key_of(r));
        ref(l, r);
    }
}

ServiceModel::Moved ServiceModel::set_subdomain(uint16_t link, std::optional<codec::Name> sub,
                                                std::vector<codec::Name> address_derived) {
    Moved m;
    if (link >= links_.size()) return m;
    LinkState& s = links_[link];
    if (sub && s.cfg.publish && *sub == s.cfg.subdomain) {
        // Same subdomain: only the address-derived records change; the
        // services stay where they are.
        s.cfg.address_derived = std::move(address_derived);
        std::vector<PubKey> next;
        std::vector<PubRecord> add;
        for (const auto& r : browse_records(link)) {
            next.push_back(key_of(r));
            if (std::find(s.browse.begin(), s.browse.end(), next.back()) == s.browse.end()) add.push_back(r);
        }
        for (const PubKey& k : s.browse) {
            if (std::find(next.begin(), next.end(), k) == next.end()) {
                unref(link, k);
                ++m.removed;
            }
        }
        for (const auto& r : add) {
            ref(link, r);
            ++m.added;
        }
        s.browse = std::move(next);
        return m;
    }
    const size_t before = s.pub.size();
    // Withdraw: every instance's contribution, then the browse records.
    for (auto& [name, inst] : s.instances) {
        for (const PubKey& k : inst.contributed) unref(link, k);
    }
    s.instances.clear();
    for (const PubKey& k : s.browse) unref(link, k);
    s.browse.clear();
    m.removed = before - s.pub.size();
    s.cfg.publish = sub.has_value();
    if (sub) s.cfg.subdomain = *sub;
    s.cfg.address_derived = std::move(address_derived);
    if (!s.cfg.publish) return m;
    publish_browse(link);
    // Every instance the link holds (an owner with an SRV record).
    std::vector<std::string> instances;
    for (const auto& [owner, keys] : s.by_owner) {
        for (const RecordKey& k : keys) {
            if (k.type == codec::rrtype::SRV) {
                instances.push_back(owner);
                break;
            }
        }
    }
    for (const auto& inst : instances) recompute(link, inst);
    m.added = s.pub.size();
    return m;
}

size_t ServiceModel::instance_count(uint16_t link) const {
    size_t n = 0;
    for (const auto& [name, inst] : links_[link].instances) n += !inst.contributed.empty();
    return n;
}

void ServiceModel::apply(const Applied& a) {
    if (a.record == nullptr || a.key == nullptr || store_ == nullptr) return;
    if (a.change == Change::refresh_due || a.change == Change::none) return;
    const RecordKey& key = *a.key;
    const Record& rec = *a.record;
    if (rec.link >= links_.size() || !under_local(key.owner)) return;
    LinkState& s = links_[rec.link];

    std::set<std::string> affected;
    const bool gone = a.change == Change::removed;
    if (gone) {
        auto it = s.by_owner.find(key.owner);
        if (it != s.by_owner.end()) {
            it->second.erase(key);
            if (it->second.empty()) s.by_owner.erase(it);
        }
    } else {
        s.by_owner[key.owner].insert(key);
    }
    switch (key.type) {
        case codec::rrtype::PTR: {
            const std::string& target = key.rdata;  // canonical: lowercased wire name
            if (gone) {
                auto it = s.ptr_to.find(target);
                if (it != s.ptr_to.end()) {
                    it->second.erase(key);
                    if (it->second.empty()) s.ptr_to.erase(it);
                }
            } else {
                s.ptr_to[target].insert(key);
            }
            affected.insert(target);
            break;
        }
        case codec::rrtype::SRV: {
            const std::string target = key.rdata.size() > 6 ? key.rdata.substr(6) : std::string();
            if (gone) {
                // Still named by another SRV of the same instance?
                bool still = false;
                auto own = s.by_owner.find(key.owner);
                if (own != s.by_owner.end()) {
                    for (const RecordKey& k : own->second) {
                        still |= k.type == codec::rrtype::SRV && k.rdata.size() > 6 &&
                                 k.rdata.compare(6, std::string::npos, target) == 0;
                    }
                }
                if (!still) {
                    auto it = s.srv_target_of.find(target);
                    if (it != s.srv_target_of.end()) {
                        it->second.erase(key.owner);
                        if (it->second.empty()) s.srv_target_of.erase(it);
                    }
                }
            } else {
                s.srv_target_of[target].insert(key.owner);
            }
            affected.insert(key.owner);
            break;
        }
        case codec::rrtype::TXT:
            affected.insert(key.owner);
            break;
        case codec::rrtype::A:
        case codec::rrtype::AAAA: {
            auto it = s.srv_target_of.find(key.owner);
            if (it != s.srv_target_of.end()) affected.insert(it->second.begin(), it->second.end());
            break;
        }
        default:
            break;
    }
    // An unpublished link keeps its indexes (set_subdomain publishes them later).
    if (!s.cfg.publish) return;
    for (const auto& inst : affected) recompute(rec.link, inst);
}

std::vector<PubRecord> ServiceModel::closure(const LinkState& s, const std::string& inst) const {
    std::vector<PubRecord> out;
    auto own = s.by_owner.find(inst);
    if (own == s.by_owner.end()) return out;
    const codec::Name& sub = s.cfg.subdomain;

    // SRVs whose target has a routable address on the link (draft §4.4).
    std::vector<const Record*> srvs;
    std::vector<const Record*> addrs;
    std::set<std::string> targets_done;
    for (const RecordKey& k : own->second) {
        if (k.type != codec::rrtype::SRV || k.rdata.size() <= 6) continue;
        const std::string target = k.rdata.substr(6);
        auto t = s.by_owner.find(target);
        if (t == s.by_owner.end()) continue;
        std::vector<const Record*> routable;
        for (const RecordKey& tk : t->second) {
            if (tk.type != codec::rrtype::A && tk.type != codec::rrtype::AAAA) continue;
            const Record* r = store_->find(tk);
            if (r && !link_local_address(r->type, r->rdata)) routable.push_back(r);
        }
        if (routable.empty()) continue;
        if (const Record* r = store_->find(k)) srvs.push_back(r);
        if (targets_done.insert(target).second) addrs.insert(addrs.end(), routable.begin(), routable.end());
    }
    if (srvs.empty()) return out;

    const Record* any = srvs.front();
    const auto inst_name = map_local(any->owner, sub);
    if (!inst_name) return out;
    for (const Record* r : srvs) {
        auto target = name_from_wire({r->rdata.data() + 6, r->rdata.size() - 6});
        if (!target) continue;
        auto mapped = map_local(*target, sub);
        if (!mapped) continue;
        out.push_back({*inst_name, codec::rrtype::SRV, r->ttl,
                       codec::rdata::srv(static_cast<uint16_t>((r->rdata[0] << 8) | r->rdata[1]),
                                         static_cast<uint16_t>((r->rdata[2] << 8) | r->rdata[3]),
                                         static_cast<uint16_t>((r->rdata[4] << 8) | r->rdata[5]),
                                         *mapped)});
    }
    for (const RecordKey& k : own->second) {
        if (k.type != codec::rrtype::TXT) continue;
        if (const Record* r = store_->find(k)) out.push_back({*inst_name, k.type, r->ttl, r->rdata});
    }
    for (const Record* r : addrs) {
        if (auto host = map_local(r->owner, sub)) out.push_back({*host, r->type, r->ttl, r->rdata});
    }
    // PTRs naming the instance, and the service type enumeration for each.
    auto ptrs = s.ptr_to.find(inst);
    if (ptrs != s.ptr_to.end()) {
        for (const RecordKey& k : ptrs->second) {
            const Record* r = store_->find(k);
            if (!r) continue;
            auto owner = map_local(r->owner, sub);
            if (!owner) continue;
            if (r->owner.label_count() >= 1) {
                const auto first = r->owner.label(0);
                static const std::string_view kServices = "_services";
                if (first.size() == kServices.size() &&
                    std::memcmp(first.data(), kServices.data(), kServices.size()) == 0) {
                    continue;  // the link's own enumeration records: we make ours
                }
            }
            out.push_back({*owner, codec::rrtype::PTR, r->ttl, codec::rdata::name(*inst_name)});
            // `_printer._sub._ipp._tcp` is a subtype of `_ipp._tcp` (RFC 6763 §7.1).
            codec::Name type = r->owner;
            if (type.label_count() > 2) {
                const auto l1 = type.label(1);
                if (l1.size() == 4 && std::memcmp(l1.data(), "_sub", 4) == 0) type = type.parent(2);
            }
            if (auto mapped_type = map_local(type, sub)) {
                codec::Name enum_owner = sub;
                if (enum_owner.prepend_label(std::string_view("_udp")).ok() &&
                    enum_owner.prepend_label(std::string_view("_dns-sd")).ok() &&
                    enum_owner.prepend_label(std::string_view("_services")).ok()) {
                    out.push_back({enum_owner, codec::rrtype::PTR, r->ttl,
                                   codec::rdata::name(*mapped_type)});
                }
            }
        }
    }
    return out;
}

void ServiceModel::recompute(uint16_t link, const std::string& inst) {
    LinkState& s = links_[link];
    std::vector<PubRecord> now = closure(s, inst);
    Instance& in = s.instances[inst];
    std::map<PubKey, const PubRecord*> next;
    for (const auto& r : now) next.emplace(key_of(r), &r);

    std::vector<PubKey> contributed;
    for (const auto& [k, r] : next) {
        contributed.push_back(k);
        const bool had = std::find(in.contributed.begin(), in.contributed.end(), k) != in.contributed.end();
        if (!had) {
            ref(link, *r);
        } else {
            Published& p = s.pub[k];
            if (p.record.ttl != r->ttl) {
                p.record.ttl = r->ttl;
                sink_->publish(link, p.record);
            }
        }
    }
    for (const PubKey& k : in.contributed) {
        if (!next.count(k)) unref(link, k);
    }
    if (contributed.empty()) {
        s.instances.erase(inst);
    } else {
        in.contributed = std::move(contributed);
    }
}

}  // namespace updproxy::control
