// POST /v1/images/generations and POST /v1/images/edits: OpenAI's Images API on stipple's queue
// (docs/http.md, "OpenAI-compatible endpoints"). The request becomes a GenerationRequest
// (openai_request.h), goes through the same admission as POST /v1/tasks, and is waited for like a
// synchronous task; every error is given in OpenAI's shape by OpenAiErrorExchange.
#include <boost/json.hpp>
#include <cctype>

#include "api/handlers.h"
#include "api/openai_request.h"
#include "common/base64.h"
#include "common/log.h"
#include "core/json.h"
#include "core/task_json.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

namespace json = boost::json;

// Renames the fields of a GenerationRequest error to the OpenAI request's.
std::string OpenAiField(const std::string& field) {
  if (field == "num_images") return "n";
  if (field == "width" || field == "height") return "size";
  if (field == "metadata") return "user";
  if (field == "init_image") return "image";
  if (field == "mask_image") return "mask";
  return field;
}

// {"error": {"message", "type", "param", "code"}} from a problem answer (ProblemResponse's, whose
// Problem it carries), same status and headers. Other answers pass as they are.
HttpResponse ToOpenAiError(HttpResponse r) {
  if (r.problem == nullptr) return r;
  const Problem& p = *r.problem;
  const std::string& message = p.detail.empty() ? p.title : p.detail;
  json::value param = nullptr;
  if (!p.errors.empty()) param = json::value(p.errors.front().field);
  std::string type = "invalid_request_error";
  std::string code = p.type;
  if (r.status == 401) {
    type = "authentication_error", code = "invalid_api_key";
  } else if (r.status == 403) {
    type = "permission_error";
  } else if (r.status == 429) {
    type = "rate_limit_error";
  } else if (r.status >= 500) {
    type = "server_error";
  }
  json::object error{{"message", message}, {"type", type}, {"param", param}, {"code", code}};
  r.headers.Set("Content-Type", "application/json");
  r.body = WriteJson(json::object{{"error", std::move(error)}});
  r.problem.reset();
  return r;
}

// Passes everything through to `inner`, turning problem answers into OpenAI's shape.
class OpenAiErrorExchange : public Exchange {
 public:
  explicit OpenAiErrorExchange(std::shared_ptr<Exchange> inner) : inner_(std::move(inner)) {
    set_request_id(inner_->request_id());
    set_route(inner_->route());
  }
  void Respond(HttpResponse response) override {
    inner_->Respond(ToOpenAiError(std::move(response)));
  }
  void StartStream(HttpResponse head) override { inner_->StartStream(std::move(head)); }
  void Write(std::string bytes) override { inner_->Write(std::move(bytes)); }
  void EndStream() override { inner_->EndStream(); }
  void AcceptWebSocket(HttpHeaders headers, WebSocketSessionFactory factory) override {
    inner_->AcceptWebSocket(std::move(headers), std::move(factory));
  }
  void Post(std::function<void()> fn) override { inner_->Post(std::move(fn)); }
  std::unique_ptr<TimerHandle> After(std::chrono::milliseconds delay,
                                     std::function<void()> fn) override {
    return inner_->After(delay, std::move(fn));
  }
  void OnAbort(std::function<void()> fn) override { inner_->OnAbort(std::move(fn)); }

 private:
  std::shared_ptr<Exchange> inner_;
};

