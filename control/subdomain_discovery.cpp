#include "control/subdomain_discovery.hpp"

#include <algorithm>
#include <cstdio>

#include "codec/types.hpp"
#include "control/service_model.hpp"

namespace updproxy::control {

namespace rt = codec::rrtype;

codec::Name reverse_subnet_name(const uint8_t* prefix, uint8_t prefix_len, bool v6) {
    std::string text;
    char buf[8];
    if (!v6) {
        uint8_t a[4] = {};
        for (int i = 0; i < 4; ++i) {
            const int bits = std::clamp(prefix_len - i * 8, 0, 8);
            a[i] = static_cast<uint8_t>(prefix[i] & (bits == 0 ? 0 : 0xFF << (8 - bits)));
        }
        for (int i = 3; i >= 0; --i) {
            std::snprintf(buf, sizeof buf, "%u.", a[i]);
            text += buf;
        }
        text += "in-addr.arpa.";
    } else {
        uint8_t a[16] = {};
        for (int i = 0; i < 16; ++i) {
            const int bits = std::clamp(prefix_len - i * 8, 0, 8);
            a[i] = static_cast<uint8_t>(prefix[i] & (bits == 0 ? 0 : 0xFF << (8 - bits)));
        }
        static const char hex[] = "0123456789abcdef";
        for (int i = 15; i >= 0; --i) {
            text += hex[a[i] & 0xF];
            text += '.';
            text += hex[a[i] >> 4];
            text += '.';
        }
        text += "ip6.arpa.";
    }
    return *codec::Name::parse(text);
}

std::vector<codec::Name> address_derived_names(const codec::Name& reverse) {
    std::vector<codec::Name> out;
    for (const char* label : {"dr", "r", "db", "b", "lb"}) {
        codec::Name n = reverse;
        // 73 bytes of an ip6.arpa name + 16: always fits.
        (void)n.prepend_label("_udp");
        (void)n.prepend_label("_dns-sd");
        (void)n.prepend_label(label);
        out.push_back(std::move(n));
    }
    return out;
}

const char* source_name(SubdomainSource s) {
    switch (s) {
        case SubdomainSource::dns: return "dns";
        case SubdomainSource::config: return "config";
        case SubdomainSource::algorithmic: return "algorithmic";
        default: return "none";
    }
}

const char* source_name(ServerSource s) {
    switch (s) {
        case ServerSource::srv_subdomain: return "srv-subdomain";
        case ServerSource::srv_parent: return "srv-parent";
        case ServerSource::config: return "config";
        case ServerSource::mname: return "mname";
        default: return "none";
    }
}

namespace {
bool same_server(const DiscoveredServer& a, const DiscoveredServer& b) {
    return a.source == b.source && a.server.zone == b.server.zone &&
           a.server.address == b.server.address && a.server.port == b.server.port &&
           a.server.transport == b.server.transport && a.server.tls_name == b.server.tls_name;
}
}  // namespace

bool LinkResult::operator==(const LinkResult& o) const {
    if (source != o.source || !(subdomain == o.subdomain) || !same_server(update, o.update)) return false;
    if (reverse_server.has_value() != o.reverse_server.has_value()) return false;
    return !reverse_server || same_server(*reverse_server, *o.reverse_server);
}

SubdomainDiscovery::SubdomainDiscovery(SubdomainOptions opts, std::vector<SubdomainLink> links,
                                       Lookup* lookup, Report report)
    : o_(std::move(opts)), lookup_(lookup), report_(std::move(report)), rng_(o_.seed) {
    for (auto& l : links) {
        State s;
        s.reverse = reverse_subnet_name(l.prefix.data(), l.prefix_len, l.v6);
        s.cfg = std::move(l);
        links_.push_back(std::move(s));
    }
}

uint64_t SubdomainDiscovery::next_after(uint32_t seconds) {
    const double j = std::uniform_real_distribution<double>(-o_.jitter, o_.jitter)(rng_);
    return now_ + static_cast<uint64_t>(std::max(0.0, seconds * 1000.0 * (1.0 + j)));
}

void SubdomainDiscovery::ask(const codec::Name& name, uint16_t type, Lookup::Callback cb) {
    ++stats_.lookups;
    lookup_->query(name, type, now_, [this, cb = std::move(cb)](const LookupResult& r) {
        if (!r.answered) ++stats_.lookup_failures;
        cb(r);
    });
}

void SubdomainDiscovery::tick(uint64_t now_ms) {
    now_ = now_ms;
    for (uint16_t l = 0; l < links_.size(); ++l) {
        State& s = links_[l];
        if (s.cfg.active && !s.running && now_ms >= s.next_run) start(l);
    }
}

uint64_t SubdomainDiscovery::next_wakeup_ms(uint64_t) const {
    uint64_t at = UINT64_MAX;
    for (const auto& s : links_) {
        if (s.cfg.active && !s.running) at = std::min(at, s.next_run);
    }
    return at;
}

bool SubdomainDiscovery::settled() const {
    return std::all_of(links_.begin(), links_.end(),
                       [](const State& s) { return !s.cfg.active || s.last.has_value(); });
}

void SubdomainDiscovery::server_refused(uint16_t link, uint64_t now_ms) {
    if (link >= links_.size()) return;
    now_ = std::max(now_, now_ms);
    State& s = links_[link];
    if (!s.unpublishable) ++stats_.unpublishable;
    s.unpublishable = true;
    if (!s.running) s.next_run = std::min(s.next_run, next_after(o_.retry_s));
}

void SubdomainDiscovery::start(uint16_t l) {
    State& s = links_[l];
    ++stats_.runs;
    s.running = true;
    s.work = LinkResult{};
    s.work.reverse = s.reverse;
    ptr_step(l, ++s.gen, 0);
}

void SubdomainDiscovery::ptr_step(uint16_t l, uint64_t gen, size_t i) {
    State& s = links_[l];
    const auto names = address_derived_names(s.reverse);
    if (i < names.size()) {
        ask(names[i], rt::PTR, [this, l, gen, i](const LookupResult& r) {
            if (!live(l, gen)) return;
            // Our own registration (db, b, lb) read back is not an answer.
            const auto& last = links_[l].last;
            const bool own = i >= 2 && last && last->reverse_server &&
                             last->reverse_server->source != ServerSource::none &&
                             !r.ptr.empty() && r.ptr.front() == last->subdomain;
            if (r.answered && r.rcode == 0 && !r.ptr.empty() && !own) {
                links_[l].work.source = SubdomainSource::dns;
                links_[l].work.subdomain = r.ptr.front();
                subdomain_found(l, gen);
            } else {
                ptr_step(l, gen, i + 1);
            }
        });
        return;
    }
    // Nothing in DNS: configuration, then the algorithmic label.
    if (s.cfg.configured) {
        s.work.source = SubdomainSource::config;
        s.work.subdomain = *s.cfg.configured;
    } else if (o_.parent) {
        codec::Name n = *o_.parent;
        const std::string label = algorithmic_label(s.cfg.prefix.data(), s.cfg.prefix_len, s.cfg.v6);
        if (n.prepend_label(label).ok()) {
            s.work.source = SubdomainSource::algorithmic;
            s.work.subdomain = n;
        }
    }
    if (s.work.source == SubdomainSource::none) {
        finish(l);
        return;
    }
    subdomain_found(l, gen);
}

void SubdomainDiscovery::subdomain_found(uint16_t l, uint64_t gen) {
    State& s = links_[l];
    std::optional<codec::Name> parent = o_.parent;
    if (!parent || !s.work.subdomain.is_subdomain_of(*parent) || s.work.subdomain == *parent) {
        parent = s.work.subdomain.label_count() > 1 ? std::optional(s.work.subdomain.parent(1))
                                                    : std::nullopt;
    }
    find_server(l, gen, s.work.subdomain, parent, [this, l, gen](const DiscoveredServer& d) {
        if (!live(l, gen)) return;
        State& st = links_[l];
        st.work.update = d;
        if (!o_.register_reverse || st.work.source == SubdomainSource::dns) {
            finish(l);
            return;
        }
        find_server(l, gen, st.reverse, std::nullopt, [this, l, gen](const DiscoveredServer& r) {
            if (!live(l, gen)) return;
            links_[l].work.reverse_server = r;
            finish(l);
        });
    });
}

std::optional<ZoneServer> SubdomainDiscovery::configured_for(const codec::Name& name) const {
    const ZoneServer* best = nullptr;
    for (const auto& z : o_.configured) {
        if (name.is_subdomain_of(z.zone) && (!best || z.zone.wire_length() > best->zone.wire_length())) {
            best = &z;
        }
    }
    if (!best) return std::nullopt;
    return *best;
}

void SubdomainDiscovery::find_server(uint16_t l, uint64_t gen, const codec::Name& name,
                                     std::optional<codec::Name> parent, Done done) {
    ask(name, rt::SOA, [this, l, gen, name, parent, done = std::move(done)](const LookupResult& r) {
        if (!live(l, gen)) return;
        codec::Name zone = name;
        if (r.soa_zone && name.is_subdomain_of(*r.soa_zone)) {
            zone = *r.soa_zone;
        } else if (auto c = configured_for(name)) {
            zone = c->zone;
        }
        auto names = std::make_shared<Names>();
        std::vector<std::pair<codec::Name, ServerSource>> bases{{name, ServerSource::srv_subdomain}};
        if (parent) {
            bases.emplace_back(*parent, ServerSource::srv_parent);
        } else if (!(zone == name)) {
            bases.emplace_back(zone, ServerSource::srv_parent);
        }
        for (const auto& [base, src] : bases) {
            for (const auto& [svc, proto] : {std::pair{"_dns-update-tls", "_tcp"},
                                             std::pair{"_dns-update", "_tcp"},
                                             std::pair{"_dns-update", "_udp"}}) {
                codec::Name n = base;
                if (n.prepend_label(proto).ok() && n.prepend_label(svc).ok()) names->emplace_back(n, src);
            }
        }
        srv_step(l, gen, names, 0, zone, r.soa_mname, done);
    });
}

void SubdomainDiscovery::srv_step(uint16_t l, uint64_t gen, std::shared_ptr<Names> names, size_t i,
                                  codec::Name zone, std::optional<codec::Name> mname, Done done) {
    if (i >= names->size()) {
        fallback(l, gen, zone, mname, std::move(done));
        return;
    }
    const codec::Name qname = (*names)[i].first;
    const ServerSource src = (*names)[i].second;
    ask(qname, rt::SRV, [=, this](const LookupResult& r) {
        if (!live(l, gen)) return;
        const LookupResult::Srv* use = nullptr;
        for (const auto& s : r.srv) {
            if (s.target.label_count() > 0 && s.port != 0) {  // "." = no service (RFC 2782)
                use = &s;
                break;
            }
        }
        if (!r.answered || r.rcode != 0 || !use) {
            srv_step(l, gen, names, i + 1, zone, mname, done);
            return;
        }
        const std::string first = qname.to_string();
        const Transport t = first.rfind("_dns-update-tls.", 0) == 0 ? Transport::tls
                            : first.find("._tcp.") != std::string::npos ? Transport::tcp
                                                                       : Transport::udp;
        const uint16_t port = use->port;
        std::string host = use->target.to_string();
        if (!host.empty() && host.back() == '.') host.pop_back();
        address_of(l, gen, use->target, [=, this](std::optional<std::string> addr) {
            if (!live(l, gen)) return;
            if (!addr) {
                srv_step(l, gen, names, i + 1, zone, mname, done);
                return;
            }
            DiscoveredServer d;
            d.source = src;
            d.server.zone = zone;
            d.server.address = *addr;
            d.server.port = port;
            d.server.transport = t;
            if (t == Transport::tls) d.server.tls_name = host;
            if (auto c = configured_for(zone); c && c->zone == zone) d.server.ca_file = c->ca_file;
            done(d);
        });
    });
}

void SubdomainDiscovery::fallback(uint16_t l, uint64_t gen, const codec::Name& zone,
                                  const std::optional<codec::Name>& mname, Done done) {
    if (auto c = configured_for(zone)) {
        done(DiscoveredServer{ServerSource::config, *c});
        return;
    }
    if (!mname) {
        done(DiscoveredServer{ServerSource::none, ZoneServer{zone}});
        return;
    }
    address_of(l, gen, *mname, [=, this](std::optional<std::string> addr) {
        if (!live(l, gen)) return;
        DiscoveredServer d;
        d.server.zone = zone;
        if (addr) {
            d.source = ServerSource::mname;
            d.server.address = *addr;
            d.server.port = 53;
        }
        done(d);
    });
}

void SubdomainDiscovery::address_of(uint16_t l, uint64_t gen, const codec::Name& host,
                                    std::function<void(std::optional<std::string>)> done) {
    ask(host, rt::A, [=, this](const LookupResult& r) {
        if (!live(l, gen)) return;
        if (r.answered && !r.addresses.empty()) {
            done(r.addresses.front());
            return;
        }
        ask(host, rt::AAAA, [=, this](const LookupResult& r6) {
            if (!live(l, gen)) return;
            done(r6.answered && !r6.addresses.empty() ? std::optional(r6.addresses.front())
                                                      : std::nullopt);
        });
    });
}

void SubdomainDiscovery::finish(uint16_t l) {
    State& s = links_[l];
    s.running = false;
    s.unpublishable = false;
    const bool found = s.work.source != SubdomainSource::none &&
                       s.work.update.source != ServerSource::none;
    if (s.work.source != SubdomainSource::none && s.work.update.source == ServerSource::none) {
        ++stats_.no_server;
    }
    s.next_run = next_after(found ? o_.interval_s : std::min(o_.interval_s, o_.retry_s));
    if (s.last && *s.last == s.work) return;
    if (s.last) ++stats_.changes;
    s.last = s.work;
    if (report_) report_(l, s.work);
}

}  // namespace updproxy::control
