#include "webhook/image_fetch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace stipple::webhook {
namespace {

// A one-answer HTTP server on a loopback address: every connection gets `response` (raw bytes)
// after the request's head, or nothing at all when `response` is empty (a server that never
// answers; the connection is held until the server stops).
class RawServer {
 public:
  RawServer(const char* address, std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, address, &a.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int connections() const { return connections_; }

 private:
  void Serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      std::string head;
      char buf[1024];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      if (response_.empty()) {
        while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else {
        (void)!::write(c, response_.data(), response_.size());
      }
      ::close(c);
    }
  }

  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

std::string Ok(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// Tests forbid 127.0.0.1 only (servers run on 127.0.0.2), so a redirect to 127.0.0.1 is refused
// while the first server is reachable.
ImageFetchOptions TestOptions() {
  ImageFetchOptions options;
  options.test_allow_http = true;
  options.test_forbidden = [](const sockaddr* a) {
    return a->sa_family == AF_INET &&
           reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
  };
  return options;
}

std::string Url(int port, const std::string& path = "/image.png") {
  return "http://127.0.0.2:" + std::to_string(port) + path;
}

TEST(FetchImage, ReturnsTheBody) {
  RawServer server("127.0.0.2", Ok("the image bytes"));
  Result<std::string> body = FetchImage(Url(server.port()), TestOptions());
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "the image bytes");
}

TEST(FetchImage, FollowsRedirectsUnderTheGuard) {
  RawServer image("127.0.0.2", Ok("moved image"));
  RawServer moved("127.0.0.2", "HTTP/1.1 302 Found\r\nLocation: " + Url(image.port()) +
                                   "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  Result<std::string> body = FetchImage(Url(moved.port()), TestOptions());
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, "moved image");

  RawServer local("127.0.0.1", Ok("secret"));
  RawServer to_local("127.0.0.2", "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:" +
                                      std::to_string(local.port()) +
                                      "/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  Result<std::string> refused = FetchImage(Url(to_local.port()), TestOptions());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("forbidden address 127.0.0.1"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(local.connections(), 0);
}

TEST(FetchImage, DefaultGuardRefusesLoopbackAndLocalNames) {
  RawServer local("127.0.0.1", Ok("secret"));
  ImageFetchOptions options;
  options.test_allow_http = true;
  Result<std::string> body =
      FetchImage("http://127.0.0.1:" + std::to_string(local.port()) + "/", options);
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.status().message().find("forbidden address"), std::string::npos);
  EXPECT_FALSE(FetchImage("https://localhost/x.png", options).ok());
  EXPECT_FALSE(FetchImage("http://example.com/x.png", ImageFetchOptions()).ok());  // not https
  EXPECT_EQ(local.connections(), 0);
}

TEST(FetchImage, ErrorsSayWhatWentWrong) {
  RawServer missing("127.0.0.2",
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  Result<std::string> not_found = FetchImage(Url(missing.port()), TestOptions());
  ASSERT_FALSE(not_found.ok());
  EXPECT_NE(not_found.status().message().find("answered HTTP 404"), std::string::npos);

  RawServer big("127.0.0.2", Ok(std::string(5000, 'x')));
  ImageFetchOptions small = TestOptions();
  small.max_bytes = 1000;
  Result<std::string> too_large = FetchImage(Url(big.port()), small);
  ASSERT_FALSE(too_large.ok());
  EXPECT_NE(too_large.status().message().find("larger than 1000 bytes"), std::string::npos)
      << too_large.status().message();

  RawServer silent("127.0.0.2", "");
  ImageFetchOptions quick = TestOptions();
  quick.timeout = Millis(300);
  const auto start = std::chrono::steady_clock::now();
  Result<std::string> timed_out = FetchImage(Url(silent.port()), quick);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_NE(timed_out.status().message().find("did not answer within 300 ms"), std::string::npos)
      << timed_out.status().message();
  // Ended by the 300 ms timeout, not by the silent server (which never answers); the bound is
  // generous so a loaded machine does not fail it.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

}  // namespace
}  // namespace stipple::webhook
