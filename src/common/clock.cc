#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace stipple {

Timestamp SystemClock::Now() const {
  return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
}

const SystemClock* SystemClock::Get() {
  static const SystemClock kClock;
  return &kClock;
}

std::string FormatRfc3339(Timestamp t) {
  int64_t ms = ToUnixMillis(t);
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int millis = static_cast<int>(ms - secs * 1000);
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

Result<Timestamp> ParseRfc3339(std::string_view text) {
  // Accepts the form FormatRfc3339 writes, with 0-9 fractional digits and a 'Z' suffix.
  int y, mo, d, h, mi, s;
  char rest[16] = {0};
  std::string copy(text.substr(0, 40));
  int fields =
      std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%15s", &y, &mo, &d, &h, &mi, &s, rest);
  if (fields < 6) {
    return InvalidArgumentError("not an RFC 3339 UTC time: " + copy);
  }
  int millis = 0;
  std::string_view r(rest);
  if (!r.empty() && r.front() == '.') {
    r.remove_prefix(1);
    int digits = 0;
    while (!r.empty() && r.front() >= '0' && r.front() <= '9') {
      if (digits < 3) millis = millis * 10 + (r.front() - '0');
      ++digits;
      r.remove_prefix(1);
    }
    for (int i = digits; i < 3; ++i) millis *= 10;
  }
  if (r != "Z") return InvalidArgumentError("not an RFC 3339 UTC time: " + copy);
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return FromUnixMillis(static_cast<int64_t>(timegm(&tm)) * 1000 + millis);
}

}  // namespace stipple
