// RequestHandler: what HttpServer (server.h) hands every parsed request to — the seam between
// the transport in src/http and the API behind it (src/api's Gateway implements it). The server
// knows nothing of what the handler does with a request; the handler knows nothing of sockets:
// it answers through the Exchange (http_message.h), at once or later, from any thread.
//
// Threads: Handle runs on the exchange's strand, on one of the server's I/O threads, and must
// not block. SetDraining and FinishPending run on the thread that calls HttpServer::Stop.
#pragma once

#include <memory>
#include <string_view>

#include "http/http_message.h"
#include "http/transport_metrics.h"

namespace stipple::http {

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;

  // One request. The answer goes out through `exchange` (a response, a stream, a WebSocket
  // upgrade); the server's limits (header and body size, timeouts) were applied before.
  virtual void Handle(HttpRequest request, std::shared_ptr<Exchange> exchange) = 0;
  // Whether a request to `path` (no query) with `method` may carry a body up to
  // HttpServerOptions::max_submit_body_bytes rather than max_body_bytes. Asked once the header
  // is read, before the body; on the connection's strand.
  virtual bool TakesLargeBody(std::string_view method, std::string_view path) const = 0;
  // The server has begun stopping: no new connections; requests still arrive on open ones.
  virtual void SetDraining() = 0;
  // The server stops: runs whatever the handler queued for later answers, before the I/O
  // threads stop (the answers can still be written).
  virtual void FinishPending() = 0;
  // Where the server counts its requests and connections; lives as long as the handler.
  virtual TransportMetrics& transport_metrics() = 0;
};

}  // namespace stipple::http
