#include "api/blocking_calls.h"

#include <algorithm>

namespace stipple::http {

BlockingCalls::BlockingCalls(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Loop(); });
}

BlockingCalls::~BlockingCalls() { Finish(); }

void BlockingCalls::Run(std::function<void()> call) {
  {
    MutexLock lock(mu_);
    if (!finishing_) {
      calls_.push_back(std::move(call));
      cv_.notify_one();
      return;
    }
  }
  call();
}

void BlockingCalls::Finish() {
  {
    MutexLock lock(mu_);
    finishing_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void BlockingCalls::Loop() {
  MutexLock lock(mu_);
  while (true) {
    cv_.wait(lock.native(), [this]() REQUIRES(mu_) { return finishing_ || !calls_.empty(); });
    if (calls_.empty()) return;  // finishing, and nothing left
    std::function<void()> call = std::move(calls_.front());
    calls_.pop_front();
    lock.Unlock();
    call();
    lock.Lock();
  }
}

}  // namespace stipple::http
