#include "control/update/batcher.hpp"

#include <algorithm>

#include "codec/types.hpp"

namespace updproxy::control::upd {

size_t tsig_size(const codec::TsigKey& key) {
    // owner, type/class/ttl/rdlength, algorithm name, time 6, fudge 2,
    // MAC size 2, MAC, original ID 2, error 2, other length 2 (RFC 8945 §4.2).
    return key.name.wire_length() + 10 + codec::tsig_algorithm_name(key.algorithm).wire_length() +
           16 + codec::tsig_mac_size(key.algorithm);
}

UpdateMessage::UpdateMessage(const MessageParams& p)
    : params_(p),
      buf_(std::min<size_t>(std::max<size_t>(p.limit, codec::kHeaderSize), 65535)),
      u_(buf_, p.id) {
    if (p.lease_s > 0) lease_opt_ = codec::rdata::lease_option(p.lease_s, p.key_lease_s);
    // OPT: root owner 1, type/class/ttl/rdlength 10, the option.
    const size_t opt = p.lease_s > 0 ? 11 + lease_opt_.size() : 0;
    tsig_size_ = p.key != nullptr ? tsig_size(*p.key) : 0;
    tail_ = opt + tsig_size_;
    if (buf_.size() < tail_) return;
    u_.builder().set_limit(buf_.size() - tail_);
    valid_ = u_.zone(p.zone).ok();
}

bool UpdateMessage::add(const codec::Name& owner, uint16_t type, std::span<const uint8_t> rdata,
                        bool is_add, uint32_t ttl, size_t reserve) {
    if (!valid_) return false;
    const size_t room = buf_.size() - tail_;
    if (reserved_ + reserve > room) return false;
    u_.builder().set_limit(room - reserved_ - reserve);
    const codec::Status s = is_add ? u_.add(owner, type, ttl, rdata)
                                   : u_.delete_rr(owner, type, rdata);
    if (!s.ok()) return false;
    reserved_ += reserve;
    ++changes_;
    return true;
}

bool UpdateMessage::add_reserved(const codec::Name& owner, uint16_t type,
                                 std::span<const uint8_t> rdata, bool is_add, uint32_t ttl) {
    if (!valid_) return false;
    u_.builder().set_limit(buf_.size() - tail_);
    const size_t before = u_.size();
    const codec::Status s = is_add ? u_.add(owner, type, ttl, rdata)
                                   : u_.delete_rr(owner, type, rdata);
    if (!s.ok()) return false;
    const size_t used = u_.size() - before;
    reserved_ -= std::min(reserved_, used);
    return true;
}

bool UpdateMessage::seal() {
    if (!valid_) return false;
    u_.builder().set_limit(buf_.size() - tsig_size_);
    if (params_.lease_s > 0) {
        // The OPT's payload size matters only for the answer, which is small.
        if (!u_.builder().add_opt(params_.udp_size, 0, 0, false, lease_opt_).ok()) return false;
    }
    len_ = u_.size();
    if (params_.key != nullptr) {
        codec::TsigSignParams sp;
        sp.time_signed = params_.time_signed;
        codec::Result<size_t> n = codec::tsig_sign(buf_, len_, *params_.key, sp, &mac_);
        if (!n.ok()) return false;
        len_ = *n;
    }
    return true;
}

}  // namespace updproxy::control::upd
