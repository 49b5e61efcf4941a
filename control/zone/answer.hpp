// Answering one DNS query from a ZoneSnapshot: the code every answering
// thread runs, a dataplane worker (UDP that reached a DPDK port), the UDP
// thread of a kernel-socket listener, and the control thread (TCP, and the
// messages the others hand over).
//
// No allocation, no lock, no exception, no system call: the answer is
// assembled in the caller's buffer from the snapshot's pre-rendered bodies
// (snapshot.hpp). What it does not do itself it hands back as `punt` for the
// control plane's slow path (AuthServer::handle): TSIG-signed messages, zone
// transfers (AXFR/IXFR) and nothing else.
//
// Behaviour, aligned with Knot DNS where RFCs leave a choice (the
// conformance test compares the two):
//   - AA on answers from a served zone; NXDOMAIN vs NODATA with the zone's
//     SOA in the authority section, TTL min(SOA TTL, MINIMUM) (RFC 2308 §3);
//     empty non-terminals are NODATA; REFUSED (no AA) outside every zone and
//     for classes other than IN;
//   - the question is echoed as sent (case kept) and the answer's owner is a
//     pointer to it, so answers carry the client's spelling (RFC 4343);
//   - additional records per RFC 6763 §12 (PTR: SRV, TXT, addresses; SRV:
//     addresses) and for NS; whole RRsets, dropped without TC when they do
//     not fit (RFC 2181 §9); an answer section that does not fit sets TC
//     and is sent empty (the client retries over TCP);
//   - EDNS(0): a client's buffer size is honoured between 512 and our own
//     maximum, our maximum is advertised, DO is echoed; a version other than
//     0 gets BADVERS (RFC 6891 §6.1.3);
//   - ANY gets one RRset, the one with the lowest type (RFC 8482 §4.2);
//   - RD is copied, RA/AD/CD are clear; opcodes other than QUERY get NOTIMP
//     (NOTIFY and UPDATE: REFUSED); a message that does not parse gets
//     FORMERR (with its question when that much is readable); responses and
//     runts are dropped and counted.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "codec/message.hpp"
#include "control/zone/snapshot.hpp"

namespace updproxy::control::zone {

struct ClientInfo {
    bool tcp = false;                // TCP: 65535-byte limit, no truncation
    uint16_t max_udp_payload = 1232; // our EDNS payload size: advertised and the cap
    // Bytes the caller appends after the answer (a TSIG record): kept free.
    size_t reserve = 0;
    // The caller verified the message's TSIG and signs the response; without
    // it a signed query is punted.
    bool tsig_verified = false;
};

enum class Disposition : uint8_t { reply, drop, punt };

struct AnswerResult {
    Disposition what = Disposition::drop;
    size_t size = 0;  // bytes of the response in `out` when what == reply
};

// Per answering thread; written only by that thread (relaxed load + store,
// no read-modify-write), summed by whoever reports them.
struct AnswerCounters {
    std::atomic<uint64_t> queries{0};
    std::atomic<uint64_t> rcode[16] = {};
    std::atomic<uint64_t> truncated{0};
    std::atomic<uint64_t> punted{0};
    std::atomic<uint64_t> drop_short{0};     // fewer than 12 bytes
    std::atomic<uint64_t> drop_response{0};  // QR set: never answer a response
    std::atomic<uint64_t> drop_no_room{0};   // caller's buffer too small
    std::atomic<uint64_t> formerr{0};        // of rcode[FORMERR]: did not parse

    static void bump(std::atomic<uint64_t>& c) {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};

// A parsed query. `out` should hold 65535 bytes for TCP, at least the UDP
// limit otherwise.
AnswerResult answer(const codec::Message& query, const ZoneSnapshot& snap, const ClientInfo& ci,
                    std::span<uint8_t> out, AnswerCounters* counters = nullptr);

// Raw bytes: parses (zero-copy) and answers; malformed input gets FORMERR or
// is dropped, as above.
AnswerResult answer_wire(std::span<const uint8_t> query, const ZoneSnapshot& snap,
                         const ClientInfo& ci, std::span<uint8_t> out,
                         AnswerCounters* counters = nullptr);

// An error response (header, question when the query has one, OPT when it
// has one) with `rcode` (extended rcodes go into the OPT). Used by the slow
// path for REFUSED/NOTAUTH/FORMERR replies.
size_t error_response(const codec::Message& query, uint16_t rcode, bool aa, const ClientInfo& ci,
                      std::span<uint8_t> out);

}  // namespace updproxy::control::zone
