#include "core/task_event.h"

#include "common/base64.h"
#include "core/json.h"
#include "core/task_json.h"

namespace stipple {

namespace json = boost::json;

std::string_view TaskEventTypeName(TaskEventType type) {
  switch (type) {
    case TaskEventType::kQueued: return "queued";
    case TaskEventType::kStarted: return "started";
    case TaskEventType::kProgress: return "progress";
    case TaskEventType::kRetrying: return "retrying";
    case TaskEventType::kSucceeded: return "succeeded";
    case TaskEventType::kFailed: return "failed";
    case TaskEventType::kCanceled: return "canceled";
    case TaskEventType::kExpired: return "expired";
  }
  return "queued";
}

std::optional<TaskEventType> ParseTaskEventType(std::string_view name) {
  for (TaskEventType type :
       {TaskEventType::kQueued, TaskEventType::kStarted, TaskEventType::kProgress,
        TaskEventType::kRetrying, TaskEventType::kSucceeded, TaskEventType::kFailed,
        TaskEventType::kCanceled, TaskEventType::kExpired}) {
    if (TaskEventTypeName(type) == name) return type;
  }
  return std::nullopt;
}

bool IsTerminalEvent(TaskEventType type) {
  return type == TaskEventType::kSucceeded || type == TaskEventType::kFailed ||
         type == TaskEventType::kCanceled || type == TaskEventType::kExpired;
}

TaskEventType TerminalEventType(TaskState state) {
  switch (state) {
    case TaskState::kQueued: return TaskEventType::kQueued;
    case TaskState::kRunning: return TaskEventType::kStarted;
    case TaskState::kSucceeded: return TaskEventType::kSucceeded;
    case TaskState::kFailed: return TaskEventType::kFailed;
    case TaskState::kCanceled: return TaskEventType::kCanceled;
    case TaskState::kExpired: return TaskEventType::kExpired;
  }
  return TaskEventType::kFailed;
}

std::string TaskEventToJson(const TaskEvent& event) {
  json::object o;
  o["type"] = std::string(TaskEventTypeName(event.type));
  o["task_id"] = event.task_id;
  o["seq"] = event.seq;
  o["time"] = FormatRfc3339(event.time);
  switch (event.type) {
    case TaskEventType::kQueued: break;
    case TaskEventType::kStarted:
      o["attempt"] = event.attempt;
      o["worker"] = event.worker_id;
      break;
    case TaskEventType::kProgress:
      o["step"] = event.progress ? json::value(event.progress->step) : json::value(nullptr);
      o["steps"] = event.progress ? json::value(event.progress->steps) : json::value(nullptr);
      if (!event.preview_png.empty()) o["preview"] = Base64Encode(event.preview_png);
      break;
    case TaskEventType::kRetrying: o["attempt"] = event.attempt; break;
    case TaskEventType::kSucceeded:
    case TaskEventType::kFailed:
    case TaskEventType::kCanceled:
    case TaskEventType::kExpired:
      o["task"] = event.task ? json::value(TaskToJsonObject(*event.task)) : json::value(nullptr);
      break;
  }
  return WriteJson(o);
}

}  // namespace stipple
