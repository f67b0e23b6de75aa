#include "api/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace stipple::http {

int RateLimiter::Take(const std::string& key, std::chrono::steady_clock::time_point now) {
  if (rate_ <= 0) return 0;
  MutexLock lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{std::max(burst_, 1.0), now});
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(std::max(burst_, 1.0), b.tokens + std::max(0.0, elapsed) * rate_);
  b.last = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / rate_)));
}

}  // namespace stipple::http
