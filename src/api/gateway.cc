#include "api/gateway.h"

#include <utility>

#include "api/websocket_offers.h"
#include "common/id.h"
#include "common/log.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      *out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      *out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      *out += in[i];
    }
  }
  return true;
}

// A browser cannot set Authorization on a WebSocket; it may offer the key as the subprotocol
// "bearer.KEY" instead (next to "stipple.v1", the one the server agrees to). "Bearer KEY", or
// "" when the upgrade carries no such offer.
std::string WebSocketBearer(const HttpRequest& request) {
  if (!request.headers.Get("Upgrade")) return "";
  for (const std::string& offer : OfferedProtocols(request.headers.Get("Sec-WebSocket-Protocol"))) {
    if (offer.size() > 7 && offer.starts_with("bearer.")) return "Bearer " + offer.substr(7);
  }
  return "";
}

}  // namespace

bool ParseTarget(std::string_view target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* query) {
  size_t q = target.find('?');
  *path = std::string(target.substr(0, q));
  query->clear();
  if (q == std::string_view::npos) return true;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    rest.remove_prefix(amp == std::string_view::npos ? rest.size() : amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string name, value;
    if (!PercentDecode(part.substr(0, eq), &name)) return false;
    if (eq != std::string_view::npos && !PercentDecode(part.substr(eq + 1), &value)) return false;
    query->emplace_back(std::move(name), std::move(value));
  }
  return true;
}

Gateway::Gateway(TaskService& service, ModelCatalog models, GatewayOptions options)
    : context_{service, std::move(models), std::move(options)},
      rate_limiter_(context_.options.rate_limit_per_s, context_.options.rate_limit_burst),
      keys_(std::make_shared<const ApiKeys>()) {
  context_.blocking_calls = std::make_unique<BlockingCalls>(context_.options.submit_threads);
  routes_ = BuildRouteTable(context_);
  context_.routes = &routes_;
  context_.rate_limiter = &rate_limiter_;
}

bool Gateway::TakesLargeBody(std::string_view method, std::string_view path) const {
  return method == "POST" && (path == "/v1/tasks" || path.starts_with("/v1/images/"));
}

Gateway::~Gateway() { FinishPending(); }

void Gateway::SetApiKeys(ApiKeys keys) {
  auto fresh = std::make_shared<const ApiKeys>(std::move(keys));
  MutexLock lock(keys_mu_);
  keys_ = std::move(fresh);
}

void Gateway::EnableWorkerProtocol(WorkSource& source, WorkerProtocolOptions options) {
  worker_protocol_ =
      std::make_unique<WorkerProtocol>(source, *context_.blocking_calls, std::move(options));
  worker_protocol_->AddRoutes(routes_);
}

void Gateway::Handle(HttpRequest request, std::shared_ptr<Exchange> exchange) {
  std::optional<std::string_view> given_id = request.headers.Get("X-Request-Id");
  bool bad_id = given_id && !IsValidRequestId(*given_id);
  request.request_id = given_id && !bad_id ? std::string(*given_id) : NewId("req");
  exchange->set_request_id(request.request_id);
  LogContext log_context({{"request_id", request.request_id}});
  if (bad_id) {
    return exchange->Respond(
        BadField("X-Request-Id", "must be 1..128 printable ASCII characters without spaces"));
  }
  if (!ParseTarget(request.target, &request.path, &request.query)) {
    return exchange->Respond(BadField("query", "malformed percent-encoding"));
  }
  // HEAD is GET without the body (the server leaves the body out, RFC 9110 §9.3.2).
  RouteTable::Match match =
      routes_.Find(request.method == "HEAD" ? "GET" : request.method, request.path);
  if (match.route == nullptr) {
    if (match.allowed.empty()) {
      return exchange->Respond(
          ProblemResponse({404, "not_found", "not found", "no route for " + request.path, {}, {}}));
    }
    std::string allow;
    for (const std::string& m : match.allowed) {
      allow += (allow.empty() ? "" : ", ") + m;
      if (m == "GET") allow += ", HEAD";
    }
    HttpResponse r = ProblemResponse({405,
                                      "method_not_allowed",
                                      "method not allowed",
                                      request.method + " is not allowed here; use " + allow,
                                      {},
                                      {}});
    r.headers.Set("Allow", allow);
    return exchange->Respond(std::move(r));
  }
  const Route& route = *match.route;
  exchange->set_route(route.pattern);
  if (route.openai_errors) exchange = WithOpenAiErrors(std::move(exchange));
  request.path_params = std::move(match.params);
  for (const auto& [name, value] : request.query) {
    bool declared = false;
    for (const ParamSpec& p : route.query) declared = declared || p.name == name;
    if (!declared) return exchange->Respond(BadField(name, "unknown query parameter"));
  }
  bool needs_key =
      route.needs_key || (route.pattern == "/metrics" && context_.options.metrics_need_key);
  if (needs_key) {
    std::shared_ptr<const ApiKeys> keys;
    {
      MutexLock lock(keys_mu_);
      keys = keys_;
    }
    std::optional<std::string_view> authorization = request.headers.Get("Authorization");
    std::string from_protocol;
    if (!authorization && !(from_protocol = WebSocketBearer(request)).empty()) {
      authorization = from_protocol;
    }
    Result<Principal> principal = keys->Authenticate(authorization);
    if (!principal.ok()) return exchange->Respond(ErrorResponse(principal.status()));
    request.principal = std::move(principal).value();
    if (!request.principal.key_id.empty()) {
      int wait_s = rate_limiter_.Take(request.principal.key_id, std::chrono::steady_clock::now());
      if (wait_s > 0) {
        ++context_.metrics.rate_limited;
        return exchange->Respond(
            ErrorResponse(ResourceExhaustedError("rate limit of this API key exceeded"), wait_s));
      }
    }
  }
  route.handler(request, std::move(exchange));
}

}  // namespace stipple::http
