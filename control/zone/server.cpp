#include "control/zone/server.hpp"

#include <ctime>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"

namespace updproxy::control::zone {

namespace {

uint64_t unix_now() { return static_cast<uint64_t>(std::time(nullptr)); }

size_t tsig_room(const codec::TsigKey& key) {
    return key.name.wire_length() + 10 + codec::tsig_algorithm_name(key.algorithm).wire_length() +
           16 + codec::tsig_mac_size(key.algorithm) + 6;
}

struct AtomicSlow {
    std::atomic<uint64_t> tsig_ok{0}, tsig_badkey{0}, tsig_badsig{0}, tsig_badtime{0};
    std::atomic<uint64_t> xfr_refused{0}, xfr_notauth{0};
    std::atomic<uint64_t> axfr{0}, ixfr_incremental{0}, ixfr_full{0}, ixfr_up_to_date{0};
    std::atomic<uint64_t> ixfr_udp{0};
};

void inc(std::atomic<uint64_t>& a) { a.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

struct AuthServer::Impl {
    AuthConfig cfg;
    std::unique_ptr<ZoneStore> store;
    std::unique_ptr<NotifySender> notifier;
    std::unique_ptr<DnsListener> listener;
    std::unique_ptr<ZoneStore::Reader> reader;  // control thread's (punted messages)
    AnswerCounters counters;                    // control thread's answers
    AtomicSlow slow;

    // The outcome of the shared slow-path steps.
    struct Outcome {
        size_t size = 0;
        bool xfr = false;
        XfrRequest req;
        size_t zone = 0;
    };

    // Appends a TSIG to the response in out[0, len): signed over the request's
    // MAC, or an unsigned error TSIG. Returns the new length (0 when it does
    // not fit: better no answer than an unsigned one).
    static size_t sign(std::span<uint8_t> out, size_t len, const codec::TsigKey& key,
                       std::span<const uint8_t> request_mac, uint16_t error,
                       std::span<const uint8_t> other = {}) {
        codec::TsigSignParams p;
        p.time_signed = unix_now();
        p.request_mac = request_mac;
        p.error = error;
        p.other = other;
        auto r = codec::tsig_sign(out, len, key, p);
        return r ? *r : 0;
    }

    Outcome process(std::span<const uint8_t> msg, const Peer& from, bool tcp,
                    const ZoneSnapshot& snap, std::span<uint8_t> out, AnswerCounters* c) {
        Outcome o;
        ClientInfo ci;
        ci.tcp = tcp;
        ci.max_udp_payload = cfg.max_udp_payload;
        if (msg.size() < codec::kHeaderSize || (codec::rd16(msg.data() + 2) & codec::flag::QR)) {
            o.size = answer_wire(msg, snap, ci, out, c).size;  // counts the drop
            return o;
        }
        auto pm = codec::Message::parse(msg);
        if (!pm) {
            o.size = answer_wire(msg, snap, ci, out, c).size;  // FORMERR
            return o;
        }
        const codec::Message& m = *pm;

        // TSIG (RFC 8945 §5.2).
        const codec::TsigKey* key = nullptr;
        std::vector<uint8_t> request_mac;
        if (auto t = m.tsig()) {
            codec::TsigVerifyParams vp;
            vp.now = unix_now();
            auto v = codec::tsig_verify(m, cfg.keys, vp);
            if (!v) {
                return tsig_error(m, *t, v.reason(), from, ci, out);
            }
            inc(slow.tsig_ok);
            key = v->key;
            request_mac = v->mac;
            ci.reserve = tsig_room(*key);
            ci.tsig_verified = true;
        }
        auto finish = [&](size_t n) {
            if (n != 0 && key != nullptr) n = sign(out, n, *key, request_mac, 0);
            o.size = n;
            return o;
        };

        const bool one_question =
            m.header().opcode() == codec::opcode::QUERY && m.count(codec::Section::question) == 1;
        if (one_question) {
            const codec::Question q = *m.questions().begin();
            if (q.type == codec::rrtype::AXFR || q.type == codec::rrtype::IXFR) {
                return transfer(m, q, from, tcp, snap, key, request_mac, ci, out);
            }
        }
        AnswerResult r = answer(m, snap, ci, out, c);
        if (r.what == Disposition::reply) return finish(r.size);
        if (r.what == Disposition::punt) {
            return finish(error_response(m, codec::rcode::SERVFAIL, false, ci, out));
        }
        return o;
    }

    Outcome tsig_error(const codec::Message& m, const codec::RrView& t, codec::Reason why,
                       const Peer& from, const ClientInfo& ci, std::span<uint8_t> out) {
        Outcome o;
        auto tv = t.tsig();
        codec::TsigKey k;
        k.name = t.owner.to_name();
        std::optional<codec::TsigAlgorithm> alg;
        if (tv) alg = codec::tsig_algorithm_from_name(tv->algorithm.to_name());
        uint16_t error = codec::rcode::BADSIG;
        const char* what = "bad signature";
        if (why == codec::Reason::tsig_bad_key) {
            error = codec::rcode::BADKEY;
            what = "unknown key";
            inc(slow.tsig_badkey);
        } else if (why == codec::Reason::tsig_bad_time) {
            error = codec::rcode::BADTIME;
            what = "bad time";
            inc(slow.tsig_badtime);
        } else {
            inc(slow.tsig_badsig);
        }
        log_line("tsig: " + std::string(what) + " from " + from.to_string() + " key " +
                 k.name.to_string());
        ClientInfo eci = ci;
        eci.reserve = k.name.wire_length() + 10 + 255 + 16 + 64 + 6;
        size_t n = error_response(m, codec::rcode::NOTAUTH, false, eci, out);
        if (n == 0 || !alg) {
            o.size = n;  // an algorithm we do not know: plain NOTAUTH
            return o;
        }
        k.algorithm = *alg;
        if (error == codec::rcode::BADTIME) {
            // Signed with the key, over the request's MAC, our clock in Other Data.
            const codec::TsigKey* real = nullptr;
            for (const auto& kk : cfg.keys) {
                if (kk.name == k.name && kk.algorithm == k.algorithm) real = &kk;
            }
            uint64_t now = unix_now();
            uint8_t other[6];
            for (int i = 0; i < 6; ++i) other[i] = static_cast<uint8_t>(now >> (8 * (5 - i)));
            if (real != nullptr && tv) {
                std::vector<uint8_t> rmac(tv->mac.begin(), tv->mac.end());
                o.size = sign(out, n, *real, rmac, error, other);
                return o;
            }
        }
        o.size = sign(out, n, k, {}, error);
        return o;
    }

    Outcome transfer(const codec::Message& m, const codec::Question& q, const Peer& from, bool tcp,
                     const ZoneSnapshot& snap, const codec::TsigKey* key,
                     const std::vector<uint8_t>& request_mac, const ClientInfo& ci,
                     std::span<uint8_t> out) {
        Outcome o;
        auto finish = [&](size_t n) {
            if (n != 0 && key != nullptr) n = sign(out, n, *key, request_mac, 0);
            o.size = n;
            return o;
        };
        const bool ixfr = q.type == codec::rrtype::IXFR;
        codec::Name qname = q.name.to_name();
        auto z = snap.zone_by_apex(qname);
        if (q.raw_class != codec::rrclass::IN || !z) {
            inc(slow.xfr_notauth);
            return finish(error_response(m, codec::rcode::NOTAUTH, false, ci, out));
        }
        const ZoneData& zd = snap.zone(*z);
        bool allowed = zd.cfg.allow_unsigned_transfer;
        if (key != nullptr) {
            allowed = zd.cfg.transfer_keys.empty();
            for (const auto& n : zd.cfg.transfer_keys) allowed = allowed || n == key->name;
        }
        if (!allowed) {
            inc(slow.xfr_refused);
            log_line(std::string(ixfr ? "IXFR" : "AXFR") + " " + qname.to_string() + " from " +
                     from.to_string() + ": refused (" + (key ? "key not allowed" : "no TSIG") +
                     ")");
            return finish(error_response(m, codec::rcode::REFUSED, false, ci, out));
        }
        std::optional<uint32_t> client_serial;
        if (ixfr) {
            for (const auto& rr : m.authority()) {
                if (rr.type != codec::rrtype::SOA) continue;
                if (auto s = rr.soa()) client_serial = s->serial;
                break;
            }
            if (!client_serial) return finish(error_response(m, codec::rcode::FORMERR, false, ci, out));
        }
        if (!tcp) {
            if (!ixfr) {
                return finish(error_response(m, codec::rcode::NOTIMP, false, ci, out));
            }
            // IXFR over UDP: the current SOA alone tells the client to use
            // TCP unless it is current (RFC 1995 §2, "does not fit").
            inc(slow.ixfr_udp);
            codec::Builder b(out.first(std::min<size_t>(out.size(), 512)),
                             codec::BuilderOptions{true, false, 512 - ci.reserve});
            b.set_id(m.header().id);
            b.set_flags(codec::flag::QR | codec::flag::AA);
            b.add_question(qname, q.type, codec::rrclass::IN);
            if (!b.add_rr(codec::Section::answer, zd.cfg.apex, codec::rrtype::SOA,
                          codec::rrclass::IN, zd.cfg.soa_ttl, zd.soa_rdata)) {
                return o;
            }
            return finish(b.size());
        }
        o.xfr = true;
        o.zone = *z;
        o.req.id = m.header().id;
        o.req.qname = qname;
        o.req.qtype = q.type;
        o.req.client_serial = client_serial;
        o.req.key = key;
        o.req.request_mac = request_mac;
        o.req.now_unix = unix_now();
        o.req.max_message = cfg.xfr_message_size;
        return o;
    }

    void log_line(const std::string& s) const {
        if (cfg.log) cfg.log(s);
    }
};

std::unique_ptr<AuthServer> AuthServer::create(AuthConfig cfg, std::string* error) {
    auto impl = std::make_unique<Impl>();
    for (size_t i = 0; i < cfg.zones.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            if (cfg.zones[i].apex == cfg.zones[j].apex) {
                if (error != nullptr) *error = "zone " + cfg.zones[i].apex.to_string() + " twice";
                return nullptr;
            }
        }
        for (const auto& t : cfg.zones[i].notify) {
            SockAddr sa;
            if (!make_sockaddr(t.address, t.port, &sa)) {
                if (error != nullptr) *error = "notify target: bad address '" + t.address + "'";
                return nullptr;
            }
            bool known = !t.key;
            for (const auto& k : cfg.keys) known = known || (t.key && k.name == *t.key);
            if (!known) {
                if (error != nullptr) *error = "notify target: unknown key " + t.key->to_string();
                return nullptr;
            }
        }
    }
    impl->cfg = std::move(cfg);
    impl->store = std::make_unique<ZoneStore>(impl->cfg.zones, impl->cfg.serial_base_unix);
    impl->notifier = std::make_unique<NotifySender>(impl->cfg.keys, impl->cfg.notify);
    impl->reader = impl->store->make_reader();
    std::unique_ptr<AuthServer> srv(new AuthServer(std::move(impl)));
    Impl* m = srv->impl_.get();
    m->store->on_change([m](const codec::Name& apex, uint32_t serial) {
        auto snap = m->store->snapshot();
        auto z = snap->zone_by_apex(apex);
        if (!z) return;
        std::string err;
        if (!m->notifier->notify(snap->zone(*z), monotonic_ms(), &err)) m->log_line(err);
        if (!snap->zone(*z).cfg.notify.empty()) {
            m->log_line("notify: " + apex.to_string() + " serial " + std::to_string(serial));
        }
    });
    if (!m->cfg.listen.udp.empty() || !m->cfg.listen.tcp.empty()) {
        m->listener = DnsListener::create(m->cfg.listen, *srv, error);
        if (!m->listener) return nullptr;
    }
    return srv;
}

AuthServer::AuthServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuthServer::~AuthServer() {
    // The listener's thread reads the store: stop it first.
    impl_->listener.reset();
}

ZoneStore& AuthServer::store() { return *impl_->store; }
const AuthConfig& AuthServer::config() const { return impl_->cfg; }
DnsListener* AuthServer::listener() { return impl_->listener.get(); }
NotifySender& AuthServer::notifier() { return *impl_->notifier; }
const AnswerCounters& AuthServer::control_counters() const { return impl_->counters; }
void AuthServer::log(const std::string& line) const { impl_->log_line(line); }

std::vector<PollFd> AuthServer::fds() const {
    std::vector<PollFd> v = impl_->notifier->fds();
    if (impl_->listener) {
        auto l = impl_->listener->fds();
        v.insert(v.end(), l.begin(), l.end());
    }
    return v;
}

void AuthServer::on_ready(uint64_t now_ms) {
    impl_->notifier->on_ready(now_ms);
    if (impl_->listener) impl_->listener->on_ready(now_ms);
    impl_->store->reclaim();
}

uint64_t AuthServer::next_wakeup_ms(uint64_t now_ms) const {
    uint64_t w = impl_->notifier->next_wakeup_ms(now_ms);
    if (impl_->listener) w = std::min(w, impl_->listener->next_wakeup_ms(now_ms));
    return w;
}

size_t AuthServer::handle_udp(std::span<const uint8_t> msg, const Peer& from,
                              const ZoneSnapshot& snap, std::span<uint8_t> out,
                              AnswerCounters* counters) {
    return impl_->process(msg, from, false, snap, out, counters).size;
}

size_t AuthServer::handle_punted(std::span<const uint8_t> msg, const Peer& from,
                                 std::span<uint8_t> out) {
    const ZoneSnapshot* s = impl_->reader->enter();
    size_t n = impl_->process(msg, from, false, *s, out, &impl_->counters).size;
    impl_->reader->leave();
    return n;
}

AuthServer::TcpReply AuthServer::handle_tcp(std::span<const uint8_t> msg, const Peer& from,
                                            std::span<uint8_t> out) {
    TcpReply r;
    auto snap = impl_->store->snapshot();
    auto o = impl_->process(msg, from, true, *snap, out, &impl_->counters);
    if (!o.xfr) {
        r.size = o.size;
        return r;
    }
    std::string what = o.req.qtype == codec::rrtype::IXFR ? "IXFR" : "AXFR";
    std::string cs = o.req.client_serial ? " from serial " + std::to_string(*o.req.client_serial) : "";
    std::string qn = o.req.qname.to_string();
    r.stream = std::make_unique<XfrStream>(snap, o.zone, std::move(o.req));
    const char* kind = "full";
    switch (r.stream->kind()) {
        case XfrStream::Kind::full:
            kind = "full";
            inc(what == "IXFR" ? impl_->slow.ixfr_full : impl_->slow.axfr);
            break;
        case XfrStream::Kind::incremental:
            kind = "incremental";
            inc(impl_->slow.ixfr_incremental);
            break;
        case XfrStream::Kind::up_to_date:
            kind = "up-to-date";
            inc(impl_->slow.ixfr_up_to_date);
            break;
    }
    impl_->log_line(what + " " + qn + " to " + from.to_string() + cs + ": " + kind + ", serial " +
                    std::to_string(snap->zone(o.zone).serial) + ", " +
                    std::to_string(r.stream->record_count()) + " records");
    return r;
}

SlowPathStats AuthServer::slow_stats() const {
    const AtomicSlow& a = impl_->slow;
    SlowPathStats s;
    s.tsig_ok = a.tsig_ok.load();
    s.tsig_badkey = a.tsig_badkey.load();
    s.tsig_badsig = a.tsig_badsig.load();
    s.tsig_badtime = a.tsig_badtime.load();
    s.xfr_refused = a.xfr_refused.load();
    s.xfr_notauth = a.xfr_notauth.load();
    s.axfr = a.axfr.load();
    s.ixfr_incremental = a.ixfr_incremental.load();
    s.ixfr_full = a.ixfr_full.load();
    s.ixfr_up_to_date = a.ixfr_up_to_date.load();
    s.ixfr_udp = a.ixfr_udp.load();
    return s;
}

}  // namespace updproxy::control::zone
