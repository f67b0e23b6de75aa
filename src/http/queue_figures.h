// The figures of GET /v1/queue and of the queue metrics, computed from a TaskService::Queue()
// snapshot. desired_workers is the autoscaling hint; its formula is documented in docs/http.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "service/task_service.h"

namespace stipple::http {

struct ModelQueueFigures {
  std::string model;
  int64_t queued[3] = {0, 0, 0};  // by Priority
  int64_t running = 0;
  std::optional<double> oldest_queued_age_s;
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
  std::optional<double> estimated_wait_s;  // none while no worker is online
  int desired_workers = 0;
};

// `target_wait_s`: how long the backlog may take to clear (GatewayOptions).
QueueFigures ComputeQueueFigures(const QueueSnapshot& snapshot, Timestamp now,
                                 double target_wait_s);

// The body of GET /v1/queue.
std::string QueueFiguresToJson(const QueueFigures& figures);

}  // namespace stipple::http
