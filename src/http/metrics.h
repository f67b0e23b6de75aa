// The gateway's own counters and gauges, and the Prometheus text exposition of /metrics.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "http/queue_figures.h"

namespace stipple::http {

class HttpMetrics {
 public:
  // One answered request; `route` is the matched pattern ("unmatched" for 404s of no route).
  void CountRequest(const std::string& route, const std::string& method, int status);

  // Gauges: requests held open by Prefer: wait, and open SSE streams.
  std::atomic<int64_t> sync_waiters{0};
  std::atomic<int64_t> sse_subscribers{0};
  std::atomic<int64_t> rate_limited{0};
  // Open WebSockets (/v1/ws), and their task subscriptions (a task, or a tenant's whole feed).
  std::atomic<int64_t> ws_connections{0};
  std::atomic<int64_t> ws_subscriptions{0};

  // The exposition: the gateway's figures, plus the queue's when `queue` is given.
  std::string Render(const QueueFigures* queue) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // GUARDED_BY(mu_)
};

// A Prometheus label value with \, " and newline escaped.
std::string EscapeLabel(const std::string& value);

}  // namespace stipple::http
