// /v1/tasks: create (async or sync), read (with long poll), list, cancel.
#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cctype>
#include <charconv>
#include <cmath>

#include "api/handlers.h"
#include "common/id.h"
#include "common/log.h"
#include "core/json.h"
#include "core/task_json.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

bool IsJsonContentType(std::optional<std::string_view> value) {
  if (!value) return false;
  std::string_view media = value->substr(0, value->find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  while (!media.empty() && media.front() == ' ') media.remove_prefix(1);
  std::string lower;
  for (char c : media) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json";
}

bool IsValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::string Applied(int wait_s) { return "wait=" + std::to_string(wait_s); }

// Answers with the task now, or once it ends within `wait_s`: 200 when it ended, else 202 with
// the task as it is then (`final_status` is the answer for a task still going when the wait
// ends: 202 for a create, 200 for a long poll).
void AnswerAfterWait(HandlerContext& ctx, ExchangePtr exchange, HeldRequests::Slot slot,
                     const std::string& tenant, const std::string& task_id, int wait_s,
                     int final_status) {
  HandlerContext* c = &ctx;
  AnswerWhenTerminal(ctx, exchange, std::move(slot), tenant, task_id, wait_s,
                     [c, tenant, task_id, wait_s, final_status](const std::optional<Task>& ended) {
                       HttpResponse r;
                       if (ended) {
                         r = TaskResponse(200, *ended);
                       } else {
                         Result<Task> now = c->service.Get(tenant, task_id);
                         if (!now.ok())
                           return ErrorResponse(now.status(), c->options.retry_after_s);
                         r = TaskResponse(IsTerminal(now->state) ? 200 : final_status, *now,
                                          TaskEta(*c, *now));
                       }
                       r.headers.Set("Preference-Applied", Applied(wait_s));
                       return r;
                     });
}

}  // namespace

void CreateTask(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  if (!IsJsonContentType(request.headers.Get("Content-Type"))) {
    return exchange->Respond(ProblemResponse({415,
                                              "unsupported_media_type",
                                              "unsupported media type",
                                              "the body must be application/json",
                                              {{"Content-Type", "must be application/json"}},
                                              {}}));
  }
  std::string idempotency_key;
  if (auto key = request.headers.Get("Idempotency-Key")) {
    if (!IsValidIdempotencyKey(*key)) {
      return exchange->Respond(
          BadField("Idempotency-Key", "must be 1..255 printable ASCII characters"));
    }
    idempotency_key = std::string(*key);
  }
  Result<std::optional<int>> wait = ParsePreferWait(
      request.headers.Get("Prefer"), ctx.options.default_wait_s, ctx.options.max_wait_s);
  if (!wait.ok()) return exchange->Respond(ErrorResponse(wait.status()));
  Result<HeldRequests::Slot> slot = *wait ? HoldRequest(ctx, request) : HeldRequests::Slot();
  if (!slot.ok()) return exchange->Respond(ErrorResponse(slot.status(), ctx.options.retry_after_s));
  // Submit returns once the task is durable: off the I/O thread (blocking_calls.h), answered
  // on the strand.
  ctx.blocking_calls->Run([&ctx, exchange, principal = request.principal, body = request.body,
                           key = std::move(idempotency_key), wait = *wait, slot = *slot]() mutable {
    LogContext log_context({{"request_id", exchange->request_id()}});
    auto submitted =
        std::make_shared<Result<EnqueueResult>>(SubmitTask(ctx, principal, body, std::move(key)));
    exchange->Post([&ctx, exchange, submitted, wait, slot, tenant = principal.tenant] {
      if (!submitted->ok()) {
        return exchange->Respond(
            ErrorResponse(submitted->status(), RetryAfterS(ctx, submitted->status())));
      }
      const Task& created = (*submitted)->task;
      if (IsTerminal(created.state)) return exchange->Respond(TaskResponse(200, created));
      if (wait) return AnswerAfterWait(ctx, exchange, slot, tenant, created.id, *wait, 202);
      exchange->Respond(TaskResponse(202, created, TaskEta(ctx, created)));
    });
  });
}

Result<EnqueueResult> SubmitTask(HandlerContext& ctx, const Principal& principal,
                                 const std::string& body, std::string idempotency_key) {
  ASSIGN_OR_RETURN(GenerationRequest parsed,
                   ParseGenerationRequest(body, ctx.models, ctx.options.seeds));
  // The webhook's target (SSRF guard; it may resolve a name, so it runs off the I/O threads for
  // POST /v1/tasks).
  if (parsed.webhook && ctx.options.check_webhook) {
    RETURN_IF_ERROR(ctx.options.check_webhook(*parsed.webhook));
  }
  // Image inputs: fetched or decoded, checked and stored by content hash, so that the stored
  // request holds only their references (blocks: a download, a result-store write).
  if (parsed.init_image || parsed.mask_image) {
    if (ctx.options.image_inputs == nullptr) {
      return InvalidArgumentError("invalid request",
                                  {{"init_image", "this server does not take image inputs"}});
    }
    RETURN_IF_ERROR(ctx.options.image_inputs->Resolve(parsed, *ctx.models.Find(parsed.model)));
  }
  NewTask task;
  task.id = NewId("tsk");
  task.tenant = principal.tenant;
  task.request = std::move(parsed);
  task.idempotency_key = std::move(idempotency_key);
  task.request_fingerprint = RequestFingerprint(body);
  task.max_attempts = ctx.options.max_attempts;
  // The service checks the quota atomically with the enqueue (TenantQuotaError).
  task.tenant_max_queued = ctx.options.tenant_max_queued;
  Result<EnqueueResult> submitted = ctx.service.Submit(task);
  if (!submitted.ok()) {
    LogInfo("task refused", {{"reason", submitted.status().ToString()}});
    return submitted.status();
  }
  LogInfo(submitted->created ? "task created" : "task replayed (idempotency key)",
          {{"task_id", submitted->task.id}, {"model", submitted->task.request.model}});
  return submitted;
}

