// The embedded DNS service's answer code on a dataplane worker: the
// dataplane's QueryAnswerer (dataplane/query_answerer.hpp) over a
// ZoneStore::Reader and answer_wire().
//
// One per worker, made by the daemon before the workers start and used only
// on that worker's lcore. The snapshot is entered at the first query of a
// poll and left at the poll's end (after the replies went to the NIC), so
// an idle worker holds no snapshot and a busy one pays the reader's two
// atomic operations once per poll, not per query. Signed queries and zone
// transfers are punted to the control thread (AuthServer::handle_punted)
// through the worker's query ring, as before.
//
// Counters and the latency histogram follow AnswerCounters' rule: written by
// this worker only (relaxed load + store), read by the metrics snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "control/zone/answer.hpp"
#include "control/zone/latency.hpp"
#include "control/zone/zone_store.hpp"
#include "dataplane/query_answerer.hpp"

namespace updproxy::control::zone {

class WorkerAnswerer final : public dataplane::QueryAnswerer {
public:
    // `clock`: the worker's tick counter (the TSC: what begin_poll gets),
    // `ticks_per_second` its rate; together they time each answer from the
    // start of the poll that received the query.
    WorkerAnswerer(std::unique_ptr<ZoneStore::Reader> reader, uint16_t max_udp_payload,
                   uint64_t (*clock)(), uint64_t ticks_per_second);
    ~WorkerAnswerer() override;

    void begin_poll(uint64_t tsc) override { poll_tick_ = tsc; }
    dataplane::QueryOutcome answer(std::span<const uint8_t> query, std::span<uint8_t> out) override;
    void end_poll() override;

    // Any thread.
    const AnswerCounters& counters() const { return counters_; }
    const LatencyHistogram& latency() const { return latency_; }
    // Queries answered (each answer counts once in its rcode).
    uint64_t answered() const {
        uint64_t n = 0;
        for (const auto& c : counters_.rcode) n += c.load(std::memory_order_relaxed);
        return n;
    }

private:
    std::unique_ptr<ZoneStore::Reader> reader_;
    const ZoneSnapshot* snap_ = nullptr;  // entered in this poll
    ClientInfo ci_;
    uint64_t (*clock_)();
    double ns_per_tick_;
    uint64_t poll_tick_ = 0;
    AnswerCounters counters_;
    LatencyHistogram latency_;
};

}  // namespace updproxy::control::zone
