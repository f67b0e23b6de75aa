#include "worker/gateway_connection.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace stipple {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

Result<GatewayAddress> ParseGatewayUrl(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("--gateway '" + std::string(url) + "': " + why, {{"gateway", why}});
  };
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return bad("expected http://HOST[:PORT]");
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  GatewayAddress address;
  if (slash != std::string_view::npos) {
    address.base_path = std::string(rest.substr(slash));
    while (!address.base_path.empty() && address.base_path.back() == '/') {
      address.base_path.pop_back();
    }
  }
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    address.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
    if (address.port.empty() || address.port.size() > 5 ||
        address.port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(address.port) > 65535 || std::stoi(address.port) == 0) {
      return bad("the port must be 1..65535");
    }
  }
  if (authority.empty()) return bad("no host");
  address.host = std::string(authority);
  return address;
}

struct GatewayConnection::Impl {
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  // Runs the operations started on ioc until they finish.
  void Run() {
    ioc.restart();
    ioc.run();
  }
};

GatewayConnection::GatewayConnection(GatewayAddress address, std::string token,
                                     Millis connect_timeout)
    : impl_(std::make_unique<Impl>()),
      address_(std::move(address)),
      token_(std::move(token)),
      connect_timeout_(connect_timeout) {}

GatewayConnection::~GatewayConnection() { Close(); }

bool GatewayConnection::connected() const { return impl_->stream.has_value(); }

void GatewayConnection::Close() {
  if (!impl_->stream) return;
  beast::error_code ignored;
  impl_->stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream->close();
  impl_->stream.reset();
  impl_->buffer.clear();
}

Result<GatewayReply> GatewayConnection::Post(std::string_view path, const std::string& body,
                                             Millis timeout) {
  Impl& d = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fail = [&](const std::string& what, const beast::error_code& ec) -> Status {
    Close();
    return UnavailableError("gateway " + address_.host + ":" + address_.port + ": " + what + ": " +
                            ec.message());
  };
  beast::error_code ec;
  if (!d.stream) {
    tcp::resolver resolver(d.ioc);
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(address_.host, address_.port,
                           [&](beast::error_code e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                           });
    d.Run();
    if (ec) return UnavailableError("cannot resolve " + address_.host + ": " + ec.message());
    d.stream.emplace(d.ioc);
    d.stream->expires_at(std::min(deadline, std::chrono::steady_clock::now() + connect_timeout_));
    d.stream->async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    d.Run();
    if (ec) return fail("cannot connect", ec);
    d.stream->socket().set_option(tcp::no_delay(true), ec);
    ++connects_;
  }
  bhttp::request<bhttp::string_body> request{bhttp::verb::post,
                                             address_.base_path + std::string(path), 11};
  request.set(bhttp::field::host, address_.host + ":" + address_.port);
  request.set(bhttp::field::authorization, "Bearer " + token_);
  request.set(bhttp::field::content_type, "application/json");
  request.set(bhttp::field::user_agent, "stipple-worker");
  request.keep_alive(true);
  request.body() = body;
  request.prepare_payload();
  d.stream->expires_at(deadline);
  bhttp::async_write(*d.stream, request, [&](beast::error_code e, size_t) { ec = e; });
  d.Run();
  if (ec) return fail("write failed", ec);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  d.stream->expires_at(deadline);
  bhttp::async_read(*d.stream, d.buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
  d.Run();
  if (ec) return fail("read failed", ec);
  d.stream->expires_never();
  bhttp::response<bhttp::string_body>& response = parser.get();
  GatewayReply reply;
  reply.status = static_cast<int>(response.result_int());
  reply.content_type = std::string(response[bhttp::field::content_type]);
  reply.body = std::move(response.body());
  if (!response.keep_alive()) Close();
  return reply;
}

}  // namespace stipple
