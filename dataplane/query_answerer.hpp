// What a worker asks when a unicast DNS query reaches one of its link
// addresses (UDP port 53): the answer to send back, or "hand it to the
// control plane", or "drop it".
//
// The dataplane does not know zones; the control plane implements this
// (control/worker_answerer.*, over the zone store's RCU reader and the
// shared answer code) and gives each worker its own instance before the
// workers start. All calls come from that worker's lcore: no lock, no
// allocation, no system call expected of an implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace updproxy::dataplane {

enum class QueryVerdict : uint8_t {
    reply,  // the answer is in `out`, `size` bytes
    punt,   // the control plane's slow path (TSIG, transfers): the query ring
    drop,   // counted by the implementation (runts, responses)
};

struct QueryOutcome {
    QueryVerdict verdict = QueryVerdict::drop;
    size_t size = 0;
};

class QueryAnswerer {
public:
    virtual ~QueryAnswerer() = default;
    // At the start of each poll (`tsc`: the poll's start, rte_rdtsc): the
    // time the poll's queries count their latency from.
    virtual void begin_poll(uint64_t tsc) = 0;
    // One query (the UDP payload, a view into the frame); the answer goes
    // into `out` (the UDP payload room of the reply frame).
    virtual QueryOutcome answer(std::span<const uint8_t> query, std::span<uint8_t> out) = 0;
    // At the end of each poll, after the replies were handed to the NIC:
    // the worker holds nothing it got from answer() any more (the RCU
    // quiescent state).
    virtual void end_poll() = 0;
};

}  // namespace updproxy::dataplane
