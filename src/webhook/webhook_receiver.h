// WebhookReceiver: a webhook receiver for tests, benchmarks and `stipple bench` (src/loadgen) — a
// small HTTP/1.1 server on a loopback port (one thread per connection, keep-alive) that records
// every request and answers with the status its `answer` function picks (or hangs when it says 0).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"

namespace stipple::webhook {

struct ReceivedRequest {
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::chrono::steady_clock::time_point arrived;  // when the whole request had been read
};

class WebhookReceiver {
 public:
  // answer(n, request): the status for the n-th request (from 0); 0: never answer.
  explicit WebhookReceiver(std::function<int(int, const ReceivedRequest&)> answer =
                               [](int, const ReceivedRequest&) { return 200; });
  ~WebhookReceiver();

  int port() const { return port_; }
  std::vector<ReceivedRequest> requests();
  int count();
  // Waits (real time, up to `limit`) until at least n requests arrived.
  bool WaitFor(int n, std::chrono::milliseconds limit = std::chrono::seconds(60));

 private:
  void Accept();
  void Serve(int fd);

  std::function<int(int, const ReceivedRequest&)> answer_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  Mutex mu_;
  std::condition_variable cv_;
  std::vector<ReceivedRequest> requests_ GUARDED_BY(mu_);
  std::vector<int> fds_ GUARDED_BY(mu_);
  std::vector<std::thread> threads_ GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace stipple::webhook
