#include "control/zone/xfr.hpp"

#include "codec/builder.hpp"
#include "codec/types.hpp"

namespace updproxy::control::zone {

bool serial_newer(uint32_t a, uint32_t b) {
    return a != b && static_cast<uint32_t>(a - b) < 0x80000000u;
}

namespace {

// Room for our TSIG record (owner, fixed fields, algorithm, MAC, other data).
size_t tsig_room(const codec::TsigKey* key) {
    if (key == nullptr) return 0;
    return key->name.wire_length() + 10 + codec::tsig_algorithm_name(key->algorithm).wire_length() +
           16 + codec::tsig_mac_size(key->algorithm) + 6;
}

}  // namespace

XfrStream::XfrStream(std::shared_ptr<const ZoneSnapshot> snap, size_t zone, XfrRequest req)
    : snap_(std::move(snap)), zone_(&snap_->zone(zone)), req_(std::move(req)) {
    const uint32_t cur = zone_->serial;
    if (req_.qtype == codec::rrtype::IXFR && req_.client_serial) {
        const uint32_t cs = *req_.client_serial;
        if (cs == cur || serial_newer(cs, cur)) {
            // RFC 1995 §2: the secondary is current; one SOA says so.
            kind_ = Kind::up_to_date;
            add_soa(cur);
            return;
        }
        const auto& h = zone_->history;
        for (size_t i = 0; i < h.size(); ++i) {
            if (h[i]->from != cs) continue;
            kind_ = Kind::incremental;
            add_soa(cur);
            for (size_t k = i; k < h.size(); ++k) {
                const Diff& d = *h[k];
                add_soa(d.from);
                for (const auto& r : d.removed) items_.push_back({&r.owner, r.type, r.ttl, r.rdata});
                add_soa(d.to);
                for (const auto& r : d.added) items_.push_back({&r.owner, r.type, r.ttl, r.rdata});
            }
            add_soa(cur);
            return;
        }
        // Older than the history reaches: the whole zone (RFC 1995 §4).
    }
    kind_ = Kind::full;
    add_soa(cur);
    add_all_records();
    add_soa(cur);
}

void XfrStream::add_soa(uint32_t serial) {
    soas_.push_back(zone_->soa_rdata_with_serial(serial));
    items_.push_back({&zone_->cfg.apex, codec::rrtype::SOA, zone_->cfg.soa_ttl, soas_.back()});
}

void XfrStream::add_all_records() {
    for (const auto& n : zone_->nodes) {
        for (const RRset& s : n->rrsets) {
            if (s.type == codec::rrtype::SOA) continue;
            for (const auto& rd : s.rdata) items_.push_back({&n->owner, s.type, s.ttl, rd});
        }
    }
}

size_t XfrStream::next(std::span<uint8_t> out) {
    if (done()) return 0;
    const bool first = !started_;
    started_ = true;
    const size_t reserve = tsig_room(req_.key);
    size_t cap = std::min(out.size(), size_t{65535});
    if (cap <= reserve + 12) return 0;
    size_t limit = std::min(req_.max_message, cap) - reserve;
    for (int attempt = 0; attempt < 2; ++attempt) {
        codec::Builder b(out.first(cap), codec::BuilderOptions{true, false, limit});
        b.set_id(req_.id);
        b.set_flags(codec::flag::QR | codec::flag::AA);
        if (first) b.add_question(req_.qname, req_.qtype, codec::rrclass::IN);
        size_t added = 0;
        size_t c = cursor_;
        while (c < items_.size()) {
            const Item& it = items_[c];
            if (!b.add_rr(codec::Section::answer, *it.owner, it.type, codec::rrclass::IN, it.ttl,
                          it.rdata)) {
                break;
            }
            ++c;
            ++added;
        }
        if (added == 0 && c < items_.size()) {
            // One record larger than a normal message: give it all the room TCP has.
            if (attempt == 0 && limit < cap - reserve) {
                limit = cap - reserve;
                continue;
            }
            cursor_ = items_.size();  // cannot be sent at all: end the stream
            return 0;
        }
        cursor_ = c;
        size_t len = b.size();
        ++messages_;
        if (req_.key != nullptr) {
            codec::TsigSignParams p;
            p.time_signed = req_.now_unix;
            p.timers_only = !first;
            p.request_mac = first ? std::span<const uint8_t>(req_.request_mac)
                                  : std::span<const uint8_t>(prev_mac_);
            std::vector<uint8_t> mac;
            auto s = codec::tsig_sign(out.first(cap), len, *req_.key, p, &mac);
            if (!s) {
                cursor_ = items_.size();
                return 0;
            }
            prev_mac_ = std::move(mac);
            len = *s;
        }
        return len;
    }
    return 0;
}

}  // namespace updproxy::control::zone
