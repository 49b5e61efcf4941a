#include "control/discovery.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "codec/builder.hpp"
#include "codec/types.hpp"

namespace updproxy::control {

namespace {

namespace rt = codec::rrtype;

std::string lc_wire(const codec::Name& n) {
    const codec::Name lower = n.lowercased();
    const auto w = lower.wire();
    return {reinterpret_cast<const char*>(w.data()), w.size()};
}

const codec::Name& services_name() {
    static const codec::Name n = *codec::Name::parse("_services._dns-sd._udp.local.");
    return n;
}

// Seconds of TTL a cached record has left at `now`.
uint32_t remaining_s(const Record& r, uint64_t now_ms) {
    return r.expire_ms > now_ms ? static_cast<uint32_t>((r.expire_ms - now_ms) / 1000) : 0;
}

// RFC 6762 §7.1: list a record as a known answer only while more than half
// its TTL remains, or the responder would not refresh it in time.
bool worth_listing(const Record& r, uint64_t now_ms) {
    return r.ttl > 0 && remaining_s(r, now_ms) * 2 > r.ttl;
}

std::optional<codec::Name> rdata_name(const Record& r, size_t offset) {
    if (r.rdata.size() <= offset) return std::nullopt;
    auto n = codec::Name::from_wire({r.rdata.data() + offset, r.rdata.size() - offset});
    if (!n) return std::nullopt;
    return *n;
}

}  // namespace

Discovery::Discovery(const DiscoveryOptions& opts, const std::vector<dataplane::LinkSpec>& links,
                     QuerySender* sender)
    : o_(opts), links_(links), sender_(sender), state_(links.size()), global_tokens_(opts.burst),
      rng_(opts.seed) {
    for (size_t i = 0; i < links.size(); ++i) {
        state_[i].can_send = links[i].has_address && links[i].active;
        state_[i].tokens = opts.burst;
    }
}

void Discovery::refill(double& tokens, uint64_t& last, double rate, double burst, uint64_t now) {
    if (last == 0 || now < last) {
        last = now;
        return;
    }
    tokens = std::min(burst, tokens + rate * static_cast<double>(now - last) / 1000.0);
    last = now;
}

void Discovery::refresh_due(const Record& r, uint64_t now_ms) {
    if (r.link >= state_.size() || !state_[r.link].can_send) return;
    const RecordKey key = make_key(r.link, r.owner, r.type, r.rrclass, r.rdata);
    // Asked for (with another record of its host) moments ago: this is the
    // same refresh round; the answer, if any, has refreshed it. A round lasts
    // at most the horizon, and less than half the TTL (the next round of a
    // 20 s record starts ~12 s later).
    const uint64_t round = std::min<uint64_t>(o_.refresh_horizon_ms, uint64_t{r.ttl} * 500);
    if (auto a = asked_.find(key); a != asked_.end() && now_ms < a->second + round) return;
    // Only a host of the link's family can be asked from the link's address.
    if (r.host.v4() == links_[r.link].v6) return;
    HostKey k{r.link, r.host.ip};
    Gather& g = gathers_[k];
    if (g.questions.empty()) g.flush_at = now_ms + o_.refresh_gather_ms;
    g.mac = r.host.mac;
    for (const auto& q : g.questions) {
        if (q.type == r.type && q.name == r.owner) return;  // already asked
    }
    g.questions.push_back({r.owner, r.type});
}

void Discovery::flush_gathers(const RecordStore& store, uint64_t now_ms) {
    // Forget what was asked longer ago than a refresh round lasts.
    if (now_ms >= asked_swept_ + 1000) {
        asked_swept_ = now_ms;
        for (auto a = asked_.begin(); a != asked_.end();) {
            a = a->second + o_.refresh_horizon_ms <= now_ms ? asked_.erase(a) : std::next(a);
        }
    }
    for (auto it = gathers_.begin(); it != gathers_.end();) {
        if (it->second.flush_at > now_ms) {
            ++it;
            continue;
        }
        // Ask the host for everything of its that expires soon, not only
        // for what is due now: its other records' refresh windows open
        // within seconds and would cost a query each.
        Gather& gather = it->second;
        if (const auto* mine = store.by_host(it->first.link, it->first.ip)) {
            for (const RecordKey& rk : *mine) {
                const Record* r = store.find(rk);
                if (!r || r->expire_ms > now_ms + o_.refresh_horizon_ms) continue;
                asked_[rk] = now_ms;
                bool dup = false;
                for (const auto& q : gather.questions) dup |= q.type == r->type && q.name == r->owner;
                if (!dup) gather.questions.push_back({r->owner, r->type});
            }
        }
        const HostKey& k = it->first;
        const Gather& g = it->second;
        // One query per host, split only when the questions do not fit.
        std::vector<uint8_t> buf(o_.max_packet);
        size_t i = 0;
        while (i < g.questions.size()) {
            codec::Builder b(buf, codec::BuilderOptions{true, true, o_.max_packet});
            b.set_flags(0);
            size_t n = 0;
            for (; i < g.questions.size(); ++i, ++n) {
                if (!b.add_question(g.questions[i].name, g.questions[i].type, codec::rrclass::IN).ok()) {
                    break;
                }
            }
            if (n == 0) {  // a single name larger than a packet cannot happen; skip it
                ++i;
                continue;
            }
            Job j;
            j.multicast = false;
            j.ip = k.ip;
            j.mac = g.mac;
            j.payload.assign(b.wire().begin(), b.wire().end());
            j.refresh = true;
            stats_.refresh_questions += n;
            state_[k.link].queue.push_back(std::move(j));
        }
        it = gathers_.erase(it);
    }
}

void Discovery::enqueue_query(uint16_t link, const std::vector<Question>& qs,
                              const std::vector<const Record*>& known, bool unicast_response,
                              uint64_t now_ms) {
    std::vector<uint8_t> buf(o_.max_packet);
    const uint16_t qclass = codec::rrclass::IN | (unicast_response ? codec::rrclass::MDNS_TOP_BIT : 0);
    size_t qi = 0, ki = 0;
    bool first = true;
    while (first || qi < qs.size() || ki < known.size()) {
        codec::Builder b(buf, codec::BuilderOptions{true, true, o_.max_packet});
        b.set_flags(0);
        size_t added = 0;
        for (; qi < qs.size(); ++qi, ++added) {
            if (!b.add_question(qs[qi].name, qs[qi].type, qclass).ok()) break;
        }
        bool full = qi < qs.size();
        if (!full) {
            for (; ki < known.size(); ++ki, ++added) {
                const Record& r = *known[ki];
                if (!b.add_rr(codec::Section::answer, r.owner, r.type, r.rrclass,
                              remaining_s(r, now_ms), r.rdata)
                         .ok()) {
                    full = true;
                    break;
                }
                ++stats_.known_answers;
            }
        }
        if (added == 0) {  // nothing fits at all: give up on the rest
            ++stats_.send_failures;
            return;
        }
        // §7.2: more known answers follow in the next packet.
        if (ki < known.size() || qi < qs.size()) b.set_flags(codec::flag::TC);
        Job j;
        j.multicast = true;
        j.payload.assign(b.wire().begin(), b.wire().end());
        if (!first) ++stats_.continuation_packets;
        state_[link].queue.push_back(std::move(j));
        first = false;
    }
}

void Discovery::run_step(const RecordStore& store, uint16_t link, int step, uint64_t now_ms) {
    const std::string services = lc_wire(services_name());
    std::vector<Question> qs;
    std::vector<const Record*> known;
    if (step == 0) {
        // Which service types are there?
        qs.push_back({services_name(), rt::PTR});
        for (const auto& [k, r] : store.records()) {
            if (k.link == link && k.type == rt::PTR && k.owner == services && worth_listing(r, now_ms)) {
                known.push_back(&r);
            }
        }
    } else if (step == 1) {
        // Which instances of each type?
        std::map<std::string, codec::Name> types;
        for (const auto& [k, r] : store.records()) {
            if (k.link == link && k.type == rt::PTR && k.owner == services) {
                if (auto t = rdata_name(r, 0)) types.emplace(lc_wire(*t), *t);
            }
        }
        for (const auto& [lc, t] : types) qs.push_back({t, rt::PTR});
        for (const auto& [k, r] : store.records()) {
            if (k.link == link && k.type == rt::PTR && types.count(k.owner) && worth_listing(r, now_ms)) {
                known.push_back(&r);
            }
        }
    } else {
        // Instances missing SRV or TXT, and SRV targets without an address.
        std::map<std::string, codec::Name> types, instances, targets;
        std::map<std::string, std::pair<bool, bool>> have;  // instance -> (srv, txt)
        std::map<std::string, bool> addressed;
        for (const auto& [k, r] : store.records()) {
            if (k.link != link) continue;
            if (k.type == rt::PTR && k.owner == services) {
                if (auto t = rdata_name(r, 0)) types.emplace(lc_wire(*t), *t);
            }
        }
        for (const auto& [k, r] : store.records()) {
            if (k.link != link) continue;
            if (k.type == rt::PTR && types.count(k.owner)) {
                if (auto i = rdata_name(r, 0)) instances.emplace(lc_wire(*i), *i);
            } else if (k.type == rt::SRV) {
                have[k.owner].first = true;
                if (auto t = rdata_name(r, 6)) targets.emplace(lc_wire(*t), *t);
            } else if (k.type == rt::TXT) {
                have[k.owner].second = true;
            } else if (k.type == rt::A || k.type == rt::AAAA) {
                addressed[k.owner] = true;
            }
        }
        for (const auto& [lc, name] : instances) {
            const auto h = have[lc];
            if (!h.first) qs.push_back({name, rt::SRV});
            if (!h.second) qs.push_back({name, rt::TXT});
        }
        for (const auto& [lc, name] : targets) {
            if (!addressed.count(lc)) {
                qs.push_back({name, rt::A});
                qs.push_back({name, rt::AAAA});
            }
        }
    }
    if (qs.empty()) return;
    stats_.enumeration_queries += 1;
    enqueue_query(link, qs, known, true, now_ms);
}

void Discovery::pace(uint64_t now_ms) {
    refill(global_tokens_, global_refill_, o_.global_qps, o_.burst, now_ms);
    for (auto& s : state_) refill(s.tokens, s.last_refill, o_.link_qps, o_.burst, now_ms);
    // Round robin over the links, one query at a time, while tokens last.
    bool progress = true;
    while (progress && global_tokens_ >= 1.0) {
        progress = false;
        for (uint16_t l = 0; l < state_.size() && global_tokens_ >= 1.0; ++l) {
            LinkState& s = state_[l];
            if (s.queue.empty() || s.tokens < 1.0) continue;
            Job j = std::move(s.queue.front());
            s.queue.pop_front();
            s.tokens -= 1.0;
            global_tokens_ -= 1.0;
            progress = true;
            // Host addresses are kept IPv4-mapped; an IPv4 link sends to the last four bytes.
            const uint8_t* ip = links_[l].v6 ? j.ip.data() : j.ip.data() + 12;
            if (!sender_->send_query(l, j.multicast, j.multicast ? nullptr : ip,
                                     j.multicast ? nullptr : j.mac.data(), j.payload)) {
                ++stats_.send_failures;
            } else if (j.refresh) {
                ++stats_.refresh_queries;
            }
        }
    }
    stats_.queued = 0;
    for (const auto& s : state_) stats_.queued += s.queue.size();
}

void Discovery::tick(const RecordStore& store, uint64_t now_ms) {
    flush_gathers(store, now_ms);
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    for (uint16_t l = 0; l < state_.size(); ++l) {
        LinkState& s = state_[l];
        if (!s.can_send) continue;
        if (s.step < 0 && s.next_cycle == 0) {
            // First cycle soon after start, links spread over a second.
            s.next_cycle = now_ms + rng_() % 1000;
        }
        if (s.step < 0 && now_ms >= s.next_cycle) {
            s.step = 0;
            for (int k = 0; k < 3; ++k) {
                s.due[k] = now_ms + static_cast<uint64_t>(k) * o_.enumerate_step_ms;
                s.repeat[k] = 0;
            }
        }
        if (s.step < 0) continue;
        bool running = false;
        for (int k = 0; k < 3; ++k) {
            if (s.due[k] != UINT64_MAX && now_ms >= s.due[k]) {
                const uint64_t before = stats_.enumeration_queries;
                run_step(store, l, k, now_ms);
                if (s.repeat[k] > 0) stats_.retransmissions += stats_.enumeration_queries - before;
                if (s.repeat[k] < o_.enumerate_repeats) {
                    // §5.2: at least 1 s, then doubling.
                    s.due[k] = now_ms + (static_cast<uint64_t>(std::max(o_.enumerate_retransmit_ms, 1000u))
                                         << s.repeat[k]);
                    ++s.repeat[k];
                } else {
                    s.due[k] = UINT64_MAX;
                }
            }
            running |= s.due[k] != UINT64_MAX;
        }
        if (!running) {
            s.step = -1;
            s.next_cycle = o_.enumerate_interval_s == 0
                               ? UINT64_MAX
                               : now_ms + static_cast<uint64_t>(o_.enumerate_interval_s * 1000.0 *
                                                                jitter(rng_));
        }
    }
    pace(now_ms);
}

uint64_t Discovery::next_wakeup_ms(uint64_t now_ms) const {
    uint64_t at = UINT64_MAX;
    for (const auto& [k, g] : gathers_) at = std::min(at, g.flush_at);
    bool queued = false;
    for (const auto& s : state_) {
        if (!s.can_send) continue;
        if (s.next_cycle == 0) return now_ms;  // not started yet
        if (s.step >= 0) {
            for (uint64_t d : s.due) at = std::min(at, d);
        } else {
            at = std::min(at, s.next_cycle);
        }
        queued |= !s.queue.empty();
    }
    if (queued) {
        const double rate = std::min(o_.link_qps, o_.global_qps);
        at = std::min(at, now_ms + static_cast<uint64_t>(std::ceil(1000.0 / std::max(rate, 0.001))));
    }
    return at;
}

}  // namespace updproxy::control
