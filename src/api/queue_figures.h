// The figures of GET /v1/queue and of the queue metrics, computed from a TaskService::Queue()
// snapshot. desired_workers is the autoscaling hint; its formula is documented in docs/http.md.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "service/task_service.h"

namespace stipple::http {

struct ModelQueueFigures {
  std::string model;
  int64_t queued[3] = {0, 0, 0};  // by Priority
  int64_t running = 0;
  std::optional<double> oldest_queued_age_s;
  int workers = 0;  // registered workers that take this model
};

struct QueueFigures {
  std::vector<ModelQueueFigures> models;
  int64_t queued[3] = {0, 0, 0};  // every model, by Priority
  int64_t running = 0;
  int workers_online = 0;
  int workers_busy = 0;
  std::optional<double> oldest_queued_age_s;
  double throughput_per_min = 0;
  double mean_run_s = 0;
  std::optional<double> estimated_wait_s;  // queued / tasks_per_s; none while that is unknown
  int desired_workers = 0;
};

// A task's eta_s (API.md, "The task"): while queued, queue_position / tasks_per_s + mean_run_s
// (the tasks ahead are taken, then it runs); while running, the part of mean_run_s its progress
// has not covered (by steps when it reported progress, else by the time since it started).
// nullopt when the rate is unknown, and for a terminal task.
std::optional<double> EstimateTaskEta(const Task& task, const ServiceRate& rate, Timestamp now);

// TaskService::Queue read at most once per `max_age`, for per-request estimates. Thread-safe.
class ServiceRateCache {
 public:
  ServiceRateCache() = default;  // refreshes at most once a second
  explicit ServiceRateCache(Millis max_age) : max_age_(max_age) {}
  // The cached rate, refreshed when older than max_age; unknown when Queue fails.
  ServiceRate Get(TaskService& service, Timestamp now);

 private:
  const Millis max_age_{1000};
  Mutex mu_;
  ServiceRate rate_ GUARDED_BY(mu_);
  std::optional<Timestamp> taken_ GUARDED_BY(mu_);
};

// `target_wait_s`: how long the backlog may take to clear (GatewayOptions).
QueueFigures ComputeQueueFigures(const QueueSnapshot& snapshot, Timestamp now,
                                 double target_wait_s);

// The body of GET /v1/queue.
std::string QueueFiguresToJson(const QueueFigures& figures);
// GET /v1/workers: {"workers": [{id, host, device, models, state, current_tasks, last_seen}]},
// the registry as the snapshot holds it (by id).
std::string WorkersToJson(const QueueSnapshot& snapshot);

}  // namespace stipple::http
