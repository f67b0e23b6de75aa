// TestServer: a FakeTaskService behind a started ApiServer, and the tests' options and catalog.
#include <cstdlib>
#include <utility>

#include "api/testing/http_test_support.h"

namespace stipple::http::testing {

ModelCatalog TestCatalog() {
  ModelLimits limits;
  limits.name = "shapes-32";
  limits.family = "sd1";
  return ModelCatalog{{limits}, {{"ink", "sd1", 1234}, {"neon", "sdxl", 99}}};
}

ApiServerOptions TestOptions() {
  ApiServerOptions o;
  o.port = 0;
  o.io_threads = 2;
  o.read_timeout = std::chrono::milliseconds(1000);
  o.idle_timeout = std::chrono::milliseconds(1000);
  o.write_timeout = std::chrono::milliseconds(1000);
  o.stop_grace = std::chrono::milliseconds(2000);
  o.max_body_bytes = 64 * 1024;
  o.max_submit_body_bytes = 64 * 1024;
  o.max_header_bytes = 8 * 1024;
  o.gateway.sse_keepalive = std::chrono::milliseconds(200);
  o.gateway.seeds = [] { return 42u; };
  return o;
}

TestServer::TestServer(ApiServerOptions options)
    : server(std::make_unique<ApiServer>(service, TestCatalog(), std::move(options))) {
  Status started = server->Start();
  if (!started.ok()) std::abort();
}

TestServer::~TestServer() { server.reset(); }

TestResponse TestServer::Send(const std::string& method, const std::string& target,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body) {
  TestClient client(port());
  return client.Send(method, target, headers, body);
}

std::string TestServer::CreateTask(const std::string& body) {
  TestResponse r = Send("POST", "/v1/tasks", {{"Content-Type", "application/json"}}, body);
  if (r.status != 202) return "";
  size_t at = r.body.find("\"id\":\"");
  if (at == std::string::npos) return "";
  at += 6;
  return r.body.substr(at, r.body.find('"', at) - at);
}

}  // namespace stipple::http::testing
