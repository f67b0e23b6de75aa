// BlockingCalls: a few threads for the service calls that may wait on a store commit, a
// result-store write or a store round trip — Submit returns once the task is durable, after the
// store's group commit; so do Cancel and the worker protocol's reports (a Complete writes its
// images first) — so that the I/O threads never wait on an fsync. Callers post the answer back
// to the connection's strand. Were Submit called on the I/O threads, at most io_threads submits
// would be in flight, and the store would commit them one or two at a time (docs/benchmarks.md,
// the gateway section); here up to `threads` wait together and share each commit. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"

namespace stipple::http {

class BlockingCalls {
 public:
  explicit BlockingCalls(int threads);
  ~BlockingCalls();  // Finish()
  BlockingCalls(const BlockingCalls&) = delete;
  BlockingCalls& operator=(const BlockingCalls&) = delete;

  // Runs `call` on one of the threads, in FIFO order of Run; after Finish, on the caller's
  // thread before returning.
  void Run(std::function<void()> call);
  // Runs every call already queued, then stops the threads. Idempotent.
  void Finish();

 private:
  void Loop();

  Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> calls_ GUARDED_BY(mu_);
  bool finishing_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace stipple::http
