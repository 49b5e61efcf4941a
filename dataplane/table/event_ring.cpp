#include "dataplane/table/event_ring.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace updproxy::table {

namespace {
size_t round_pow2(size_t v) {
    size_t p = 4096;
    while (p < v) p <<= 1;
    return p;
}
}  // namespace

EventRing::EventRing(size_t capacity) : size_(round_pow2(capacity)) {
    mask_ = size_ - 1;
    buf_ = static_cast<uint8_t*>(std::aligned_alloc(kLine, size_));
    if (buf_ == nullptr) throw std::bad_alloc();
    efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

EventRing::~EventRing() {
    std::free(buf_);
    if (efd_ >= 0) close(efd_);
}

uint8_t* EventRing::reserve(size_t len, bool count_drop) {
    const size_t need = (4 + len + 7) & ~size_t{7};
    if (len > size_ / 4) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
    }
    const size_t tail = tail_.load(std::memory_order_acquire);
    size_t head = head_local_;
    const size_t off = head & mask_;
    size_t pad = 0;
    if (off + need > size_) pad = size_ - off;  // the message would wrap
    if (head + pad + need - tail > size_) {
        if (count_drop) dropped_.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
    }
    if (pad) {
        const uint32_t marker = kPad;
        std::memcpy(buf_ + off, &marker, 4);
        head += pad;
        head_local_ = head;
    }
    const uint32_t l32 = static_cast<uint32_t>(len);
    std::memcpy(buf_ + (head & mask_), &l32, 4);
    pending_len_ = need;
    pending_ = true;
    return buf_ + (head & mask_) + 4;
}

void EventRing::commit() {
    if (!pending_) return;
    head_local_ += pending_len_;
    pending_ = false;
    produced_.fetch_add(1, std::memory_order_relaxed);
}

void EventRing::flush() {
    if (head_.load(std::memory_order_relaxed) == head_local_) return;
    head_.store(head_local_, std::memory_order_release);
    // seq_cst pairs with prepare_wait(): either we see waiting_ or the
    // consumer sees the new head before sleeping.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_relaxed) && waiting_.exchange(false)) {
        const uint64_t one = 1;
        [[maybe_unused]] auto r = write(efd_, &one, sizeof one);
    }
}

bool EventRing::prepare_wait() {
    waiting_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!empty()) {
        waiting_.store(false, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void EventRing::clear_wakeup() {
    uint64_t v;
    [[maybe_unused]] auto r = read(efd_, &v, sizeof v);
    waiting_.store(false, std::memory_order_relaxed);
}

bool EventRing::wait(int timeout_ms) {
    if (!prepare_wait()) return true;
    pollfd p{efd_, POLLIN, 0};
    const int r = poll(&p, 1, timeout_ms);
    clear_wakeup();
    return r > 0 || !empty();
}

}  // namespace updproxy::table
