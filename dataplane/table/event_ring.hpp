// Single-producer / single-consumer ring of variable-length messages: how a
// dataplane worker tells the control plane what changed in its shard.
//
// The producer (one worker lcore) never blocks and never allocates: when a
// message does not fit it is dropped and counted, and the control plane
// recovers by asking the shard for a full re-read (Shard::request_resync), so
// a dropped event is never a lost record. Messages are laid out back to back
// with a 4-byte length prefix; a message never wraps (a pad marker fills the
// end instead), so the consumer reads each one as one contiguous span.
//
// Wake-up: the consumer sleeps on an eventfd. The producer writes it at most
// once per flush() — once per burst — and only when the consumer has said it is
// about to sleep, so a busy control plane costs the workers no syscalls.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>

namespace updproxy::table {

class EventRing {
public:
    // `capacity` is rounded up to a power of two (at least 4 KiB).
    explicit EventRing(size_t capacity);
    ~EventRing();
    EventRing(const EventRing&) = delete;
    EventRing& operator=(const EventRing&) = delete;

    // ---- producer side (one thread) ----
    // Reserves `len` bytes for one message; nullptr (and a counted drop) when
    // the ring is full. Call commit() after filling it. Messages larger than a
    // quarter of the ring are always refused.
    uint8_t* reserve(size_t len, bool count_drop = true);
    void commit();
    // Publishes committed messages and wakes the consumer if it is waiting.
    void flush();
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    uint64_t produced() const { return produced_.load(std::memory_order_relaxed); }

    // ---- consumer side (one thread) ----
    // Calls f(std::span<const uint8_t>) for each message available, at most
    // `max` of them; returns how many were consumed.
    template <class F>
    size_t consume(F&& f, size_t max = SIZE_MAX);
    // Blocks until the producer flushes something or `timeout_ms` passes.
    // Returns false on timeout.
    bool wait(int timeout_ms);
    // The eventfd to poll()/epoll() on, for a control loop that waits on
    // several rings and sockets at once. Call prepare_wait() first.
    int fd() const { return efd_; }
    // Tells producers the consumer is about to sleep; returns false when there
    // is already something to read (then don't sleep).
    bool prepare_wait();
    void clear_wakeup();
    bool empty() const {
        return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
    }

private:
    static constexpr uint32_t kPad = 0xFFFFFFFFu;
    static constexpr size_t kLine = 64;

    uint8_t* buf_ = nullptr;
    size_t mask_ = 0;
    size_t size_ = 0;
    int efd_ = -1;

    alignas(kLine) std::atomic<size_t> head_{0};  // written by the producer
    size_t head_local_ = 0;                        // producer's unpublished head
    size_t pending_len_ = 0;
    bool pending_ = false;
    alignas(kLine) std::atomic<size_t> tail_{0};  // written by the consumer
    alignas(kLine) std::atomic<bool> waiting_{false};
    std::atomic<uint64_t> dropped_{0};
    std::atomic<uint64_t> produced_{0};
};

template <class F>
size_t EventRing::consume(F&& f, size_t max) {
    size_t n = 0;
    size_t tail = tail_.load(std::memory_order_relaxed);
    const size_t head = head_.load(std::memory_order_acquire);
    while (tail != head && n < max) {
        const size_t off = tail & mask_;
        uint32_t len;
        __builtin_memcpy(&len, buf_ + off, 4);
        if (len == kPad) {
            tail += size_ - off;
            continue;
        }
        f(std::span<const uint8_t>(buf_ + off + 4, len));
        tail += (4 + len + 7) & ~size_t{7};
        ++n;
    }
    tail_.store(tail, std::memory_order_release);
    return n;
}

}  // namespace updproxy::table
