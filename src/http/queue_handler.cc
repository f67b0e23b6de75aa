// /v1/queue: the queue-wide figures (an admin's view when API keys are configured).
#include "http/handlers.h"
#include "http/problem.h"

namespace stipple::http {

void GetQueue(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  // Open servers have no admin key; there everyone may read the figures.
  if (!request.principal.admin && !request.principal.key_id.empty()) {
    return exchange->Respond(ErrorResponse(
        Status(StatusCode::kPermissionDenied, "the queue figures need an admin key")));
  }
  Result<QueueSnapshot> snapshot = ctx.service.Queue();
  if (!snapshot.ok()) {
    return exchange->Respond(ErrorResponse(snapshot.status(), ctx.options.retry_after_s));
  }
  QueueFigures figures =
      ComputeQueueFigures(*snapshot, ctx.options.clock->Now(), ctx.options.target_wait_s);
  exchange->Respond(JsonResponse(200, QueueFiguresToJson(figures)));
}

}  // namespace stipple::http
