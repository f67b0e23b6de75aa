// Errors as HTTP answers: RFC 9457 problem documents (application/problem+json).
//
// ProblemFromStatus is the one place where a Status becomes an HTTP status code: every handler
// hands its non-OK Status to it. Errors of the HTTP protocol itself (no such route, wrong method,
// body or header too large, wrong content type) have no Status; they are built as Problems
// directly by the server and the gateway. ProblemResponse renders either kind.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/http_message.h"

namespace stipple::http {

struct Problem {
  int status = 500;
  std::string type = "internal";  // stable machine-readable code (API.md "Errors")
  std::string title;              // short, the same for every problem of this type
  std::string detail;             // this occurrence
  std::vector<FieldError> errors;
  std::optional<int> retry_after_s;  // sent as Retry-After
};

// The mapping (docs/http.md, "Error mapping"). `retry_after_s` is used for the codes that
// answer 429 and 503.
Problem ProblemFromStatus(const Status& status, int retry_after_s = 1);

// The response: status, Content-Type application/problem+json, Retry-After when set, and
// WWW-Authenticate for 401.
HttpResponse ProblemResponse(const Problem& problem);
inline HttpResponse ErrorResponse(const Status& status, int retry_after_s = 1) {
  return ProblemResponse(ProblemFromStatus(status, retry_after_s));
}

// A 400 invalid_request naming one field.
HttpResponse BadField(std::string field, std::string message);

// 426 upgrade_required with Upgrade: websocket (field Upgrade): the answer to a plain request
// on a WebSocket route.
HttpResponse UpgradeRequired();

// 200 (or `status`) with a JSON body.
HttpResponse JsonResponse(int status, std::string json_text);

}  // namespace stipple::http
