// Per-key token buckets: each API key may make `rate_per_s` requests a second on average, in
// bursts of up to `burst`. Over the limit the gateway answers 429 with Retry-After. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "common/thread_annotations.h"

namespace stipple::http {

class RateLimiter {
 public:
  // rate_per_s <= 0 disables the limit.
  RateLimiter(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst) {}

  // Takes one token of `key`'s bucket at `now`. Returns 0 when allowed, else the whole seconds
  // (at least 1) until a token is available.
  int Take(const std::string& key, std::chrono::steady_clock::time_point now);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  const double rate_;
  const double burst_;
  Mutex mu_;
  std::map<std::string, Bucket> buckets_ GUARDED_BY(mu_);
};

}  // namespace stipple::http
