// A value one thread publishes and others read: the control loop publishes a
// fresh snapshot every few hundred milliseconds, the metrics exporter and the
// telemetry thread read the latest one. The mutex is held only to copy a
// shared_ptr, and only the control thread and those readers take it — never a
// dataplane worker.
#pragma once

#include <memory>
#include <mutex>

namespace updproxy::stats {

template <class T>
class Published {
public:
    void publish(std::shared_ptr<const T> v) {
        std::lock_guard<std::mutex> g(mu_);
        v_.swap(v);
        // the previous value is released outside the lock (v's destructor)
    }
    std::shared_ptr<const T> get() const {
        std::lock_guard<std::mutex> g(mu_);
        return v_;
    }

private:
    mutable std::mutex mu_;
    std::shared_ptr<const T> v_;
};

}  // namespace updproxy::stats
