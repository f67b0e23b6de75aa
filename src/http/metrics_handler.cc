// /metrics: Prometheus text exposition (format 0.0.4); every name starts with stipple_.
#include "http/handlers.h"
#include "http/problem.h"

namespace stipple::http {

void GetMetrics(HandlerContext& ctx, HttpRequest&, ExchangePtr exchange) {
  Result<QueueSnapshot> snapshot = ctx.service.Queue();
  std::optional<QueueFigures> figures;
  if (snapshot.ok()) {
    figures = ComputeQueueFigures(*snapshot, ctx.options.clock->Now(), ctx.options.target_wait_s);
  }
  // Without the queue's figures the gateway's own are still worth scraping.
  HttpResponse r;
  r.headers.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  r.body = ctx.metrics.Render(snapshot.ok() ? &*snapshot : nullptr, figures ? &*figures : nullptr);
  exchange->Respond(std::move(r));
}

}  // namespace stipple::http
