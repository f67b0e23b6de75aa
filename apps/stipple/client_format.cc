#include "client_format.h"

#include <cmath>
#include <cstdio>

namespace stipple::app {
namespace {

std::string Printf(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

std::string Shorten(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return text.substr(0, cut) + "...";
}

std::string Eta(std::optional<double> eta_s) {
  return eta_s ? "  eta " + FormatSeconds(*eta_s) : "";
}

// queue_position is the number of tasks ahead.
std::string Ahead(int64_t tasks_ahead) {
  if (tasks_ahead == 0) return "  next in line";
  return "  " + std::to_string(tasks_ahead) + (tasks_ahead == 1 ? " task ahead" : " tasks ahead");
}

}  // namespace

std::string FormatSeconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  if (seconds < 10) return Printf("%.1fs", seconds);
  const int64_t s = std::llround(seconds);
  if (s < 60) return std::to_string(s) + "s";
  char buffer[32];
  if (s < 3600) {
    std::snprintf(buffer, sizeof(buffer), "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  }
  return buffer;
}

std::string FormatTaskLine(const client::TaskSnapshot& snapshot) {
  const Task& task = snapshot.task;
  std::string line = task.id + "  " + std::string(TaskStateName(task.state));
  switch (task.state) {
    case TaskState::kQueued:
      if (task.queue_position) line += Ahead(*task.queue_position);
      line += Eta(snapshot.eta_s);
      break;
    case TaskState::kRunning:
      if (task.cancel_requested) line += "  (cancel requested)";
      if (task.progress) {
        line += "  step " + std::to_string(task.progress->step) + "/" +
                std::to_string(task.progress->steps);
      }
      line += Eta(snapshot.eta_s);
      break;
    case TaskState::kSucceeded:
      line += "  " + std::to_string(task.outputs.size()) +
              (task.outputs.size() == 1 ? " image" : " images");
      if (!task.outputs.empty()) {
        line += "  " + std::to_string(task.outputs[0].width) + "x" +
                std::to_string(task.outputs[0].height) + "  seed " +
                std::to_string(task.outputs[0].seed);
      }
      break;
    case TaskState::kFailed:
    case TaskState::kCanceled:
    case TaskState::kExpired:
      if (task.error) line += "  " + task.error->code + ": " + task.error->message;
      break;
  }
  return line;
}

std::string FormatEventLine(const client::EventSnapshot& snapshot) {
  const TaskEvent& event = snapshot.event;
  std::string line = event.task_id + "  #" + std::to_string(event.seq) + "  " +
                     std::string(TaskEventTypeName(event.type));
  switch (event.type) {
    case TaskEventType::kStarted:
      line += "  attempt " + std::to_string(event.attempt);
      if (!event.worker_id.empty()) line += "  worker " + event.worker_id;
      break;
    case TaskEventType::kProgress:
      if (event.progress) {
        line += "  step " + std::to_string(event.progress->step) + "/" +
                std::to_string(event.progress->steps);
      }
      if (!event.preview_png.empty()) line += "  (preview)";
      break;
    case TaskEventType::kRetrying: line += "  attempt " + std::to_string(event.attempt); break;
    default:
      if (event.task && event.task->error) {
        line += "  " + event.task->error->code + ": " + event.task->error->message;
      }
      break;
  }
  return line;
}

std::string TaskRowHeader() {
  char buffer[128];
  std::snprintf(buffer, sizeof(buffer), "%-30s  %-9s  %-24s  %-12s  %s", "ID", "STATUS", "CREATED",
                "SIZE/STEPS", "PROMPT");
  return buffer;
}

std::string FormatTaskRow(const client::TaskSnapshot& snapshot) {
  const Task& task = snapshot.task;
  const std::string size = std::to_string(task.request.width) + "x" +
                           std::to_string(task.request.height) + "/" +
                           std::to_string(task.request.steps);
  char buffer[256];
  std::snprintf(buffer, sizeof(buffer), "%-30s  %-9s  %-24s  %-12s  ", task.id.c_str(),
                std::string(TaskStateName(task.state)).c_str(),
                FormatRfc3339(task.created_at).c_str(), size.c_str());
  return buffer + Shorten(task.request.prompt, 40);
}

std::string ProgressBarLine(const ProgressView& view, int width) {
  std::string line;
  switch (view.state) {
    case TaskState::kQueued:
      line = "queued";
      if (view.queue_position) line += Ahead(*view.queue_position);
      line += Eta(view.eta_s);
      break;
    case TaskState::kRunning: {
      const int step = view.progress ? view.progress->step : 0;
      const int steps = view.progress ? view.progress->steps : 0;
      const std::string counts =
          steps > 0 ? "  " + std::to_string(step) + "/" + std::to_string(steps) : "  starting";
      std::string tail = counts + Eta(view.eta_s) + (view.cancel_requested ? "  canceling" : "");
      // A bar of fixed width (it would jump as the tail grows), leaving room for a usual tail.
      const int bar = std::clamp(width - 2 - 24, 0, 30);
      const int filled = steps > 0 ? bar * step / steps : 0;
      line = bar > 0 ? "[" + std::string(filled, '#') + std::string(bar - filled, '-') + "]" : "";
      line += tail;
      break;
    }
    default: line = std::string(TaskStateName(view.state)); break;
  }
  if (width > 3 && static_cast<int>(line.size()) > width) line = line.substr(0, width);
  return line;
}

}  // namespace stipple::app
