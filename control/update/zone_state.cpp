#include "control/update/zone_state.hpp"

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

void ZoneState::settle(Entry& e) {
    if (e.in_flight) return;  // decided when the answer comes
    const Need n = need(e);
    if (n == Need::none || e.stuck) {
        dequeue(e);
        if (n == Need::none && !e.desired) {
            auto it = entries_.find(e.key);
            if (it != entries_.end()) entries_.erase(it);
        }
        return;
    }
    enqueue(e);
}

void ZoneState::set_desired(const PubRecord& r) {
    Entry& e = entry_for(r);
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
    if (!e.desired) ++desired_;
    e.desired = true;
    e.desired_ttl = r.ttl;
    settle(e);
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
    e.desired = false;
    --desired_;
    settle(e);
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
