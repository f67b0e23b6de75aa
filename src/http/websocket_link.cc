// WebSocketLink: a connection taken over as a WebSocket, and the WebSocketChannel its session
// sends through.
#include "common/log.h"
#include "http/server_internal.h"

namespace stipple::http {

namespace websocket = beast::websocket;
namespace bhttp = beast::http;

namespace {

// What the session holds: a weak reference, so that a session never keeps its socket alive and
// a session outliving its socket sends into nothing.
class LinkChannel : public WebSocketChannel {
 public:
  LinkChannel(std::weak_ptr<WebSocketLink> link, net::any_io_executor executor)
      : link_(std::move(link)), executor_(std::move(executor)) {}

  void Send(std::string text) override {
    net::dispatch(executor_, [link = link_, t = std::move(text)]() mutable {
      if (auto l = link.lock()) l->Send(std::move(t));
    });
  }

  void Close(int code, std::string reason) override {
    net::dispatch(executor_, [link = link_, code, r = std::move(reason)]() mutable {
      if (auto l = link.lock()) l->Close(code, std::move(r));
    });
  }

  void Post(std::function<void()> fn) override {
    if (link_.expired()) return;
    net::post(executor_, std::move(fn));
  }

 private:
  std::weak_ptr<WebSocketLink> link_;
  net::any_io_executor executor_;
};

}  // namespace

WebSocketLink::WebSocketLink(beast::tcp_stream stream, ServerCore& core,
                             std::shared_ptr<Connection> owner, std::string route,
                             std::string method)
    : ws_(std::move(stream)),
      core_(core),
      owner_(std::move(owner)),
      route_(std::move(route)),
      method_(std::move(method)) {}

WebSocketLink::~WebSocketLink() {
  // Normally Finish ran already; when the I/O threads were stopped with the socket still open,
  // the session still learns that it is over.
  Finish();
}

void WebSocketLink::Accept(bhttp::request<bhttp::string_body> request, HttpHeaders headers,
                           WebSocketSessionFactory factory, const std::string& request_id) {
  websocket::stream_base::timeout timeout =
      websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeout.idle_timeout = core_.options.websocket_idle_timeout;
  timeout.keep_alive_pings = true;
  ws_.set_option(timeout);
  ws_.set_option(websocket::stream_base::decorator(
      [headers = std::move(headers), request_id](websocket::response_type& response) {
        response.set(bhttp::field::server, "stipple");
        response.set("X-Request-Id", request_id);
        for (const auto& [name, value] : headers.fields()) response.set(name, value);
      }));
  ws_.read_message_max(core_.options.max_submit_body_bytes);  // a submit may carry images
  auto started = std::chrono::steady_clock::now();
  std::string target(request.target());
  request_ = std::move(request);
  ws_.async_accept(request_, [self = shared_from_this(), factory = std::move(factory), request_id,
                              started, target](beast::error_code ec) {
    LogContext log_context({{"request_id", request_id}});
    self->request_ = {};
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    // Beast has answered a bad handshake itself (400 with the reason).
    int status = ec ? 400 : 101;
    self->core_.handler.transport_metrics().CountRequest(self->route_, self->method_, status);
    LogInfo("http", {{"method", self->method_},
                     {"target", target},
                     {"status", std::to_string(status)},
                     {"ms", std::to_string(ms)}});
    if (ec) {
      LogInfo("websocket handshake failed", {{"error", ec.message()}});
      return self->Finish();
    }
    self->accepted_ = true;
    ++self->core_.handler.transport_metrics().ws_connections;
    self->session_ = factory(std::make_shared<LinkChannel>(self, self->ws_.get_executor()));
    if (self->close_requested_) {
      self->StartClose();  // Shutdown came during the handshake
    } else if (self->core_.stopping) {
      self->Shutdown();
    }
    self->Read();
  });
}

void WebSocketLink::Read() {
  ws_.async_read(read_buffer_,
                 [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

void WebSocketLink::OnRead(beast::error_code ec) {
  if (ec) {
    // The close handshake finished (either side began it), the peer vanished, a frame broke the
    // protocol or the idle timeout passed. Beast has sent what the protocol asks for.
    if (ec != websocket::error::closed && ec != net::error::operation_aborted) {
      LogInfo("websocket ended", {{"reason", ec.message()}});
    }
    return Finish();
  }
  std::string message = beast::buffers_to_string(read_buffer_.data());
  read_buffer_.consume(read_buffer_.size());
  if (session_ && !close_requested_) session_->OnMessage(std::move(message), ws_.got_binary());
  Read();
}

void WebSocketLink::Send(std::string text) {
  if (!accepted_ || close_requested_ || finished_) return;
  if (out_bytes_ + text.size() > core_.options.max_stream_backlog_bytes) {
    LogWarn("websocket client too slow; closing");
    return Abandon();
  }
  out_bytes_ += text.size();
  out_.push_back(std::move(text));
  if (!writing_) WriteNext();
}

void WebSocketLink::WriteNext() {
  writing_ = true;
  ws_.text(true);
  ws_.async_write(net::buffer(out_.front()),
                  [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
}

void WebSocketLink::OnWrite(beast::error_code ec) {
  writing_ = false;
  if (ec) return Abandon();
  out_bytes_ -= out_.front().size();
  out_.pop_front();
  if (!out_.empty()) return WriteNext();
  if (close_requested_) StartClose();
}

void WebSocketLink::Close(int code, std::string reason) {
  if (close_requested_ || finished_) return;
  close_requested_ = true;
  close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
  if (!accepted_) return;  // the handshake's completion sees close_requested_ (stopping)
  if (!writing_) StartClose();
}

void WebSocketLink::StartClose() {
  if (closing_) return;
  closing_ = true;
  ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code ec) {
    if (ec) self->Abandon();
    // Otherwise the pending read ends with websocket::error::closed and finishes the link.
  });
}

void WebSocketLink::Abandon() {
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).close();
}

void WebSocketLink::Finish() {
  if (finished_) return;
  finished_ = true;
  if (accepted_) --core_.handler.transport_metrics().ws_connections;
  if (std::shared_ptr<WebSocketSession> session = std::move(session_)) session->OnClose();
  owner_.reset();  // the registry forgets the connection once nothing else holds it
}

}  // namespace stipple::http
