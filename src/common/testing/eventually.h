// Test support: waits for a condition that another thread or process makes true (a metric that
// moves, a server that becomes ready, a task that ends). The timeout bounds a broken run and is
// generous for a loaded machine; it is never an assertion about speed.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace stipple::testing {

// True as soon as `condition()` is; false when it is still false after `timeout` (it is checked
// once more at the deadline). Checks every `poll`.
inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(poll);
  }
  return condition();
}

}  // namespace stipple::testing
