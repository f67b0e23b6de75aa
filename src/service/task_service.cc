#include "service/task_service.h"

#include <algorithm>
#include <charconv>

namespace stipple {

namespace {
constexpr std::string_view kRetryAfter = "retry after ";
}  // namespace

Status QueueFullError(int64_t queued, int64_t max_queue, Millis retry_after) {
  int64_t seconds = std::max<int64_t>(1, (retry_after.count() + 999) / 1000);
  return ResourceExhaustedError("the queue is full (" + std::to_string(queued) + " of " +
                                std::to_string(max_queue) + " tasks queued); " +
                                std::string(kRetryAfter) + std::to_string(seconds) + " s");
}

std::optional<Millis> RetryAfterHint(const Status& status) {
  const std::string& m = status.message();
  size_t at = m.rfind(kRetryAfter);
  if (at == std::string::npos) return std::nullopt;
  const char* first = m.data() + at + kRetryAfter.size();
  const char* last = m.data() + m.size();
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(first, last, seconds);
  if (ec != std::errc() || std::string_view(end, last) != " s") return std::nullopt;
  return Millis(seconds * 1000);
}

void DurationHistogram::Observe(double seconds) {
  seconds = std::max(0.0, seconds);
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  ++buckets[i];
  ++count;
  sum += seconds;
}

std::string_view WorkerStateName(WorkerState state) {
  switch (state) {
    case WorkerState::kIdle: return "idle";
    case WorkerState::kBusy: return "busy";
    case WorkerState::kDraining: return "draining";
  }
  return "idle";
}

}  // namespace stipple
