// Errors on the packet path are values, not exceptions.
//
// Every failure carries a Reason specific enough to be a metrics label
// (`updproxy_parse_errors_total{reason="pointer_forward"}`) and the byte offset
// where it was found. Result<T> is a minimal expected-like carrier; C++20 has
// no std::expected and the codec must not throw.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

namespace updproxy::codec {

enum class Reason : uint8_t {
    ok = 0,
    // message framing
    short_header,          // fewer than 12 bytes
    counts_exceed_size,    // section counts cannot fit in the bytes present
    trailing_bytes,        // bytes left after the last counted record
    // names
    name_past_end,         // a label or pointer runs past the message end
    label_too_long,        // 0x40/0x80 label types (RFC 6891 §5: extended labels are gone)
    name_too_long,         // more than 255 octets uncompressed
    pointer_forward,       // compression pointer to itself or forward
    pointer_beyond,        // compression pointer past the message end
    pointer_chain,         // more hops than a 255-octet name can need
    // records
    question_past_end,
    rr_header_past_end,
    rdata_past_end,        // RDLENGTH beyond the message end
    rdata_length,          // RDATA shorter/longer than its type's layout requires
    rdata_name,            // a name inside RDATA is broken (see the name reasons)
    txt_string_overrun,    // a character-string overruns its RDATA
    nsec_bitmap,           // NSEC type bitmap window malformed
    opt_misplaced,         // OPT outside the additional section, owner not root, or twice
    opt_option_overrun,    // an EDNS option overruns the OPT RDATA
    tsig_misplaced,        // TSIG not the last additional record, or twice
    tsig_rdata,            // TSIG RDATA layout
    timeout_rdata,         // TIMEOUT RDATA layout (draft-ietf-dnsop-update-timeout-01)
    // RFC 2136 §3 rules for UPDATE messages (wire-valid, semantically wrong)
    update_zone,           // ZOCOUNT != 1, zone type not SOA, or zone class ANY/NONE
    update_prerequisite,   // a prerequisite in none of the §2.4 forms
    update_record,         // an update in none of the §2.5 forms
    // writer
    no_space,              // the output buffer (or size limit) is full
    bad_presentation,      // a presentation-form name or value did not parse
    // tsig
    tsig_missing,
    tsig_bad_key,          // key name/algorithm unknown
    tsig_bad_sig,
    tsig_bad_time,
    tsig_bad_trunc,
    tsig_unsupported_alg,
    keyfile_syntax,
};

// Stable snake_case name used in logs, JSON output and metric labels.
std::string_view reason_name(Reason r);

struct Error {
    Reason reason = Reason::ok;
    uint32_t offset = 0;
};

template <class T>
class Result {
public:
    Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Error e) : error_(e) {}                  // NOLINT(google-explicit-constructor)

    bool ok() const { return error_.reason == Reason::ok; }
    explicit operator bool() const { return ok(); }
    const T& value() const& { return value_; }
    T& value() & { return value_; }
    // By value on temporaries, so `for (auto e : *rr.txt())` does not dangle.
    T value() && { return std::move(value_); }
    const T& operator*() const& { return value_; }
    T& operator*() & { return value_; }
    T operator*() && { return std::move(value_); }
    const T* operator->() const { return &value_; }
    T* operator->() { return &value_; }
    Error error() const { return error_; }
    Reason reason() const { return error_.reason; }

private:
    T value_{};
    Error error_{};
};

// Status: a Result with nothing to carry.
class Status {
public:
    Status() = default;
    Status(Error e) : error_(e) {}  // NOLINT(google-explicit-constructor)
    Status(Reason r, uint32_t offset = 0) : error_{r, offset} {}  // NOLINT
    bool ok() const { return error_.reason == Reason::ok; }
    explicit operator bool() const { return ok(); }
    Error error() const { return error_; }
    Reason reason() const { return error_.reason; }

private:
    Error error_{};
};

}  // namespace updproxy::codec
