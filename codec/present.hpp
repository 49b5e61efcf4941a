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
// Unknown types use RFC 3597's "\# LEN HEX".
void append_rdata(std::string& out, const RrView& rr, const PresentOptions& o = {});
// "owner TTL CLASS TYPE RDATA" (dig's column layout, tab separated); mDNS
// cache-flush shown as a "; cache-flush" comment. OPT and TSIG as dig shows them.
void append_rr(std::string& out, const RrView& rr, const PresentOptions& o = {});
// A whole message as dig prints it: header line, flags, sections.
std::string format_message(const Message& m, const PresentOptions& o = {});
// One JSON object (one line, no newline) per message, see README.
std::string format_message_json(const Message& m, std::string_view source,
                                 const PresentOptions& o = {});
// {"source": ..., "error": REASON, "offset": N}
std::string format_error_json(std::string_view source, Error e);
// JSON string literal with escapes.
void append_json_string(std::string& out, std::string_view s);

}  // namespace updproxy::codec
