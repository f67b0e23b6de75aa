// The request handler's view of one HTTP exchange, free of Beast and Asio: a parsed request, a
// response to send, and the Exchange through which a handler answers — at once, later (a sync
// wait), or as a stream (Server-Sent Events), or by taking the connection over as a WebSocket.
// Handler files include only this, so they compile fast and can be tested without sockets.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stipple::http {

// Header fields in arrival order; names compare case-insensitively.
class HttpHeaders {
 public:
  // The first value of `name`, if present.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  // Replaces every value of `name` by one.
  void Set(std::string name, std::string value);
  void Add(std::string name, std::string value);
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Who is calling, as authentication established it.
struct Principal {
  std::string tenant = "default";
  bool admin = false;
  std::string key_id;  // a short, non-secret label of the key (rate limiting, logs); "" when open
};

struct HttpRequest {
  std::string method;                                      // "GET", "POST", ...
  std::string target;                                      // as sent: "/v1/tasks?limit=5"
  std::string path;                                        // target without the query
  std::vector<std::pair<std::string, std::string>> query;  // percent-decoded, in order
  HttpHeaders headers;
  std::string body;
  std::string peer_address;  // the client's IP address, as the socket sees it ("" unknown)

  // Filled by the gateway before the handler runs.
  std::map<std::string, std::string, std::less<>> path_params;  // {id}, {index}
  std::string request_id;
  Principal principal;

  // The first value of a query parameter.
  std::optional<std::string_view> Query(std::string_view name) const;
};

struct Problem;  // problem.h

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;  // Content-Type among them; Content-Length is computed when sent
  std::string body;
  // The problem this answer renders (set by ProblemResponse, null otherwise): for exchanges that
  // answer problems in another shape (the OpenAI-compatible routes) without re-reading the body.
  std::shared_ptr<const Problem> problem;
};

// Cancels a pending timer when destroyed (its callback then never runs).
class TimerHandle {
 public:
  virtual ~TimerHandle() = default;
};

// The sending side of an accepted WebSocket, handed to its session. Every method is safe to call
// from any thread; the work runs on the connection's strand (where the session's calls run).
class WebSocketChannel {
 public:
  virtual ~WebSocketChannel() = default;
  // Queues one text frame. Ignored once the socket is closing or closed. A client that falls
  // HttpServerOptions::max_stream_backlog_bytes behind is disconnected.
  virtual void Send(std::string text) = 0;
  // Sends the queued frames, then a close frame with `code` (RFC 6455: 1000 normal, 1001 going
  // away, 1008 policy violation, ...) and `reason`, and closes. Idempotent.
  virtual void Close(int code, std::string reason) = 0;
  // Runs `fn` on the strand, one at a time with the session's calls; dropped when the connection
  // is gone.
  virtual void Post(std::function<void()> fn) = 0;
};

// The handler's side of an accepted WebSocket. The server calls it on the connection's strand,
// one call at a time: OnMessage for every complete message, then OnClose exactly once when the
// connection ends (either side closed it, it failed, or the server is stopping); nothing
// follows OnClose, and the server drops its reference then.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  virtual void OnMessage(std::string message, bool binary) = 0;
  virtual void OnClose() = 0;
};

// Makes the session of a socket once its handshake has completed (called on the strand).
using WebSocketSessionFactory =
    std::function<std::shared_ptr<WebSocketSession>(std::shared_ptr<WebSocketChannel>)>;

// One request's reply channel. Every method is safe to call from any thread (a TaskService
// callback thread included); work is carried over to the connection's strand, so callbacks
// given to Post/After/OnAbort run one at a time, never concurrently with each other or with the
// handler that started them. The handler is itself called on that strand.
//
// Exactly one of Respond or StartStream takes effect; later calls are ignored. A handler that
// keeps the exchange (shared_ptr) keeps the connection open until it answers.
class Exchange {
 public:
  virtual ~Exchange() = default;

  virtual void Respond(HttpResponse response) = 0;

  // Sends `head` (no Content-Length: the body ends when the connection closes), then each
  // Write's bytes in order; EndStream closes the connection once everything is written.
  virtual void StartStream(HttpResponse head) = 0;
  virtual void Write(std::string bytes) = 0;
  virtual void EndStream() = 0;

  // Takes the connection over as a WebSocket (RFC 6455): answers 101 Switching Protocols with
  // `headers` added (Sec-WebSocket-Protocol, when one was agreed), then calls `factory` on the
  // strand with the socket's channel. A request that is no valid upgrade is answered 426
  // (Upgrade: websocket) instead, and `factory` is never called; so is a failed handshake.
  // Counts as the exchange's answer. The default (an exchange with no socket) answers 426.
  virtual void AcceptWebSocket(HttpHeaders headers, WebSocketSessionFactory factory);

  // Runs `fn` on the strand, with the request's log context.
  virtual void Post(std::function<void()> fn) = 0;
  // Runs `fn` on the strand after `delay`, unless the handle is destroyed first.
  virtual std::unique_ptr<TimerHandle> After(std::chrono::milliseconds delay,
                                             std::function<void()> fn) = 0;
  // `fn` runs once on the strand if the exchange is abandoned before it ends: the server is
  // stopping, the client closed its connection, or a stream write failed. Registered after the
  // abandonment, it runs at once.
  virtual void OnAbort(std::function<void()> fn) = 0;

  // Set by the request handler: the request id (echoed as X-Request-Id and put in every log line of
  // the request) and the matched route pattern (the metrics label).
  void set_request_id(std::string id) { request_id_ = std::move(id); }
  const std::string& request_id() const { return request_id_; }
  void set_route(std::string route) { route_ = std::move(route); }
  const std::string& route() const { return route_; }

 private:
  std::string request_id_;
  std::string route_ = "unmatched";
};

// X-Request-Id: 1..128 printable ASCII characters.
bool IsValidRequestId(std::string_view id);

}  // namespace stipple::http
