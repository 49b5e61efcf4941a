// Zone files: the RFC 1035 §5 master file subset that Knot DNS and BIND load
// too, so a test can hand the same file to the proxy and to a peer.
//
// Supported: $ORIGIN, $TTL (plain seconds or BIND units 1w2d3h4m5s), owner
// names relative or absolute, `@`, a blank owner (the previous one), TTL and
// class (IN only) in either order, parentheses across lines, `;` comments,
// quoted strings, `\X` and `\DDD` escapes; types SOA, NS, A, AAAA, PTR,
// CNAME, SRV, TXT, and any type in RFC 3597 generic form
// (`TYPE65280 \# 4 0a000001`). Not supported (an error naming the line):
// $INCLUDE, $GENERATE, classes other than IN, delegations (NS below the apex).
//
// A file holds one zone: the owner of its single SOA is the apex; the SOA's
// fields and the apex NS records become the ZoneConfig, everything else the
// records the ZoneStore serves.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/name.hpp"
#include "control/update/update_engine.hpp"
#include "control/zone/zone_config.hpp"

namespace updproxy::control::zone {

struct ZoneFile {
    ZoneConfig config;
    std::vector<PubRecord> records;
};

struct ZoneFileError {
    size_t line = 0;  // 1-based; 0: the file as a whole
    std::string message;
    std::string to_string() const;
};

// `origin`: the initial $ORIGIN (the root when not given).
std::optional<ZoneFile> parse_zone_file(std::string_view text, ZoneFileError* err,
                                        const codec::Name& origin = codec::Name());
// Reads and parses a file; errors name the file.
std::optional<ZoneFile> load_zone_file(const std::string& path, ZoneFileError* err);

// A TTL in seconds or BIND's unit form ("1h30m"); nullopt when malformed.
std::optional<uint32_t> parse_ttl(std::string_view s);

}  // namespace updproxy::control::zone
