// The update engine: per-zone state (zone_state), message building
// (batcher), transports (dns_client), and the schedule that ties them:
// batching window, one message in flight per zone, response checks,
// retries with backoff, lease refresh and reconciliation.
#include "control/update/update_engine.hpp"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"
#include "control/update/backoff.hpp"
#include "control/update/batcher.hpp"
#include "control/update/dns_client.hpp"
#include "control/update/record_key.hpp"
#include "control/update/zone_state.hpp"

namespace updproxy::control {
namespace {

using namespace upd;

uint64_t monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

uint64_t unix_now() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec);
}

// Header + zone section of an UPDATE: what a message costs before any change.
size_t message_overhead(const codec::Name& zone) { return codec::kHeaderSize + zone.wire_length() + 4; }

enum class Outcome : uint8_t {
    applied,     // NOERROR, or a prerequisite outcome (answered)
    refused,     // definitive-looking: counted into failed_changes once, retried
    retry,       // server error: not applied, retried
    ambiguous,   // no trustworthy answer: may have been applied, retried
};

// UPDATE latency histogram bounds (seconds).
constexpr double kLatencyBounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,   5,     10};

// Answers that concern the message's content rather than the server or the
// key: worth splitting the message to find the change they are about.
bool splittable(uint16_t rc) {
    return rc == codec::rcode::SERVFAIL || rc == codec::rcode::REFUSED ||
           rc == codec::rcode::FORMERR || rc == codec::rcode::NOTZONE;
}
// Of those, the ones that are definitive for a change alone (counted failed
// at once); SERVFAIL may be the server's trouble, counted only when other
// changes of the same split went through.
bool definitive(uint16_t rc) { return rc == codec::rcode::REFUSED || rc == codec::rcode::NOTZONE; }

constexpr uint16_t kNoRcode = 0xFFFF;

struct Flight {
    uint16_t id = 0;
    std::chrono::steady_clock::time_point sent_at;
    std::vector<uint8_t> wire;
    std::vector<uint8_t> mac;
    bool via_stream = false;
    bool stale_retry_done = false;
    bool had_lease = false;
    bool had_adds = false;
    uint64_t deadline = 0;
    std::vector<Entry*> changes;
    // TIMEOUT RDATAs this message leaves per RRset (empty: all deleted).
    std::vector<std::pair<std::string, std::vector<std::vector<uint8_t>>>> timeouts;
};

struct Zone {
    Zone(const ZoneServer& s, const Endpoint& e) : server(s), ep(e), state(s.zone), udp(e) {}
    ZoneServer server;
    Endpoint ep;
    ZoneState state;
    ZoneStats stats;
    UdpChannel udp;
    std::shared_ptr<TlsContext> tls;
    std::unique_ptr<StreamChannel> stream;
    std::optional<Flight> flight;
    std::optional<uint64_t> window_start;  // first pending change of the batch
    uint64_t backoff_until = 0;
    uint32_t failures = 0;                 // consecutive failed messages
    uint64_t lease_next = 0;               // 0: not scheduled
    uint64_t reconcile_next = 0;
    int64_t clock_offset_s = 0;            // server clock - ours (from BADTIME)

    // Splitting a rejected message (see ZoneStats::splits): at most this
    // many changes per message (0: no limit); doubled after each success.
    size_t split_limit = 0;
    bool split_progress = false;           // a message succeeded since the split began
    uint64_t hold_next = 0;                // earliest end of a hold seen by build()
    bool all_held = false;                 // the last build found only held changes

    // Read-back (AXFR).
    std::vector<codec::Name> managed;      // subdomains (manage())
    bool synced = false;                   // first read-back done, failed or not needed
    uint64_t rb_due = 0;                   // next read-back (0: none scheduled)
    bool rb_running = false;
    std::unique_ptr<StreamChannel> xfr;
    uint16_t xfr_id = 0;
    std::vector<uint8_t> xfr_mac;
    bool xfr_first = true;
    int xfr_soa = 0;
    uint64_t xfr_deadline = 0;
    std::vector<PubRecord> xfr_records;

    std::vector<uint64_t> latency_counts = std::vector<uint64_t>(std::size(kLatencyBounds) + 1);
    double latency_sum = 0;
};

class Engine final : public UpdateEngine {
public:
    explicit Engine(const UpdateConfig& cfg) : cfg_(cfg) {
        rng_.seed(cfg.random_seed != 0 ? cfg.random_seed : std::random_device{}());
    }

    bool init(std::string* error);

    bool add(const codec::Name& zone, const PubRecord& r) override;
    bool remove(const codec::Name& zone, const PubRecord& r) override;
    void reconcile(const codec::Name& zone) override;
    void manage(const codec::Name& subdomain) override;
    bool set_server(const ZoneServer& s, std::string* error) override;
    std::vector<PollFd> fds() const override;
    void on_ready(uint64_t now_ms) override;
    uint64_t next_wakeup_ms(uint64_t now_ms) const override;
    bool idle() const override;
    uint64_t failed_changes() const override { return failed_changes_; }
    uint64_t readback_failures() const override { return readback_failures_; }
    ZoneStats stats(const codec::Name& zone) const override;
    std::vector<codec::Name> zones() const override;

private:
    uint64_t clock() const { return cfg_.clock_ms ? cfg_.clock_ms() : monotonic_ms(); }
    double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
    Zone* find(const codec::Name& zone);
    const Zone* find(const codec::Name& zone) const;
    size_t total_pending() const;
    void open_window(Zone& z, uint64_t now);
    // The size batches are built to (see try_send).
    size_t limit_for(const Zone& z) const {
        return z.server.transport == Transport::udp && (z.failures > 0 || z.split_limit != 0)
                   ? cfg_.udp_limit
                   : cfg_.max_message;
    }
    bool window_closed(const Zone& z, uint64_t now) const;

