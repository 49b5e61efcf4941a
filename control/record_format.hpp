// Printing records the table holds (owner, type, class, TTL, uncompressed
// RDATA) in zone-file form and as JSON, with the codec's dig-style RDATA
// presentation.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "codec/name.hpp"

namespace updproxy::control {

// "192.0.2.10", "0 0 631 printer.local.", "\"txtvers=1\" \"rp=ipp\"" ...
std::string rdata_text(uint16_t type, uint16_t rrclass, std::span<const uint8_t> rdata);
// "owner TTL IN TYPE RDATA" (one line, no newline).
std::string zone_line(const codec::Name& owner, uint32_t ttl, uint16_t rrclass, uint16_t type,
                      std::span<const uint8_t> rdata);
// An IPv4-mapped or IPv6 address as text.
std::string address_text(const uint8_t* ip16);

}  // namespace updproxy::control
