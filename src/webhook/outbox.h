// WebhookOutbox: the durable queue of webhook deliveries. A delivery is one event of one task
// (task.started, task.progress, a terminal event) to the task's webhook URL, with its payload
// fixed when the event happens and an id (the webhook-id header, "msg_" + ULID) that stays the
// same across retries. The SQLite outbox lives in the task database and is written in the same
// transaction as the state change that caused it; the Redis one (webhook/redis/redis_outbox.h)
// gets an intent from the very Lua script that changes the task. outbox_contract.h tests both.
//
// Contract, for every implementation:
//  - Thread-safe; no method blocks on the network.
//  - Durable: a delivery of a state change commits with that change (a kill -9 right after a
//    task completes still delivers after restart). Progress deliveries (Add) are best effort.
//  - Order per task: deliveries of one task are handed out one at a time, in creation order —
//    the next only once the earlier one has ended (delivered, failed or dropped).
//  - Claim marks what it returns as in flight for this opening; whatever was in flight when the
//    process died is due again at the next opening.
//  - A task whose receiver answered 410 Gone gets no further deliveries.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "core/task.h"
#include "service/webhook_deliveries.h"

namespace stipple::webhook {

struct WebhookDelivery {
  std::string id;  // "msg_..." — the webhook-id header
  std::string task_id;
  std::string event;  // "task.started", "task.progress", "task.succeeded", ...
  std::string url;
  std::string host;     // "host:port", the per-host concurrency key
  std::string payload;  // the exact body: {"type", "timestamp", "data": <task>}
  Timestamp created_at;
  int attempts = 0;  // made so far
};

enum class DeliveryState { kPending, kDelivered, kFailed, kDropped };
std::string_view DeliveryStateName(DeliveryState state);  // "pending", "delivered", ...

struct WebhookAttempt {
  int number = 0;  // from 1
  Timestamp at;
  int response_status = 0;  // 0: no HTTP answer (see error)
  std::string error;        // empty for a 2xx
  Millis duration{0};
};

// How an attempt ended, as the dispatcher decided.
struct DeliveryOutcome {
  std::string delivery_id;
  std::string task_id;  // the delivery's
  std::string event;    // the delivery's
  WebhookAttempt attempt;
  DeliveryState state = DeliveryState::kDelivered;  // kPending: retry at next_attempt_at
  Timestamp next_attempt_at;
  bool gone = false;  // 410: fail every pending delivery of the task and accept no more
};

struct DeliveryRecord {
  WebhookDelivery delivery;
  DeliveryState state = DeliveryState::kPending;
  std::optional<Timestamp> next_attempt_at;  // while pending
  std::vector<WebhookAttempt> attempts;
};

class WebhookOutbox {
 public:
  virtual ~WebhookOutbox() = default;

  // Adds a progress delivery. Nothing is added when the task already has a terminal delivery or
  // its receiver answered 410.
  virtual Status AddProgress(const WebhookDelivery& delivery) = 0;

  // Up to `limit` deliveries due at `now`, earliest first, none of a host in `busy_hosts`, each
  // the oldest unfinished one of its task; they are in flight until Record.
  virtual Result<std::vector<WebhookDelivery>> Claim(
      Timestamp now, int limit, const std::vector<std::string>& busy_hosts) = 0;

  // Records attempts and their outcomes (one commit). A progress delivery whose outcome is a
  // retry is dropped instead when its task has a later delivery.
  virtual Status Record(std::span<const DeliveryOutcome> outcomes) = 0;

  // The earliest next_attempt_at of the deliveries waiting (not in flight); none if none.
  virtual Result<std::optional<Timestamp>> NextDue() = 0;

  // A task's deliveries, oldest first, with their attempts.
  virtual Result<std::vector<DeliveryRecord>> ForTask(const std::string& task_id) = 0;

  // Called (on any thread, must not block) whenever deliveries may have been added.
  virtual void SetWakeup(std::function<void()> wakeup) = 0;
};

// The gateway's read of an outbox (service/webhook_deliveries.h): ForTask, with each delivery's
// state by name. Holds a reference; the outbox must outlive it.
class OutboxDeliveries final : public WebhookDeliveries {
 public:
  explicit OutboxDeliveries(WebhookOutbox& outbox) : outbox_(outbox) {}
  Result<std::vector<WebhookDeliveryRecord>> ForTask(const std::string& task_id) override;

 private:
  WebhookOutbox& outbox_;
};

// The delivery a state change causes, if the task's webhook asks for it: running → task.started
// ("started"), a terminal state → task.<state> ("completed"). `task` has its request.
std::optional<WebhookDelivery> DeliveryForStateChange(const Task& task, Timestamp now);

// A progress delivery for a running task (its progress set), if its webhook asks for progress.
std::optional<WebhookDelivery> DeliveryForProgress(const Task& task, Timestamp now);

}  // namespace stipple::webhook
