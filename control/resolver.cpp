#include "control/resolver.hpp"

#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"

namespace updproxy::control {

namespace rt = codec::rrtype;

std::optional<upd::Endpoint> Resolver::parse_server(const std::string& s) {
    std::string host = s;
    uint16_t port = 53;
    auto parse_port = [&](const std::string& p) {
        if (p.empty() || p.size() > 5) return false;
        unsigned long v = 0;
        for (char c : p) {
            if (c < '0' || c > '9') return false;
            v = v * 10 + static_cast<unsigned long>(c - '0');
        }
        if (v == 0 || v > 65535) return false;
        port = static_cast<uint16_t>(v);
        return true;
    };
    if (!s.empty() && s[0] == '[') {
        const auto close = s.find(']');
        if (close == std::string::npos) return std::nullopt;
        host = s.substr(1, close - 1);
        if (close + 1 < s.size()) {
            if (s[close + 1] != ':' || !parse_port(s.substr(close + 2))) return std::nullopt;
        }
        if (host.find(':') == std::string::npos) return std::nullopt;  // brackets: IPv6 only
    } else if (std::count(s.begin(), s.end(), ':') == 1) {
        const auto colon = s.find(':');
        host = s.substr(0, colon);
        if (!parse_port(s.substr(colon + 1))) return std::nullopt;
    }
    return upd::make_endpoint(host, port);
}

std::unique_ptr<Resolver> Resolver::create(const std::vector<std::string>& servers,
                                           uint32_t timeout_ms, uint32_t attempts,
                                           std::string* error) {
    std::unique_ptr<Resolver> r(new Resolver());
    for (const auto& s : servers) {
        auto ep = parse_server(s);
        if (!ep) {
            if (error) *error = "resolver '" + s + "' is not ADDRESS, ADDRESS:PORT or [IPv6]:PORT";
            return nullptr;
        }
        r->servers_.push_back(std::make_unique<upd::UdpChannel>(*ep));
    }
    if (r->servers_.empty()) {
        if (error) *error = "no resolver address";
        return nullptr;
    }
    r->timeout_ms_ = std::max<uint32_t>(timeout_ms, 10);
    r->attempts_ = std::max<uint32_t>(attempts, 1);
    return r;
}

uint16_t Resolver::fresh_id() {
    for (int i = 0; i < 64; ++i) {
        const auto id = static_cast<uint16_t>(rng_());
        if (!pending_.count(id)) return id;
    }
    uint16_t id = 0;
    while (pending_.count(id)) ++id;
    return id;
}

void Resolver::query(const codec::Name& name, uint16_t type, uint64_t now_ms, Callback cb) {
    ++stats_.queries;
    if (pending_.size() >= 60000) {  // never: lookups are a handful per link
        ready_.emplace_back(LookupResult{}, std::move(cb));
        return;
    }
    const uint16_t id = fresh_id();
    Pending p;
    p.name = name;
    p.type = type;
    p.cb = std::move(cb);
    p.server = rng_() % servers_.size();
    std::vector<uint8_t> buf(512);
    codec::Builder b(buf);
    b.set_id(id);
    b.set_flags(codec::flag::RD);
    if (!b.add_question(name, type, codec::rrclass::IN).ok()) {
        ready_.emplace_back(LookupResult{}, std::move(p.cb));
        return;
    }
    p.wire.assign(b.wire().begin(), b.wire().end());
    auto [it, _] = pending_.emplace(id, std::move(p));
    send(id, it->second, now_ms);
}

void Resolver::send(uint16_t, Pending& p, uint64_t now_ms) {
    std::string err;
    if (!servers_[p.server]->send(p.wire, &err)) ++stats_.send_errors;
    p.deadline = now_ms + timeout_ms_;
}

std::vector<Resolver::PollFd> Resolver::fds() const {
    std::vector<PollFd> out;
    for (const auto& s : servers_) {
        if (s->fd() >= 0) out.push_back({s->fd(), POLLIN});
    }
    return out;
}

void Resolver::handle(std::span<const uint8_t> wire) {
    auto m = codec::Message::parse(wire);
    if (!m.ok()) {
        ++stats_.malformed;
        return;
    }
    const auto& h = m->header();
    auto it = pending_.find(h.id);
    if (!h.qr() || it == pending_.end()) return;  // late or foreign: ignore
    Pending& p = it->second;
    // The question must be ours (RFC 5452 §9.1 in spirit: ID and question).
    bool match = false;
    for (const auto& q : m->questions()) {
        match = q.type == p.type && q.name.equals(p.name);
        break;
    }
    if (!match) {
        ++stats_.malformed;
        return;
    }
    if (h.tc()) ++stats_.truncated;
    LookupResult r;
    r.answered = true;
    r.rcode = h.rcode();
    for (const auto& rr : m->answers()) {
        if (!rr.owner.equals(p.name)) continue;
        if (rr.type == rt::PTR && p.type == rt::PTR) {
            if (auto t = rr.name_target()) r.ptr.push_back(t->to_name());
        } else if (rr.type == rt::SRV && p.type == rt::SRV) {
            if (auto s = rr.srv()) r.srv.push_back({s->priority, s->weight, s->port, s->target.to_name()});
        } else if (rr.type == rt::A && p.type == rt::A) {
            if (auto a = rr.a()) {
                char text[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, a->data(), text, sizeof text);
                r.addresses.emplace_back(text);
            }
        } else if (rr.type == rt::AAAA && p.type == rt::AAAA) {
            if (auto a = rr.aaaa()) {
                char text[INET6_ADDRSTRLEN];
                inet_ntop(AF_INET6, a->data(), text, sizeof text);
                r.addresses.emplace_back(text);
            }
        } else if (rr.type == rt::SOA) {
            if (auto s = rr.soa()) {
                r.soa_zone = rr.owner.to_name();
                r.soa_mname = s->mname.to_name();
            }
        }
    }
    if (!r.soa_zone) {
        for (const auto& rr : m->authority()) {
            if (rr.type != rt::SOA) continue;
            if (auto s = rr.soa()) {
                r.soa_zone = rr.owner.to_name();
                r.soa_mname = s->mname.to_name();
            }
        }
    }
    std::stable_sort(r.srv.begin(), r.srv.end(), [](const auto& a, const auto& b) {
        return a.priority != b.priority ? a.priority < b.priority : a.weight > b.weight;
    });
    ++stats_.answers;
    ready_.emplace_back(std::move(r), std::move(p.cb));
    pending_.erase(it);
}

void Resolver::on_ready(uint64_t now_ms) {
    std::vector<std::vector<uint8_t>> got;
    for (auto& s : servers_) {
        if (s->fd() < 0) continue;
        got.clear();
        std::string err;
        if (!s->receive(got, &err)) ++stats_.send_errors;  // e.g. ICMP unreachable; timeout retries
        for (const auto& w : got) handle(w);
    }
    for (auto it = pending_.begin(); it != pending_.end();) {
        Pending& p = it->second;
        if (now_ms < p.deadline) {
            ++it;
            continue;
        }
        if (++p.attempt < attempts_) {
            p.server = (p.server + 1) % servers_.size();
            send(it->first, p, now_ms);
            ++it;
            continue;
        }
        ++stats_.timeouts;
        ready_.emplace_back(LookupResult{}, std::move(p.cb));
        it = pending_.erase(it);
    }
    // Callbacks may start new queries: run them on a copy.
    auto done = std::move(ready_);
    ready_.clear();
    for (auto& [r, cb] : done) {
        if (cb) cb(r);
    }
}

uint64_t Resolver::next_wakeup_ms(uint64_t now_ms) const {
    if (!ready_.empty()) return now_ms;
    uint64_t at = UINT64_MAX;
    for (const auto& [id, p] : pending_) at = std::min(at, p.deadline);
    return at;
}

}  // namespace updproxy::control
