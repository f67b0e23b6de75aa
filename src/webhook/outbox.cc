#include "webhook/outbox.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/id.h"
#include "core/task_json.h"
#include "webhook/url_guard.h"

namespace stipple::webhook {
namespace {

bool Asks(const WebhookSpec& spec, std::string_view event) {
  return std::find(spec.events.begin(), spec.events.end(), event) != spec.events.end();
}

std::optional<WebhookDelivery> MakeDelivery(const Task& task, std::string event, Timestamp now) {
  Result<WebhookUrl> url = ParseWebhookUrl(task.request.webhook->url);
  if (!url.ok()) return std::nullopt;  // validated at submit; an old record may predate that
  WebhookDelivery d;
  d.id = NewId("msg");
  d.task_id = task.id;
  d.url = task.request.webhook->url;
  d.host = url->HostKey();
  d.created_at = now;
  boost::json::object body;
  body["type"] = event;
  body["timestamp"] = FormatRfc3339(now);
  body["data"] = TaskToJson(task);
  d.payload = boost::json::serialize(body);
  d.event = std::move(event);
  return d;
}

}  // namespace

std::string_view DeliveryStateName(DeliveryState state) {
  switch (state) {
    case DeliveryState::kPending: return "pending";
    case DeliveryState::kDelivered: return "delivered";
    case DeliveryState::kFailed: return "failed";
    case DeliveryState::kDropped: return "dropped";
  }
  return "pending";
}

Result<std::vector<WebhookDeliveryRecord>> OutboxDeliveries::ForTask(const std::string& task_id) {
  ASSIGN_OR_RETURN(std::vector<DeliveryRecord> records, outbox_.ForTask(task_id));
  std::vector<WebhookDeliveryRecord> out;
  out.reserve(records.size());
  for (DeliveryRecord& r : records) {
    WebhookDeliveryRecord d;
    d.id = std::move(r.delivery.id);
    d.event = std::move(r.delivery.event);
    d.url = std::move(r.delivery.url);
    d.created_at = r.delivery.created_at;
    d.status = std::string(DeliveryStateName(r.state));
    d.next_attempt_at = r.next_attempt_at;
    for (WebhookAttempt& a : r.attempts) {
      d.attempts.push_back({a.number, a.at, a.response_status, std::move(a.error), a.duration});
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<WebhookDelivery> DeliveryForStateChange(const Task& task, Timestamp now) {
  if (!task.request.webhook) return std::nullopt;
  const WebhookSpec& spec = *task.request.webhook;
  if (task.state == TaskState::kRunning) {
    if (!Asks(spec, "started")) return std::nullopt;
    return MakeDelivery(task, "task.started", now);
  }
  if (!IsTerminal(task.state) || !Asks(spec, "completed")) return std::nullopt;
  return MakeDelivery(task, "task." + std::string(TaskStateName(task.state)), now);
}

std::optional<WebhookDelivery> DeliveryForProgress(const Task& task, Timestamp now) {
  if (!task.request.webhook || !Asks(*task.request.webhook, "progress")) return std::nullopt;
  return MakeDelivery(task, "task.progress", now);
}

}  // namespace stipple::webhook
