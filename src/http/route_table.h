// The one route table: every endpoint's method, path pattern, handler and what the OpenAPI
// document says about it. Dispatch, 404/405 (with Allow), the query-parameter check and
// /openapi.json all come from it, so they cannot drift apart.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_message.h"

namespace stipple::http {

using Handler = std::function<void(HttpRequest& request, std::shared_ptr<Exchange> exchange)>;

// A query or header parameter. Query parameters not listed on a route are refused (400).
struct ParamSpec {
  std::string name;
  std::string type = "string";  // OpenAPI type: "string" or "integer"
  std::string description;
};

struct ResponseSpec {
  int status = 200;
  std::string description;
  std::string content_type = "application/json";  // "" for no body
  std::string schema;                             // a component schema name ("Task"); "" for none
};

struct Route {
  std::string method;   // "GET", "POST"
  std::string pattern;  // "/v1/tasks/{id}/outputs/{index}"; {name} matches one segment
  std::string operation_id;
  std::string summary;
  std::string tag;
  bool needs_key = true;  // Authorization: Bearer when API keys are configured
  std::vector<ParamSpec> query;
  std::vector<ParamSpec> headers;
  std::string request_schema;  // the body's component schema; "" when there is no body
  std::vector<ResponseSpec> responses;
  Handler handler;
  // Errors in OpenAI's shape instead of problem+json (the OpenAI-compatible endpoint), the
  // gateway's own (401, 429) included.
  bool openai_errors = false;
  std::string request_content_type = "application/json";  // the body's media type
};

class RouteTable {
 public:
  // Routes are tried in the order added.
  void Add(Route route);

  struct Match {
    const Route* route = nullptr;  // null: see `allowed`
    std::map<std::string, std::string, std::less<>> params;
    // When no route matched the method: the methods the path allows (405 with Allow), or
    // empty when no pattern matches the path at all (404).
    std::vector<std::string> allowed;
  };
  Match Find(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Whether `path` fits `pattern`, filling `params` from its {name} segments.
bool MatchPattern(std::string_view pattern, std::string_view path,
                  std::map<std::string, std::string, std::less<>>* params);

}  // namespace stipple::http
