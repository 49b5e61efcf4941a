// TSIG (RFC 8945): signing and verifying messages with a shared HMAC key.
//
// Algorithms: hmac-sha256 (default), hmac-sha1, hmac-sha224, hmac-sha384,
// hmac-sha512 and hmac-md5 (HMAC-MD5.SIG-ALG.REG.INT), via OpenSSL.
// Keys come from BIND's `tsig-keygen` file format.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codec/message.hpp"
#include "codec/name.hpp"
#include "codec/result.hpp"

namespace updproxy::codec {

enum class TsigAlgorithm : uint8_t { hmac_md5, hmac_sha1, hmac_sha224, hmac_sha256, hmac_sha384,
                                     hmac_sha512 };

// The algorithm's domain name (RFC 8945 §6), e.g. "hmac-sha256.".
const Name& tsig_algorithm_name(TsigAlgorithm a);
// From the algorithm name in a record or key file ("hmac-sha256" or
// "HMAC-MD5.SIG-ALG.REG.INT", case-insensitive, trailing dot optional).
std::optional<TsigAlgorithm> tsig_algorithm_from_name(std::string_view name);
std::optional<TsigAlgorithm> tsig_algorithm_from_name(const Name& name);
size_t tsig_mac_size(TsigAlgorithm a);

struct TsigKey {
    Name name;
    TsigAlgorithm algorithm = TsigAlgorithm::hmac_sha256;
    std::vector<uint8_t> secret;
};

// Parses every `key "name" { algorithm ALG; secret "BASE64"; };` clause of a
// BIND key file (comments `#`, `//`, `/* */` allowed; names and values quoted
// or not; BIND's "hmac-md5" accepted). Errors, `offset` the line number:
// keyfile_syntax (also for any other clause, a duplicate key name, a missing
// or empty secret, bad base64); tsig_unsupported_alg (e.g. hmac-sha256-128).
Result<std::vector<TsigKey>> parse_tsig_keyfile(std::string_view text);

struct TsigSignParams {
    uint64_t time_signed = 0;  // seconds since the epoch
    uint16_t fudge = 300;
    uint16_t error = 0;                     // e.g. BADTIME in a response
    std::span<const uint8_t> other;         // e.g. server time with BADTIME
    std::span<const uint8_t> request_mac;   // responses: the request's MAC (§4.3.1)
    // TCP continuation messages (§5.3.1): only the prior MAC, the message and
    // the timers are digested; `request_mac` then holds the previous message's MAC.
    bool timers_only = false;
    // The Original ID to sign with and write into the TSIG (RFC 8945 §4.3.2).
    // Unset: the header's ID. Set it when the header carries another ID than the
    // one the message was first built with (a forwarder that rewrote it).
    std::optional<uint16_t> original_id;
};

// Appends a TSIG record to the message in buf[0, len) (whose header ID is the
// original ID unless params.original_id says otherwise) and bumps ARCOUNT.
// Returns the new length and stores the MAC. The MAC is empty, and nothing is
// computed, when params.error is BADSIG or BADKEY (§5.3.2: the peer's key or
// MAC could not be trusted). Errors: no_space, short_header,
// tsig_unsupported_alg (the crypto library refused the digest, e.g. MD5 in FIPS mode).
Result<size_t> tsig_sign(std::span<uint8_t> buf, size_t len, const TsigKey& key,
                         const TsigSignParams& params, std::vector<uint8_t>* mac_out = nullptr);

struct TsigVerifyParams {
    uint64_t now = 0;
    std::span<const uint8_t> request_mac;  // when verifying a response
    bool timers_only = false;              // TCP continuation (§5.3.1)
    // Local truncation policy (§5.2.4): a MAC shorter than this is refused with
    // tsig_bad_trunc. 0 accepts every length §5.2.2.1 allows (at least the
    // larger of 10 octets and half the hash).
    size_t min_mac_size = 0;
};

struct TsigVerified {
    const TsigKey* key = nullptr;
    std::vector<uint8_t> mac;  // the message's MAC (to chain into the next one)
    uint64_t time_signed = 0;
    uint16_t error = 0;        // the TSIG error field the peer sent
    uint16_t original_id = 0;
    std::vector<uint8_t> other;  // with BADTIME: the server's clock (48-bit seconds)
};

// Verifies the TSIG on a parsed message against the key of the same name and
// algorithm in `keys`. Errors: tsig_missing (no TSIG), tsig_bad_key (no such
// key or algorithm mismatch), tsig_bad_sig (MAC mismatch or MAC too short),
// tsig_bad_trunc, tsig_bad_time (outside fudge; checked after the MAC per §5.2.3).
// A MAC-valid message that carries a TSIG error (e.g. BADTIME) is returned as
// success with `error` set: the caller decides what the peer's error means.
// One exception to the time check: a response (request_mac given) whose error
// field is BADTIME echoes our own request's Time Signed (§5.2.3), so its clock
// is ours, not the server's; the request MAC already binds it to our request,
// and the server's clock is in `other`.
// Every message of a TCP stream must be signed: unsigned intermediate
// messages (§5.3.1 allows up to 99) are not digested.
Result<TsigVerified> tsig_verify(const Message& msg, std::span<const TsigKey> keys,
                                 const TsigVerifyParams& params);

// TSIG RDATA (§4.2) in wire form, the algorithm name uncompressed. For tests and
// for callers that assemble a TSIG record themselves (e.g. an unsigned error).
std::vector<uint8_t> tsig_rdata(const Name& algorithm, uint64_t time_signed, uint16_t fudge,
                                std::span<const uint8_t> mac, uint16_t original_id,
                                uint16_t error, std::span<const uint8_t> other = {});

// Base64 (RFC 4648), used by key files and presentation.
std::string base64_encode(std::span<const uint8_t> data);
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace updproxy::codec