    void process_zone(Zone& z, uint64_t now);
    void poll_io(Zone& z, uint64_t now);
    void try_send(Zone& z, uint64_t now);
    std::optional<Flight> build(Zone& z, size_t limit, uint64_t now);
    void transmit(Zone& z, uint64_t now);
    void stream_send(Zone& z, uint64_t now);
    void handle_stream_event(Zone& z, StreamChannel::Event ev, uint64_t now);
    void handle_response(Zone& z, std::span<const uint8_t> wire, bool via_stream, uint64_t now);
    void finish(Zone& z, Outcome o, uint64_t now, std::string error = {},
                uint16_t rc = kNoRcode);
    size_t timeout_cost(const ZoneState& st, const Entry& e) const;
    uint64_t grace_ms() const;
    bool held(Zone& z, Entry& e, uint64_t now);

    bool readback_possible(const Zone& z) const { return cfg_.read_back && !z.managed.empty(); }
    void start_readback(Zone& z, uint64_t now);
    void poll_xfr(Zone& z, uint64_t now);
    bool xfr_message(Zone& z, std::span<const uint8_t> wire, uint64_t now);
    void readback_done(Zone& z, uint64_t now, bool ok, std::string error = {});
    bool in_scope(const Zone& z, const codec::Name& owner, uint16_t type,
                  std::span<const uint8_t> rdata) const;

    UpdateConfig cfg_;
    std::vector<std::unique_ptr<Zone>> zones_;
    std::mt19937_64 rng_;
    uint64_t failed_changes_ = 0;
    uint64_t readback_failures_ = 0;
};

bool Engine::init(std::string* error) {
    auto fail = [&](std::string m) {
        if (error != nullptr) *error = std::move(m);
        return false;
    };
    if (!cfg_.key && !cfg_.allow_unsigned) {
        // draft §5 / §8: updates without authentication only when told to.
        return fail("no TSIG key configured (set allow_unsigned to send unsigned updates)");
    }
    if (cfg_.max_message < 512 || cfg_.max_message > 65535) {
        return fail("max_message must be between 512 and 65535");
    }
    if (cfg_.timeout_rrs && cfg_.lease_s == 0) {
        return fail("timeout_rrs needs a lease (lease_s > 0) to compute the expiry");
    }
    const uint64_t now = clock();
    for (const ZoneServer& zs : cfg_.zones) {
        if (zs.address.empty()) return fail("zone " + zs.zone.to_string() + ": no server address");
        std::optional<Endpoint> ep = make_endpoint(zs.address, zs.port);
        if (!ep) {
            return fail("zone " + zs.zone.to_string() + ": server address '" + zs.address +
                        "' is not an IPv4 or IPv6 literal");
        }
        for (const auto& z : zones_) {
            if (z->server.zone == zs.zone) return fail("zone " + zs.zone.to_string() + " configured twice");
        }
        auto z = std::make_unique<Zone>(zs, *ep);
        if (z->server.tls_name.empty()) z->server.tls_name = zs.address;
        if (zs.transport == Transport::tls) {
            std::string err;
            z->tls = TlsContext::create(zs.ca_file, &err);
            if (!z->tls) return fail("zone " + zs.zone.to_string() + ": " + err);
        }
        if (cfg_.reconcile_interval_s > 0) {
            z->reconcile_next = now + reconcile_ms(cfg_.reconcile_interval_s, uniform());
        }
        zones_.push_back(std::move(z));
    }
    return true;
}

Zone* Engine::find(const codec::Name& zone) {
    for (auto& z : zones_) {
        if (z->server.zone == zone) return z.get();
    }
    return nullptr;
}

const Zone* Engine::find(const codec::Name& zone) const {
    for (const auto& z : zones_) {
        if (z->server.zone == zone) return z.get();
    }
    return nullptr;
}

size_t Engine::total_pending() const {
    size_t n = 0;
    for (const auto& z : zones_) n += z->state.queued_count() + z->state.in_flight_count();
    return n;
}

void Engine::open_window(Zone& z, uint64_t now) {
    if (z.state.queued_count() == 0) {
        z.window_start.reset();
    } else if (!z.window_start) {
        z.window_start = now;
    }
}

bool Engine::add(const codec::Name& zone, const PubRecord& r) {
    Zone* z = find(zone);
    if (z == nullptr || !r.owner.is_subdomain_of(zone)) return false;
    if (total_pending() >= cfg_.max_pending && z->state.add_would_queue(r)) {
        ++z->stats.queue_overflow;
        return false;
    }
    z->state.set_desired(r);
    open_window(*z, clock());
    return true;
}

bool Engine::remove(const codec::Name& zone, const PubRecord& r) {
    Zone* z = find(zone);
    if (z == nullptr || !r.owner.is_subdomain_of(zone)) return false;
    z->state.clear_desired(r);
    open_window(*z, clock());
    return true;
}

