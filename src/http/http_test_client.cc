// The tests' HTTP client: blocking Beast over loopback.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/http_test_support.h"

namespace stipple::http::testing {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

ModelCatalog TestCatalog() {
  ModelLimits limits;
  limits.name = "shapes-32";
  limits.family = "sd1";
  return ModelCatalog{{limits}, {{"ink", "sd1", 1234}, {"neon", "sdxl", 99}}};
}

HttpServerOptions TestOptions() {
  HttpServerOptions o;
  o.port = 0;
  o.io_threads = 2;
  o.read_timeout = std::chrono::milliseconds(1000);
  o.idle_timeout = std::chrono::milliseconds(1000);
  o.write_timeout = std::chrono::milliseconds(1000);
  o.stop_grace = std::chrono::milliseconds(2000);
  o.max_body_bytes = 64 * 1024;
  o.max_submit_body_bytes = 64 * 1024;
  o.max_header_bytes = 8 * 1024;
  o.gateway.sse_keepalive = std::chrono::milliseconds(200);
  o.gateway.seeds = [] { return 42u; };
  return o;
}

TestServer::TestServer(HttpServerOptions options)
    : server(std::make_unique<HttpServer>(service, TestCatalog(), std::move(options))) {
  Status started = server->Start();
  if (!started.ok()) std::abort();
}

TestServer::~TestServer() { server.reset(); }

TestResponse TestServer::Send(const std::string& method, const std::string& target,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::string& body) {
  TestClient client(port());
  return client.Send(method, target, headers, body);
}

std::string TestServer::CreateTask(const std::string& body) {
  TestResponse r = Send("POST", "/v1/tasks", {{"Content-Type", "application/json"}}, body);
  if (r.status != 202) return "";
  size_t at = r.body.find("\"id\":\"");
  if (at == std::string::npos) return "";
  at += 6;
  return r.body.substr(at, r.body.find('"', at) - at);
}

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

}  // namespace stipple::http::testing
