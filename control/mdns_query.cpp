#include "control/mdns_query.hpp"

#include "codec/builder.hpp"
#include "codec/types.hpp"

namespace updproxy::control {

std::vector<uint8_t> build_mdns_query(std::span<const QuestionSpec> questions,
                                      bool unicast_response, size_t limit) {
    std::vector<uint8_t> buf(limit);
    codec::Builder b(buf, codec::BuilderOptions{true, true, limit});
    b.set_id(0);
    b.set_flags(0);
    const uint16_t cls = codec::rrclass::IN | (unicast_response ? codec::rrclass::MDNS_TOP_BIT : 0);
    for (const auto& q : questions) {
        if (!b.add_question(q.name, q.type, cls).ok()) return {};
    }
    buf.resize(b.size());
    return buf;
}

std::vector<uint8_t> service_enumeration_query() {
    const QuestionSpec q{*codec::Name::parse("_services._dns-sd._udp.local."), codec::rrtype::PTR};
    return build_mdns_query({&q, 1}, true);
}

}  // namespace updproxy::control
