// The gateway: the HTTP API of API.md on top of a TaskService, independent of the transport.
// It is the RequestHandler (http/request_handler.h) of an HttpServer, which parses requests
// off sockets and hands each one to Gateway::Handle (api_server.h puts the two together);
// tests may call Handle directly with their own Exchange.
//
// Handle, per request: X-Request-Id (validated, echoed, generated when absent, put in the log
// context), the route table (404, 405 with Allow), undeclared query parameters (400), the API
// key (401), the per-key rate limit (429), then the route's handler.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "api/api_keys.h"
#include "api/blocking_calls.h"
#include "api/held_requests.h"
#include "api/metrics.h"
#include "api/rate_limiter.h"
#include "api/worker_protocol.h"
#include "common/clock.h"
#include "common/thread_annotations.h"
#include "core/generation_request.h"
#include "http/http_message.h"
#include "http/request_handler.h"
#include "http/route_table.h"
#include "service/image_inputs.h"
#include "service/task_service.h"
#include "service/webhook_deliveries.h"

namespace stipple::http {

struct GatewayOptions {
  // Prefer: wait (and wait=N, 1..max_wait_s).
  int default_wait_s = 60;
  int max_wait_s = 300;
  // Keep-alive comment interval of an SSE stream.
  std::chrono::milliseconds sse_keepalive{15'000};
  // Retry-After of 429 and 503 answers.
  int retry_after_s = 5;
  // NewTask::max_attempts of every submitted task.
  int max_attempts = 3;
  // desired_workers: the backlog should clear within this many seconds (docs/http.md).
  double target_wait_s = 30;
  // Per API key; 0 disables. Open servers (no keys) are not limited.
  double rate_limit_per_s = 0;
  double rate_limit_burst = 20;
  // Whether /metrics needs an API key (when keys are configured).
  bool metrics_need_key = false;
  // Queued tasks one tenant may have, enforced by the service with the enqueue
  // (NewTask::tenant_max_queued); a submission beyond it answers 429 with a Retry-After
  // estimated from the tenant's oldest queued task (docs/http.md). 0: no quota.
  int64_t tenant_max_queued = 0;
  // Requests held open by Prefer: wait at once (a long poll, a submit that waits, the
  // OpenAI-compatible endpoint), per tenant and per client address; one more answers 429
  // (Retry-After: retry_after_s) before anything is submitted. 0: no bound. Behind a reverse
  // proxy every client has the proxy's address: raise or disable the address bound there.
  int max_held_per_tenant = 1000;
  int max_held_per_address = 250;
  // Event streams open at once (SSE GET /v1/tasks/{id}/events, WebSockets GET /v1/ws), per
  // tenant and per client address; one more answers 429 (Retry-After: retry_after_s) before the
  // stream starts or the WebSocket handshake. A stream's place is freed when it ends or its
  // client goes. 0: no bound. Below the connection cap's default even at RLIMIT_NOFILE 1024
  // (832), so one tenant or address cannot take every connection with streams.
  int max_streams_per_tenant = 500;
  int max_streams_per_address = 250;
  // Task subscriptions one WebSocket may hold (the tenant feed is not counted); a subscribe or
  // submit past it answers an error frame naming the bound and subscribes nothing.
  int max_ws_subscriptions = 1000;
  // Threads that run the service calls that wait on a store commit or a result-store write
  // (Submit, Cancel, the worker protocol's reports and leases) off the I/O threads: this many
  // such calls can share one commit of the store (blocking_calls.h).
  int submit_threads = 64;
  const Clock* clock = SystemClock::Get();
  SeedSource seeds = RandomSeedSource();
  // Webhooks. check_webhook vets a submitted webhook's target (the SSRF guard; an error names
  // "webhook.url"); unset: only ParseGenerationRequest's URL checks. `webhooks` is the delivery
  // log behind GET /v1/tasks/{id}/webhooks (service/webhook_deliveries.h; null: that route
  // answers every task with no deliveries). Both outlive the gateway.
  std::function<Status(const WebhookSpec&)> check_webhook;
  WebhookDeliveries* webhooks = nullptr;
  // Resolves a submitted request's init_image and mask_image (service/image_inputs.h) before the
  // task is stored; outlives the gateway. Null: a request with an image input is refused (400
  // naming init_image).
  ImageInputs* image_inputs = nullptr;
};

// What handlers share. Owned by the Gateway; handlers get a reference.
struct HandlerContext {
  TaskService& service;
  ModelCatalog models;
  GatewayOptions options;
  HttpMetrics metrics;
  std::atomic<bool> draining{false};
  const RouteTable* routes = nullptr;   // for /openapi.json
  RateLimiter* rate_limiter = nullptr;  // the per-key limit, for messages past the request
  ServiceRateCache rates;               // for eta_s and Retry-After estimates
  // Before blocking_calls: a queued Submit may hold a slot.
  HeldRequests held{options.max_held_per_tenant, options.max_held_per_address,
                    "requests open with Prefer: wait", "retry later or poll without waiting"};
  // Open event streams (SSE and WebSockets): HoldStream.
  HeldRequests streams{options.max_streams_per_tenant, options.max_streams_per_address,
                       "event streams open (SSE and WebSockets)",
                       "close one or follow several tasks on one WebSocket"};
  // Set by the Gateway; runs Submit, Cancel and the worker protocol's exchanges.
  std::unique_ptr<BlockingCalls> blocking_calls;