bool Engine::set_server(const ZoneServer& zs, std::string* error) {
    std::optional<Endpoint> ep = make_endpoint(zs.address, zs.port);
    if (!ep) {
        if (error != nullptr) *error = "server address '" + zs.address + "' is not an IPv4 or IPv6 literal";
        return false;
    }
    auto fresh = std::make_unique<Zone>(zs, *ep);
    if (fresh->server.tls_name.empty()) fresh->server.tls_name = zs.address;
    if (zs.transport == Transport::tls) {
        fresh->tls = TlsContext::create(zs.ca_file, error);
        if (!fresh->tls) return false;
    }
    const uint64_t now = clock();
    Zone* old = find(zs.zone);
    if (old == nullptr) {
        if (cfg_.reconcile_interval_s > 0) {
            fresh->reconcile_next = now + reconcile_ms(cfg_.reconcile_interval_s, uniform());
        }
        zones_.push_back(std::move(fresh));
        return true;
    }
    const ZoneServer& o = old->server;
    if (o.address == zs.address && o.port == zs.port && o.transport == zs.transport &&
        o.ca_file == zs.ca_file && (zs.tls_name.empty() || o.tls_name == zs.tls_name)) {
        return true;
    }
    // Same zone, new server: keep the desired state, forget what the old one
    // confirmed, and start afresh (no backoff inherited).
    if (old->flight) finish(*old, Outcome::ambiguous, now, "server replaced");
    old->server = fresh->server;
    old->ep = fresh->ep;
    old->udp.retarget(*ep);
    old->stream.reset();
    old->tls = std::move(fresh->tls);
    old->failures = 0;
    old->backoff_until = 0;
    old->lease_next = 0;
    old->clock_offset_s = 0;
    old->stats.reachable = false;
    old->state.mark_unverified();
    // A transfer from the old server is worthless; read the new one back.
    old->xfr.reset();
    old->rb_running = false;
    if (readback_possible(*old)) old->rb_due = now;
    open_window(*old, now);
    return true;
}

void Engine::reconcile(const codec::Name& zone) {
    Zone* z = find(zone);
    if (z == nullptr) return;
    if (readback_possible(*z)) {
        if (!z->rb_running) z->rb_due = clock();
        return;
    }
    z->state.mark_unverified();
    open_window(*z, clock());
}

void Engine::manage(const codec::Name& subdomain) {
    for (auto& z : zones_) {
        // The subdomain itself, or its parent's browse PTRs, in this zone.
        const bool below = subdomain.is_subdomain_of(z->server.zone);
        const bool parent_here = subdomain.label_count() > 0 &&
                                 subdomain.parent().is_subdomain_of(z->server.zone);
        if (!below && !parent_here) continue;
        if (std::find(z->managed.begin(), z->managed.end(), subdomain) != z->managed.end()) continue;
        z->managed.push_back(subdomain);
        // Read the new subdomain back (the first time: before any UPDATE).
        if (cfg_.read_back && !z->rb_running) z->rb_due = clock();
    }
}

uint64_t Engine::grace_ms() const {
    if (cfg_.orphan_grace_ms != 0) return cfg_.orphan_grace_ms;
    if (cfg_.reconcile_interval_s == 0) return 30'000;
    return 1000ull * std::min<uint32_t>(cfg_.reconcile_interval_s, 30);
}

std::vector<UpdateEngine::PollFd> Engine::fds() const {
    std::vector<PollFd> out;
    for (const auto& z : zones_) {
        // UDP whenever open: answers, and late datagrams to drain.
        if (z->udp.fd() >= 0) out.push_back({z->udp.fd(), POLLIN});
        if (z->stream && z->stream->connected() && z->stream->events() != 0) {
            out.push_back({z->stream->fd(), z->stream->events()});
        }
        if (z->xfr && z->xfr->connected() && z->xfr->events() != 0) {
            out.push_back({z->xfr->fd(), z->xfr->events()});
        }
    }
    return out;
}

bool Engine::window_closed(const Zone& z, uint64_t now) const {
    if (!z.window_start) return true;
    if (now >= *z.window_start + cfg_.batch_window_ms) return true;
    // A message's worth is waiting: no reason to wait for more.
    return z.state.queued_bytes() + message_overhead(z.server.zone) >= limit_for(z);
}

uint64_t Engine::next_wakeup_ms(uint64_t now) const {
    uint64_t t = now + 60'000;  // nothing scheduled: an idle tick
    for (const auto& z : zones_) {
        if (z->rb_running) {
            t = std::min(t, z->xfr_deadline);
        } else if (z->rb_due != 0) {
            t = std::min(t, z->rb_due);
        }
        if (z->flight) {
            t = std::min(t, z->flight->deadline);
        } else if (z->rb_running || (!z->synced && readback_possible(*z))) {
            // Nothing goes out before the read-back.
        } else if (z->state.queued_count() > 0) {
            uint64_t at = z->backoff_until;
            if (z->all_held) at = std::max(at, z->hold_next);
            if (!window_closed(*z, now) && z->window_start) {
                at = std::max(at, *z->window_start + cfg_.batch_window_ms);
            }
            t = std::min(t, at);
        }
        if (z->lease_next != 0) t = std::min(t, z->lease_next);
        if (z->reconcile_next != 0) t = std::min(t, z->reconcile_next);
    }
    return std::max(t, now);
}

bool Engine::idle() const {
    for (const auto& z : zones_) {
        if (z->flight || z->rb_running) return false;
        if (!z->synced && readback_possible(*z)) return false;
        // A zone backing off after a failure has its whole queue waiting for
        // the retry (changes beyond the first message's worth included), so
        // it is settled for now; otherwise every change must have had one try.
        if (z->failures == 0 && z->state.fresh_count() > 0) return false;
    }
    return true;
}

