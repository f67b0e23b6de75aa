// WebhookDeliveries: the one read of the webhook outbox that the gateway serves
// (GET /v1/tasks/{id}/webhooks) — a task's deliveries and every attempt of each — so that the
// HTTP layer reaches webhooks through an interface of the service layer, never the outbox itself
// (which lives in src/webhook, with SQLite, Redis and libcurl behind it).
//
// Contract, for every implementation:
//  - Thread-safe; ForTask may be called from any thread and may wait on a store read (SQLite,
//    a Redis round trip), never on the network beyond the store.
//  - ForTask answers the task's deliveries oldest first, each with its attempts in order; an
//    empty list when the task has none (or there is no such task: callers check the task first,
//    for tenancy). Errors are the store's (kUnavailable when it cannot be read).
//  - `status` is the delivery's state by name: "pending" (next_attempt_at set), "delivered",
//    "failed" or "dropped".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace stipple {

struct WebhookAttemptRecord {
  int number = 0;  // from 1
  Timestamp at;
  int response_status = 0;  // 0: no HTTP answer (see error)
  std::string error;        // empty for a 2xx
  Millis duration{0};
};

struct WebhookDeliveryRecord {
  std::string id;     // "msg_..." — the webhook-id header
  std::string event;  // "task.started", "task.progress", "task.succeeded", ...
  std::string url;
  Timestamp created_at;
  std::string status;                        // "pending", "delivered", "failed", "dropped"
  std::optional<Timestamp> next_attempt_at;  // while pending
  std::vector<WebhookAttemptRecord> attempts;
};

class WebhookDeliveries {
 public:
  virtual ~WebhookDeliveries() = default;
  virtual Result<std::vector<WebhookDeliveryRecord>> ForTask(const std::string& task_id) = 0;
};

}  // namespace stipple
