// Building one UPDATE message (RFC 2136) for the engine.
//
// Layout: header, zone section (one zone, draft §5.2), no prerequisites,
// the updates in the order given, then in the additional section the OPT
// with the Update Lease option (RFC 9664; only when a lease is configured)
// and the TSIG record last (RFC 8945).
//
// Size: the message is built against a byte limit (the UDP limit, or the
// TCP/TLS maximum). The OPT and TSIG are reserved up front, so add() knows
// exactly whether a change still fits; a caller that will append records
// later (TIMEOUT RRs for an RRset the change touches) passes their size as
// `reserve` and writes them with add_reserved() after the last change.
//
// TIMEOUT records (draft-ietf-dnsop-update-timeout-01, method 1) are plain
// update-section records of the configured private type: the builder does
// not need to know their meaning, only their size (timeout_rr_size()).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "codec/builder.hpp"
#include "codec/name.hpp"
#include "codec/tsig.hpp"

namespace updproxy::control::upd {

struct MessageParams {
    codec::Name zone;
    uint16_t id = 0;
    size_t limit = 1232;                 // whole message, TSIG included
    const codec::TsigKey* key = nullptr;  // nullptr: unsigned
    uint64_t time_signed = 0;            // Unix seconds for the TSIG
    uint32_t lease_s = 0;                // 0: no OPT at all
    std::optional<uint32_t> key_lease_s;
    uint16_t udp_size = 1232;            // the OPT's advertised UDP payload size
};

// Bytes an uncompressed record with this owner and RDATA size takes.
inline size_t rr_size(const codec::Name& owner, size_t rdlen) {
    return owner.wire_length() + 10 + rdlen;
}
// TIMEOUT RDATA: type 2, count 1, method 1, expiry 8, then 16 per hash.
inline size_t timeout_rdata_size(size_t hashes) { return 12 + 16 * hashes; }

class UpdateMessage {
public:
    explicit UpdateMessage(const MessageParams& p);

    // False when not even the header, zone and tail fit in the limit.
    bool valid() const { return valid_; }

    // One change: an add (§2.5.1) or the delete of one RR (§2.5.4). Returns
    // false, leaving the message as it was, when it does not fit with
    // `reserve` bytes kept free for records to be written by add_reserved().
    bool add(const codec::Name& owner, uint16_t type, std::span<const uint8_t> rdata,
             bool is_add, uint32_t ttl, size_t reserve = 0);
    // Writes a record reserved earlier (always fits when it was reserved at
    // its uncompressed size).
    bool add_reserved(const codec::Name& owner, uint16_t type, std::span<const uint8_t> rdata,
                      bool is_add, uint32_t ttl);

    // Appends OPT and TSIG. After this the message is final.
    bool seal();

    size_t changes() const { return changes_; }
    size_t size() const { return u_.size(); }
    std::span<const uint8_t> wire() const { return {buf_.data(), len_}; }
    const std::vector<uint8_t>& mac() const { return mac_; }
    uint16_t id() const { return params_.id; }

private:
    MessageParams params_;
    std::vector<uint8_t> buf_;
    codec::UpdateBuilder u_;
    std::vector<uint8_t> lease_opt_;
    size_t tail_ = 0;      // OPT + TSIG
    size_t tsig_size_ = 0;
    size_t reserved_ = 0;  // for add_reserved()
    size_t changes_ = 0;
    size_t len_ = 0;
    bool valid_ = false;
    std::vector<uint8_t> mac_;
};

// Size of the TSIG record a key produces (names are never compressed there).
size_t tsig_size(const codec::TsigKey& key);

}  // namespace updproxy::control::upd
