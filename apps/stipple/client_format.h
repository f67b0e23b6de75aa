// How the client commands show tasks, events and figures to a person (the --json output is the
// server's own JSON instead). Pure functions, so they are tested without a server.
#pragma once

#include <optional>
#include <string>

#include "client/task_codec.h"
#include "core/task.h"

namespace stipple::app {

// "0.4s", "12s", "3m05s", "2h03m".
std::string FormatSeconds(double seconds);

// One line about a task: "tsk_…  running  step 12/20  eta 3.1s" (queued: "3 tasks ahead").
std::string FormatTaskLine(const client::TaskSnapshot& snapshot);

// One line about an event: "tsk_…  #4  progress  step 3/20".
std::string FormatEventLine(const client::EventSnapshot& snapshot);

// A row of `stipple list`: id, status, created, size and steps, the prompt (shortened).
std::string FormatTaskRow(const client::TaskSnapshot& snapshot);
std::string TaskRowHeader();

// What the progress display knows about a task being followed.
struct ProgressView {
  std::string task_id;
  TaskState state = TaskState::kQueued;
  std::optional<int64_t> queue_position;
  std::optional<double> eta_s;  // to completion
  std::optional<TaskProgress> progress;
  bool cancel_requested = false;
};

// The live line on a terminal, at most `width` columns: "queued  2 tasks ahead  eta 8s" while
// queued, "[########------------]  12/20  eta 3.1s" while running.
std::string ProgressBarLine(const ProgressView& view, int width);

}  // namespace stipple::app
