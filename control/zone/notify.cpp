#include "control/zone/notify.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <ctime>
#include <random>

#include "codec/builder.hpp"
#include "codec/message.hpp"
#include "codec/types.hpp"

namespace updproxy::control::zone {

namespace {
uint64_t system_unix() { return static_cast<uint64_t>(std::time(nullptr)); }
}  // namespace

struct NotifySender::Pending {
    SockAddr to;
    codec::Name apex;
    uint32_t serial = 0;
    std::vector<uint8_t> soa_rdata;
    uint32_t soa_ttl = 0;
    const codec::TsigKey* key = nullptr;
    uint16_t id = 0;
    uint32_t tries = 0;
    uint64_t deadline = 0;
    std::vector<uint8_t> mac;  // of the last NOTIFY sent (the response is signed over it)
};

NotifySender::NotifySender(std::vector<codec::TsigKey> keys, NotifyOptions opts)
    : keys_(std::move(keys)), opts_(opts) {
    std::random_device rd;
    next_id_ = static_cast<uint16_t>(rd());
    unix_clock_ = system_unix;
}

NotifySender::~NotifySender() {
    if (fd4_ >= 0) close(fd4_);
    if (fd6_ >= 0) close(fd6_);
}

int NotifySender::socket_for(int family) {
    int& fd = family == AF_INET6 ? fd6_ : fd4_;
    if (fd < 0) fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd;
}

bool NotifySender::notify(const ZoneData& zone, uint64_t now_ms, std::string* error) {
    bool ok = true;
    for (const NotifyTarget& t : zone.cfg.notify) {
        SockAddr to;
        if (!make_sockaddr(t.address, t.port, &to)) {
            if (error != nullptr) *error = "notify: bad address " + t.address;
            ok = false;
            continue;
        }
        const codec::TsigKey* key = nullptr;
        if (t.key) {
            for (const auto& k : keys_) {
                if (k.name == *t.key) key = &k;
            }
            if (key == nullptr) {
                if (error != nullptr) *error = "notify: unknown key " + t.key->to_string();
                ok = false;
                continue;
            }
        }
        // A newer serial replaces what is still in flight for this target.
        Pending* p = nullptr;
        for (auto& q : pending_) {
            if (q->apex == zone.cfg.apex && q->to.same(to)) p = q.get();
        }
        if (p == nullptr) {
            pending_.push_back(std::make_unique<Pending>());
            p = pending_.back().get();
        }
        p->to = to;
        p->apex = zone.cfg.apex;
        p->serial = zone.serial;
        p->soa_rdata = zone.soa_rdata;
        p->soa_ttl = zone.cfg.soa_ttl;
        p->key = key;
        p->tries = 0;
        send(*p, now_ms);
    }
    return ok;
}

void NotifySender::send(Pending& p, uint64_t now_ms) {
    p.id = next_id_++;
    uint8_t buf[1024];
    codec::Builder b(buf);
    b.set_id(p.id);
    b.set_flags(codec::flag::AA);
    b.set_opcode(codec::opcode::NOTIFY);
    b.add_question(p.apex, codec::rrtype::SOA, codec::rrclass::IN);
    // RFC 1996 §3.7: the new SOA in the answer section (BIND sends it too).
    b.add_rr(codec::Section::answer, p.apex, codec::rrtype::SOA, codec::rrclass::IN, p.soa_ttl,
             p.soa_rdata);
    size_t len = b.size();
    p.mac.clear();
    if (p.key != nullptr) {
        codec::TsigSignParams sp;
        sp.time_signed = unix_clock_();
        auto s = codec::tsig_sign(buf, len, *p.key, sp, &p.mac);
        if (s) len = *s;
    }
    int fd = socket_for(p.to.family());
    if (fd >= 0) sendto(fd, buf, len, 0, p.to.sa(), p.to.len);
    if (p.tries == 0) {
        ++st_.sent;
    } else {
        ++st_.retries;
    }
    uint64_t timeout = uint64_t{opts_.first_timeout_ms} << std::min<uint32_t>(p.tries, 16);
    ++p.tries;
    p.deadline = now_ms + timeout;
}

std::vector<PollFd> NotifySender::fds() const {
    std::vector<PollFd> v;
    if (fd4_ >= 0) v.push_back({fd4_, POLLIN});
    if (fd6_ >= 0) v.push_back({fd6_, POLLIN});
    return v;
}

void NotifySender::on_ready(uint64_t now_ms) {
    uint8_t buf[4096];
    for (int fd : {fd4_, fd6_}) {
        if (fd < 0) continue;
        // Bounded: at most as many reads as could possibly be answers, plus slack.
        for (size_t n = 0; n < pending_.size() + 16; ++n) {
            SockAddr from;
            from.len = sizeof from.ss;
            ssize_t r = recvfrom(fd, buf, sizeof buf, 0, from.sa(), &from.len);
            if (r < 0) break;
            auto m = codec::Message::parse(std::span<const uint8_t>(buf, static_cast<size_t>(r)));
            if (!m || !m->header().qr() || m->header().opcode() != codec::opcode::NOTIFY) {
                ++st_.bad_responses;
                continue;
            }
            size_t idx = pending_.size();
            for (size_t i = 0; i < pending_.size(); ++i) {
                if (pending_[i]->id == m->header().id && pending_[i]->to.same(from)) idx = i;
            }
            if (idx == pending_.size()) {
                ++st_.bad_responses;
                continue;
            }
            Pending& p = *pending_[idx];
            if (p.key != nullptr) {
                codec::TsigVerifyParams vp;
                vp.now = unix_clock_();
                vp.request_mac = p.mac;
                auto v = codec::tsig_verify(*m, std::span<const codec::TsigKey>(p.key, 1), vp);
                if (!v || v->error != 0) {
                    ++st_.bad_responses;
                    continue;
                }
            }
            if (m->header().rcode() == codec::rcode::NOERROR) {
                ++st_.acked;
            } else {
                ++st_.failed;
            }
            pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(idx));
        }
    }
    for (size_t i = 0; i < pending_.size();) {
        Pending& p = *pending_[i];
        if (p.deadline > now_ms) {
            ++i;
            continue;
        }
        if (p.tries >= opts_.max_tries) {
            ++st_.failed;
            pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
            continue;
        }
        send(p, now_ms);
        ++i;
    }
}

uint64_t NotifySender::next_wakeup_ms(uint64_t) const {
    uint64_t w = UINT64_MAX;
    for (const auto& p : pending_) w = std::min(w, p->deadline);
    return w;
}

bool NotifySender::idle() const { return pending_.empty(); }

}  // namespace updproxy::control::zone
