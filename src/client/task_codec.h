// Reading what a stipple server sends (API.md's task, event, list, model and queue objects) back
// into stipple's own types. Tasks and events are read by src/core's codecs, the same ones the
// gateway writes with (TaskFromJson, TaskEventFromJson); this adds the envelope (the received
// text, eta_s, list pages) and the objects only the client reads (models, queue, workers).
// Lenient where the API may grow: unknown members are ignored, absent optional ones stay empty.
// Errors are kDataLoss naming the member that is missing or of the wrong type.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "core/task.h"
#include "core/task_event.h"

namespace stipple::client {

// A task as the server showed it at one moment.
struct TaskSnapshot {
  Task task;                    // tenant, lease and idempotency fields are not shown by the API
  std::optional<double> eta_s;  // the server's estimate to completion, while queued or running
  std::string json;             // the object as received (compact), for scripts
};

// A task event as received on a stream.
struct EventSnapshot {
  TaskEvent event;
  std::string json;  // the event's data as received
};

struct TaskPage {
  std::vector<TaskSnapshot> tasks;  // newest first
  std::string next_cursor;          // empty on the last page
  std::string json;
};

// One model of GET /v1/models.
struct ModelInfo {
  std::string id;
  int width = 0;
  int height = 0;
  std::vector<std::pair<int, int>> sizes;
  int size_multiple = 0;  // the size rule (0: none), see ModelLimits
  int min_size = 0;
  int max_size = 0;
  std::string family;
  int max_steps = 0;
  std::vector<std::string> schedulers;
  int default_steps = 0;
  double default_guidance_scale = 0;
  std::string default_scheduler;
  int max_clip_skip = 0;  // 0 when the server does not say (older servers) or allows none
  bool is_default = false;
};

struct ModelList {
  std::vector<ModelInfo> models;
  std::string json;
};

// GET /v1/queue.
struct QueueFigures {
  int64_t queued_high = 0;
  int64_t queued_normal = 0;
  int64_t queued_low = 0;
  int64_t running = 0;
  int64_t workers_online = 0;
  int64_t workers_busy = 0;
  std::optional<double> oldest_queued_age_s;
  double throughput_per_min = 0;
  std::optional<double> mean_run_s;
  std::optional<double> estimated_wait_s;
  int64_t desired_workers = 0;
  std::string json;
};

// GET /v1/workers: one registered worker.
struct WorkerEntry {
  std::string id;
  std::string host;
  std::string device;
  std::vector<std::string> models;
  std::string state;  // idle, busy, draining
  std::vector<std::string> current_tasks;
  std::string last_seen;  // RFC 3339; empty before its first call
};

struct WorkerList {
  std::vector<WorkerEntry> workers;
  std::string json;
};

Result<TaskSnapshot> ParseTaskSnapshot(std::string_view text);
Result<TaskSnapshot> ParseTaskSnapshot(const boost::json::object& object);
// An SSE event's data (API.md "Events").
Result<EventSnapshot> ParseEventSnapshot(std::string_view data);
Result<TaskPage> ParseTaskPage(std::string_view text);
Result<ModelList> ParseModelList(std::string_view text);
Result<QueueFigures> ParseQueueFigures(std::string_view text);
Result<WorkerList> ParseWorkerList(std::string_view text);

}  // namespace stipple::client
