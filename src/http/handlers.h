// The handlers of the route table, one file per resource. Each answers through the exchange;
// the gateway has already checked the route, the query parameters' names and the API key.
#pragma once

#include <memory>

#include "http/gateway.h"

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
// health_handler.cc
void Healthz(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
void Readyz(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
// metrics_handler.cc
void GetMetrics(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange);
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

// Answers `exchange` with answer(task) when the task reaches a terminal state, or with
// answer(nullopt) after `wait_s` (or when the exchange is aborted). No thread waits.
void AnswerWhenTerminal(HandlerContext& ctx, ExchangePtr exchange, const std::string& tenant,
                        const std::string& task_id, int wait_s,
                        std::function<HttpResponse(const std::optional<Task>&)> answer);

// 200/202/409 with the task as the body.
HttpResponse TaskResponse(int status, const Task& task);

}  // namespace stipple::http
