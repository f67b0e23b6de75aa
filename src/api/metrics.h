// HttpMetrics: the gateway's counters and gauges on top of the transport's (TransportMetrics,
// http/transport_metrics.h), and the Prometheus text exposition of /metrics (docs/http.md lists
// every series). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "api/queue_figures.h"
#include "common/thread_annotations.h"
#include "http/transport_metrics.h"
#include "service/task_service.h"

namespace stipple::http {

class HttpMetrics : public TransportMetrics {
 public:
  HttpMetrics();

  // One webhook delivery attempt, by its result: "delivered" (a 2xx), "failed" (anything else, a
  // timeout or a refused connection: retried later) or "gave_up" (the last retry failed). Those
  // three are exported from the start, at 0; another result adds its own series.
  void CountWebhookDelivery(std::string_view result);
  // The hook for a webhook dispatcher that must not depend on src/api: a callable forwarding
  // to CountWebhookDelivery. This HttpMetrics must outlive it.
  std::function<void(std::string_view result)> WebhookDeliveryCounter();

  // Gauges: requests held open by Prefer: wait, open SSE streams; the rate-limit counter.
  std::atomic<int64_t> sync_waiters{0};
  std::atomic<int64_t> sse_subscribers{0};
  std::atomic<int64_t> rate_limited{0};
  // The task subscriptions of open WebSockets (a task, or a tenant's whole feed).
  std::atomic<int64_t> ws_subscriptions{0};
  // Requests answered 429 at the bound of held requests (Prefer: wait) per tenant or per
  // client address (task_wait.cc); event streams (SSE, WebSocket upgrades) answered 429 at the
  // bound of open streams per tenant or per address.
  std::atomic<int64_t> held_refused{0};
  std::atomic<int64_t> streams_refused{0};

  // The exposition: the gateway's figures, plus the task service's when `snapshot` (and the
  // `figures` computed from it) are given — both or neither.
  std::string Render(const QueueSnapshot* snapshot, const QueueFigures* figures) const;

 private:
  mutable Mutex mu_;
  std::map<std::string, uint64_t, std::less<>> webhook_deliveries_ GUARDED_BY(mu_);
};

// A Prometheus label value with \, " and newline escaped.
std::string EscapeLabel(const std::string& value);

}  // namespace stipple::http