ZoneStats Engine::stats(const codec::Name& zone) const {
    const Zone* z = find(zone);
    if (z == nullptr) return {};
    ZoneStats s = z->stats;
    s.desired = z->state.desired_count();
    s.confirmed = z->state.present_count();
    s.pending = z->state.queued_count() + z->state.in_flight_count();
    s.tcp_connects = z->stream ? z->stream->connects() : 0;
    s.held = z->state.rejected_count();
    s.latency_bounds.assign(std::begin(kLatencyBounds), std::end(kLatencyBounds));
    s.latency_counts = z->latency_counts;
    s.latency_sum = z->latency_sum;
    return s;
}

std::vector<codec::Name> Engine::zones() const {
    std::vector<codec::Name> out;
    for (const auto& z : zones_) out.push_back(z->server.zone);
    return out;
}

void Engine::on_ready(uint64_t now) {
    for (auto& z : zones_) process_zone(*z, now);
}

void Engine::process_zone(Zone& z, uint64_t now) {
    if (!z.synced && !readback_possible(z)) z.synced = true;
    poll_io(z, now);
    poll_xfr(z, now);
    if (z.flight && now >= z.flight->deadline) {
        ++z.stats.timeouts;
        z.stats.reachable = false;
        // A stream that did not answer in time is not worth keeping.
        if (z.flight->via_stream && z.stream) z.stream->close();
        finish(z, Outcome::ambiguous, now, "no response within " +
                                               std::to_string(cfg_.response_timeout_ms) + " ms");
    }
    if (z.lease_next != 0 && now >= z.lease_next) {
        // Renew the lease: every desired record again (adds are idempotent).
        z.state.mark_unverified();
        z.lease_next = z.state.desired_count() > 0
                           ? now + lease_refresh_ms(cfg_.lease_s, uniform())
                           : 0;
        open_window(z, now);
    }
    if (z.reconcile_next != 0 && now >= z.reconcile_next) {
        if (readback_possible(z)) {
            if (!z.rb_running) z.rb_due = now;
        } else {
            z.state.mark_unverified();
        }
        z.reconcile_next = now + reconcile_ms(cfg_.reconcile_interval_s, uniform());
        open_window(z, now);
    }
    // A read-back starts between messages, so the snapshot it reads has
    // every answered change in it and none in flight.
    if (z.rb_due != 0 && now >= z.rb_due && !z.flight && !z.rb_running) start_readback(z, now);
    try_send(z, now);
}

void Engine::poll_io(Zone& z, uint64_t now) {
    if (z.udp.fd() >= 0) {
        std::vector<std::vector<uint8_t>> dgrams;
        std::string err;
        const bool ok = z.udp.receive(dgrams, &err);
        for (const auto& d : dgrams) {
            if (z.flight && !z.flight->via_stream) handle_response(z, d, false, now);
        }
        if (!ok) {
            // ICMP unreachable: nobody listens. Only meaningful while waiting.
            z.udp.close();
            if (z.flight && !z.flight->via_stream) {
                ++z.stats.connection_failures;
                z.stats.reachable = false;
                finish(z, Outcome::ambiguous, now, err);
            }
        }
    }
    if (z.stream && z.stream->connected()) {
        handle_stream_event(z, z.stream->progress(), now);
    }
}

void Engine::handle_stream_event(Zone& z, StreamChannel::Event ev, uint64_t now) {
    if (ev.kind == StreamChannel::Event::Kind::none) return;
    if (!z.flight || !z.flight->via_stream) return;  // nothing was asked
    if (ev.kind == StreamChannel::Event::Kind::response) {
        handle_response(z, ev.data, true, now);
        return;
    }
    if (ev.stale_connection && !z.flight->stale_retry_done) {
        // The server closed a kept-open connection as we reused it: one
        // immediate retry on a new connection, not a failure.
        z.flight->stale_retry_done = true;
        stream_send(z, now);
        return;
    }
    ++z.stats.connection_failures;
    z.stats.reachable = false;
    finish(z, Outcome::ambiguous, now, ev.error);
}

void Engine::stream_send(Zone& z, uint64_t now) {
    if (!z.stream) {
        z.stream = std::make_unique<StreamChannel>(
            z.ep, z.server.transport == Transport::tls ? z.tls : nullptr, z.server.tls_name);
    }
    z.flight->via_stream = true;
    z.flight->deadline = now + cfg_.response_timeout_ms;
    z.stream->send(z.flight->wire);
    ++z.stats.messages_sent;
    handle_stream_event(z, z.stream->progress(), now);
}

size_t Engine::timeout_cost(const ZoneState& st, const Entry& e) const {
    const size_t owner = e.owner.wire_length();
    size_t cost = 0;
    if (const auto* old = st.find_timeouts(e.rrset())) {
        for (const auto& rd : *old) cost += owner + 10 + rd.size();
    }
    size_t n = st.desired_in_rrset(e.rrset()).size();
    while (n > 0) {
        const size_t k = std::min<size_t>(n, 255);
        cost += owner + 10 + timeout_rdata_size(k);
        n -= k;
    }
    return cost;
}

bool Engine::held(Zone& z, Entry& e, uint64_t now) {
    if (e.hold_until > now) {
        z.hold_next = z.hold_next == 0 ? e.hold_until : std::min(z.hold_next, e.hold_until);
        return true;
    }
    return false;
}

