// One HTTP connection (Connection) and its Exchange.
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <sstream>

#include "common/id.h"
#include "common/log.h"
#include "http/http_message.h"
#include "http/problem.h"
#include "http/server_internal.h"

namespace stipple::http {

namespace bhttp = beast::http;

namespace {

// RFC 6455 §4.1: the base64 encoding of 16 bytes: 22 characters of the alphabet, then "==".
bool IsValidWebSocketKey(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  });
}

}  // namespace

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
      if (self->aborted_) {  // abandoned before the handler got here: at once
        LogContext log_context({{"request_id", self->request_id()}});
        return fn();
      }
      self->abort_hooks_.push_back(std::move(fn));
    });
  }

  // On the strand: the connection is going away (server stop, failed write, the client closed).
  void Abort() {
    aborted_ = true;
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
  bool aborted_ = false;
  std::vector<std::function<void()>> abort_hooks_;
};

Connection::Connection(tcp::socket socket, ServerCore& core)
    : stream_(std::move(socket)), core_(core) {}

Connection::~Connection() {
  if (refusal_) --core_.refusing;
  core_.Unregister(this);
}

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
  if (watching_) {  // the peer watch reads nothing: stop it, then read (OnPeerReadable)
    resume_read_ = true;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);  // no write is pending here
    return;
  }
  if (core_.stopping) return Close();
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(core_.options.max_header_bytes));
  // The larger bound until the header says which route this is (OnHeader).
  parser_->body_limit(std::max(core_.options.max_body_bytes, core_.options.max_submit_body_bytes));
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
  if (IsMalformed(ec)) return RejectMalformed(ec);
  if (ec) return Close();  // end of stream, timeout, reset
  const auto& header = parser_->get();
  if (header.version() != 10 && header.version() != 11) {
    return RejectRequest(505, "http_version_not_supported", "HTTP version not supported", "version",
                         "stipple speaks HTTP/1.1 (and HTTP/1.0)");
  }
  // Both framings, or several lengths, make the body's end ambiguous (request smuggling).
  const size_t lengths = header.count(bhttp::field::content_length);
  if (lengths > 1 || (lengths == 1 && header.count(bhttp::field::transfer_encoding) > 0)) {
    return RejectRequest(400, "bad_request", "malformed HTTP request", "Content-Length",
                         "a request gives one Content-Length, or Transfer-Encoding: never both, "
                         "never several lengths");
  }
  if (BodyLimit() < core_.options.max_submit_body_bytes) {
    const auto length = parser_->content_length();
    if (length && *length > BodyLimit()) return OnBody(bhttp::error::body_limit);
    parser_->body_limit(BodyLimit());  // a chunked body
  }
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

size_t Connection::BodyLimit() const {
  const auto& header = parser_->get();
  const std::string_view target(header.target().data(), header.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  const std::string_view method(header.method_string().data(), header.method_string().size());
  return core_.handler.TakesLargeBody(method, path) ? core_.options.max_submit_body_bytes
                                                    : core_.options.max_body_bytes;
}

void Connection::ReadBody() {
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code e, size_t) { self->OnBody(e); });
}

void Connection::OnBody(beast::error_code ec) {
  if (ec == bhttp::error::body_limit) {
    return RejectRequest(413, "payload_too_large", "request body too large", "body",
                         "the body must be at most " + std::to_string(BodyLimit()) + " bytes");
  }
  if (IsMalformed(ec)) return RejectMalformed(ec);
  if (ec) return Close();
  bhttp::request<bhttp::string_body>& message = parser_->get();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    request.headers.Add(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  beast::error_code no_peer;
  request.peer_address = stream_.socket().remote_endpoint(no_peer).address().to_string();
  keep_alive_ = message.keep_alive();
  version_ = message.version();
  method_ = request.method;
  target_ = request.target;
  head_ = method_ == "HEAD";
  upgrade_request_.reset();
  if (beast::websocket::is_upgrade(message)) upgrade_request_.emplace(std::move(message));
  parser_.reset();
  // A held request (sync wait, stream) keeps no read buffer: the next request, if any, gets a
  // fresh one (a pipelined one is still in it, and keeps it).
  if (buffer_.size() == 0) buffer_.shrink_to_fit();
  stream_.expires_never();  // a handler may hold the request (sync wait, stream)
  auto exchange = std::make_shared<ConnectionExchange>(shared_from_this(), request.method);
  current_ = exchange;
  core_.handler.Handle(std::move(request), std::move(exchange));
  if (!current_.expired()) WatchPeer();  // held: notice when the client goes away
}

bool Connection::IsMalformed(beast::error_code ec) {
  static const beast::error_category& http_errors =
      bhttp::make_error_code(bhttp::error::bad_method).category();
  // Not malformed: the client closed (at once or mid-message); nothing is answered then.
  return ec && ec.category() == http_errors && ec != bhttp::error::end_of_stream &&
         ec != bhttp::error::partial_message;
}

void Connection::RejectMalformed(beast::error_code ec) {
  if (ec == bhttp::error::bad_version) {
    // A well-formed request line of another HTTP version ("GET / HTTP/2.0") is 505; anything
    // else that fails at the version is garbage (400).
    std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    std::string_view line = data.substr(0, data.find_first_of("\r\n"));
    std::string_view version = line.substr(line.rfind(' ') + 1);
    const bool http_version =
        data.substr(line.size(), 2) == "\r\n" &&  // not a bare LF
        line.find(' ') != line.rfind(' ') && version.size() == 8 &&
        version.substr(0, 5) == "HTTP/" && std::isdigit(static_cast<unsigned char>(version[5])) &&
        version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7]));
    if (http_version) {
      return RejectRequest(505, "http_version_not_supported", "HTTP version not supported",
                           "version", "stipple speaks HTTP/1.1 (and HTTP/1.0)");
    }
  }
  RejectRequest(400, "bad_request", "malformed HTTP request", "request",
                "the request is not valid HTTP/1.1: " + ec.message());
}

