// One HTTP connection (Connection) and its Exchange.
#include <sstream>

#include "common/id.h"
#include "common/log.h"
#include "http/problem.h"
#include "http/server_internal.h"

namespace stipple::http {

namespace bhttp = beast::http;

// The Exchange of one request; every method carries its work onto the connection's strand.
class ConnectionExchange : public Exchange,
                           public std::enable_shared_from_this<ConnectionExchange> {
 public:
  ConnectionExchange(std::shared_ptr<Connection> connection, std::string method)
      : connection_(std::move(connection)), method_(std::move(method)) {}

  const std::string& method() const { return method_; }

  void Respond(HttpResponse response) override {
    OnStrand([self = shared_from_this(), r = std::move(response)]() mutable {
      if (self->answered_) return;
      self->answered_ = true;
      self->abort_hooks_.clear();
      self->connection_->SendResponse(*self, r);
    });
  }

  void StartStream(HttpResponse head) override {
    OnStrand([self = shared_from_this(), h = std::move(head)]() mutable {
      if (self->answered_) return;
      self->answered_ = self->streaming_ = true;
      self->connection_->SendStreamHead(*self, h);
    });
  }

  void Write(std::string bytes) override {
    OnStrand([self = shared_from_this(), b = std::move(bytes)]() mutable {
      if (self->streaming_ && !self->ended_) self->connection_->WriteStream(std::move(b));
    });
  }

  void EndStream() override {
    OnStrand([self = shared_from_this()] {
      if (!self->streaming_ || self->ended_) return;
      self->ended_ = true;
      self->abort_hooks_.clear();
      self->connection_->CloseWhenDrained();
    });
  }

  void AcceptWebSocket(HttpHeaders headers, WebSocketSessionFactory factory) override {
    OnStrand([self = shared_from_this(), h = std::move(headers), f = std::move(factory)]() mutable {
      if (self->answered_) return;
      self->answered_ = true;
      self->abort_hooks_.clear();
      self->connection_->UpgradeToWebSocket(*self, std::move(h), std::move(f));
    });
  }

  void Post(std::function<void()> fn) override {
    net::post(connection_->executor(), [self = shared_from_this(), fn = std::move(fn)] {
      LogContext log_context({{"request_id", self->request_id()}});
      fn();
    });
  }

  std::unique_ptr<TimerHandle> After(std::chrono::milliseconds delay,
                                     std::function<void()> fn) override {
    auto timer = std::make_shared<net::steady_timer>(connection_->executor());
    timer->expires_after(delay);
    timer->async_wait([self = shared_from_this(), fn = std::move(fn)](beast::error_code ec) {
      if (ec) return;  // canceled
      LogContext log_context({{"request_id", self->request_id()}});
      fn();
    });
    return std::make_unique<Timer>(std::move(timer));
  }

  void OnAbort(std::function<void()> fn) override {
    OnStrand([self = shared_from_this(), fn = std::move(fn)]() mutable {
      if ((self->answered_ && !self->streaming_) || self->ended_) return;
      self->abort_hooks_.push_back(std::move(fn));
    });
  }

  // On the strand: the connection is going away (server stop, failed write).
  void Abort() {
    std::vector<std::function<void()>> hooks = std::move(abort_hooks_);
    abort_hooks_.clear();
    LogContext log_context({{"request_id", request_id()}});
    for (auto& hook : hooks) hook();
  }

 private:
  class Timer : public TimerHandle {
   public:
    explicit Timer(std::shared_ptr<net::steady_timer> timer) : timer_(std::move(timer)) {}
    // A timer is not thread-safe: cancel it on its strand.
    ~Timer() override {
      net::post(timer_->get_executor(), [t = timer_] { t->cancel(); });
    }

   private:
    std::shared_ptr<net::steady_timer> timer_;
  };

  template <typename Fn>
  void OnStrand(Fn&& fn) {
    net::dispatch(connection_->executor(), std::forward<Fn>(fn));
  }

  std::shared_ptr<Connection> connection_;
  std::string method_;
  bool answered_ = false;
  bool streaming_ = false;
  bool ended_ = false;
  std::vector<std::function<void()>> abort_hooks_;
};

Connection::Connection(tcp::socket socket, ServerCore& core)
    : stream_(std::move(socket)), core_(core) {}

Connection::~Connection() { core_.Unregister(this); }

void Connection::Run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadRequest(); });
}

