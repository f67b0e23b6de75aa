// The tests' HTTP client: blocking Beast over loopback.
#include "http/testing/test_client.h"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace stipple::http::testing {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

struct TestClient::Impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool closed = false;
};

TestClient::TestClient(uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
}

TestClient::~TestClient() {
  beast::error_code ignored;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

TestResponse TestClient::Send(const std::string& method, const std::string& target,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(bhttp::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  if (!body.empty() || method == "POST") req.prepare_payload();
  impl_->stream.expires_after(std::chrono::seconds(30));
  bhttp::write(impl_->stream, req);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  bhttp::read(impl_->stream, impl_->buffer, parser);
  TestResponse out;
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    out.headers.Add(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = res.body();
  impl_->closed = !res.keep_alive();
  return out;
}

bool TestClient::ServerClosed() {
  if (impl_->closed) return true;
  // A read that sees the end of the stream soon.
  char byte;
  beast::error_code result;
  impl_->stream.expires_after(std::chrono::milliseconds(500));
  impl_->stream.async_read_some(net::buffer(&byte, 1),
                                [&](beast::error_code ec, size_t) { result = ec; });
  impl_->ioc.restart();
  impl_->ioc.run();
  return result == net::error::eof;
}

struct StreamReader::Impl {
  net::io_context ioc;
  tcp::socket socket{ioc};
  std::string seen;
  bool closed = false;
};

StreamReader::StreamReader(uint16_t port, const std::string& request_bytes)
    : impl_(std::make_unique<Impl>()) {
  impl_->socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  beast::error_code ignored;  // the server may close before reading everything (413, 431)
  net::write(impl_->socket, net::buffer(request_bytes), ignored);
}

StreamReader::~StreamReader() {
  beast::error_code ignored;
  impl_->socket.close(ignored);
}

std::string StreamReader::ReadUntil(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (impl_->seen.find(needle) == std::string::npos && !impl_->closed) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    char buf[4096];
    bool done = false;
    size_t got = 0;
    beast::error_code result;
    impl_->socket.async_read_some(net::buffer(buf), [&](beast::error_code ec, size_t n) {
      result = ec;
      got = n;
      done = true;
    });
    impl_->ioc.restart();
    impl_->ioc.run_for(left);
    if (!done) {
      impl_->socket.cancel();
      impl_->ioc.restart();
      impl_->ioc.run();
      break;
    }
    impl_->seen.append(buf, got);
    if (result) impl_->closed = true;
  }
  return impl_->seen;
}

bool StreamReader::closed() const { return impl_->closed; }

std::string RawExchange(uint16_t port, const std::string& bytes,
                        std::chrono::milliseconds timeout) {
  StreamReader reader(port, bytes);
  return reader.ReadUntil(std::string(1, '\0'), timeout);  // until closed or timeout
}

struct TestWebSocket::Impl {
  net::io_context ioc;
  beast::websocket::stream<tcp::socket> ws{ioc};
  beast::websocket::response_type response;
  beast::error_code error;
  beast::error_code read_error;
};

TestWebSocket::TestWebSocket(uint16_t port, const std::string& target,
                             std::vector<std::pair<std::string, std::string>> headers,
                             std::vector<std::string> protocols)
    : impl_(std::make_unique<Impl>()) {
  auto& socket = beast::get_lowest_layer(impl_->ws);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), impl_->error);
  if (impl_->error) return;
  timeval timeout{10, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  impl_->ws.set_option(beast::websocket::stream_base::decorator(
      [headers = std::move(headers),
       protocols = std::move(protocols)](beast::websocket::request_type& req) {
        for (const auto& [name, value] : headers) req.set(name, value);
        std::string offer;
        for (const std::string& p : protocols) offer += (offer.empty() ? "" : ", ") + p;
        if (!offer.empty()) req.set(bhttp::field::sec_websocket_protocol, offer);
      }));
  impl_->ws.handshake(impl_->response, "127.0.0.1", target, impl_->error);
}

TestWebSocket::~TestWebSocket() = default;

bool TestWebSocket::open() const { return !impl_->error; }

int TestWebSocket::status() const { return static_cast<int>(impl_->response.result_int()); }

std::string TestWebSocket::ResponseHeader(std::string_view name) const {
  auto it = impl_->response.find(beast::string_view(name.data(), name.size()));
  return it == impl_->response.end() ? "" : std::string(it->value());
}

void TestWebSocket::Send(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text));
}

std::optional<std::string> TestWebSocket::Read() {
  beast::flat_buffer buffer;
  beast::error_code ec;
  impl_->ws.read(buffer, ec);
  if (ec) {
    impl_->read_error = ec;
    return std::nullopt;
  }
  return beast::buffers_to_string(buffer.data());
}

std::string TestWebSocket::read_error() const {
  return impl_->read_error ? impl_->read_error.message() : "";
}

bool TestWebSocket::closed_by_server() const {
  return impl_->read_error == beast::websocket::error::closed;
}

int TestWebSocket::close_code() const { return static_cast<int>(impl_->ws.reason().code); }

}  // namespace stipple::http::testing