int RetryAfterS(const HandlerContext& ctx, const Status& status) {
  if (std::optional<Millis> hint = RetryAfterHint(status)) {
    return static_cast<int>(std::max<int64_t>(1, (hint->count() + 999) / 1000));
  }
  return ctx.options.retry_after_s;
}

std::optional<double> TaskEta(HandlerContext& ctx, const Task& task) {
  if (IsTerminal(task.state)) return std::nullopt;
  Timestamp now = ctx.options.clock->Now();
  return EstimateTaskEta(task, ctx.rates.Get(ctx.service, now), now);
}

void GetTask(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  const std::string& id = request.path_params["id"];
  if (Status s = CheckTaskId(id); !s.ok()) return exchange->Respond(ErrorResponse(s));
  Result<std::optional<int>> wait = ParsePreferWait(
      request.headers.Get("Prefer"), ctx.options.default_wait_s, ctx.options.max_wait_s);
  if (!wait.ok()) return exchange->Respond(ErrorResponse(wait.status()));
  std::string tenant = HandlerContext::ViewTenant(request.principal);
  Result<Task> task = ctx.service.Get(tenant, id);
  if (!task.ok()) return exchange->Respond(ErrorResponse(task.status(), ctx.options.retry_after_s));
  if (*wait && !IsTerminal(task->state)) {
    Result<HeldRequests::Slot> slot = HoldRequest(ctx, request);
    if (!slot.ok())
      return exchange->Respond(ErrorResponse(slot.status(), ctx.options.retry_after_s));
    return AnswerAfterWait(ctx, exchange, *slot, tenant, id, **wait, 200);
  }
  exchange->Respond(TaskResponse(200, *task, TaskEta(ctx, *task)));
}

void ListTasks(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  ListQuery query;
  query.tenant = HandlerContext::ViewTenant(request.principal);
  if (auto status = request.Query("status")) {
    std::optional<TaskState> state = ParseTaskState(*status);
    if (!state) {
      return exchange->Respond(BadField(
          "status", "must be one of queued, running, succeeded, failed, canceled, expired"));
    }
    query.state = state;
  }
  if (auto limit = request.Query("limit")) {
    int n = 0;
    auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
    if (limit->empty() || ec != std::errc() || end != limit->data() + limit->size() || n < 1 ||
        n > 100) {
      return exchange->Respond(BadField("limit", "must be an integer between 1 and 100"));
    }
    query.limit = n;
  }
  if (auto cursor = request.Query("cursor")) {
    if (cursor->empty() || cursor->size() > 512) {
      return exchange->Respond(BadField("cursor", "must be a next_cursor of an earlier page"));
    }
    query.cursor = std::string(*cursor);
  }
  Result<TaskPage> page = ctx.service.List(query);
  if (!page.ok()) {
    Status s = page.status();
    // The service cannot know the parameter's name; a bad cursor is the only bad input left.
    if (s.code() == StatusCode::kInvalidArgument && s.field_errors().empty()) {
      return exchange->Respond(BadField("cursor", s.message()));
    }
    return exchange->Respond(ErrorResponse(s, ctx.options.retry_after_s));
  }
  boost::json::array data;
  for (const Task& task : page->tasks) data.push_back(TaskToJson(task, TaskEta(ctx, task)));
  boost::json::object body;
  body["data"] = std::move(data);
  body["next_cursor"] = page->next_cursor.empty() ? boost::json::value(nullptr)
                                                  : boost::json::value(page->next_cursor);
  exchange->Respond(JsonResponse(200, WriteJson(body)));
}

void CancelTask(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  const std::string& id = request.path_params["id"];
  if (Status s = CheckTaskId(id); !s.ok()) return exchange->Respond(ErrorResponse(s));
  // A cancel commits (and may wait on the store): off the I/O thread (blocking_calls.h),
  // answered on the strand.
  ctx.blocking_calls->Run([&ctx, exchange, tenant = HandlerContext::ViewTenant(request.principal),
                           id]() mutable {
    LogContext log_context({{"request_id", exchange->request_id()}});
    auto result = std::make_shared<Result<CancelResult>>(ctx.service.Cancel(tenant, id));
    if (result->ok()) {
      LogInfo(
          "task cancel",
          {{"task_id", id}, {"already_terminal", (*result)->already_terminal ? "true" : "false"}});
    }
    exchange->Post([&ctx, exchange, result] {
      if (!result->ok()) {
        return exchange->Respond(ErrorResponse(result->status(), ctx.options.retry_after_s));
      }
      const CancelResult& r = **result;
      exchange->Respond(TaskResponse(r.already_terminal ? 409 : 200, r.task, TaskEta(ctx, r.task)));
    });
  });
}

}  // namespace stipple::http
