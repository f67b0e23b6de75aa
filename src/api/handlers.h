// The handlers of the route table, one file per resource. Each answers through the exchange;
// the gateway has already checked the route, the query parameters' names and the API key.
#pragma once

#include <memory>

#include "api/gateway.h"

namespace stipple::http {

using ExchangePtr = std::shared_ptr<Exchange>;

// tasks_handler.cc
void CreateTask(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
void GetTask(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
void ListTasks(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
void CancelTask(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// outputs_handler.cc
void GetOutput(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
void GetPreview(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// events_handler.cc
void StreamEvents(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// webhooks_handler.cc
void ListWebhookDeliveries(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// models_handler.cc
void ListModels(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// queue_handler.cc
void GetQueue(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
void ListWorkers(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// health_handler.cc
void Healthz(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
void Readyz(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// metrics_handler.cc
void GetMetrics(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// web_handler.cc: the web page (GET /) and its files (GET /assets/{name})
void GetWebPage(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
void GetWebAsset(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// websocket_handler.cc: GET /v1/ws.
void AddWebSocketRoutes(RouteTable& table, HandlerContext& ctx);
// openai_handler.cc: POST /v1/images/generations and POST /v1/images/edits.
void AddOpenAiRoutes(RouteTable& table, HandlerContext& ctx);
// openapi_handler.cc
void GetOpenApi(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// The OpenAPI 3.0 document of `routes`.
std::string BuildOpenApi(const RouteTable& routes);

// Shared by the task handlers (task_wait.cc).

// A task id as the path gave it: a well-formed id, else kNotFound (a malformed id names no task,
// so it answers 404 like an unknown one).
Status CheckTaskId(const std::string& id);

// Prefer: wait / wait=N. nullopt when the header asks for no wait; kInvalidArgument naming
// "Prefer" for a malformed or out-of-range wait.
Result<std::optional<int>> ParsePreferWait(std::optional<std::string_view> header, int default_s,
                                           int max_s);

// A place among the held requests (HeldRequests) for `request`'s tenant and client address;
// kResourceExhausted (429, counted in stipple_http_held_refused_total) at either bound. Taken
// before anything is submitted, kept until the held request is answered.
Result<HeldRequests::Slot> HoldRequest(HandlerContext& ctx, const HttpRequest& request);

// A place among the open event streams (HandlerContext::streams: SSE and WebSockets) for
// `request`'s tenant and client address; kResourceExhausted (429, counted in
// stipple_http_streams_refused_total) at either bound. Taken before the stream starts (before
// the WebSocket handshake), kept until it ends or its client goes.
Result<HeldRequests::Slot> HoldStream(HandlerContext& ctx, const HttpRequest& request);

// Answers `exchange` with answer(task) when the task reaches a terminal state, or with
// answer(nullopt) after `wait_s` (or when the exchange is aborted: the client closed its
// connection, the server is stopping). No thread waits; `slot` (HoldRequest) is released with
// the answer.
void AnswerWhenTerminal(HandlerContext& ctx, ExchangePtr exchange, HeldRequests::Slot slot,
                        const std::string& tenant, const std::string& task_id, int wait_s,
                        std::function<HttpResponse(const std::optional<Task>&)> answer);

// Whether an If-None-Match header value ("*" or a list of entity tags, compared weakly,
// RFC 9110 §13.1.2) matches `etag`: the answer is then 304 (outputs_handler.cc).
bool IfNoneMatchHits(std::string_view header, std::string_view etag);

// 200/202/409 with the task as the body (eta_s: TaskEta's estimate).
HttpResponse TaskResponse(int status, const Task& task, std::optional<double> eta_s = std::nullopt);

// The task's eta_s from the recent service rate; nullopt when unknown or terminal.
std::optional<double> TaskEta(HandlerContext& ctx, const Task& task);

// Admission, shared by every front door that creates tasks (POST /v1/tasks, the WebSocket's
// submit, the OpenAI-compatible endpoint; tasks_handler.cc): validates `body` (a
// GenerationRequest's JSON text) against the catalog and submits as `principal`'s tenant with
// its queued-task quota (the service refuses past it: kResourceExhausted with a retry hint). The
// rate limit is the caller's (the gateway takes a token per request).
Result<EnqueueResult> SubmitTask(HandlerContext& ctx, const Principal& principal,
                                 const std::string& body, std::string idempotency_key = "");

// The Retry-After, in seconds, of a refusal: the status's own hint (RetryAfterHint), else the
// configured default.
int RetryAfterS(const HandlerContext& ctx, const Status& status);

}  // namespace stipple::http
