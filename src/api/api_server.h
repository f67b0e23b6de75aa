// ApiServer: stipple's HTTP API served — a Gateway (gateway.h) over a TaskService, behind an
// HttpServer (http/server.h), the transport, as its RequestHandler. What a process that serves
// the API builds; nothing here knows what is behind the TaskService.
//
//   http::ApiServerOptions options;            // the transport's options, and .gateway
//   options.port = 8080;
//   http::ApiServer server(service, catalog, options);
//   server.gateway().SetApiKeys(*http::ApiKeys::Load(path));   // optional; none: open
//   RETURN_IF_ERROR(server.Start());            // binds and serves; port() is the bound port
//   ...
//   server.Stop();                              // graceful: see HttpServer::Stop
//
// Start fails as HttpServer::Start does. The TaskService must outlive the server. Threads: the
// server's I/O threads and the gateway's blocking-call threads; Stop and the destructor join
// them. Beast and Asio stay out of this header's users.
#pragma once

#include <cstdint>

#include "api/gateway.h"
#include "common/status.h"
#include "core/generation_request.h"
#include "http/server.h"
#include "service/task_service.h"

namespace stipple::http {

// The transport's options (listen address, threads, limits, timeouts) and the gateway's. The
// 503 at the connection cap takes its Retry-After from gateway.retry_after_s.
struct ApiServerOptions : HttpServerOptions {
  GatewayOptions gateway;
};

class ApiServer {
 public:
  ApiServer(TaskService& service, ModelCatalog models, ApiServerOptions options);
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Status Start() { return server_.Start(); }
  uint16_t port() const { return server_.port(); }
  void Stop() { server_.Stop(); }

  Gateway& gateway() { return gateway_; }

 private:
  static HttpServerOptions TransportOptions(const ApiServerOptions& options);

  Gateway gateway_;  // declared first: the server (stopped by its destructor) goes before it
  HttpServer server_;
};

}  // namespace stipple::http
