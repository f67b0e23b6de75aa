// Blocking calls over Asio's asynchronous operations: each call starts one operation and runs the
// connection's own io_context in short slices until it completes, its deadline passes or the stop
// token fires (then the operation is cancelled and the connection marked broken). Plain blocking
// socket calls could not be given a deadline or be interrupted.
#include "client/http_connection.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <limits>

namespace stipple::client {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

constexpr Millis kSlice{50};

}  // namespace

std::string ServerUrl::ToString() const {
  return "http://" + host + ":" + std::to_string(port) + prefix;
}

Result<ServerUrl> ParseServerUrl(std::string_view text) {
  const std::string shown = "server URL '" + std::string(text) + "'";
  if (text.starts_with("https://")) {
    return InvalidArgumentError(shown +
                                ": https is not supported; use http:// (put TLS in a proxy)");
  }
  if (!text.starts_with("http://")) {
    return InvalidArgumentError(shown + ": must start with http://");
  }
  std::string_view rest = text.substr(7);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.find_first_of("?# ") != std::string_view::npos) {
    return InvalidArgumentError(shown + ": a query or fragment is not allowed");
  }
  ServerUrl url;
  url.prefix = std::string(path);
  std::string_view host = authority;
  if (authority.starts_with("[")) {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgumentError(shown + ": bad IPv6 host");
    host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') {
      return InvalidArgumentError(shown + ": bad IPv6 host");
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    authority = colon == std::string_view::npos ? "" : authority.substr(colon);
  }
  if (host.empty()) return InvalidArgumentError(shown + ": no host");
  url.host = std::string(host);
  if (!authority.empty()) {  // ":PORT"
    std::string_view port = authority.substr(1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return InvalidArgumentError(shown + ": bad port");
    }
    url.port = static_cast<uint16_t>(value);
  }
  return url;
}

std::optional<std::string> HttpReply::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

struct HttpConnection::Impl {
  ServerUrl url;
  net::io_context ioc;
  tcp::resolver resolver{ioc};
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::optional<bhttp::response_parser<bhttp::string_body>> stream_parser;
  bool broken = false;
  bool reusable = false;
  bool used = false;

  // Runs the io_context until `done`; past `deadline` or on `stop` it cancels what is pending,
  // waits for the cancellation to land, and answers kDeadlineExceeded or kCancelled.
  Status Run(const bool& done, SteadyClock::time_point deadline, const std::stop_token& stop,
             std::string_view what) {
    enum class Why { kNone, kTimeout, kStop } why = Why::kNone;
    ioc.restart();
    while (!done) {
      if (why == Why::kNone) {
        if (stop.stop_requested()) {
          why = Why::kStop;
        } else if (SteadyClock::now() >= deadline) {
          why = Why::kTimeout;
        }
        if (why != Why::kNone) {
          resolver.cancel();
          stream.cancel();
        }
      }
      ioc.run_one_for(kSlice);
      if (ioc.stopped() && !done) {
        // No work left, yet the operation never completed: it cannot complete any more.
        broken = true;
        return InternalError("lost track of an operation on the connection to " + url.ToString());
      }
    }
    if (why == Why::kNone) return Status::Ok();
    broken = true;
    if (why == Why::kStop) return Status(StatusCode::kCancelled, std::string(what) + ": stopped");
    return DeadlineExceededError("no answer from " + url.ToString() + " in time (" +
                                 std::string(what) + ")");
  }

  Status Broken(std::string_view what, const beast::error_code& ec) {
    broken = true;
    return UnavailableError("connection to " + url.ToString() + " " + std::string(what) + ": " +
                            ec.message());
  }

