#include "control/zone/worker_answerer.hpp"

namespace updproxy::control::zone {

WorkerAnswerer::WorkerAnswerer(std::unique_ptr<ZoneStore::Reader> reader, uint16_t max_udp_payload,
                               uint64_t (*clock)(), uint64_t ticks_per_second)
    : reader_(std::move(reader)),
      clock_(clock),
      ns_per_tick_(ticks_per_second ? 1e9 / static_cast<double>(ticks_per_second) : 0) {
    ci_.tcp = false;
    ci_.max_udp_payload = max_udp_payload;
}

WorkerAnswerer::~WorkerAnswerer() { end_poll(); }

dataplane::QueryOutcome WorkerAnswerer::answer(std::span<const uint8_t> query,
                                               std::span<uint8_t> out) {
    if (snap_ == nullptr) snap_ = reader_->enter();
    const AnswerResult r = answer_wire(query, *snap_, ci_, out, &counters_);
    switch (r.what) {
        case Disposition::reply: {
            const uint64_t now = clock_();
            const uint64_t ticks = now > poll_tick_ ? now - poll_tick_ : 0;
            latency_.record(static_cast<uint64_t>(static_cast<double>(ticks) * ns_per_tick_));
            return {dataplane::QueryVerdict::reply, r.size};
        }
        case Disposition::punt: return {dataplane::QueryVerdict::punt, 0};
        case Disposition::drop: break;
    }
    return {dataplane::QueryVerdict::drop, 0};
}

void WorkerAnswerer::end_poll() {
    if (snap_ == nullptr) return;
    reader_->leave();
    snap_ = nullptr;
}

}  // namespace updproxy::control::zone
