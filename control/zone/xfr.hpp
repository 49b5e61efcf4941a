// Zone transfers: AXFR (RFC 5936) and IXFR (RFC 1995) responses over TCP,
// produced one message at a time so a large zone never sits in memory as
// wire bytes, and TSIG-signed per RFC 8945 §5.3.1 (every message: the first
// over the request's MAC, each later one over the previous MAC and timers).
//
// A stream holds the snapshot it was started from (a shared_ptr), so the
// secondary gets one consistent version even while commits go on.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "codec/name.hpp"
#include "codec/tsig.hpp"
#include "control/zone/snapshot.hpp"

namespace updproxy::control::zone {

struct XfrRequest {
    uint16_t id = 0;
    codec::Name qname;               // as the client spelled it
    uint16_t qtype = 0;              // AXFR or IXFR
    std::optional<uint32_t> client_serial;  // IXFR: the serial in the authority SOA
    const codec::TsigKey* key = nullptr;    // sign with it (request verified with it)
    std::vector<uint8_t> request_mac;
    uint64_t now_unix = 0;
    size_t max_message = 16384;
};

// RFC 1982 serial arithmetic: a > b.
bool serial_newer(uint32_t a, uint32_t b);

class XfrStream {
public:
    XfrStream(std::shared_ptr<const ZoneSnapshot> snap, size_t zone, XfrRequest req);

    // Writes the next message into `out` (at least max_message bytes, 65535
    // for a record that needs more); returns its size, 0 when the stream is done.
    size_t next(std::span<uint8_t> out);
    bool done() const { return cursor_ >= items_.size() && started_; }

    // What kind of answer this is: an IXFR answered by differences, or
    // a full zone (AXFR, or IXFR falling back to it), or the single SOA of an
    // up-to-date secondary.
    enum class Kind : uint8_t { full, incremental, up_to_date };
    Kind kind() const { return kind_; }
    size_t record_count() const { return items_.size(); }
    size_t messages() const { return messages_; }

private:
    struct Item {
        const codec::Name* owner;
        uint16_t type;
        uint32_t ttl;
        std::span<const uint8_t> rdata;
    };
    void add_soa(uint32_t serial);
    void add_all_records();

    std::shared_ptr<const ZoneSnapshot> snap_;
    const ZoneData* zone_;
    XfrRequest req_;
    Kind kind_ = Kind::full;
    std::vector<Item> items_;
    std::deque<std::vector<uint8_t>> soas_;  // SOA RDATA per serial used (stable addresses)
    size_t cursor_ = 0;
    bool started_ = false;
    size_t messages_ = 0;
    std::vector<uint8_t> prev_mac_;
};

}  // namespace updproxy::control::zone
