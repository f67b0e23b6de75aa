// EventCollector: a test helper that collects the events delivered to a callback, for the tests
// of the event buses and of the services that publish on them. Thread-safe: the callback may run
// on any thread while another waits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <utility>
#include <vector>

#include "common/thread_annotations.h"
#include "notify/event_bus.h"

namespace stipple {

class EventCollector {
 public:
  // The callback to subscribe with; the collector must outlive the subscription.
  TaskEventCallback Callback() {
    return [this](const TaskEvent& e) {
      MutexLock lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  // Blocks (real time, up to `timeout`) until `n` events have arrived; returns all so far.
  std::vector<TaskEvent> Wait(size_t n,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    MutexLock lock(mu_);
    cv_.wait_for(lock.native(), timeout, [&]() REQUIRES(mu_) { return events_.size() >= n; });
    return events_;
  }
  std::vector<TaskEvent> Now() {
    MutexLock lock(mu_);
    return events_;
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  std::vector<TaskEvent> events_ GUARDED_BY(mu_);
};

// (type, seq) of each event, for comparing sequences in one expectation.
inline std::vector<std::pair<TaskEventType, int64_t>> TypesAndSeqs(
    const std::vector<TaskEvent>& events) {
  std::vector<std::pair<TaskEventType, int64_t>> out;
  for (const auto& e : events) out.emplace_back(e.type, e.seq);
  return out;
}

}  // namespace stipple