// The media type of a Content-Type header, lower case, without parameters or spaces.
std::string MediaType(std::string_view content_type) {
  std::string media;
  for (char c : content_type.substr(0, content_type.find(';'))) {
    if (c != ' ') media += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return media;
}

// The answer once the task ended (or the wait ran out: `task` empty).
HttpResponse Answer(HandlerContext& ctx, const std::string& tenant, const std::string& task_id,
                    bool url, const std::string& base_url, int wait_s,
                    const std::optional<Task>& task) {
  HttpResponse r;
  if (!task) {
    r = ErrorResponse(DeadlineExceededError("the image was not ready within " +
                                            std::to_string(wait_s) +
                                            " s; the task goes on: " + TaskUrl(task_id)));
  } else if (task->state == TaskState::kSucceeded) {
    json::array data;
    for (const TaskOutput& output : task->outputs) {
      if (url) {
        data.push_back(json::object{{"url", base_url + TaskOutputUrl(task_id, output.index)}});
        continue;
      }
      Result<OutputBlob> blob = ctx.service.Output(tenant, task_id, output.index);
      if (!blob.ok()) return ErrorResponse(blob.status(), ctx.options.retry_after_s);
      data.push_back(json::object{{"b64_json", Base64Encode(blob->bytes)}});
    }
    r = JsonResponse(200, WriteJson(json::object{{"created", ToUnixMillis(task->created_at) / 1000},
                                                 {"data", std::move(data)}}));
  } else {
    std::string why = task->error ? task->error->message : std::string(TaskStateName(task->state));
    Status s = task->state == TaskState::kCanceled
                   ? Status(StatusCode::kAborted, "canceled: " + why)
               : task->state == TaskState::kExpired ? UnavailableError("expired: " + why)
                                                    : InternalError("generation failed: " + why);
    r = ErrorResponse(s, ctx.options.retry_after_s);
  }
  r.headers.Set("X-Stipple-Task-Id", task_id);
  return r;
}

void AnswerSubmitted(HandlerContext& ctx, const ExchangePtr& exchange,
                     const Result<EnqueueResult>& submitted, const std::string& tenant, bool url,
                     const std::string& base_url, HeldRequests::Slot slot);

// Submits `translated` through the same admission as POST /v1/tasks and answers with the images
// when the task ends.
void SubmitAndAnswer(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange,
                     OpenAiRequest translated) {
  std::optional<std::string_view> host = request.headers.Get("Host");
  std::optional<std::string_view> proto = request.headers.Get("X-Forwarded-Proto");
  std::string base_url =
      std::string(proto == std::optional<std::string_view>("https") ? "https://" : "http://") +
      std::string(host.value_or("localhost"));
  // The answer holds the request until the images are ready: within the held-request bounds.
  Result<HeldRequests::Slot> slot = HoldRequest(ctx, request);
  if (!slot.ok()) return exchange->Respond(ErrorResponse(slot.status(), ctx.options.retry_after_s));
  // Submit returns once the task is durable: off the I/O thread (blocking_calls.h), answered
  // on the strand.
  ctx.blocking_calls->Run([&ctx, exchange, principal = request.principal,
                           translated = std::move(translated), base_url = std::move(base_url),
                           slot = std::move(*slot)]() mutable {
    LogContext log_context({{"request_id", exchange->request_id()}});
    auto submitted = std::make_shared<Result<EnqueueResult>>(
        SubmitTask(ctx, principal, WriteJson(translated.stipple)));
    exchange->Post([&ctx, exchange, submitted, tenant = principal.tenant, url = translated.url,
                    base_url = std::move(base_url), slot = std::move(slot)] {
      AnswerSubmitted(ctx, exchange, *submitted, tenant, url, base_url, slot);
    });
  });
}

void GenerateImages(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  if (MediaType(request.headers.Get("Content-Type").value_or("")) != "application/json") {
    return exchange->Respond(ProblemResponse({415,
                                              "unsupported_media_type",
                                              "unsupported media type",
                                              "the body must be application/json",
                                              {{"Content-Type", "must be application/json"}},
                                              {}}));
  }
  Result<OpenAiRequest> translated = TranslateGenerationRequest(request.body);
  if (!translated.ok()) return exchange->Respond(ErrorResponse(translated.status()));
  SubmitAndAnswer(ctx, request, std::move(exchange), std::move(*translated));
}

void EditImages(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  std::string_view content_type = request.headers.Get("Content-Type").value_or("");
  if (MediaType(content_type) != "multipart/form-data") {
    return exchange->Respond(ProblemResponse({415,
                                              "unsupported_media_type",
                                              "unsupported media type",
                                              "the body must be multipart/form-data",
                                              {{"Content-Type", "must be multipart/form-data"}},
                                              {}}));
  }
  Result<OpenAiRequest> translated = TranslateEditRequest(content_type, request.body);
  if (!translated.ok()) return exchange->Respond(ErrorResponse(translated.status()));
  SubmitAndAnswer(ctx, request, std::move(exchange), std::move(*translated));
}

// The answer once Submit returned, on the exchange's strand: the error, or the images when the
// task ends (within the longest wait).
void AnswerSubmitted(HandlerContext& ctx, const ExchangePtr& exchange,
                     const Result<EnqueueResult>& submitted, const std::string& tenant, bool url,
                     const std::string& base_url, HeldRequests::Slot slot) {
  if (!submitted.ok()) {
    Status s = submitted.status();
    std::vector<FieldError> errors;
    std::string detail = s.message();
    for (const FieldError& e : s.field_errors()) {
      errors.push_back({OpenAiField(e.field), e.message});
    }
    if (!errors.empty()) detail = errors[0].field + ": " + errors[0].message;
    return exchange->Respond(
        ErrorResponse(Status(s.code(), detail, std::move(errors)), RetryAfterS(ctx, s)));
  }
  std::string task_id = submitted->task.id;
  int wait_s = ctx.options.max_wait_s;
  HandlerContext* c = &ctx;
  AnswerWhenTerminal(ctx, exchange, std::move(slot), tenant, task_id, wait_s,
                     [c, tenant, task_id, url, base_url, wait_s](const std::optional<Task>& task) {
                       return Answer(*c, tenant, task_id, url, base_url, wait_s, task);
                     });
}

}  // namespace

