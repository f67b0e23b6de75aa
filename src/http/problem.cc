#include "http/problem.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/json.h"

namespace stipple::http {

Problem ProblemFromStatus(const Status& status, int retry_after_s) {
  Problem p;
  p.detail = status.message();
  p.errors = status.field_errors();
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      p.status = 400, p.type = "invalid_request", p.title = "invalid request";
      break;
    case StatusCode::kUnauthenticated:
      p.status = 401, p.type = "unauthenticated", p.title = "missing or unknown API key";
      break;
    case StatusCode::kPermissionDenied:
      p.status = 403, p.type = "forbidden", p.title = "not allowed for this key";
      break;
    case StatusCode::kNotFound: p.status = 404, p.type = "not_found", p.title = "not found"; break;
    case StatusCode::kAlreadyExists:
      // The idempotency key was used with another body.
      p.status = 409, p.type = "idempotency_conflict", p.title = "idempotency key reused";
      break;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAborted:
      p.status = 409, p.type = "conflict", p.title = "not possible in the current state";
      break;
    case StatusCode::kOutOfRange:
      // TaskService::Output: the outputs expired.
      p.status = 410, p.type = "gone", p.title = "no longer available";
      break;
    case StatusCode::kResourceExhausted:
      p.status = 429, p.type = "too_many_requests", p.title = "too many requests";
      p.retry_after_s = retry_after_s;
      break;
    case StatusCode::kUnimplemented:
      p.status = 501, p.type = "not_implemented", p.title = "not implemented";
      break;
    case StatusCode::kUnavailable:
      p.status = 503, p.type = "unavailable", p.title = "temporarily unavailable";
      p.retry_after_s = retry_after_s;
      break;
    case StatusCode::kDeadlineExceeded:
      p.status = 504, p.type = "timeout", p.title = "timed out";
      break;
    case StatusCode::kOk:  // a caller bug: an OK status is not an error
    case StatusCode::kCancelled:
    case StatusCode::kUnknown:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      p.status = 500, p.type = "internal", p.title = "internal error";
      break;
  }
  return p;
}

HttpResponse ProblemResponse(const Problem& problem) {
  boost::json::object o;
  o["type"] = problem.type;
  o["title"] = problem.title;
  o["status"] = problem.status;
  if (!problem.detail.empty()) o["detail"] = problem.detail;
  if (!problem.errors.empty()) {
    boost::json::array errors;
    for (const FieldError& e : problem.errors) {
      errors.push_back(boost::json::object{{"field", e.field}, {"message", e.message}});
    }
    o["errors"] = std::move(errors);
  }
  HttpResponse r;
  r.status = problem.status;
  r.headers.Set("Content-Type", "application/problem+json");
  if (problem.retry_after_s) r.headers.Set("Retry-After", std::to_string(*problem.retry_after_s));
  if (problem.status == 401) r.headers.Set("WWW-Authenticate", "Bearer");
  r.body = WriteJson(o);
  r.problem = std::make_shared<const Problem>(problem);
  return r;
}

HttpResponse BadField(std::string field, std::string message) {
  std::string detail = field + ": " + message;
  return ErrorResponse(
      InvalidArgumentError(std::move(detail), {FieldError{std::move(field), std::move(message)}}));
}

HttpResponse UpgradeRequired() {
  HttpResponse r = ProblemResponse({426,
                                    "upgrade_required",
                                    "upgrade required",
                                    "this route speaks WebSocket only: send a WebSocket upgrade",
                                    {{"Upgrade", "must be websocket"}},
                                    {}});
  r.headers.Set("Upgrade", "websocket");
  return r;
}

HttpResponse JsonResponse(int status, std::string json_text) {
  HttpResponse r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(json_text);
  return r;
}

}  // namespace stipple::http
