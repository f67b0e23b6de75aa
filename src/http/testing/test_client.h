// Test support for src/http: small blocking clients over loopback (Beast) — one keep-alive
// connection, a raw exchange of bytes, a streaming reader, a WebSocket. Every call blocks on the
// caller's thread. TestClient throws Beast's system_error when it cannot connect or read an
// answer (the test fails); RawExchange and StreamReader return what they read. For tests only
// (stipple_http_testing).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/http_message.h"

namespace stipple::http::testing {

struct TestResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
};

// One keep-alive connection to 127.0.0.1:port.
class TestClient {
 public:
  explicit TestClient(uint16_t port);
  ~TestClient();
  TestResponse Send(const std::string& method, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers = {},
                    const std::string& body = "");
  // Whether the server closed the connection after the last response.
  bool ServerClosed();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sends `bytes` on a new connection and returns everything read until the server closes it or
// `timeout` passes.
std::string RawExchange(uint16_t port, const std::string& bytes,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

// A streaming reader: sends a request, then reads the raw response incrementally.
class StreamReader {
 public:
  StreamReader(uint16_t port, const std::string& request_bytes);
  ~StreamReader();
  // Reads until `needle` appears in everything read so far, the server closes, or `timeout`.
  // Returns everything read so far.
  std::string ReadUntil(const std::string& needle,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  bool closed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A blocking WebSocket client on one loopback connection, whose reads give up after 10 s
// (SO_RCVTIMEO), so that a missing frame fails a test instead of hanging it. The handshake runs
// in the constructor; open() tells whether it succeeded.
class TestWebSocket {
 public:
  TestWebSocket(uint16_t port, const std::string& target,
                std::vector<std::pair<std::string, std::string>> headers = {},
                std::vector<std::string> protocols = {});  // offered in Sec-WebSocket-Protocol
  ~TestWebSocket();

  bool open() const;
  // The handshake's answer: 101 when open, else the refusal's status (0: no answer).
  int status() const;
  // A header of the handshake's answer; "" when absent.
  std::string ResponseHeader(std::string_view name) const;

  // Throws Beast's system_error when the write fails.
  void Send(const std::string& text);
  // The next message; nullopt when the read failed (read_error says why).
  std::optional<std::string> Read();
  // The last failed read's error ("" if none); whether it met the server's close frame, and that
  // frame's code.
  std::string read_error() const;
  bool closed_by_server() const;
  int close_code() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stipple::http::testing