std::shared_ptr<Exchange> WithOpenAiErrors(std::shared_ptr<Exchange> exchange) {
  return std::make_shared<OpenAiErrorExchange>(std::move(exchange));
}

void AddOpenAiRoutes(RouteTable& t, HandlerContext& ctx) {
  auto error = [](int status, std::string description) {
    return ResponseSpec{status, std::move(description), "application/json", "OpenAiError"};
  };
  Route route{"POST",
              "/v1/images/generations",
              "createImage",
              "OpenAI-compatible image generation (synchronous; OpenAI's request, answer and "
              "errors)",
              "openai",
              true,
              {},
              {},
              "OpenAiImageRequest",
              {{200, "The images", "application/json", "OpenAiImages"},
               error(400, "Invalid request; param names the field"),
               error(401, "Missing or unknown API key"),
               error(415, "Content-Type is not JSON"),
               error(429, "Queue full, tenant quota or rate limit; Retry-After"),
               error(500, "The generation failed"),
               error(503, "Draining"),
               error(504, "Not ready within the wait; the task goes on")},
              [&ctx](HttpRequest& request, ExchangePtr exchange) {
                GenerateImages(ctx, request, std::move(exchange));
              }};
  route.openai_errors = true;
  t.Add(std::move(route));

  Route edits{"POST",
              "/v1/images/edits",
              "createImageEdit",
              "OpenAI-compatible image editing (synchronous; multipart/form-data with the image "
              "and an optional mask whose transparent pixels mark what to repaint)",
              "openai",
              true,
              {},
              {},
              "OpenAiImageEditRequest",
              {{200, "The images", "application/json", "OpenAiImages"},
               error(400, "Invalid request or image; param names the field"),
               error(401, "Missing or unknown API key"),
               error(413, "Body over the limit"),
               error(415, "Content-Type is not multipart/form-data"),
               error(429, "Queue full, tenant quota or rate limit; Retry-After"),
               error(500, "The generation failed"),
               error(503, "Draining"),
               error(504, "Not ready within the wait; the task goes on")},
              [&ctx](HttpRequest& request, ExchangePtr exchange) {
                EditImages(ctx, request, std::move(exchange));
              }};
  edits.request_content_type = "multipart/form-data";
  edits.openai_errors = true;
  t.Add(std::move(edits));
}

}  // namespace stipple::http