std::optional<Flight> Engine::build(Zone& z, size_t limit, uint64_t now) {
    MessageParams mp;
    mp.zone = z.server.zone;
    mp.id = static_cast<uint16_t>(rng_());
    mp.limit = limit;
    mp.key = cfg_.key ? &*cfg_.key : nullptr;
    mp.time_signed = static_cast<uint64_t>(static_cast<int64_t>(unix_now()) + z.clock_offset_s);
    mp.lease_s = cfg_.lease_s;
    mp.key_lease_s = cfg_.key_lease_s;
    mp.udp_size = cfg_.udp_limit;
    UpdateMessage msg(mp);
    if (!msg.valid()) return std::nullopt;

    Flight f;
    std::vector<const Entry*> touched;  // first entry of each RRset in the message
    z.hold_next = 0;
    size_t ready = 0;
    for (Entry* e : z.state.pending()) {
        if (held(z, *e, now)) continue;
        ++ready;
        if (z.split_limit != 0 && f.changes.size() >= z.split_limit) break;
        const Need n = ZoneState::need(*e);
        const bool new_rrset =
            cfg_.timeout_rrs && (touched.empty() || touched.back()->rrset() != e->rrset());
        const size_t reserve = new_rrset ? timeout_cost(z.state, *e) : 0;
        if (n == Need::add && e->server == ServerState::present) {
            // A TTL change: delete then add in one message. A plain add of
            // an existing record changes the TTL on BIND but not on Knot.
            if (!msg.add(e->owner, e->type, e->rdata, false, 0, reserve + e->wire_size)) break;
            if (!msg.add_reserved(e->owner, e->type, e->rdata, true, e->desired_ttl)) break;
        } else if (!msg.add(e->owner, e->type, e->rdata, n == Need::add, e->desired_ttl, reserve)) {
            break;
        }
        f.changes.push_back(e);
        if (n == Need::add) f.had_adds = true;
        if (new_rrset) touched.push_back(e);
    }
    z.all_held = ready == 0;
    if (f.changes.empty()) return std::nullopt;

    // TIMEOUT RRs (draft-ietf-dnsop-update-timeout-01, method 1) per RRset
    // the message touches: delete the ones this engine left before, add one
    // covering every record of the RRset it now wants, expiring with the
    // lease. The RRset's records in this message and those already there get
    // one expiry, so the server (or a secondary) sees a single lifetime.
    const uint64_t expiry = unix_now() + cfg_.lease_s;
    for (const Entry* first : touched) {
        const std::string_view rrset = first->rrset();
        if (const auto* old = z.state.find_timeouts(rrset)) {
            for (const auto& rd : *old) {
                if (!msg.add_reserved(first->owner, cfg_.timeout_type, rd, false, 0)) return std::nullopt;
            }
        }
        std::vector<const Entry*> desired = z.state.desired_in_rrset(rrset);
        std::vector<std::vector<uint8_t>> sent;
        for (size_t i = 0; i < desired.size(); i += 255) {
            std::vector<std::array<uint8_t, 16>> hashes;
            for (size_t j = i; j < std::min(desired.size(), i + 255); ++j) {
                hashes.push_back(timeout_hash(canonical_rdata(desired[j]->type, desired[j]->rdata)));
            }
            std::vector<uint8_t> rd = codec::rdata::timeout(first->type, 1, expiry, hashes);
            if (!msg.add_reserved(first->owner, cfg_.timeout_type, rd, true,
                                  desired.front()->desired_ttl)) {
                return std::nullopt;
            }
            sent.push_back(std::move(rd));
        }
        f.timeouts.emplace_back(std::string(rrset), std::move(sent));
    }
    if (!msg.seal()) return std::nullopt;
    f.id = msg.id();
    f.wire.assign(msg.wire().begin(), msg.wire().end());
    f.mac = msg.mac();
    f.had_lease = cfg_.lease_s > 0;
    return f;
}

void Engine::try_send(Zone& z, uint64_t now) {
    if (z.rb_running || (!z.synced && readback_possible(z))) return;
    while (!z.flight && z.state.queued_count() > 0 && now >= z.backoff_until &&
           window_closed(z, now)) {
        const bool udp_zone = z.server.transport == Transport::udp;
        // Batches are built up to max_message: a message that fits the UDP
        // limit goes over UDP, a larger one over the persistent TCP
        // connection (the server's cost is per message, so big batches are
        // what makes a backlog drain fast). After a failure a UDP zone retries
        // with UDP-sized messages, so a server whose TCP is broken still
        // gets everything, a message at a time.
        std::optional<Flight> f = build(z, limit_for(z), now);
        if (!f && z.all_held) break;  // wake up at hold_next
        if (!f && limit_for(z) < cfg_.max_message) f = build(z, cfg_.max_message, now);
        if (!f) f = build(z, 65535, now);
        if (!f) {
            // Fits in no DNS message at all: give up on this change.
            Entry* e = nullptr;
            for (Entry* c : z.state.pending()) {
                if (c->hold_until <= now) {
                    e = c;
                    break;
                }
            }
            if (e == nullptr) break;
            z.state.park_stuck(e);
            ++z.stats.stuck;
            ++z.stats.failed_changes;
            ++failed_changes_;
            e->failure_counted = true;
            z.stats.last_error = "record too large for any message";
            continue;
        }
        const bool via_stream = !udp_zone || f->wire.size() > cfg_.udp_limit;
        if (udp_zone && via_stream) ++z.stats.tcp_fallbacks;
        for (Entry* e : f->changes) z.state.take(e);
        z.stats.records_sent += f->changes.size();
        if (z.failures > 0) ++z.stats.retries;
        z.flight = std::move(f);
        z.flight->via_stream = via_stream;
        z.flight->sent_at = std::chrono::steady_clock::now();
        open_window(z, now);
        transmit(z, now);
    }
}

