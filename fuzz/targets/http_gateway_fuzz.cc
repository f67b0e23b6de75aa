// Fuzz target: raw bytes through the gateway's HTTP connection (src/http/connection.cc, Beast's
// parser) into its router and handlers, against the FakeTaskService test double
// (src/api/testing/http_test_support.h). Each input is sent on a new loopback connection, whose
// write side is then shut; everything the server answers is read until it closes (or 2 s pass).
// Properties: the server never crashes, and whatever it answers begins with an HTTP/1.x status
// line (malformed requests get a 4xx/5xx answer, never stray bytes). Seeds are requests from the
// API reference (docs/http.md); the dictionary holds methods, paths and header names.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "api/testing/http_test_support.h"
#include "fuzz_support.h"

namespace {

using stipple::http::testing::TestOptions;
using stipple::http::testing::TestServer;

// The server, made again every so many inputs so that the fake's tasks do not pile up.
TestServer& Server() {
  static std::unique_ptr<TestServer> server;
  static int uses = 0;
  if (!server || ++uses % 20000 == 0) {
    server.reset();
    stipple::http::ApiServerOptions options = TestOptions();
    options.io_threads = 1;
    server = std::make_unique<TestServer>(options);
  }
  return *server;
}

// Sends `bytes`, shuts the write side, returns what the server sent until it closed.
std::string Exchange(uint16_t port, std::string_view bytes) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "connect");
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close before reading everything (413, 431, 400)
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string answer;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return answer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string answer = Exchange(Server().port(), stipple::fuzz::AsText(data, size));
  FUZZ_CHECK(answer.empty() || answer.rfind("HTTP/1.", 0) == 0, answer.substr(0, 200));
  return 0;
}
