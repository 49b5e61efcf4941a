// Record identity for the update engine.
//
// Two records are the same record (RFC 2136 §1.1.1: "RR's are compared by
// their owner name, type, class and RDATA") when owner and type match and
// their canonical RDATA (RFC 4034 §6.2: domain names inside the RDATA
// lowercased) is equal. A server compares them that way, so the engine must
// too: a PTR to "Printer.lab." and one to "printer.lab." are one record.
//
// Kept local to the engine (rather than shared with control/record_store)
// because record_store pulls in the service table; this is a few lines.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "codec/name.hpp"

namespace updproxy::control::upd {

// RDATA with embedded names lowercased for the types whose RDATA holds
// uncompressed names (NS, CNAME, PTR, DNAME, MB/MG/MR, MINFO, RP, MX, AFSDB,
// RT, KX, SRV, SOA). Other types, and RDATA whose names do not parse, are
// returned unchanged (byte comparison is then the only sane choice).
std::vector<uint8_t> canonical_rdata(uint16_t type, std::span<const uint8_t> rdata);

// Lowercased owner wire form + type (big-endian). Owner wire forms are
// prefix-free (they end in the root label), so this key is a prefix of
// exactly the record keys of that RRset, which keeps an RRset's records
// adjacent in an ordered map.
std::string rrset_key(const codec::Name& owner, uint16_t type);
// rrset_key + canonical RDATA.
std::string record_key(const codec::Name& owner, uint16_t type,
                       std::span<const uint8_t> canonical);

// TIMEOUT RR hash (draft-ietf-dnsop-update-timeout-01, method 1): the first
// 16 bytes of SHA-256 over the canonical RDATA.
std::array<uint8_t, 16> timeout_hash(std::span<const uint8_t> canonical);

}  // namespace updproxy::control::upd
