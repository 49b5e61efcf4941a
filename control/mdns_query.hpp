// mDNS queries the control plane asks the dataplane to send.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "codec/name.hpp"

namespace updproxy::control {

struct QuestionSpec {
    codec::Name name;
    uint16_t type;
};

// A query (ID 0, RFC 6762 §18.1) for `questions`, with the QU bit when
// `unicast_response` (RFC 6762 §5.4). Empty when they do not fit in `limit`.
std::vector<uint8_t> build_mdns_query(std::span<const QuestionSpec> questions,
                                      bool unicast_response, size_t limit = 1440);

// `_services._dns-sd._udp.local.` PTR with the QU bit (draft §4.2, RFC 6763 §9).
std::vector<uint8_t> service_enumeration_query();

}  // namespace updproxy::control