  // The tenant whose tasks the caller may see: every tenant ("") for an admin key.
  static std::string ViewTenant(const Principal& p) { return p.admin ? "" : p.tenant; }
};

class Gateway : public RequestHandler {
 public:
  Gateway(TaskService& service, ModelCatalog models, GatewayOptions options);
  // FinishPending() first: a queued call may need the worker protocol.
  ~Gateway() override;

  // Call on the exchange's strand (the server does).
  void Handle(HttpRequest request, std::shared_ptr<Exchange> exchange) override;
  // The submits, which may carry images as data: URLs (docs/http.md, "Image inputs"): POST
  // /v1/tasks and POST /v1/images/*.
  bool TakesLargeBody(std::string_view method, std::string_view path) const override;

  // Replaces the API keys (e.g. on SIGHUP; any thread, while I/O threads call Handle); requests
  // already authenticated are unaffected.
  void SetApiKeys(ApiKeys keys);
  // /readyz answers 503 from now on (the server calls this when it starts stopping).
  // Held worker-protocol asks answer nothing more.
  void SetDraining() override {
    context_.draining = true;
    if (worker_protocol_) worker_protocol_->Stop();
  }

  // Runs the blocking calls already queued (submits, cancels, worker exchanges), then stops
  // their threads; later ones run on the caller's thread. The server calls this while stopping,
  // before its I/O threads stop.
  void FinishPending() override { context_.blocking_calls->Finish(); }

  // Serves the worker protocol (POST /v1/worker/exchange, worker_protocol.h) over `source`.
  // Call before the server starts; `source` must outlive the gateway.
  void EnableWorkerProtocol(WorkSource& source, WorkerProtocolOptions options);

  const RouteTable& routes() const { return routes_; }
  HttpMetrics& metrics() { return context_.metrics; }
  TransportMetrics& transport_metrics() override { return context_.metrics; }

 private:
  HandlerContext context_;
  RouteTable routes_;
  RateLimiter rate_limiter_;
  Mutex keys_mu_;
  std::shared_ptr<const ApiKeys> keys_ GUARDED_BY(keys_mu_);
  std::unique_ptr<WorkerProtocol> worker_protocol_;
};

// The route table of API.md with every handler bound to `context` (routes.cc). Other front
// doors (the WebSocket, the OpenAI-compatible endpoint, the worker protocol) add their routes
// to the table returned here.
RouteTable BuildRouteTable(HandlerContext& context);

// `exchange` with its problem+json answers rewritten in OpenAI's error shape, for routes with
// Route::openai_errors (openai_handler.cc).
std::shared_ptr<Exchange> WithOpenAiErrors(std::shared_ptr<Exchange> exchange);

// Splits a request target into path and percent-decoded query parameters; false when the
// percent-encoding is broken.
bool ParseTarget(std::string_view target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* query);

}  // namespace stipple::http
