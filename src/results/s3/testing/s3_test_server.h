// S3TestServer: a real S3-compatible server for tests and benchmarks — s3rver under node
// (tests/support/s3rver.js, which also checks every SigV4 signature with the independent `aws4`
// package) — on a free port of 127.0.0.1 with its own temporary directory, stopped and removed
// when the object is destroyed. It can be stopped and started again on the same port and
// directory, to test how clients behave while it is down.
//
// Not thread-safe: drive one from one thread (the clients talking to it may be on any thread).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace stipple::s3 {

struct S3TestServerOptions {
  std::vector<std::string> buckets = {"stipple-test"};  // created at start
};

class S3TestServer {
 public:
  // s3rver's account: the only credentials it accepts.
  static constexpr const char* kAccessKeyId = "S3RVER";
  static constexpr const char* kSecretAccessKey = "S3RVER";

  static Result<std::unique_ptr<S3TestServer>> Start(S3TestServerOptions options = {});
  ~S3TestServer();
  S3TestServer(const S3TestServer&) = delete;
  S3TestServer& operator=(const S3TestServer&) = delete;

  int port() const { return port_; }
  std::string endpoint() const;  // "http://127.0.0.1:PORT"
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

  // Stops the server (SIGKILL) and waits for it to exit.
  Status Stop();
  // Starts it again on the same port and directory; returns once it listens.
  Status Restart();

 private:
  S3TestServer(S3TestServerOptions options, std::string dir);
  Status Launch();

  const S3TestServerOptions options_;
  const std::string dir_;
  int port_ = 0;  // 0 until the first start picked one
  pid_t pid_ = -1;
};

}  // namespace stipple::s3
