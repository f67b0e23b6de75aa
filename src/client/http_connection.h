// The client's transport: one blocking HTTP/1.1 connection to a stipple server (Boost.Beast over
// Asio), with a deadline on every operation and a stop token that interrupts it. The only file of
// src/client that includes Beast; Client (client.h) builds on it.
//
// Errors: kInvalidArgument for a bad URL; kUnavailable when the server cannot be reached or the
// connection broke (the message names the address and the reason); kDeadlineExceeded when an
// operation ran out of time; kCancelled when the stop token was triggered. After any error the
// connection is broken and must be dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace stipple::client {

using Millis = std::chrono::milliseconds;

// "http://HOST[:PORT][/PREFIX]": where the server's API lives. PREFIX (no trailing slash) is put
// before every path, for servers behind a proxy under a sub-path.
struct ServerUrl {
  std::string host;
  uint16_t port = 80;
  std::string prefix;
  std::string ToString() const;  // "http://127.0.0.1:8080"
};

// kInvalidArgument naming the problem ("https is not supported", "no host", "bad port").
Result<ServerUrl> ParseServerUrl(std::string_view text);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequestSpec {
  std::string method = "GET";
  std::string target;  // path and query, without the URL's prefix
  HeaderList headers;
  std::string body;
};

struct HttpReply {
  int status = 0;
  HeaderList headers;  // as received
  std::string body;    // empty after StartStream for a 2xx answer (read it with ReadSome)
  // The first header of that name (case-insensitive).
  std::optional<std::string> Header(std::string_view name) const;
};

// Not thread-safe: one caller at a time.
class HttpConnection {
 public:
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Resolves and connects within `timeout`.
  static Result<std::unique_ptr<HttpConnection>> Open(const ServerUrl& url, Millis timeout,
                                                      const std::stop_token& stop);

  // Sends the request and reads the whole answer (body up to `max_body_bytes`) within `timeout`.
  Result<HttpReply> RoundTrip(const HttpRequestSpec& request, Millis timeout, size_t max_body_bytes,
                              const std::stop_token& stop);

  // For streams (Server-Sent Events): sends the request and reads the answer's header within
  // `timeout`. A 2xx answer's body is then read with ReadSome; any other answer is read whole.
  Result<HttpReply> StartStream(const HttpRequestSpec& request, Millis timeout,
                                const std::stop_token& stop);
  // The next bytes of a streamed body, waiting at most `idle_timeout` for them. kOutOfRange when
  // the body ended (the server closed the stream).
  Result<std::string> ReadSome(Millis idle_timeout, const std::stop_token& stop);

  // Whether the connection can carry another request (the last answer was read whole and kept
  // the connection alive). Only such connections may go back to a pool.
  bool reusable() const;
  // Whether a request has already been sent on this connection.
  bool used() const;

 private:
  struct Impl;
  explicit HttpConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stipple::client
