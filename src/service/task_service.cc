#include "service/task_service.h"

#include <algorithm>
#include <charconv>
#include <cmath>

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

ServiceRate ComputeServiceRate(const QueueSnapshot& snapshot) {
  ServiceRate rate;
  rate.mean_run_s = snapshot.mean_run_s;
  if (snapshot.workers_online > 0 && snapshot.mean_run_s > 0) {
    rate.tasks_per_s =
        std::max(snapshot.throughput_per_min / 60.0, snapshot.workers_online / snapshot.mean_run_s);
  }
  return rate;
}

Status TenantQuotaError(const std::string& tenant, int64_t queued, int64_t quota,
                        int64_t oldest_position, const ServiceRate& rate) {
  std::string message = "tenant " + tenant + " has " + std::to_string(queued) +
                        " queued tasks, its quota of " + std::to_string(quota);
  if (rate.tasks_per_s > 0) {
    int64_t seconds = std::clamp<int64_t>(
        static_cast<int64_t>(
            std::ceil(static_cast<double>(oldest_position + 1) / rate.tasks_per_s)),
        1, 3600);
    message += "; " + std::string(kRetryAfter) + std::to_string(seconds) + " s";
  }
  return ResourceExhaustedError(std::move(message));
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
    case WorkerState::kStopped: return "stopped";
  }
  return "idle";
}

std::vector<Result<Task>> WorkSource::CompleteBatch(std::vector<TaskImages> batch) {
  std::vector<Result<Task>> results;
  results.reserve(batch.size());
  for (TaskImages& task : batch) {
    results.push_back(Complete(task.task_id, task.fencing, std::move(task.images)));
  }
  return results;
}

std::vector<Status> WorkSource::ProgressBatch(std::vector<ProgressReport> reports) {
  std::vector<Status> statuses;
  statuses.reserve(reports.size());
  for (ProgressReport& r : reports) {
    statuses.push_back(Progress(r.task_id, r.fencing, r.progress, std::move(r.preview_png)));
  }
  return statuses;
}

Result<std::string> WorkSource::GetInput(const std::string&) {
  return UnimplementedError("this work source cannot read image inputs");
}

}  // namespace stipple
