// The route table of API.md: the one list of endpoints.
#include "http/handlers.h"

namespace stipple::http {
namespace {

ResponseSpec Problem(int status, std::string description) {
  return ResponseSpec{status, std::move(description), "application/problem+json", "Problem"};
}

const ParamSpec kPrefer{"Prefer", "string", "wait or wait=N (1..300 s): wait for the task to end"};

}  // namespace

RouteTable BuildRouteTable(HandlerContext& ctx) {
  auto bind = [&ctx](void (*handler)(HandlerContext&, HttpRequest&, ExchangePtr)) {
    return [&ctx, handler](HttpRequest& request, ExchangePtr exchange) {
      handler(ctx, request, std::move(exchange));
    };
  };
  RouteTable t;
  t.Add({"POST",
         "/v1/tasks",
         "createTask",
         "Create a task (async, or sync with Prefer: wait)",
         "tasks",
         true,
         {},
         {kPrefer, {"Idempotency-Key", "string", "1..255 printable ASCII characters"}},
         "GenerationRequest",
         {{200, "The task ended within the wait (sync)", "application/json", "Task"},
          {202, "Accepted; Location names the task", "application/json", "Task"},
          Problem(400, "Invalid request; errors name the fields"),
          Problem(401, "Missing or unknown API key"),
          Problem(409, "Idempotency key reused with another body"),
          Problem(413, "Body over the limit"),
          Problem(415, "Content-Type is not JSON"),
          Problem(429, "Queue full or rate limited"),
          Problem(503, "Draining")},
         bind(CreateTask)});
  t.Add({"GET",
         "/v1/tasks",
         "listTasks",
         "The caller's tasks, newest first",
         "tasks",
         true,
         {{"status", "string", "only tasks in this state"},
          {"limit", "integer", "1..100, default 20"},
          {"cursor", "string", "next_cursor of the previous page"}},
         {},
         "",
         {{200, "A page of tasks", "application/json", "TaskPage"},
          Problem(400, "Bad status, limit or cursor")},
         bind(ListTasks)});
  t.Add({"GET",
         "/v1/tasks/{id}",
         "getTask",
         "A task (long poll with Prefer: wait)",
         "tasks",
         true,
         {},
         {kPrefer},
         "",
         {{200, "The task", "application/json", "Task"}, Problem(404, "No such task")},
         bind(GetTask)});
  t.Add({"POST",
         "/v1/tasks/{id}/cancel",
         "cancelTask",
         "Cancel a task",
         "tasks",
         true,
         {},
         {},
         "",
         {{200, "Canceled, or cancel requested", "application/json", "Task"},
          {409, "Already finished", "application/json", "Task"},
          Problem(404, "No such task")},
         bind(CancelTask)});
  t.Add({"GET",
         "/v1/tasks/{id}/outputs/{index}",
         "getOutput",
         "An output image",
         "outputs",
         true,
         {},
         {{"If-None-Match", "string", "an ETag from an earlier answer"}},
         "",
         {{200, "The image", "image/png", ""},
          {304, "Not modified", "", ""},
          Problem(404, "No such task or output"),
          Problem(409, "Not finished"),
          Problem(410, "Outputs expired")},
         bind(GetOutput)});
  t.Add({"GET",
         "/v1/tasks/{id}/preview",
         "getPreview",
         "The latest preview of a running task",
         "outputs",
         true,
         {},
         {},
         "",
         {{200, "The preview", "image/png", ""}, Problem(404, "No such task or no preview yet")},
         bind(GetPreview)});
  t.Add({"GET",
         "/v1/tasks/{id}/events",
         "streamEvents",
         "The task's events (Server-Sent Events)",
         "events",
         true,
         {},
         {{"Last-Event-ID", "integer", "resume after this event"}},
         "",
         {{200, "event: / id: / data: frames; closes after the terminal event", "text/event-stream",
           ""},
          Problem(400, "Bad Last-Event-ID"),
          Problem(404, "No such task")},
         bind(StreamEvents)});
  t.Add({"GET",
         "/v1/tasks/{id}/webhooks",
         "listWebhookDeliveries",
         "The task's webhook deliveries and their attempts",
         "webhooks",
         true,
         {},
         {},
         "",
         {{200, "The deliveries, oldest first", "application/json", "WebhookDeliveryList"},
          Problem(404, "No such task")},
         bind(ListWebhookDeliveries)});
  // GET /v1/ws (WebSocket) and POST /v1/images/generations (OpenAI-compatible), from their own
  // files.
  AddWebSocketRoutes(t, ctx);
  AddOpenAiRoutes(t, ctx);
  t.Add({"GET",
         "/v1/models",
         "listModels",
         "Models this deployment can run",
         "models",
         true,
         {},
         {},
         "",
         {{200, "The models", "application/json", "ModelList"}},
         bind(ListModels)});
  t.Add({"GET",
         "/v1/queue",
         "getQueue",
         "Queue figures",
         "queue",
         true,
         {},
         {},
         "",
         {{200, "The figures", "application/json", "QueueFigures"},
          Problem(403, "Needs an admin key when keys are configured")},
         bind(GetQueue)});
  t.Add({"GET",
         "/healthz",
         "healthz",
         "Liveness",
         "health",
         false,
         {},
         {},
         "",
         {{200, "Serving", "application/json", ""}},
         bind(Healthz)});
  t.Add({"GET",
         "/readyz",
         "readyz",
         "Readiness",
         "health",
         false,
         {},
         {},
         "",
         {{200, "Ready", "application/json", ""}, Problem(503, "Draining or degraded")},
         bind(Readyz)});
  t.Add({"GET",
         "/metrics",
         "metrics",
         "Prometheus text exposition",
         "health",
         false,
         {},
         {},
         "",
         {{200, "The metrics", "text/plain", ""}},
         bind(GetMetrics)});
  t.Add({"GET",
         "/openapi.json",
         "openapi",
         "This document",
         "health",
         false,
         {},
         {},
         "",
         {{200, "OpenAPI 3.0", "application/json", ""}},
         bind(GetOpenApi)});
  t.Add({"GET",
         "/",
         "webPage",
         "The web page (docs/web.md)",
         "web",
         false,
         {},
         {{"If-None-Match", "string", "an ETag from an earlier answer"}},
         "",
         {{200, "The page", "text/html", ""}, {304, "Not modified", "", ""}},
         bind(GetWebPage)});
  t.Add({"GET",
         "/assets/{name}",
         "webAsset",
         "A file of the web page (script, style sheet)",
         "web",
         false,
         {},
         {{"If-None-Match", "string", "an ETag from an earlier answer"}},
         "",
         {{200, "The file (its own Content-Type)", "*/*", ""},
          {304, "Not modified", "", ""},
          Problem(404, "No such file")},
         bind(GetWebAsset)});
  return t;
}

}  // namespace stipple::http
