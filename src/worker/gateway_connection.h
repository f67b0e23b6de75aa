// GatewayConnection: the worker's one keep-alive HTTP/1.1 connection to a gateway — blocking
// POSTs with a deadline each, reconnecting on the next call after any transport error. Used by
// RemoteWorkSource from its single connection thread; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace stipple {

// "http://HOST:PORT" (an optional path prefix is kept: "http://host:8080/stipple").
struct GatewayAddress {
  std::string host;
  std::string port = "80";
  std::string base_path;  // without a trailing '/'
};
// kInvalidArgument naming --gateway for anything but http://HOST[:PORT][/PREFIX].
Result<GatewayAddress> ParseGatewayUrl(std::string_view url);

struct GatewayReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

class GatewayConnection {
 public:
  // Connecting alone gives up after `connect_timeout` (a host that drops packets must not hold
  // the worker for a whole exchange's deadline: it has other gateways to try).
  GatewayConnection(GatewayAddress address, std::string token,
                    Millis connect_timeout = Millis(5'000));
  ~GatewayConnection();
  GatewayConnection(const GatewayConnection&) = delete;
  GatewayConnection& operator=(const GatewayConnection&) = delete;

  // POSTs `body` (application/json) to base_path + path with the token as Bearer, connecting
  // first when needed. The whole call (connect, write, read) must end within `timeout`.
  // kUnavailable for a transport error or timeout (the connection is closed; the next call
  // reconnects); any HTTP status is a reply.
  Result<GatewayReply> Post(std::string_view path, const std::string& body, Millis timeout);

  void Close();
  bool connected() const;
  int connects() const { return connects_; }  // successful connects so far
  const GatewayAddress& address() const { return address_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  GatewayAddress address_;
  std::string token_;
  Millis connect_timeout_;
  int connects_ = 0;
};

}  // namespace stipple
