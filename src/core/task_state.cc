#include "core/task_state.h"

namespace stipple {

std::string_view TaskStateName(TaskState state) {
  switch (state) {
    case TaskState::kQueued: return "queued";
    case TaskState::kRunning: return "running";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kCanceled: return "canceled";
    case TaskState::kExpired: return "expired";
  }
  return "queued";
}

std::optional<TaskState> ParseTaskState(std::string_view name) {
  for (TaskState s : {TaskState::kQueued, TaskState::kRunning, TaskState::kSucceeded,
                      TaskState::kFailed, TaskState::kCanceled, TaskState::kExpired}) {
    if (TaskStateName(s) == name) return s;
  }
  return std::nullopt;
}

bool IsTerminal(TaskState state) {
  return state != TaskState::kQueued && state != TaskState::kRunning;
}

bool IsAllowedTransition(TaskState from, TaskState to) {
  switch (from) {
    case TaskState::kQueued:
      return to == TaskState::kRunning || to == TaskState::kCanceled || to == TaskState::kExpired;
    case TaskState::kRunning:
      return to == TaskState::kQueued || to == TaskState::kSucceeded || to == TaskState::kFailed ||
             to == TaskState::kCanceled;
    default: return false;  // terminal
  }
}

std::string_view PriorityName(Priority priority) {
  switch (priority) {
    case Priority::kHigh: return "high";
    case Priority::kNormal: return "normal";
    case Priority::kLow: return "low";
  }
  return "normal";
}

std::optional<Priority> ParsePriority(std::string_view name) {
  for (Priority p : {Priority::kHigh, Priority::kNormal, Priority::kLow}) {
    if (PriorityName(p) == name) return p;
  }
  return std::nullopt;
}

}  // namespace stipple
