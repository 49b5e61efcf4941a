#include "control/update/zone_state.hpp"

#include <iterator>

#include "codec/types.hpp"
#include "control/update/record_key.hpp"

namespace updproxy::control::upd {

Need ZoneState::need(const Entry& e) {
    if (e.desired) {
        return (e.server == ServerState::present && e.server_ttl == e.desired_ttl) ? Need::none
                                                                                   : Need::add;
    }
    return e.server == ServerState::absent ? Need::none : Need::remove;
}

const Entry* ZoneState::find(const PubRecord& r) const {
    const std::vector<uint8_t> canon = canonical_rdata(r.type, r.rdata);
    auto it = entries_.find(record_key(r.owner, r.type, canon));
    return it == entries_.end() ? nullptr : &it->second;
}

Entry& ZoneState::entry_for(const PubRecord& r) {
    const std::vector<uint8_t> canon = canonical_rdata(r.type, r.rdata);
    std::string k = record_key(r.owner, r.type, canon);
    auto [it, inserted] = entries_.try_emplace(std::move(k));
    Entry& e = it->second;
    if (inserted) {
        // Unknown, not absent: a previous run of the proxy, or another proxy
        // on the same link (draft §4.7), may have put it there. So a record
        // that comes and goes before its add was sent still gets its
        // (idempotent) delete.
        e.server = ServerState::unknown;
        e.key = it->first;
        e.rrset_len = r.owner.wire_length() + 2;
        e.type = r.type;
        e.wire_size = static_cast<uint32_t>(r.owner.wire_length() + 10 + r.rdata.size());
    }
    return e;
}

bool ZoneState::add_would_queue(const PubRecord& r) const {
    const Entry* e = find(r);
    if (e == nullptr) return true;
    if (e->queued || e->in_flight) return false;
    Entry probe;
    probe.desired = true;
    probe.desired_ttl = r.ttl;
    probe.server = e->server;
    probe.server_ttl = e->server_ttl;
    return need(probe) != Need::none;
}

void ZoneState::enqueue(Entry& e) {
    if (e.queued) return;
    e.queued = true;
    pending_.insert(&e);
    queued_bytes_ += e.wire_size;
    if (!e.retry) ++fresh_;
}

void ZoneState::dequeue(Entry& e) {
    if (!e.queued) return;
    e.queued = false;
    pending_.erase(&e);
    queued_bytes_ -= e.wire_size;
    if (!e.retry) --fresh_;
}

void ZoneState::set_server(Entry& e, ServerState s, uint32_t ttl) {
    if (e.server == ServerState::present) --present_;
    e.server = s;
    e.server_ttl = ttl;
    if (s == ServerState::present) ++present_;
}

void ZoneState::clear_rejections(Entry& e) {
    if (e.rejections > 0) --rejected_;
    e.rejections = 0;
}

void ZoneState::note_rejection(Entry& e) {
    if (e.rejections == 0) ++rejected_;
    ++e.rejections;
}

void ZoneState::settle(Entry& e) {
    if (e.in_flight) return;  // decided when the answer comes
    const Need n = need(e);
    if (n == Need::none || e.stuck) {
        dequeue(e);
        if (n == Need::none) clear_rejections(e);  // done: accepted, or nothing left to do
        if (n == Need::none && !e.desired) {
            auto it = entries_.find(e.key);
            if (it != entries_.end()) entries_.erase(it);
        }
        return;
    }
    enqueue(e);
}

bool ZoneState::unique_type(uint16_t type) {
    return type == codec::rrtype::SRV || type == codec::rrtype::TXT || type == codec::rrtype::A ||
           type == codec::rrtype::AAAA;
}

void ZoneState::release_leftovers(const Entry& e) {
    const std::string_view rrset = e.rrset();
    for (auto it = entries_.lower_bound(rrset);
         it != entries_.end() && std::string_view(it->first).substr(0, rrset.size()) == rrset;) {
        Entry& o = it->second;
        ++it;  // settle() may erase o
        if (&o == &e || !o.adopted || o.desired || o.hold_until == 0) continue;
        o.hold_until = 0;
        settle(o);
    }
}

bool ZoneState::subtype_ptr(const Entry& e) {
    if (e.type != codec::rrtype::PTR || e.owner.label_count() < 3) return false;
    const std::span<const uint8_t> l1 = e.owner.label(1);
    static constexpr std::string_view kSub = "_sub";
    return l1.size() == kSub.size() &&
           std::equal(l1.begin(), l1.end(), kSub.begin(),
                      [](uint8_t a, char b) { return codec::ascii_lower(a) == static_cast<uint8_t>(b); });
}

std::string ZoneState::target_srv_rrset(const Entry& e) const {
    codec::Result<codec::Name> t = codec::Name::from_wire(e.rdata);
    return t.ok() ? rrset_key(*t, codec::rrtype::SRV) : std::string();
}

void ZoneState::keep_subtypes(std::string_view srv_rrset, bool keep) {
    for (size_t i = 0; i < subtypes_.size();) {
        auto it = entries_.find(subtypes_[i]);
        if (it == entries_.end() || (!it->second.adopted && !it->second.kept)) {
            subtypes_[i] = std::move(subtypes_.back());  // gone, or the caller's now
            subtypes_.pop_back();
            continue;
        }
        Entry& e = it->second;
        ++i;
        if (target_srv_rrset(e) != srv_rrset) continue;
        if (keep && e.adopted && !e.desired) {
            dequeue(e);
            e.adopted = false;
            e.kept = true;
            e.hold_until = 0;
            e.desired = true;
            e.desired_ttl = e.server == ServerState::present ? e.server_ttl : 120;
            ++desired_;
            settle(e);
        } else if (!keep && e.kept) {
            dequeue(e);
            e.kept = false;
            e.desired = false;
            e.retry = false;
            --desired_;
            settle(e);  // may erase e
        }
    }
}

void ZoneState::set_desired(const PubRecord& r) {
    Entry& e = entry_for(r);
    e.kept = false;  // the caller's from now on
    const bool changed = !e.desired || e.desired_ttl != r.ttl;
    // Keep the caller's spelling for the wire (case is preserved by servers).
    e.owner = r.owner;
    e.rdata = r.rdata;
    if (!changed) return;
    // A new change: first attempt again, not yet counted as failed.
    dequeue(e);
    e.retry = false;
    e.failure_counted = false;
    e.stuck = false;
    e.hold_until = 0;
    clear_rejections(e);
    e.adopted = false;
    if (!e.desired) ++desired_;
    e.desired = true;
    e.desired_ttl = r.ttl;
    const std::string srv = e.type == codec::rrtype::SRV ? std::string(e.rrset()) : std::string();
    settle(e);
    if (unique_type(e.type)) release_leftovers(e);  // (settle keeps desired entries)
    if (!srv.empty() && !subtypes_.empty()) keep_subtypes(srv, true);
}

void ZoneState::clear_desired(const PubRecord& r) {
    const std::vector<uint8_t> canon = canonical_rdata(r.type, r.rdata);
    auto it = entries_.find(record_key(r.owner, r.type, canon));
    if (it == entries_.end() || !it->second.desired) return;
    Entry& e = it->second;
    dequeue(e);
    e.retry = false;
    e.failure_counted = false;
    e.stuck = false;
    e.hold_until = 0;
    clear_rejections(e);
    e.desired = false;
    e.kept = false;
    --desired_;
    const std::string srv = e.type == codec::rrtype::SRV ? std::string(e.rrset()) : std::string();
    settle(e);  // may erase e
    if (!srv.empty() && !subtypes_.empty()) keep_subtypes(srv, false);
}

size_t ZoneState::apply_readback(const std::vector<PubRecord>& held, uint64_t orphan_hold_until) {
    for (auto& [k, e] : entries_) e.seen = false;
    size_t adopted = 0;
    std::map<std::string, std::set<uint32_t>> rrset_ttls;  // desired TTLs of shared RRsets
    for (const PubRecord& r : held) {
        // Only records this run never wanted are leftovers: one it stopped
        // wanting has its removal queued already, without grace.
        const bool known = find(r) != nullptr;
        Entry& e = entry_for(r);
        e.seen = true;
        if (e.in_flight) continue;  // its answer decides
        if (!known) {
            // A leftover: removed after the grace (first attempt or not, it
            // does not keep the engine busy).
            dequeue(e);
            e.owner = r.owner;
            e.rdata = r.rdata;
            e.adopted = true;
            e.retry = true;
            e.hold_until = orphan_hold_until;
            ++adopted;
            if (subtype_ptr(e)) subtypes_.emplace_back(e.key);
        }
        // A shared RRset (PTR) has one TTL on the server, the latest added
        // (RFC 2181 §5.2): when it is the TTL of any record of ours in that
        // RRset, there is no change to make (else each reconciliation would
        // flap it between the records' TTLs).
        uint32_t ttl = r.ttl;
        if (e.desired && !unique_type(e.type) && ttl != e.desired_ttl) {
            auto [it, fresh] = rrset_ttls.try_emplace(std::string(e.rrset()));
            if (fresh) {
                for (const Entry* d : desired_in_rrset(e.rrset())) it->second.insert(d->desired_ttl);
            }
            if (it->second.count(ttl) != 0) ttl = e.desired_ttl;
        }
        set_server(e, ServerState::present, ttl);
    }
    for (auto it = entries_.begin(); it != entries_.end();) {
        Entry& e = it->second;
        ++it;  // settle() may erase e
        if (e.in_flight) continue;
        if (!e.seen) set_server(e, ServerState::absent, 0);
        settle(e);
    }
    // Subtype PTRs of instances that are published stay.
    std::set<std::string> live;
    for (const std::string& k : subtypes_) {
        auto it = entries_.find(k);
        if (it != entries_.end() && it->second.adopted) {
            std::string srv = target_srv_rrset(it->second);
            if (!srv.empty() && !desired_in_rrset(srv).empty()) live.insert(std::move(srv));
        }
    }
    for (const std::string& srv : live) keep_subtypes(srv, true);
    // Desired records of unique RRsets replace the leftovers next to them.
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->second.desired && unique_type(it->second.type)) {
            const std::string_view rrset = it->second.rrset();
            release_leftovers(it->second);
            // Skip the rest of this RRset (release_leftovers did it whole).
            while (std::next(it) != entries_.end() &&
                   std::string_view(std::next(it)->first).substr(0, rrset.size()) == rrset) {
                ++it;
            }
        }
    }
    return adopted;
}

