// Ids of tasks and other records: a type prefix and a ULID ("tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V").
//
// 48 bits of Unix milliseconds then 80 random bits, in Crockford base 32, so ids sort by
// creation time as strings and are unique across processes and hosts without coordination
// (the random part comes from the OS's CSPRNG). Within one process, ids made in the same
// millisecond are strictly increasing (the random part is incremented), so sort order is exact.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/thread_annotations.h"

namespace stipple {

// Thread-safe.
class IdGenerator {
 public:
  explicit IdGenerator(const Clock* clock = SystemClock::Get()) : clock_(clock) {}
  // prefix without the underscore, e.g. "tsk".
  std::string Next(std::string_view prefix);

 private:
  const Clock* clock_;
  Mutex mu_;
  int64_t last_ms_ GUARDED_BY(mu_) = -1;
  std::array<uint8_t, 10> last_random_ GUARDED_BY(mu_){};
};

// The process-wide generator on the system clock.
std::string NewId(std::string_view prefix);

// True when `id` is `prefix` + "_" + 26 Crockford base-32 characters.
bool IsValidId(std::string_view id, std::string_view prefix);

// The creation time encoded in a valid id.
Timestamp IdTime(std::string_view id);

// n bytes from the OS's CSPRNG (getrandom).
void FillRandom(void* data, size_t n);

}  // namespace stipple
