// Presentation form of records and messages, as BIND's `dig` prints them,
// and the JSON form `updproxy decode --json` prints.
#pragma once

#include <string>
#include <string_view>

#include "codec/message.hpp"

namespace updproxy::codec {

struct PresentOptions {
    uint16_t timeout_type = rrtype::TIMEOUT_DEFAULT;
};

// RDATA in dig's presentation form ("10 0 631 printer.local.", "\"txtvers=1\" \"rp=ipp\"").
// Unknown types use RFC 3597's "\# LEN HEX". Beyond dig: TIMEOUT (at
// o.timeout_type) as "COVERED-TYPE COUNT METHOD EXPIRY HASH...", OPT as its
// pseudo-section lines joined by "; ", a damaged NSEC as a "; damaged: ..."
// comment plus its type list, RFC 2136 meta-records (class ANY/NONE, no
// RDATA) as nothing.
void append_rdata(std::string& out, const RrView& rr, const PresentOptions& o = {});
// "owner TTL CLASS TYPE RDATA" in dig's columns (24/32/40/48, tabs of 8; a
// field that overruns its column is followed by one space, as in dig); the
// mDNS cache-flush bit as a trailing " ; cache-flush". OPT prints dig's
// "; EDNS: ..." pseudo-section lines instead, '\n'-separated. No final newline.
void append_rr(std::string& out, const RrView& rr, const PresentOptions& o = {});
// A whole message as dig 9.18 prints it: header and flags lines, the OPT
// pseudo-section, the sections (ZONE/PREREQUISITE/UPDATE/ADDITIONAL for an
// UPDATE, empty ones left out), the TSIG pseudo-section. mDNS QU questions
// end in " ; QU".
std::string format_message(const Message& m, const PresentOptions& o = {});
// One JSON object on one line (no newline), ASCII unless `source` has UTF-8:
//   {"source": S, "id": N, "qr": B, "opcode": N, "aa": B, "tc": B, "rd": B,
//    "ra": B, "rcode": N (with the EDNS extended bits),
//    "question": [{"name", "type", "class", "qu": B}],
//    "answer" / "authority" / "additional": [{"name", "ttl": N, "class",
//      "type", "cache_flush": B, "rdata"[, "damaged": true]}]}
// Names end in a dot; type/class are mnemonics (TYPEnnn/CLASSnnn otherwise),
// class without the mDNS top bit; OPT and TSIG stay in "additional", OPT's
// class being its UDP payload size as a decimal string and its ttl the raw
// extended-rcode/flags word; rdata as append_rdata.
std::string format_message_json(const Message& m, std::string_view source,
                                const PresentOptions& o = {});
// {"source": ..., "error": REASON, "offset": N}
std::string format_error_json(std::string_view source, Error e);
// JSON string literal: '"' and '\' escaped, control characters as \u00XX,
// bytes that are not valid UTF-8 as \ufffd (so any input yields valid JSON).
void append_json_string(std::string& out, std::string_view s);

}  // namespace updproxy::codec
