// /v1/queue (the queue-wide figures) and /v1/workers (the worker registry): an admin's view when
// API keys are configured.
#include <optional>
#include <string>
#include <string_view>

#include "api/handlers.h"
#include "http/problem.h"

namespace stipple::http {

namespace {

// The snapshot, or nullopt after answering the error (not an admin; the service failed). Open
// servers have no admin key; there everyone may read it.
std::optional<QueueSnapshot> AdminSnapshot(HandlerContext& ctx, HttpRequest& request,
                                           ExchangePtr& exchange, std::string_view what) {
  if (!request.principal.admin && !request.principal.key_id.empty()) {
    exchange->Respond(ErrorResponse(
        Status(StatusCode::kPermissionDenied, std::string(what) + " need an admin key")));
    return std::nullopt;
  }
  Result<QueueSnapshot> snapshot = ctx.service.Queue();
  if (!snapshot.ok()) {
    exchange->Respond(ErrorResponse(snapshot.status(), ctx.options.retry_after_s));
    return std::nullopt;
  }
  return std::move(*snapshot);
}

}  // namespace

void GetQueue(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  std::optional<QueueSnapshot> snapshot =
      AdminSnapshot(ctx, request, exchange, "the queue figures");
  if (!snapshot) return;
  QueueFigures figures =
      ComputeQueueFigures(*snapshot, ctx.options.clock->Now(), ctx.options.target_wait_s);
  exchange->Respond(JsonResponse(200, QueueFiguresToJson(figures)));
}

void ListWorkers(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  std::optional<QueueSnapshot> snapshot = AdminSnapshot(ctx, request, exchange, "the workers");
  if (!snapshot) return;
  exchange->Respond(JsonResponse(200, WorkersToJson(*snapshot)));
}

}  // namespace stipple::http