  Status Write(const HttpRequestSpec& spec, SteadyClock::time_point deadline,
               const std::stop_token& stop) {
    if (broken) return UnavailableError("connection to " + url.ToString() + " is broken");
    used = true;
    reusable = false;
    bhttp::request<bhttp::string_body> request;
    request.version(11);
    request.method_string(spec.method);
    request.target(url.prefix + spec.target);
    request.set(bhttp::field::host, url.host + ":" + std::to_string(url.port));
    for (const auto& [name, value] : spec.headers) request.set(name, value);
    request.body() = spec.body;
    if (!spec.body.empty() || spec.method == "POST" || spec.method == "PUT") {
      request.prepare_payload();
    }
    bool done = false;
    beast::error_code ec;
    bhttp::async_write(stream, request, [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    RETURN_IF_ERROR(Run(done, deadline, stop, "sending the request"));
    if (ec) return Broken("failed while sending", ec);
    return Status::Ok();
  }

  static HttpReply ReplyHead(const bhttp::response_parser<bhttp::string_body>& parser) {
    HttpReply reply;
    reply.status = static_cast<int>(parser.get().result_int());
    for (const auto& field : parser.get()) {
      reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return reply;
  }

  Result<HttpReply> ReadWhole(bhttp::response_parser<bhttp::string_body>& parser,
                              SteadyClock::time_point deadline, const std::stop_token& stop) {
    bool done = false;
    beast::error_code ec;
    bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    RETURN_IF_ERROR(Run(done, deadline, stop, "reading the answer"));
    if (ec == bhttp::error::body_limit) {
      broken = true;
      return DataLossError("the answer from " + url.ToString() + " is too large");
    }
    if (ec) return Broken("broke before the answer was read", ec);
    HttpReply reply = ReplyHead(parser);
    reply.body = std::move(parser.get().body());
    reusable = parser.get().keep_alive();
    return reply;
  }
};

HttpConnection::HttpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpConnection::~HttpConnection() {
  beast::error_code ignored;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream.socket().close(ignored);
}

Result<std::unique_ptr<HttpConnection>> HttpConnection::Open(const ServerUrl& url, Millis timeout,
                                                             const std::stop_token& stop) {
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  const auto deadline = SteadyClock::now() + timeout;
  bool done = false;
  beast::error_code ec;
  tcp::resolver::results_type endpoints;
  impl->resolver.async_resolve(url.host, std::to_string(url.port),
                               [&](beast::error_code e, tcp::resolver::results_type r) {
                                 ec = e;
                                 endpoints = std::move(r);
                                 done = true;
                               });
  RETURN_IF_ERROR(impl->Run(done, deadline, stop, "resolving the host"));
  if (ec) return UnavailableError("cannot reach " + url.ToString() + ": " + ec.message());
  done = false;
  impl->stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  RETURN_IF_ERROR(impl->Run(done, deadline, stop, "connecting"));
  if (ec) return UnavailableError("cannot reach " + url.ToString() + ": " + ec.message());
  impl->stream.socket().set_option(tcp::no_delay(true), ec);
  return std::unique_ptr<HttpConnection>(new HttpConnection(std::move(impl)));
}

Result<HttpReply> HttpConnection::RoundTrip(const HttpRequestSpec& request, Millis timeout,
                                            size_t max_body_bytes, const std::stop_token& stop) {
  const auto deadline = SteadyClock::now() + timeout;
  RETURN_IF_ERROR(impl_->Write(request, deadline, stop));
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(max_body_bytes);
  if (request.method == "HEAD") parser.skip(true);
  return impl_->ReadWhole(parser, deadline, stop);
}

Result<HttpReply> HttpConnection::StartStream(const HttpRequestSpec& request, Millis timeout,
                                              const std::stop_token& stop) {
  const auto deadline = SteadyClock::now() + timeout;
  RETURN_IF_ERROR(impl_->Write(request, deadline, stop));
  auto& parser = impl_->stream_parser.emplace();
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  bool done = false;
  beast::error_code ec;
  bhttp::async_read_header(impl_->stream, impl_->buffer, parser, [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  });
  RETURN_IF_ERROR(impl_->Run(done, deadline, stop, "reading the answer"));
  if (ec) return impl_->Broken("broke before the answer was read", ec);
  const int status = static_cast<int>(parser.get().result_int());
  if (status >= 200 && status < 300) return Impl::ReplyHead(parser);
  // An error answer: read it whole; it is small.
  parser.body_limit(std::uint64_t{1024} * 1024);
  return impl_->ReadWhole(parser, deadline, stop);
}

Result<std::string> HttpConnection::ReadSome(Millis idle_timeout, const std::stop_token& stop) {
  auto& parser = impl_->stream_parser;
  if (!parser) return FailedPreconditionError("ReadSome without StartStream");
  while (true) {
    if (parser->is_done()) {
      impl_->reusable = parser->get().keep_alive();
      return Status(StatusCode::kOutOfRange, "the stream ended");
    }
    if (impl_->broken)
      return UnavailableError("the stream from " + impl_->url.ToString() + " broke");
    bool done = false;
    beast::error_code ec;
    bhttp::async_read_some(impl_->stream, impl_->buffer, *parser, [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    RETURN_IF_ERROR(impl_->Run(done, SteadyClock::now() + idle_timeout, stop, "streaming"));
    std::string bytes = std::move(parser->get().body());
    parser->get().body().clear();
    if (ec) impl_->broken = !parser->is_done();
    if (!bytes.empty()) return bytes;
    if (ec && !parser->is_done()) return impl_->Broken("broke during the stream", ec);
  }
}

bool HttpConnection::reusable() const { return impl_->reusable && !impl_->broken; }
bool HttpConnection::used() const { return impl_->used; }

}  // namespace stipple::client
