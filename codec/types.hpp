// DNS numbers: RR types, classes, opcodes, rcodes and their mnemonics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace updproxy::codec {

namespace rrtype {
inline constexpr uint16_t A = 1;
inline constexpr uint16_t NS = 2;
inline constexpr uint16_t CNAME = 5;
inline constexpr uint16_t SOA = 6;
inline constexpr uint16_t PTR = 12;
inline constexpr uint16_t HINFO = 13;
inline constexpr uint16_t MX = 15;
inline constexpr uint16_t TXT = 16;
inline constexpr uint16_t AAAA = 28;
inline constexpr uint16_t SRV = 33;
inline constexpr uint16_t OPT = 41;
inline constexpr uint16_t NSEC = 47;
inline constexpr uint16_t TKEY = 249;
inline constexpr uint16_t TSIG = 250;
inline constexpr uint16_t IXFR = 251;
inline constexpr uint16_t AXFR = 252;
inline constexpr uint16_t ANY = 255;
// draft-ietf-dnsop-update-timeout-01 has no assigned code; private use by default.
inline constexpr uint16_t TIMEOUT_DEFAULT = 65280;
}  // namespace rrtype

namespace rrclass {
inline constexpr uint16_t IN = 1;
inline constexpr uint16_t CH = 3;
inline constexpr uint16_t NONE = 254;
inline constexpr uint16_t ANY = 255;
// mDNS (RFC 6762 §10.2, §5.4): the top bit of the class is cache-flush in
// records and unicast-response (QU) in questions.
inline constexpr uint16_t MDNS_TOP_BIT = 0x8000;
}  // namespace rrclass

namespace opcode {
inline constexpr uint8_t QUERY = 0;
inline constexpr uint8_t NOTIFY = 4;
inline constexpr uint8_t UPDATE = 5;
}  // namespace opcode

namespace rcode {
inline constexpr uint16_t NOERROR = 0;
inline constexpr uint16_t FORMERR = 1;
inline constexpr uint16_t SERVFAIL = 2;
inline constexpr uint16_t NXDOMAIN = 3;
inline constexpr uint16_t NOTIMP = 4;
inline constexpr uint16_t REFUSED = 5;
inline constexpr uint16_t YXDOMAIN = 6;
inline constexpr uint16_t YXRRSET = 7;
inline constexpr uint16_t NXRRSET = 8;
inline constexpr uint16_t NOTAUTH = 9;
inline constexpr uint16_t NOTZONE = 10;
// TSIG error field values (RFC 8945 §4.3.3)
inline constexpr uint16_t BADSIG = 16;
inline constexpr uint16_t BADKEY = 17;
inline constexpr uint16_t BADTIME = 18;
inline constexpr uint16_t BADTRUNC = 22;
}  // namespace rcode

namespace edns {
inline constexpr uint16_t UPDATE_LEASE = 2;  // RFC 9664
inline constexpr uint16_t OWNER = 4;         // draft-cheshire-edns0-owner-option
inline constexpr uint16_t COOKIE = 10;
}  // namespace edns

// "A", "AAAA", ... or "TYPE65280" for codes without a mnemonic (RFC 3597).
std::string type_name(uint16_t type);
// "IN", "CH", "NONE", "ANY" or "CLASS123"; the mDNS top bit must be masked first.
std::string class_name(uint16_t cls);
std::string_view opcode_name(uint8_t op);
std::string_view rcode_name(uint16_t rc);
// Parses a mnemonic or TYPEnnn (case-insensitive).
std::optional<uint16_t> type_from_name(std::string_view s);
std::optional<uint16_t> class_from_name(std::string_view s);

}  // namespace updproxy::codec