void Engine::transmit(Zone& z, uint64_t now) {
    if (z.flight->via_stream) {
        stream_send(z, now);
        return;
    }
    z.flight->deadline = now + cfg_.response_timeout_ms;
    std::string err;
    ++z.stats.messages_sent;
    if (!z.udp.send(z.flight->wire, &err)) {
        z.udp.close();
        ++z.stats.connection_failures;
        z.stats.reachable = false;
        finish(z, Outcome::retry, now, err);  // not sent: not applied
    }
}

void Engine::handle_response(Zone& z, std::span<const uint8_t> wire, bool via_stream,
                             uint64_t now) {
    Flight& f = *z.flight;
    codec::ParseOptions po;
    po.timeout_type = cfg_.timeout_type;
    codec::Result<codec::Message> m = codec::Message::parse(wire, po);
    const bool ours = m.ok() && m->header().id == f.id && m->header().qr() &&
                      m->header().opcode() == codec::opcode::UPDATE;
    if (!ours) {
        // Over UDP a stray or garbled datagram is ignored (the real answer
        // may still come); on a stream the exchange is broken.
        if (via_stream) {
            z.stream->close();
            finish(z, Outcome::ambiguous, now, "malformed or mismatched response on stream");
        }
        return;
    }
    if (!via_stream && m->header().tc()) {
        // Truncated: the same bytes again over TCP (RFC 7766 §5), so the
        // request MAC the answer is verified with stays the same.
        ++z.stats.tcp_fallbacks;
        stream_send(z, now);
        return;
    }
    z.stats.reachable = true;
    uint16_t rc = m->header().rcode();
    std::optional<codec::RrView> opt = m->opt();
    if (opt) {
        codec::Result<codec::OptView> ov = opt->opt();
        if (ov.ok()) rc = static_cast<uint16_t>(rc | (ov->ext_rcode() << 4));
    }
    if (cfg_.key) {
        const std::vector<codec::TsigKey> keys{*cfg_.key};
        codec::TsigVerifyParams vp;
        vp.now = static_cast<uint64_t>(static_cast<int64_t>(unix_now()) + z.clock_offset_s);
        vp.request_mac = f.mac;
        codec::Result<codec::TsigVerified> v = codec::tsig_verify(*m, keys, vp);
        if (v.ok()) {
            if (v->error != 0) rc = v->error;
            if (v->error == codec::rcode::BADTIME && v->other.size() == 6) {
                // Our clock is off: sign the retry with the server's.
                z.clock_offset_s = static_cast<int64_t>(codec::rd48(v->other.data())) -
                                   static_cast<int64_t>(unix_now());
            }
        } else {
            // BADSIG/BADKEY answers are unsigned by design (RFC 8945 §5.3.2):
            // the server could not check our MAC, so it cannot make one.
            uint16_t tsig_error = 0;
            if (std::optional<codec::RrView> t = m->tsig()) {
                codec::Result<codec::TsigView> tv = t->tsig();
                if (tv.ok()) tsig_error = tv->error;
            }
            if (rc == codec::rcode::NOTAUTH &&
                (tsig_error == codec::rcode::BADSIG || tsig_error == codec::rcode::BADKEY)) {
                rc = tsig_error;
            } else {
                ++z.stats.tsig_failures;
                finish(z, Outcome::ambiguous, now,
                       "response TSIG does not verify: " +
                           std::string(codec::reason_name(v.reason())));
                return;
            }
        }
    }
    ++z.stats.responses[std::min<uint16_t>(rc, 23)];
    {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                          f.sent_at).count();
        size_t b = 0;
        while (b < std::size(kLatencyBounds) && secs > kLatencyBounds[b]) ++b;
        ++z.latency_counts[b];
        z.latency_sum += secs;
    }
    Outcome o;
    switch (rc) {
        case codec::rcode::NOERROR:
        case codec::rcode::YXDOMAIN:
        case codec::rcode::NXDOMAIN:
        case codec::rcode::YXRRSET:
        case codec::rcode::NXRRSET:
            o = Outcome::applied;
            break;
        case codec::rcode::REFUSED:
        case codec::rcode::NOTAUTH:
        case codec::rcode::NOTZONE:
        case codec::rcode::BADSIG:
        case codec::rcode::BADKEY:
            o = Outcome::refused;
            break;
        default:
            o = Outcome::retry;
            break;
    }
    if (rc == codec::rcode::NOERROR && f.had_lease) {
        // RFC 9664 §4: a server that supports the option echoes it.
        std::optional<codec::UpdateLease> echoed;
        if (opt) {
            codec::Result<codec::OptView> ov = opt->opt();
            if (ov.ok()) echoed = ov->lease();
        }
        z.stats.lease_echoed = echoed.has_value();
    }
    finish(z, o, now,
           o == Outcome::applied ? std::string() : "server answered " + std::string(codec::rcode_name(rc)),
           rc);
}

