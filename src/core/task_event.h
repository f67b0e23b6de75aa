// Task events (API.md, "Events"): the numbered sequence each task goes through, as carried by
// Server-Sent Events, WebSocket frames and (mapped to "task.<type>") webhooks.
//
// Every task's events are numbered from 1 (seq). A task has exactly one terminal event, and it
// carries the task as it ended.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "core/task.h"
#include "core/task_state.h"

namespace stipple {

enum class TaskEventType {
  kQueued,     // created (or nothing more: back in the queue is kRetrying)
  kStarted,    // leased: attempt, worker
  kProgress,   // a step finished: step, steps, sometimes a preview
  kRetrying,   // the lease was lost or a transient error happened; back in the queue
  kSucceeded,  // terminal, carries the task
  kFailed,     // terminal, carries the task
  kCanceled,   // terminal, carries the task
  kExpired,    // terminal, carries the task
};

std::string_view TaskEventTypeName(TaskEventType type);  // "queued", "started", ...
std::optional<TaskEventType> ParseTaskEventType(std::string_view name);
bool IsTerminalEvent(TaskEventType type);

// The terminal event for a terminal state (succeeded → kSucceeded, ...). For the two live states
// it answers the event that enters them (queued → kQueued, running → kStarted).
TaskEventType TerminalEventType(TaskState state);

struct TaskEvent {
  std::string task_id;
  int64_t seq = 0;  // from 1, per task
  TaskEventType type = TaskEventType::kQueued;
  Timestamp time;
  int attempt = 0;        // started, retrying
  uint64_t fencing = 0;   // started, retrying, progress: the lease's number (internal, not in JSON)
  std::string worker_id;  // started
  std::optional<TaskProgress> progress;  // progress
  std::string preview_png;   // progress, sometimes: raw PNG bytes (base64 in JSON); empty if none
  std::optional<Task> task;  // terminal events: the task as it ended

  bool operator==(const TaskEvent&) const = default;
};

// The event's JSON (API.md "Events"), one pair of functions on parsed values: the gateway writes
// with TaskEventToJson (SSE, WebSocket, webhooks), the client reads with TaskEventFromJson.
// {"type", "task_id", "seq", "time", ...}: started adds "attempt" and "worker"; progress "step",
// "steps" and "preview" (base64) when there is one; retrying "attempt"; terminal events "task"
// (TaskToJson's object; null if the event lacks it). fencing is internal and not written.
boost::json::object TaskEventToJson(const TaskEvent& event);

// Reads back what TaskEventToJson wrote; unknown members are ignored. kDataLoss naming the member
// when type or seq is missing, the preview is not base64, or a terminal event has no valid task.
Result<TaskEvent> TaskEventFromJson(const boost::json::object& object);

}  // namespace stipple
