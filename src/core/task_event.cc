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

json::object TaskEventToJson(const TaskEvent& event) {
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
      o["task"] = event.task ? json::value(TaskToJson(*event.task)) : json::value(nullptr);
      break;
  }
  return o;
}

Result<TaskEvent> TaskEventFromJson(const json::object& o) {
  auto bad = [](std::string_view field) {
    return DataLossError("the event has no valid '" + std::string(field) + "'");
  };
  auto find = [&o](std::string_view key) -> const json::value* {
    const json::value* v = o.if_contains(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  };
  auto string = [&find](std::string_view key) -> std::optional<std::string> {
    const json::value* v = find(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->get_string());
  };
  auto integer = [&find](std::string_view key) -> std::optional<int64_t> {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      return static_cast<int64_t>(v->get_uint64());
    }
    return std::nullopt;
  };
  TaskEvent event;
  std::optional<std::string> type = string("type");
  std::optional<TaskEventType> parsed = type ? ParseTaskEventType(*type) : std::nullopt;
  if (!parsed) return bad("type");
  event.type = *parsed;
  event.task_id = string("task_id").value_or("");
  std::optional<int64_t> seq = integer("seq");
  if (!seq) return bad("seq");
  event.seq = *seq;
  if (std::optional<std::string> time = string("time")) {
    if (Result<Timestamp> t = ParseRfc3339(*time); t.ok()) event.time = *t;
  }
  event.attempt = static_cast<int>(integer("attempt").value_or(0));
  event.worker_id = string("worker").value_or("");
  std::optional<int64_t> step = integer("step");
  std::optional<int64_t> steps = integer("steps");
  if (step && steps) {
    event.progress = TaskProgress{static_cast<int>(*step), static_cast<int>(*steps)};
  }
  if (std::optional<std::string> preview = string("preview")) {
    Result<std::string> png = Base64Decode(*preview);
    if (!png.ok()) return bad("preview");
    event.preview_png = std::move(png).value();
  }
  if (const json::value* task = find("task"); task && task->is_object()) {
    Result<Task> read = TaskFromJson(task->get_object());
    if (!read.ok()) return bad("task");
    event.task = std::move(read).value();
  }
  if (IsTerminalEvent(event.type) && !event.task) return bad("task");
  return event;
}

}  // namespace stipple