void ZoneState::mark_unverified() {
    for (auto& [k, e] : entries_) {
        if (e.server == ServerState::present) set_server(e, ServerState::unknown, 0);
        if (!e.in_flight && !e.queued && need(e) != Need::none) {
            // A fresh pass: these are first attempts again.
            e.retry = false;
            e.stuck = false;
            enqueue(e);
        }
    }
}

void ZoneState::take(Entry* e) {
    const Need n = need(*e);
    dequeue(*e);
    e->in_flight = true;
    ++in_flight_;
    e->sent = n;
    e->sent_ttl = e->desired_ttl;
}

void ZoneState::confirm(Entry* e) {
    if (e->sent == Need::add) {
        set_server(*e, ServerState::present, e->sent_ttl);
    } else if (e->sent == Need::remove) {
        set_server(*e, ServerState::absent, 0);
    }
    e->in_flight = false;
    --in_flight_;
    e->sent = Need::none;
    e->retry = false;
    e->failure_counted = false;
    settle(*e);
}

void ZoneState::fail(Entry* e, bool maybe_applied) {
    // (hold_until, when the engine set one, keeps it from the next messages.)
    if (maybe_applied) set_server(*e, ServerState::unknown, 0);
    e->in_flight = false;
    --in_flight_;
    e->sent = Need::none;
    e->retry = true;
    settle(*e);
}

void ZoneState::park_stuck(Entry* e) {
    dequeue(*e);
    e->stuck = true;
}

std::vector<const Entry*> ZoneState::desired_in_rrset(std::string_view rrset) const {
    std::vector<const Entry*> out;
    for (auto it = entries_.lower_bound(rrset);
         it != entries_.end() && std::string_view(it->first).substr(0, rrset.size()) == rrset;
         ++it) {
        if (it->second.desired) out.push_back(&it->second);
    }
    return out;
}

std::vector<std::vector<uint8_t>>& ZoneState::timeouts(std::string_view rrset) {
    auto it = timeouts_.find(rrset);
    if (it == timeouts_.end()) {
        it = timeouts_.emplace(std::string(rrset), std::vector<std::vector<uint8_t>>{}).first;
    }
    return it->second;
}

const std::vector<std::vector<uint8_t>>* ZoneState::find_timeouts(std::string_view rrset) const {
    auto it = timeouts_.find(rrset);
    return it == timeouts_.end() ? nullptr : &it->second;
}

void ZoneState::erase_timeouts(std::string_view rrset) {
    auto it = timeouts_.find(rrset);
    if (it != timeouts_.end()) timeouts_.erase(it);
}

}  // namespace updproxy::control::upd
