// /metrics: Prometheus text exposition (format 0.0.4); every name starts with stipple_.
#include "api/handlers.h"
#include "http/problem.h"

namespace stipple::http {

void GetMetrics(HandlerContext& ctx, HttpRequest&, ExchangePtr exchange) {
  Result<QueueSnapshot> snapshot = ctx.service.Queue();
  std::optional<QueueFigures> figures;
  if (snapshot.ok()) {
    figures = ComputeQueueFigures(*snapshot, ctx.options.clock->Now(), ctx.options.target_wait_s);
    // Every model of the catalog has its series, at 0 while it has no tasks (the store counts
    // only the models it holds tasks of), so a scrape never loses a series.
    for (const ModelLimits& model : ctx.models.models) {
      bool listed = false;
      for (const ModelQueueFigures& m : figures->models) listed = listed || m.model == model.name;
      if (!listed) figures->models.push_back(ModelQueueFigures{.model = model.name});
    }
  }
  // Without the queue's figures the gateway's own are still worth scraping.
  HttpResponse r;
  r.headers.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  r.body = ctx.metrics.Render(snapshot.ok() ? &*snapshot : nullptr, figures ? &*figures : nullptr);
  exchange->Respond(std::move(r));
}

}  // namespace stipple::http
