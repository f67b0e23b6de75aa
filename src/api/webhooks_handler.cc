// /v1/tasks/{id}/webhooks: the task's webhook deliveries and every attempt of each.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "api/handlers.h"
#include "core/json.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

boost::json::value OrNull(const std::optional<Timestamp>& t) {
  return t ? boost::json::value(FormatRfc3339(*t)) : boost::json::value(nullptr);
}

boost::json::object DeliveryJson(const WebhookDeliveryRecord& r) {
  boost::json::array attempts;
  for (const WebhookAttemptRecord& a : r.attempts) {
    attempts.push_back(boost::json::object{
        {"attempt", a.number},
        {"at", FormatRfc3339(a.at)},
        {"response_status",
         a.response_status ? boost::json::value(a.response_status) : boost::json::value(nullptr)},
        {"error", a.error.empty() ? boost::json::value(nullptr) : boost::json::value(a.error)},
        {"duration_s", static_cast<double>(a.duration.count()) / 1000.0}});
  }
  return boost::json::object{{"id", r.id},
                             {"event", r.event},
                             {"url", r.url},
                             {"created_at", FormatRfc3339(r.created_at)},
                             {"status", r.status},
                             {"next_attempt_at", OrNull(r.next_attempt_at)},
                             {"attempts", std::move(attempts)}};
}

}  // namespace

void ListWebhookDeliveries(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  const std::string& id = request.path_params["id"];
  if (Status s = CheckTaskId(id); !s.ok()) return exchange->Respond(ErrorResponse(s));
  // The task must exist for the caller (another tenant's task answers 404).
  Result<Task> task = ctx.service.Get(HandlerContext::ViewTenant(request.principal), id);
  if (!task.ok()) return exchange->Respond(ErrorResponse(task.status(), ctx.options.retry_after_s));
  boost::json::array data;
  if (ctx.options.webhooks != nullptr) {
    Result<std::vector<WebhookDeliveryRecord>> records = ctx.options.webhooks->ForTask(id);
    if (!records.ok()) {
      return exchange->Respond(ErrorResponse(records.status(), ctx.options.retry_after_s));
    }
    for (const auto& r : *records) data.push_back(DeliveryJson(r));
  }
  exchange->Respond(JsonResponse(200, WriteJson(boost::json::object{{"data", std::move(data)}})));
}

}  // namespace stipple::http
