// Internals of HttpServer shared by server.cc and connection.cc; Beast and Asio live here only.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/thread_annotations.h"
#include "http/server.h"

namespace stipple::http {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class Connection;

// What every connection shares: the options, the handler, the registry of live connections (for
// Stop) and the io_context. Declared so that the io_context is destroyed first: handlers it
// still holds may reference everything else. Register and Unregister run on the I/O threads (a
// connection's start and end), LiveConnections and ConnectionCount on the acceptor's and the
// stopping thread; `mu` guards the registry only.
struct ServerCore {
  ServerCore(RequestHandler& request_handler, HttpServerOptions opts)
      : options(std::move(opts)), handler(request_handler) {}

  void Register(const std::shared_ptr<Connection>& connection);
  void Unregister(const Connection* connection);
  std::vector<std::shared_ptr<Connection>> LiveConnections();
  size_t ConnectionCount();

  HttpServerOptions options;
  RequestHandler& handler;
  std::atomic<bool> stopping{false};
  std::atomic<int> refusing{0};  // connections being answered 503 at the cap (Connection::Refuse)
  Mutex mu;
  std::map<const Connection*, std::weak_ptr<Connection>> connections GUARDED_BY(mu);
  net::io_context ioc;
};

class ConnectionExchange;
class WebSocketLink;

// One connection: reads a request, hands it to the handler, writes the answer (or a stream),
// then reads the next one while keep-alive holds. Everything runs on the connection's strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, ServerCore& core);
  ~Connection();

  void Run();
  // Server stopping: close when idle, abort what waits (on the strand).
  void Shutdown();
  // Answers the problem at once, without reading a request, and closes (the connection cap).
  void Refuse(int status, std::string type, std::string title, std::string detail,
              std::optional<int> retry_after_s);

  // Used by ConnectionExchange, on the strand.
  net::any_io_executor executor() { return stream_.get_executor(); }
  void SendResponse(const ConnectionExchange& exchange, const HttpResponse& response);
  void SendStreamHead(const ConnectionExchange& exchange, const HttpResponse& head);
  void WriteStream(std::string bytes);
  void CloseWhenDrained();
  // Hands the socket over to a WebSocketLink (the request must be an upgrade, else 426).
  void UpgradeToWebSocket(const ConnectionExchange& exchange, HttpHeaders headers,
                          WebSocketSessionFactory factory);

 private:
  using Parser = beast::http::request_parser<beast::http::string_body>;

  void ReadRequest();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  // The body limit of the request whose header was read: max_submit_body_bytes for a submit.
  size_t BodyLimit() const;
  void OnBody(beast::error_code ec);
  // 413/431 and other problems found before the handler saw the request; closes afterwards.
  void RejectRequest(int status, const char* type, const char* title, const char* field,
                     const std::string& message);
  // Errors of the HTTP syntax (not the client going away) answer 400.
  static bool IsMalformed(beast::error_code ec);
  void RejectMalformed(beast::error_code ec);
  void SendProblemAndClose(const HttpResponse& response, const std::string& request_id,
                           bool log = true);
  // While a request is held (a sync wait, a stream, a submit in progress) the socket is watched
  // for the client closing it: the request is then abandoned (its exchange aborted) and the
  // connection closed at once. Reads nothing; ReadRequest stops the watch first.
  void WatchPeer();
  void OnPeerReadable(beast::error_code ec);
  std::string Serialize(beast::http::response<beast::http::string_body>& response,
                        const HttpResponse& from, const std::string& request_id);
  void Enqueue(std::string bytes);
  void WriteNext();
  void OnWrite(beast::error_code ec);
  void Close();
  // Half-closes, then reads and drops what the client still sends for a short while before
  // closing, so that an early answer (413, 431) is not lost to a TCP reset.
  void LingerClose();

  beast::tcp_stream stream_;
  ServerCore& core_;
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  bool first_request_ = true;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  std::string method_;
  std::string target_;
  bool head_ = false;     // HEAD: answers go out without their body
  bool refusal_ = false;  // counted in core_.refusing
  bool watching_ = false;
  bool resume_read_ = false;  // ReadRequest waits for the peer watch to stop
  std::chrono::steady_clock::time_point started_;
  std::weak_ptr<ConnectionExchange> current_;
  struct AccessLog {
    std::string request_id;
    int status = 0;
  };
  std::optional<AccessLog> access_log_;  // of the response being written
  // Writing.
  std::deque<std::string> out_;
  size_t out_bytes_ = 0;
  bool writing_ = false;
  bool close_when_drained_ = false;
  bool read_when_drained_ = false;
  bool closed_ = false;
  bool linger_ = false;
  bool lingering_ = false;
  std::string discard_;  // LingerClose's read buffer, sized only when a connection lingers
  // WebSocket: the upgrade request (kept for the handshake) and, once upgraded, the link that
  // owns the socket; stream_ is then moved-from and must not be touched.
  std::optional<beast::http::request<beast::http::string_body>> upgrade_request_;
  std::weak_ptr<WebSocketLink> websocket_;
  bool upgraded_ = false;
};

// A connection taken over as a WebSocket (websocket_link.cc): the handshake, a read loop that
// hands each message to the session, a write queue, close, and graceful stop. Holds its
// Connection (so the server's registry counts it until it ends); everything runs on the
// connection's strand.
class WebSocketLink : public std::enable_shared_from_this<WebSocketLink> {
 public:
  WebSocketLink(beast::tcp_stream stream, ServerCore& core, std::shared_ptr<Connection> owner,
                std::string route, std::string method);
  ~WebSocketLink();

  // Completes the handshake (101 with `headers`), then makes the session with `factory`.
  void Accept(beast::http::request<beast::http::string_body> request, HttpHeaders headers,
              WebSocketSessionFactory factory, const std::string& request_id);
  // Server stopping: close with 1001.
  void Shutdown() { Close(1001, "server stopping"); }

  // The channel's work, on the strand.
  net::any_io_executor executor() { return ws_.get_executor(); }
  void Send(std::string text);
  void Close(int code, std::string reason);

 private:
  void Read();
  void OnRead(beast::error_code ec);
  void WriteNext();
  void OnWrite(beast::error_code ec);
  void StartClose();
  void Abandon();  // drops the TCP connection; the pending operations then fail
  void Finish();   // once: the session's OnClose, the gauge, the owner released

  beast::websocket::stream<beast::tcp_stream> ws_;
  ServerCore& core_;
  std::shared_ptr<Connection> owner_;
  std::string route_, method_;
  beast::http::request<beast::http::string_body> request_;  // the upgrade, during the handshake
  std::shared_ptr<WebSocketSession> session_;
  beast::flat_buffer read_buffer_;
  std::deque<std::string> out_;
  size_t out_bytes_ = 0;
  bool writing_ = false;
  bool accepted_ = false;
  bool close_requested_ = false;
  bool closing_ = false;
  bool finished_ = false;
  beast::websocket::close_reason close_reason_;
};

}  // namespace stipple::http
