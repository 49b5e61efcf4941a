#include "control/control_plane.hpp"

#include <cstring>

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
        out.push_back(std::move(p));
    }
    return out;
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
    cp->model_ = std::make_unique<ServiceModel>(link_publications(cfg, links), cp->publisher_.get(),
                                                cfg.publish.browse_ttl);
    cp->model_->attach(&cp->store_);
    return cp;
}

void ControlPlane::start() { model_->start(); }

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
    }
    if (discovery_) discovery_->tick(store_, now_ms);
}

int ControlPlane::timeout_ms(uint64_t now_ms, int cap) const {
    uint64_t at = UINT64_MAX;
    if (engine_) at = engine_->next_wakeup_ms(now_ms);
    if (discovery_) at = std::min(at, discovery_->next_wakeup_ms(now_ms));
    if (at <= now_ms) return 0;
    return static_cast<int>(std::min<uint64_t>(at - now_ms, static_cast<uint64_t>(cap)));
}

}  // namespace updproxy::control
