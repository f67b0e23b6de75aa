#include "api/api_server.h"

#include <utility>

namespace stipple::http {

HttpServerOptions ApiServer::TransportOptions(const ApiServerOptions& options) {
  HttpServerOptions transport = options;
  transport.retry_after_s = options.gateway.retry_after_s;
  return transport;
}

ApiServer::ApiServer(TaskService& service, ModelCatalog models, ApiServerOptions options)
    : gateway_(service, std::move(models), options.gateway),
      server_(gateway_, TransportOptions(options)) {}

}  // namespace stipple::http
