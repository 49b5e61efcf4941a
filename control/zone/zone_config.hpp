// Configuration of the zones the proxy serves itself (the embedded
// authoritative service): plain values, filled from the daemon's YAML
// configuration or from a zone file (zone_file.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "codec/name.hpp"

namespace updproxy::control::zone {

// A secondary to NOTIFY (RFC 1996) when the zone changes.
struct NotifyTarget {
    std::string address;              // IPv4 or IPv6 literal
    uint16_t port = 53;
    std::optional<codec::Name> key;   // TSIG key name (one of AuthConfig::keys)
};

struct ZoneConfig {
    codec::Name apex;
    codec::Name mname;             // SOA MNAME, also the NS target when `ns` is empty
    codec::Name rname;             // SOA RNAME (hostmaster)
    std::vector<codec::Name> ns;   // NS records at the apex (default: mname)
    uint32_t refresh = 3600, retry = 600, expire = 86400, minimum = 60;
    uint32_t soa_ttl = 3600;
    uint32_t ns_ttl = 3600;
    // First serial. Unset: the current Unix time, so a restarted proxy's
    // serials keep increasing for secondaries that hold an older copy
    // (each commit adds one, RFC 1982 arithmetic).
    std::optional<uint32_t> serial;
    size_t history = 64;           // IXFR: serial steps kept
    size_t history_records = 100000;  // IXFR: records kept over all steps

    std::vector<NotifyTarget> notify;
    // Zone transfers (AXFR/IXFR): TSIG-signed with one of these keys (empty:
    // any configured key), or unsigned when allowed (tests, trusted links).
    std::vector<codec::Name> transfer_keys;
    bool allow_unsigned_transfer = false;
};

}  // namespace updproxy::control::zone
