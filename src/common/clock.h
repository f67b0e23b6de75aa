// Clock: the one source of "now" for everything that reasons about time (leases, ttl, retention).
// Injected, so tests advance time by hand instead of sleeping. Times are wall-clock milliseconds
// since the Unix epoch because they are persisted and compared across processes and hosts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace stipple {

using Millis = std::chrono::milliseconds;
using Timestamp = std::chrono::time_point<std::chrono::system_clock, Millis>;

inline int64_t ToUnixMillis(Timestamp t) { return t.time_since_epoch().count(); }
inline Timestamp FromUnixMillis(int64_t ms) { return Timestamp(Millis(ms)); }

// RFC 3339 UTC with milliseconds: "2026-11-25T23:45:38.123Z".
std::string FormatRfc3339(Timestamp t);
Result<Timestamp> ParseRfc3339(std::string_view text);

// Thread-safe: Now() may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
};

// The real wall clock. Stateless; one shared instance.
class SystemClock final : public Clock {
 public:
  Timestamp Now() const override;
  static const SystemClock* Get();
};

// A clock that moves only when told to. For tests and simulations.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start = FromUnixMillis(1'800'000'000'000))
      : now_ms_(ToUnixMillis(start)) {}
  Timestamp Now() const override { return FromUnixMillis(now_ms_.load()); }
  void Advance(Millis d) { now_ms_ += d.count(); }
  void Set(Timestamp t) { now_ms_ = ToUnixMillis(t); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace stipple