void Engine::finish(Zone& z, Outcome o, uint64_t now, std::string error, uint16_t rc) {
    Flight f = std::move(*z.flight);
    z.flight.reset();
    if (o != Outcome::applied && rc != kNoRcode && splittable(rc)) {
        if (f.changes.size() > 1) {
            // Split: the first half goes next, at once; the rest follows.
            if (z.split_limit == 0) z.split_progress = false;
            z.split_limit = (f.changes.size() + 1) / 2;
            ++z.stats.splits;
            for (Entry* e : f.changes) z.state.fail(e, false);
            z.stats.last_error = std::move(error);
            open_window(z, now);
            return;
        }
        // One change, rejected alone: hold it back with its own backoff.
        Entry* e = f.changes.front();
        z.state.note_rejection(*e);
        e->hold_until = now + backoff_ms(e->rejections, cfg_.retry_initial_ms, cfg_.retry_max_ms, uniform());
        if (!e->failure_counted && (definitive(rc) || z.split_progress)) {
            e->failure_counted = true;
            ++failed_changes_;
            ++z.stats.failed_changes;
        }
        z.stats.last_error = std::move(error) + " for " + e->owner.to_string() + " " +
                             codec::type_name(e->type);
        const bool go_on = z.split_limit != 0 && z.split_progress;
        if (!go_on) {
            // Nothing got through: maybe the server, not the change. Back
            // off, and let the other changes go first when it ends (no
            // change starves behind one that is always rejected).
            ++z.failures;
            z.backoff_until =
                now + backoff_ms(z.failures, cfg_.retry_initial_ms, cfg_.retry_max_ms, uniform());
            e->hold_until = std::max(e->hold_until, z.backoff_until + 1);
        }
        z.state.fail(e, false);  // may erase e (its desire changed meanwhile)
        open_window(z, now);
        return;
    }
    if (o == Outcome::applied) {
        if (z.split_limit != 0) {
            z.split_progress = true;
            z.split_limit *= 2;
            if (z.split_limit >= 4096) z.split_limit = 0;
        }
        for (Entry* e : f.changes) z.state.confirm(e);
        for (auto& [rrset, rds] : f.timeouts) {
            if (rds.empty()) {
                z.state.erase_timeouts(rrset);
            } else {
                z.state.timeouts(rrset) = std::move(rds);
            }
        }
        z.failures = 0;
        z.backoff_until = 0;
        z.stats.last_success_ms = now;
        if (f.had_adds && cfg_.lease_s > 0 && z.lease_next == 0) {
            z.lease_next = now + lease_refresh_ms(cfg_.lease_s, uniform());
        }
    } else {
        const bool maybe_applied = o == Outcome::ambiguous;
        for (Entry* e : f.changes) {
            if (o == Outcome::refused && !e->failure_counted) {
                e->failure_counted = true;
                ++failed_changes_;
                ++z.stats.failed_changes;
            }
            z.state.fail(e, maybe_applied);
        }
        if (maybe_applied) {
            // Either set of TIMEOUT RRs may be on the server: delete both next time.
            for (auto& [rrset, rds] : f.timeouts) {
                auto& have = z.state.timeouts(rrset);
                for (auto& rd : rds) {
                    if (std::find(have.begin(), have.end(), rd) == have.end()) have.push_back(std::move(rd));
                }
            }
        }
        ++z.failures;
        z.backoff_until = now + backoff_ms(z.failures, cfg_.retry_initial_ms, cfg_.retry_max_ms, uniform());
        z.stats.last_error = std::move(error);
    }
    open_window(z, now);
}

// ---- read-back -------------------------------------------------------------------------------

bool Engine::in_scope(const Zone& z, const codec::Name& owner, uint16_t type,
                      std::span<const uint8_t> rdata) const {
    namespace t = codec::rrtype;
    if (type != t::A && type != t::AAAA && type != t::PTR && type != t::SRV && type != t::TXT) {
        return false;
    }
    for (const codec::Name& sub : z.managed) {
        // Below the subdomain, never at it (its apex records are not ours).
        if (owner.label_count() > sub.label_count() && owner.is_subdomain_of(sub)) return true;
    }
    if (type != t::PTR || owner.label_count() < 3) return false;
    // The parent's browse PTRs (draft §3.3) naming one of our subdomains.
    auto is = [](std::span<const uint8_t> l, std::string_view s) {
        return l.size() == s.size() && std::equal(l.begin(), l.end(), s.begin(), [](uint8_t a, char b) {
                   return codec::ascii_lower(a) == static_cast<uint8_t>(b);
               });
    };
    const std::span<const uint8_t> l0 = owner.label(0);
    if (!(is(l0, "b") || is(l0, "lb")) || !is(owner.label(1), "_dns-sd") || !is(owner.label(2), "_udp")) {
        return false;
    }
    codec::Result<codec::Name> target = codec::Name::from_wire(rdata);
    if (!target.ok()) return false;
    return std::find(z.managed.begin(), z.managed.end(), *target) != z.managed.end();
}

