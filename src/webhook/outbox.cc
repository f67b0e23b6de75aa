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
  body["data"] = TaskToJsonObject(task);
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