void Connection::WatchPeer() {
  if (watching_ || closed_ || upgraded_ || upgrade_request_) return;
  watching_ = true;
  stream_.socket().async_wait(
      tcp::socket::wait_read,
      [self = shared_from_this()](beast::error_code ec) { self->OnPeerReadable(ec); });
}

void Connection::OnPeerReadable(beast::error_code ec) {
  watching_ = false;
  if (closed_ || upgraded_) return;
  bool peer_gone = false;
  if (!ec) {
    char byte = 0;
    const ssize_t n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
      peer_gone = true;  // end of stream
    } else if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        peer_gone = true;  // reset
      } else if (!resume_read_) {
        return WatchPeer();  // nothing after all
      }
    }
    // n > 0: the client pipelines its next request; it is read when this one is answered.
  } else if (ec != net::error::operation_aborted) {
    peer_gone = true;
  }
  if (peer_gone) {
    if (auto exchange = current_.lock()) {
      LogInfo("client closed the connection; request abandoned",
              {{"method", method_}, {"target", target_}});
      exchange->Abort();
    }
    return Close();
  }
  if (resume_read_) {
    resume_read_ = false;
    ReadRequest();
  }
}

void Connection::Refuse(int status, std::string type, std::string title, std::string detail,
                        std::optional<int> retry_after_s) {
  refusal_ = true;
  ++core_.refusing;
  net::dispatch(stream_.get_executor(),
                [self = shared_from_this(), status, type = std::move(type),
                 title = std::move(title), detail = std::move(detail), retry_after_s] {
                  Problem problem{status, type, title, detail, {}, retry_after_s};
                  // Not logged one by one (a flood would flood the log):
                  // stipple_http_connections_refused_total.
                  self->SendProblemAndClose(ProblemResponse(problem), NewId("req"), /*log=*/false);
                });
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
  } else {  // no request line worth repeating (the previous request's would mislead)
    method_.clear();
    target_.clear();
  }
  if (request_id.empty()) request_id = NewId("req");
  HttpResponse response = ProblemResponse({status, type, title, message, {{field, message}}, {}});
  core_.handler.transport_metrics().CountRequest("unmatched", method_, status);
  SendProblemAndClose(response, request_id);
}

void Connection::SendProblemAndClose(const HttpResponse& response, const std::string& request_id,
                                     bool log) {
  if (closed_) return;
  keep_alive_ = false;  // the rest of the request was not read
  head_ = false;
  if (version_ != 10) version_ = 11;  // an answer to HTTP/9.9 speaks HTTP/1.1
  bhttp::response<bhttp::string_body> out;
  out.version(version_);
  out.keep_alive(false);
  if (log) {
    LogContext log_context({{"request_id", request_id}});
    LogInfo("request refused",
            {{"status", std::to_string(response.status)}, {"reason", response.body}});
  }
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
  if (head_) {
    text << out.base();  // HEAD: the GET answer's head, Content-Length included, no body
  } else {
    text << out;
  }
  return text.str();
}

void Connection::SendResponse(const ConnectionExchange& exchange, const HttpResponse& response) {
  if (closed_) return;
  bhttp::response<bhttp::string_body> out;
  bool keep = keep_alive_ && !core_.stopping;
  out.version(version_);  // before keep_alive: what it writes depends on the version
  out.keep_alive(keep);
  std::string bytes = Serialize(out, response, exchange.request_id());
  core_.handler.transport_metrics().CountRequest(exchange.route(), exchange.method(),
                                                 response.status);
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
  core_.handler.transport_metrics().CountRequest(exchange.route(), exchange.method(), head.status);
  std::ostringstream text;
  text << out.base();
  Enqueue(text.str());
  if (head_) {  // HEAD: the head alone; the stream's handler lets go
    if (auto stream = current_.lock()) stream->Abort();
    CloseWhenDrained();
  }
}

void Connection::WriteStream(std::string bytes) {
  if (closed_ || head_) return;
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
  if (!IsValidWebSocketKey((*upgrade_request_)[bhttp::field::sec_websocket_key])) {
    keep_alive_ = false;
    return SendResponse(exchange,
                        BadField("Sec-WebSocket-Key", "must be the base64 encoding of 16 bytes"));
  }
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