void Engine::start_readback(Zone& z, uint64_t now) {
    z.rb_due = 0;
    std::vector<uint8_t> q(512 + (cfg_.key ? tsig_size(*cfg_.key) : 0));
    codec::Builder b(q);
    z.xfr_id = static_cast<uint16_t>(rng_());
    b.set_id(z.xfr_id);
    if (!b.add_question(z.server.zone, codec::rrtype::AXFR, codec::rrclass::IN).ok()) {
        readback_done(z, now, false, "read-back: cannot build the AXFR query");
        return;
    }
    size_t len = b.size();
    z.xfr_mac.clear();
    if (cfg_.key) {
        codec::TsigSignParams sp;
        sp.time_signed = static_cast<uint64_t>(static_cast<int64_t>(unix_now()) + z.clock_offset_s);
        codec::Result<size_t> n = codec::tsig_sign(q, len, *cfg_.key, sp, &z.xfr_mac);
        if (!n.ok()) {
            readback_done(z, now, false, "read-back: cannot sign the AXFR query");
            return;
        }
        len = *n;
    }
    q.resize(len);
    // Its own connection: the UPDATE stream stays free of transfer traffic.
    z.xfr = std::make_unique<StreamChannel>(
        z.ep, z.server.transport == Transport::tls ? z.tls : nullptr, z.server.tls_name);
    z.xfr->send(q);
    z.rb_running = true;
    z.xfr_first = true;
    z.xfr_soa = 0;
    z.xfr_records.clear();
    z.xfr_deadline = now + cfg_.response_timeout_ms;
    poll_xfr(z, now);
}

void Engine::poll_xfr(Zone& z, uint64_t now) {
    // Bounded: one transfer message per turn is at most 64 KiB.
    for (int i = 0; z.rb_running && i < 4096; ++i) {
        StreamChannel::Event ev = z.xfr->progress();
        if (ev.kind == StreamChannel::Event::Kind::none) break;
        if (ev.kind == StreamChannel::Event::Kind::error) {
            readback_done(z, now, false, "read-back (AXFR): " + ev.error);
            return;
        }
        if (!xfr_message(z, ev.data, now)) return;  // finished or failed
        z.xfr->expect_more();
        z.xfr_deadline = now + cfg_.response_timeout_ms;
    }
    if (z.rb_running && now >= z.xfr_deadline) {
        readback_done(z, now, false,
                      "read-back (AXFR): no answer within " + std::to_string(cfg_.response_timeout_ms) + " ms");
    }
}

bool Engine::xfr_message(Zone& z, std::span<const uint8_t> wire, uint64_t now) {
    codec::ParseOptions po;
    po.timeout_type = cfg_.timeout_type;
    codec::Result<codec::Message> m = codec::Message::parse(wire, po);
    if (!m.ok() || m->header().id != z.xfr_id || !m->header().qr()) {
        readback_done(z, now, false, "read-back (AXFR): malformed or mismatched answer");
        return false;
    }
    if (m->header().rcode() != codec::rcode::NOERROR) {
        readback_done(z, now, false,
                      "read-back (AXFR) refused: " + std::string(codec::rcode_name(m->header().rcode())));
        return false;
    }
    if (cfg_.key) {
        // RFC 8945 §5.3.1: the first answer is signed over the request's MAC,
        // each further one over the previous MAC with the timers only.
        // (Unsigned intermediate messages are allowed by the RFC; BIND and
        // Knot sign every one, and an unverifiable one fails the read-back.)
        const std::vector<codec::TsigKey> keys{*cfg_.key};
        codec::TsigVerifyParams vp;
        vp.now = static_cast<uint64_t>(static_cast<int64_t>(unix_now()) + z.clock_offset_s);
        vp.request_mac = z.xfr_mac;
        vp.timers_only = !z.xfr_first;
        codec::Result<codec::TsigVerified> v = codec::tsig_verify(*m, keys, vp);
        if (!v.ok() || v->error != 0) {
            readback_done(z, now, false,
                          "read-back (AXFR): answer TSIG does not verify: " +
                              std::string(v.ok() ? codec::rcode_name(v->error) : codec::reason_name(v.reason())));
            return false;
        }
        z.xfr_mac = v->mac;
    }
    z.xfr_first = false;
    std::vector<uint8_t> rd(65535);
    for (const codec::RrView& rr : m->answers()) {
        if (rr.type == codec::rrtype::SOA) {
            ++z.xfr_soa;
            continue;
        }
        if (rr.rrclass() != codec::rrclass::IN) continue;
        codec::Result<size_t> n = rr.rdata_uncompressed(rd);
        if (!n.ok()) continue;
        const std::span<const uint8_t> rdata(rd.data(), *n);
        codec::Name owner = rr.owner.to_name();
        if (!in_scope(z, owner, rr.type, rdata)) continue;
        z.xfr_records.push_back({std::move(owner), rr.type, rr.ttl,
                                 std::vector<uint8_t>(rdata.begin(), rdata.end())});
    }
    if (z.xfr_soa >= 2) {
        readback_done(z, now, true);
        return false;
    }
    return true;
}

void Engine::readback_done(Zone& z, uint64_t now, bool ok, std::string error) {
    if (z.xfr) z.xfr->close();
    z.xfr.reset();
    z.rb_running = false;
    z.synced = true;
    if (ok) {
        ++z.stats.readbacks;
        z.stats.reachable = true;  // the server answered a signed transfer
        z.stats.leftovers += z.state.apply_readback(z.xfr_records, now + grace_ms());
    } else {
        // The server keeps its content to itself: re-send everything desired
        // (adds are idempotent), as without read-back.
        ++z.stats.readback_failures;
        ++readback_failures_;
        z.stats.last_error = std::move(error);
        z.state.mark_unverified();
    }
    z.xfr_records.clear();
    z.xfr_records.shrink_to_fit();
    open_window(z, now);
}

}  // namespace

std::unique_ptr<UpdateEngine> UpdateEngine::create(const UpdateConfig& cfg, std::string* error) {
    auto e = std::make_unique<Engine>(cfg);
    if (!e->init(error)) return nullptr;
    return e;
}

}  // namespace updproxy::control
