// /healthz (the process serves) and /readyz (the store answers and tasks are accepted).
#include "api/handlers.h"
#include "http/problem.h"

namespace stipple::http {

void Healthz(HandlerContext&, HttpRequest&, ExchangePtr exchange) {
  exchange->Respond(JsonResponse(200, R"({"status":"ok"})"));
}

void Readyz(HandlerContext& ctx, HttpRequest&, ExchangePtr exchange) {
  Status ready = ctx.draining ? UnavailableError("the server is stopping") : ctx.service.Ready();
  if (!ready.ok()) {
    // Whatever the service's reason, not ready is 503 with a retry hint.
    if (ready.code() != StatusCode::kUnavailable) ready = UnavailableError(ready.message());
    return exchange->Respond(ErrorResponse(ready, ctx.options.retry_after_s));
  }
  exchange->Respond(JsonResponse(200, R"({"status":"ready"})"));
}

}  // namespace stipple::http