void Connection::Shutdown() {
  if (upgraded_) {
    if (auto link = websocket_.lock()) link->Shutdown();
    return;
  }
  if (closed_) return;
  if (auto exchange = current_.lock()) {
    exchange->Abort();  // its answer goes out with Connection: close
  } else if (!writing_) {
    Close();  // idle between requests
  }
}

void Connection::ReadRequest() {
  if (closed_) return;
  if (core_.stopping) return Close();
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(core_.options.max_header_bytes));
  parser_->body_limit(core_.options.max_body_bytes);
  stream_.expires_after(first_request_ ? core_.options.read_timeout : core_.options.idle_timeout);
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

void Connection::OnHeader(beast::error_code ec) {
  if (ec == bhttp::error::header_limit) {
    return RejectRequest(431, "header_too_large", "request header fields too large", "headers",
                         "the request line and headers must fit in " +
                             std::to_string(core_.options.max_header_bytes) + " bytes");
  }
  if (ec == bhttp::error::body_limit) return OnBody(ec);
  if (ec) return Close();  // end of stream, timeout, reset, garbage
  first_request_ = false;
  started_ = std::chrono::steady_clock::now();
  stream_.expires_after(core_.options.read_timeout);
  if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
    // The client waits for this before it sends the body (curl does for bodies over 1 KiB).
    auto interim = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
    net::async_write(stream_, net::buffer(*interim),
                     [self = shared_from_this(), interim](beast::error_code e, size_t) {
                       if (e) return self->Close();
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Connection::ReadBody() {
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code e, size_t) { self->OnBody(e); });
}

void Connection::OnBody(beast::error_code ec) {
  if (ec == bhttp::error::body_limit) {
    return RejectRequest(
        413, "payload_too_large", "request body too large", "body",
        "the body must be at most " + std::to_string(core_.options.max_body_bytes) + " bytes");
  }
  if (ec) return Close();
  bhttp::request<bhttp::string_body>& message = parser_->get();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    request.headers.Add(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  keep_alive_ = message.keep_alive();
  version_ = message.version();
  method_ = request.method;
  target_ = request.target;
  upgrade_request_.reset();
  if (beast::websocket::is_upgrade(message)) upgrade_request_.emplace(std::move(message));
  parser_.reset();
  // A held request (sync wait, stream) keeps no read buffer: the next request, if any, gets a
  // fresh one (a pipelined one is still in it, and keeps it).
  if (buffer_.size() == 0) buffer_.shrink_to_fit();
  stream_.expires_never();  // a handler may hold the request (sync wait, stream)
  auto exchange = std::make_shared<ConnectionExchange>(shared_from_this(), request.method);
  current_ = exchange;
  core_.gateway.Handle(std::move(request), std::move(exchange));
}

void Connection::RejectRequest(int status, const char* type, const char* title, const char* field,
                               const std::string& message) {
  std::string request_id;
  if (parser_ && parser_->is_header_done()) {
    auto& header = parser_->get();
    method_ = std::string(header.method_string());
    target_ = std::string(header.target());
    version_ = header.version();
    auto given = header.find("X-Request-Id");
    if (given != header.end() && IsValidRequestId(given->value())) {
      request_id = std::string(given->value());
    }
  }
  if (request_id.empty()) request_id = NewId("req");
  keep_alive_ = false;  // the rest of the request was not read
  HttpResponse response = ProblemResponse({status, type, title, message, {{field, message}}, {}});
  bhttp::response<bhttp::string_body> out;
  out.version(version_);
  out.keep_alive(false);
  core_.gateway.metrics().CountRequest("unmatched", method_, status);
  LogContext log_context({{"request_id", request_id}});
  LogInfo("request refused", {{"status", std::to_string(status)}, {"reason", message}});
  close_when_drained_ = true;
  linger_ = true;
  Enqueue(Serialize(out, response, request_id));
}

std::string Connection::Serialize(bhttp::response<bhttp::string_body>& out,
                                  const HttpResponse& from, const std::string& request_id) {
  out.version(version_);
  out.result(static_cast<unsigned>(from.status));
  for (const auto& [name, value] : from.headers.fields()) out.insert(name, value);
  out.set(bhttp::field::server, "stipple");
  out.set("X-Request-Id", request_id);
  out.body() = from.body;
  if (from.status != 304 && from.status != 204) out.prepare_payload();
  std::ostringstream text;
  text << out;
  return text.str();
}

void Connection::SendResponse(const ConnectionExchange& exchange, const HttpResponse& response) {
  if (closed_) return;
  bhttp::response<bhttp::string_body> out;
  bool keep = keep_alive_ && !core_.stopping;
  out.version(version_);  // before keep_alive: what it writes depends on the version
  out.keep_alive(keep);
  std::string bytes = Serialize(out, response, exchange.request_id());
  core_.gateway.metrics().CountRequest(exchange.route(), exchange.method(), response.status);
  // Logged once written, from the write's completion: there the thread has no log context yet,
  // so the request id appears once.
  access_log_ = AccessLog{exchange.request_id(), response.status};
  current_.reset();
  if (keep) {
    read_when_drained_ = true;
  } else {
    close_when_drained_ = true;
  }
  Enqueue(std::move(bytes));
}

void Connection::SendStreamHead(const ConnectionExchange& exchange, const HttpResponse& head) {
  if (closed_) return;
  bhttp::response<bhttp::string_body> out;
  out.version(version_);
  out.result(static_cast<unsigned>(head.status));
  for (const auto& [name, value] : head.headers.fields()) out.insert(name, value);
  out.set(bhttp::field::server, "stipple");
  out.set("X-Request-Id", exchange.request_id());
  out.keep_alive(false);  // the body ends when the connection closes
  core_.gateway.metrics().CountRequest(exchange.route(), exchange.method(), head.status);
  std::ostringstream text;
  text << out.base();
  Enqueue(text.str());
}

void Connection::WriteStream(std::string bytes) {
  if (closed_) return;
  if (out_bytes_ + bytes.size() > core_.options.max_stream_backlog_bytes) {
    LogWarn("stream client too slow; closing");
    if (auto exchange = current_.lock()) exchange->Abort();
    return Close();
  }
  Enqueue(std::move(bytes));
}

void Connection::UpgradeToWebSocket(const ConnectionExchange& exchange, HttpHeaders headers,
                                    WebSocketSessionFactory factory) {
  if (closed_) return;
  if (core_.stopping) {
    return SendResponse(exchange, ErrorResponse(UnavailableError("the server is stopping")));
  }
  if (!upgrade_request_) return SendResponse(exchange, UpgradeRequired());
  current_.reset();
  upgraded_ = true;
  stream_.expires_never();
  auto link = std::make_shared<WebSocketLink>(std::move(stream_), core_, shared_from_this(),
                                              exchange.route(), exchange.method());
  websocket_ = link;
  link->Accept(std::move(*upgrade_request_), std::move(headers), std::move(factory),
               exchange.request_id());
  upgrade_request_.reset();
}

void Connection::CloseWhenDrained() {
  close_when_drained_ = true;
  if (!writing_) Close();
}

void Connection::Enqueue(std::string bytes) {
  if (closed_) return;
  out_bytes_ += bytes.size();
  out_.push_back(std::move(bytes));
  if (!writing_) WriteNext();
}

void Connection::WriteNext() {
  writing_ = true;
  stream_.expires_after(core_.options.write_timeout);
  net::async_write(
      stream_, net::buffer(out_.front()),
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
}

void Connection::OnWrite(beast::error_code ec) {
  writing_ = false;
  if (ec) {
    if (auto exchange = current_.lock()) exchange->Abort();  // the client went away
    return Close();
  }
  out_bytes_ -= out_.front().size();
  out_.pop_front();
  if (!out_.empty()) return WriteNext();
  if (access_log_) {
    LogContext log_context({{"request_id", access_log_->request_id}});
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started_)
                  .count();
    LogInfo("http", {{"method", method_},
                     {"target", target_},
                     {"status", std::to_string(access_log_->status)},
                     {"ms", std::to_string(ms)}});
    access_log_.reset();
  }
  stream_.expires_never();
  if (close_when_drained_) return linger_ ? LingerClose() : Close();
  if (read_when_drained_) {
    read_when_drained_ = false;
    ReadRequest();
  }
}

void Connection::LingerClose() {
  if (!lingering_) {  // one deadline for the whole drain
    lingering_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::milliseconds(1000));
    discard_.resize(4096);
  }
  stream_.async_read_some(net::buffer(discard_),
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->Close();
                            self->LingerClose();
                          });
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  if (upgraded_) return;  // the WebSocketLink owns the socket
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
}

}  // namespace stipple::http
