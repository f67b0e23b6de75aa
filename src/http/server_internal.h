// Internals of HttpServer shared by server.cc and connection.cc; Beast and Asio live here only.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "http/server.h"

namespace stipple::http {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class Connection;

// What every connection shares: the options, the gateway, the registry of live connections (for
// Stop) and the io_context. Declared so that the io_context is destroyed first: handlers it
// still holds may reference everything else.
struct ServerCore {
  ServerCore(TaskService& service, ModelCatalog models, HttpServerOptions opts)
      : options(std::move(opts)), gateway(service, std::move(models), options.gateway) {}

  void Register(const std::shared_ptr<Connection>& connection);
  void Unregister(const Connection* connection);
  std::vector<std::shared_ptr<Connection>> LiveConnections();
  size_t ConnectionCount();

  HttpServerOptions options;
  Gateway gateway;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::map<const Connection*, std::weak_ptr<Connection>> connections;  // GUARDED_BY(mu)
  net::io_context ioc;
};

class ConnectionExchange;

// One connection: reads a request, hands it to the gateway, writes the answer (or a stream),
// then reads the next one while keep-alive holds. Everything runs on the connection's strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, ServerCore& core);
  ~Connection();

  void Run();
  // Server stopping: close when idle, abort what waits (on the strand).
  void Shutdown();

  // Used by ConnectionExchange, on the strand.
  net::any_io_executor executor() { return stream_.get_executor(); }
  void SendResponse(const ConnectionExchange& exchange, const HttpResponse& response);
  void SendStreamHead(const ConnectionExchange& exchange, const HttpResponse& head);
  void WriteStream(std::string bytes);
  void CloseWhenDrained();

 private:
  using Parser = beast::http::request_parser<beast::http::string_body>;

  void ReadRequest();
  void OnHeader(beast::error_code ec);
  void ReadBody();
  void OnBody(beast::error_code ec);
  // 413/431 and other problems found before the gateway saw the request; closes afterwards.
  void RejectRequest(int status, const char* type, const char* title, const char* field,
                     const std::string& message);
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
};

}  // namespace stipple::http
