#include "control/control_plane.hpp"

#include <cstring>
#include <random>

#include "codec/types.hpp"
#include "control/record_format.hpp"

namespace updproxy::control {

std::vector<LinkPublication> link_publications(const config::Config& cfg,
                                               const std::vector<dataplane::LinkSpec>& links) {
    std::vector<LinkPublication> out;
    std::optional<codec::Name> parent;
    if (cfg.publish.domain) parent = *codec::Name::parse(*cfg.publish.domain);
    for (size_t i = 0; i < links.size(); ++i) {
        const auto& l = links[i];
        LinkPublication p;
        p.name = l.name;
        p.v6 = l.v6;
        p.parent = parent;
        const config::LinkConfig* lc = i < cfg.links.size() ? &cfg.links[i] : nullptr;
        if (lc && lc->subdomain) {
            p.subdomain = *codec::Name::parse(*lc->subdomain);
        } else if (parent) {
            p.subdomain = *parent;
            p.publish = p.subdomain
                            .prepend_label(algorithmic_label(l.prefix.data(), l.prefix_len, l.v6))
                            .ok();
        } else {
            p.publish = false;
        }
        if (!l.active) p.publish = false;  // a tombstone (control/link_slots.hpp)
        out.push_back(std::move(p));
    }
    return out;
}

DiscoveryOptions discovery_options(const config::Config& cfg) {
    DiscoveryOptions o;
    o.enumerate_interval_s = cfg.discovery.enumerate_interval;
    o.link_qps = cfg.discovery.link_qps;
    o.global_qps = cfg.discovery.global_qps;
    return o;
}

std::unique_ptr<ControlPlane> ControlPlane::create(const config::Config& cfg,
                                                   const std::vector<dataplane::LinkSpec>& links,
                                                   std::ostream& log, std::string* error) {
    std::unique_ptr<ControlPlane> cp(new ControlPlane());
    cp->log_ = &log;
    cp->debug_ = cfg.log.level == "debug" || cfg.log.level == "trace";
    for (const auto& l : links) cp->link_names_.push_back(l.name);
    std::vector<codec::Name> zones;
    if (cfg.update.enabled) {
        UpdateConfig uc;
        for (const auto& z : cfg.update.zones) {
            ZoneServer s;
            s.zone = *codec::Name::parse(z.zone);
            s.address = z.server.to_string();
            s.port = z.port;
            s.transport = z.transport == "tcp" ? Transport::tcp
                          : z.transport == "tls" ? Transport::tls
                                                 : Transport::udp;
            s.tls_name = z.tls_name;
            s.ca_file = z.ca_file;
            uc.zones.push_back(s);
            zones.push_back(s.zone);
        }
        uc.key = cfg.update.key;
        uc.allow_unsigned = cfg.update.allow_unsigned;
        uc.lease_s = cfg.update.lease;
        uc.key_lease_s = cfg.update.key_lease;
        uc.timeout_rrs = cfg.update.timeout_rrs;
        uc.timeout_type = cfg.update.timeout_type;
        uc.batch_window_ms = cfg.update.batch_ms;
        uc.udp_limit = static_cast<uint16_t>(cfg.update.udp_limit);
        uc.reconcile_interval_s = cfg.update.reconcile_interval;
        cp->engine_ = UpdateEngine::create(uc, error);
        if (!cp->engine_) return nullptr;
    }
    cp->publisher_ = std::make_unique<Publisher>(cp->engine_.get(), zones);
    auto pubs = link_publications(cfg, links);
    cp->discovery_opts_ = discovery_options(cfg);
    if (!cfg.discovery.resolvers.empty() && cp->engine_) {
        // Subdomains and servers come from DNS: nothing is published until
        // discovery reports (draft §3.1).
        cp->resolver_ = Resolver::create(cfg.discovery.resolvers, cfg.discovery.resolver_timeout_ms,
                                         3, error);
        if (!cp->resolver_) return nullptr;
        SubdomainOptions so;
        so.interval_s = cfg.discovery.subdomain_interval;
        so.jitter = cfg.discovery.subdomain_jitter / 100.0;
        so.retry_s = cfg.discovery.subdomain_retry;
        so.register_reverse = cfg.discovery.register_reverse;
        if (cfg.publish.domain) so.parent = *codec::Name::parse(*cfg.publish.domain);
        for (const auto& z : cfg.update.zones) {
            ZoneServer s;
            s.zone = *codec::Name::parse(z.zone);
            s.address = z.server.to_string();
            s.port = z.port;
            s.transport = z.transport == "tcp" ? Transport::tcp
                          : z.transport == "tls" ? Transport::tls
                                                 : Transport::udp;
            s.tls_name = z.tls_name;
            s.ca_file = z.ca_file;
            so.configured.push_back(s);
        }
        std::random_device rd;
        so.seed = (static_cast<uint64_t>(rd()) << 32) | rd();
        std::vector<SubdomainLink> sl;
        for (size_t i = 0; i < links.size(); ++i) {
            SubdomainLink l;
            l.name = links[i].name;
            std::copy(links[i].prefix.begin(), links[i].prefix.end(), l.prefix.begin());
            l.prefix_len = links[i].prefix_len;
            l.v6 = links[i].v6;
            l.active = links[i].active;
            if (i < cfg.links.size() && cfg.links[i].subdomain) {
                l.configured = *codec::Name::parse(*cfg.links[i].subdomain);
            }
            sl.push_back(std::move(l));
            pubs[i].publish = false;
        }
        cp->register_reverse_ = cfg.discovery.register_reverse;
        cp->link_zone_.resize(links.size());
        cp->link_refused_.resize(links.size());
        ControlPlane* self = cp.get();
        cp->subdomains_ = std::make_unique<SubdomainDiscovery>(
            std::move(so), std::move(sl), cp->resolver_.get(),
            [self](uint16_t link, const LinkResult& r) { self->on_subdomain(link, r); });
    }
    cp->model_ = std::make_unique<ServiceModel>(std::move(pubs), cp->publisher_.get(),
                                                cfg.publish.browse_ttl);
    cp->model_->attach(&cp->store_);
    if (cp->engine_) {
        // What the engine may converge (read-back, leftovers) is the links' subdomains.
        for (uint16_t l = 0; l < cp->model_->link_count(); ++l) {
            if (cp->model_->link(l).publish) cp->engine_->manage(cp->model_->link(l).subdomain);
        }
    }
    return cp;
}

void ControlPlane::start() { model_->start(); }

void ControlPlane::on_subdomain(uint16_t link, const LinkResult& r) {
    const std::string name = link < link_names_.size() ? link_names_[link] : std::to_string(link);
    if (r.source == SubdomainSource::none) {
        *log_ << "updproxy: discovery: link " << name << ": no subdomain (no answer for "
              << r.reverse.to_string() << ", none configured, no publish.domain)\n";
        return;
    }
    if (r.update.source == ServerSource::none) {
        *log_ << "updproxy: discovery: link " << name << ": subdomain " << r.subdomain.to_string()
              << " (" << source_name(r.source) << ") but no update server for it; retrying\n";
        return;
    }
    std::string err;
    if (!engine_->set_server(r.update.server, &err)) {
        *log_ << "updproxy: discovery: link " << name << ": server " << r.update.server.address
              << ": " << err << '\n';
        return;
    }
    publisher_->add_zone(r.update.server.zone);
    engine_->manage(r.subdomain);
    std::vector<codec::Name> derived;
    if (register_reverse_ && r.reverse_server && r.reverse_server->source != ServerSource::none &&
        engine_->set_server(r.reverse_server->server, &err)) {
        publisher_->add_zone(r.reverse_server->server.zone);
        // RFC 6763 §11 browse names; dr/r (registration) are the operator's.
        const auto names = address_derived_names(r.reverse);
        derived = {names[2], names[3], names[4]};  // db, b, lb
    }
    const char* transport = r.update.server.transport == Transport::tls   ? "tls"
                            : r.update.server.transport == Transport::tcp ? "tcp"
                                                                         : "udp";
    *log_ << "updproxy: discovery: link " << name << ": subdomain " << r.subdomain.to_string()
          << " (" << source_name(r.source) << "), zone " << r.update.server.zone.to_string()
          << " via " << r.update.server.address << ':' << r.update.server.port << '/' << transport
          << " (" << source_name(r.update.source) << ")"
          << (derived.empty() ? "" : ", registering address-derived browse PTRs") << '\n';
    link_zone_[link] = r.update.server.zone;
    link_refused_[link] = engine_->stats(r.update.server.zone).failed_changes;
    const LinkPublication& now = model_->link(link);
    if (now.publish && now.subdomain == r.subdomain && now.address_derived == derived) return;
    const auto moved = model_->set_subdomain(link, r.subdomain, derived);
    *log_ << "updproxy: discovery: link " << name << ": " << moved.removed << " record(s) withdrawn, "
          << moved.added << " published under " << r.subdomain.to_string() << '\n';
}

void ControlPlane::check_refusals(uint64_t now_ms) {
    for (uint16_t l = 0; l < link_zone_.size(); ++l) {
        if (!link_zone_[l]) continue;
        const ZoneStats st = engine_->stats(*link_zone_[l]);
        if (st.failed_changes <= link_refused_[l]) continue;
        link_refused_[l] = st.failed_changes;
        if (!subdomains_->unpublishable(l)) {
            *log_ << "updproxy: discovery: link "
                  << (l < link_names_.size() ? link_names_[l] : std::to_string(l)) << ": zone "
                  << link_zone_[l]->to_string() << " is unpublishable: its server refuses UPDATEs ("
                  << st.last_error << "); rediscovering later\n";
        }
        subdomains_->server_refused(l, now_ms);
    }
}

void ControlPlane::enable_discovery(dataplane::Dataplane& dp, const DiscoveryOptions& opts) {
    sender_ = std::make_unique<RingSender>(dp);
    discovery_ = std::make_unique<Discovery>(opts, dp.links().all(), sender_.get());
}

bool ControlPlane::RingSender::send_query(uint16_t link, bool multicast, const uint8_t* ip,
                                          const uint8_t* mac, const std::vector<uint8_t>& payload) {
    if (payload.empty() || payload.size() > 0xFFFF || link >= dp_.links().size()) return false;
    auto& ring = dp_.tx(link % dp_.worker_count());
    dataplane::TxHeader h{};
    h.link = link;
    h.multicast = multicast ? 1 : 0;
    if (ip) std::memcpy(h.dst, ip, dp_.links()[link].v6 ? 16 : 4);
    if (mac) std::memcpy(h.dst_mac, mac, 6);
    h.src_port = 5353;
    h.dst_port = 5353;
    h.len = static_cast<uint16_t>(payload.size());
    uint8_t* p = ring.reserve(sizeof h + payload.size());
    if (p == nullptr) {
        ++ring_full;
        return false;
    }
    std::memcpy(p, &h, sizeof h);
    std::memcpy(p + sizeof h, payload.data(), payload.size());
    ring.commit();
    ring.flush();
    return true;
}

void ControlPlane::on_event(const table::EventView& e, std::vector<const Record*>* refresh) {
    changes_.clear();
    store_.apply(e, &changes_);
    for (const Applied& a : changes_) {
        if (a.change == Change::refresh_due) {
            if (discovery_) {
                discovery_->refresh_due(*a.record, dataplane::monotonic_ms());
            } else if (refresh) {
                refresh->push_back(a.record);
            }
            continue;
        }
        model_->apply(a);
        if (debug_ && a.record && a.change != Change::none) {
            const char* what = a.change == Change::added     ? "add"
                               : a.change == Change::removed ? "remove"
                                                             : "ttl";
            const auto& r = *a.record;
            *log_ << what << " link="
                  << (r.link < link_names_.size() ? link_names_[r.link] : std::to_string(r.link))
                  << ' ' << zone_line(r.owner, r.ttl, r.rrclass, r.type, r.rdata) << '\n';
        }
    }
}

void ControlPlane::add_pollfds(std::vector<pollfd>& fds) const {
    if (resolver_) {
        for (const auto& f : resolver_->fds()) fds.push_back({f.fd, f.events, 0});
    }
    if (!engine_) return;
    for (const auto& f : engine_->fds()) fds.push_back({f.fd, f.events, 0});
}

void ControlPlane::on_io(uint64_t now_ms) {
    if (engine_) {
        engine_->on_ready(now_ms);
        // One line when a server refuses changes (BADSIG, NOTAUTH, REFUSED...),
        // not one per retry.
        const uint64_t failed = engine_->failed_changes();
        if (failed != failed_logged_) {
            for (const auto& z : engine_->zones()) {
                const ZoneStats st = engine_->stats(z);
                if (!st.last_error.empty()) {
                    *log_ << "updproxy: update: zone " << z.to_string() << ": "
                          << failed - failed_logged_ << " change(s) refused: " << st.last_error
                          << '\n';
                }
            }
            failed_logged_ = failed;
        }
        // A zone that cannot be read back (no transfer permission for the
        // key) still converges by re-sending, but leftovers stay: say so.
        if (engine_->readback_failures() != readback_failures_logged_) {
            for (const auto& z : engine_->zones()) {
                const ZoneStats st = engine_->stats(z);
                if (st.last_error.rfind("read-back", 0) == 0) {
                    *log_ << "updproxy: update: zone " << z.to_string() << ": " << st.last_error
                          << " (re-sending everything instead; records withdrawn while the proxy "
                             "was down stay)\n";
                }
            }
            readback_failures_logged_ = engine_->readback_failures();
        }
    }
    if (discovery_) discovery_->tick(store_, now_ms);
    if (subdomains_) {
        resolver_->on_ready(now_ms);
        subdomains_->tick(now_ms);
        check_refusals(now_ms);
    }
}

int ControlPlane::timeout_ms(uint64_t now_ms, int cap) const {
    uint64_t at = UINT64_MAX;
    if (engine_) at = engine_->next_wakeup_ms(now_ms);
    if (discovery_) at = std::min(at, discovery_->next_wakeup_ms(now_ms));
    if (subdomains_) {
        at = std::min(at, resolver_->next_wakeup_ms(now_ms));
        at = std::min(at, subdomains_->next_wakeup_ms(now_ms));
    }
    if (at <= now_ms) return 0;
    return static_cast<int>(std::min<uint64_t>(at - now_ms, static_cast<uint64_t>(cap)));
}

}  // namespace updproxy::control
