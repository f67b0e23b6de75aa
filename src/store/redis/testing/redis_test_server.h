// RedisTestServer: a real redis-server for tests and benchmarks, started on a free port of
// 127.0.0.1 with its own temporary directory (its AOF lives there), stopped and removed when the
// object is destroyed. It can be stopped (SIGTERM or SIGKILL) and started again on the same port
// and directory, to test what survives a restart and how clients behave while it is down.
//
// Not thread-safe: drive one from one thread (the clients talking to it may be on any thread).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace stipple::redis {

struct RedisTestServerOptions {
  bool appendonly = true;
  std::string appendfsync = "everysec";  // "always", "everysec" or "no"
  std::string binary = "redis-server";   // looked up on PATH
};

class RedisTestServer {
 public:
  static Result<std::unique_ptr<RedisTestServer>> Start(RedisTestServerOptions options = {});
  ~RedisTestServer();
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  int port() const { return port_; }
  // "redis://127.0.0.1:PORT/0"
  std::string url() const;
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

  // Stops the server and waits for it to exit: SIGKILL (a crash: only what reached the AOF
  // survives) or SIGTERM (a clean shutdown).
  Status Stop(bool kill);
  // Starts it again on the same port and directory; returns once it answers PING.
  Status Restart();

 private:
  RedisTestServer(RedisTestServerOptions options, std::string dir, int port);
  Status Launch();

  const RedisTestServerOptions options_;
  const std::string dir_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace stipple::redis
