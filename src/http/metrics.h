// The gateway's own counters and gauges, and the Prometheus text exposition of /metrics
// (docs/http.md lists every series). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "common/thread_annotations.h"
#include "http/queue_figures.h"
#include "service/task_service.h"

namespace stipple::http {

class HttpMetrics {
 public:
  HttpMetrics();

  // One answered request; `route` is the matched pattern ("unmatched" for 404s of no route).
  void CountRequest(const std::string& route, const std::string& method, int status);

  // One webhook delivery attempt, by its result: "delivered" (a 2xx), "failed" (anything else, a
  // timeout or a refused connection: retried later) or "gave_up" (the last retry failed). Those
  // three are exported from the start, at 0; another result adds its own series.
  void CountWebhookDelivery(std::string_view result);
  // The hook for a webhook dispatcher that must not depend on src/http: a callable forwarding
  // to CountWebhookDelivery. This HttpMetrics must outlive it.
  std::function<void(std::string_view result)> WebhookDeliveryCounter();

  // Gauges: requests held open by Prefer: wait, open SSE streams; the rate-limit counter.
  std::atomic<int64_t> sync_waiters{0};
  std::atomic<int64_t> sse_subscribers{0};
  std::atomic<int64_t> rate_limited{0};
  // Open WebSockets (/v1/ws), and their task subscriptions (a task, or a tenant's whole feed).
  std::atomic<int64_t> ws_connections{0};
  std::atomic<int64_t> ws_subscriptions{0};
  // Transport (server.cc, task_wait.cc): open HTTP connections; connections answered 503 at
  // the connection cap; failed accepts (the descriptor limit); requests answered 429 at the
  // bound of held requests (Prefer: wait) per tenant or per client address; event streams (SSE,
  // WebSocket upgrades) answered 429 at the bound of open streams per tenant or per address.
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> connections_refused{0};
  std::atomic<int64_t> accept_errors{0};
  std::atomic<int64_t> held_refused{0};
  std::atomic<int64_t> streams_refused{0};

  // The exposition: the gateway's figures, plus the task service's when `snapshot` (and the
  // `figures` computed from it) are given — both or neither.
  std::string Render(const QueueSnapshot* snapshot, const QueueFigures* figures) const;

 private:
  mutable Mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_ GUARDED_BY(mu_);
  std::map<std::string, uint64_t, std::less<>> webhook_deliveries_ GUARDED_BY(mu_);
};

// A Prometheus label value with \, " and newline escaped.
std::string EscapeLabel(const std::string& value);

}  // namespace stipple::http
