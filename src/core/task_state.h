// The task's lifecycle (docs/architecture.md, "Task lifecycle") and its priority levels.
//
//   queued ──lease──▶ running ──▶ succeeded | failed | canceled
//     │  ▲              │
//     │  └─lease lost───┘            (also: released by a draining worker, retried after a
//     ├──▶ canceled                   transient error)
//     └──▶ expired
//
// Monotonic: a terminal state is never left.
#pragma once

#include <optional>
#include <string_view>

namespace stipple {

enum class TaskState {
  kQueued = 0,
  kRunning = 1,
  kSucceeded = 2,
  kFailed = 3,
  kCanceled = 4,
  kExpired = 5
};

std::string_view TaskStateName(TaskState state);  // "queued", "running", ...
std::optional<TaskState> ParseTaskState(std::string_view name);
bool IsTerminal(TaskState state);
// Whether the lifecycle allows `from` → `to`.
bool IsAllowedTransition(TaskState from, TaskState to);

// Leasing order: every high task before any normal one, FIFO within a level.
enum class Priority { kHigh = 0, kNormal = 1, kLow = 2 };

std::string_view PriorityName(Priority priority);  // "high", "normal", "low"
std::optional<Priority> ParsePriority(std::string_view name);

}  // namespace stipple
