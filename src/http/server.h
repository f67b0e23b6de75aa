// HttpServer: HTTP/1.1 and WebSocket transport (Boost.Beast), asynchronous on a pool of I/O
// threads. Every request that passes the transport's limits goes to a RequestHandler
// (request_handler.h); nothing here knows what the handler serves (stipple's API is src/api's
// Gateway, put behind this server by api/api_server.h).
//
//   http::HttpServerOptions options;           // listen address, threads, limits, timeouts
//   options.port = 8080;
//   http::HttpServer server(handler, options);
//   RETURN_IF_ERROR(server.Start());            // binds and serves; port() is the bound port
//   ...
//   server.Stop();                              // graceful: see Stop
//
// The handler must outlive the server. This header keeps Beast and Asio out of its users.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/request_handler.h"

namespace stipple::http {

struct HttpServerOptions {
  std::string host = "127.0.0.1";       // an IP address, or "localhost"
  uint16_t port = 8080;                 // 0: any free port (see HttpServer::port)
  int io_threads = 0;                   // 0: one per core
  size_t max_header_bytes = 16 * 1024;  // request line + headers; over it: 431
  size_t max_body_bytes = 1024 * 1024;  // over it: 413
  // The body limit of the requests for which the handler's TakesLargeBody is true (stipple's
  // submits, which may carry images as data: URLs) and of WebSocket messages; over it: 413
  // (1009).
  size_t max_submit_body_bytes = size_t{20} << 20;
  // A request must arrive whole within read_timeout of its first read; a kept-alive connection
  // may stay idle between requests for idle_timeout; a write (a response, an SSE frame) must
  // drain within write_timeout. Past any of them the connection is closed.
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  // Stop: how long answered-but-unfinished connections get before the threads stop.
  std::chrono::milliseconds stop_grace{5'000};
  // An SSE or WebSocket client this far behind is dropped.
  size_t max_stream_backlog_bytes = 1024 * 1024;
  // A WebSocket is pinged after half of this without a frame from the client, and closed after
  // all of it.
  std::chrono::milliseconds websocket_idle_timeout{60'000};
  // Connections served at once (WebSockets and held requests included); one more is answered
  // 503 (problem+json, Retry-After) at once and closed. 0: DefaultMaxConnections(), derived
  // from the descriptor limit so that the server can still answer when it is reached.
  size_t max_connections = 0;
  // Retry-After of the 503 answered at the connection cap.
  int retry_after_s = 5;
};

// The connection cap for the process's descriptor limit (soft RLIMIT_NOFILE): the limit less
// an eighth of it and 64 more, kept for the database, logs, outgoing connections (workers,
// webhooks, Redis) and the refusals answered at the cap; at least 16.
size_t DefaultMaxConnections();

class HttpServer {
 public:
  HttpServer(RequestHandler& handler, HttpServerOptions options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the I/O threads. kUnavailable when the address cannot be bound,
  // kInvalidArgument for a bad host. Call once. Every descriptor the server opens (the listening
  // socket, each connection) is close-on-exec.
  //
  // A failed accept (EMFILE, ENFILE, ENOBUFS, ENOMEM...) backs the acceptor off — 10 ms,
  // doubling up to 1 s, reset by the next success — and is logged at most once per 10 s with
  // the number of failures since the last line (stipple_http_accept_errors_total counts them).
  Status Start();
  // The bound port (after Start).
  uint16_t port() const;

  // Graceful stop: the handler's SetDraining, no new connections are accepted, idle
  // connections close, requests being handled get their answer (what the handler holds is
  // aborted, streams end), the handler's FinishPending, then after at most stop_grace the I/O
  // threads stop. Idempotent; also run by the destructor.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stipple::http
