#include "core/task_json.h"

#include "core/json.h"

namespace stipple {
namespace {

namespace json = boost::json;

json::value TimeOrNull(const std::optional<Timestamp>& t) {
  if (!t) return nullptr;
  return json::value(FormatRfc3339(*t));
}

}  // namespace

std::string TaskUrl(const std::string& task_id) { return "/v1/tasks/" + task_id; }

std::string TaskOutputUrl(const std::string& task_id, int index) {
  return TaskUrl(task_id) + "/outputs/" + std::to_string(index);
}

json::object TaskToJsonObject(const Task& task, std::optional<double> eta_s) {
  bool terminal = IsTerminal(task.state);
  json::object o;
  o["id"] = task.id;
  o["status"] = std::string(TaskStateName(task.state));
  o["created_at"] = FormatRfc3339(task.created_at);
  o["started_at"] = TimeOrNull(task.started_at);
  o["completed_at"] = TimeOrNull(task.completed_at);
  o["request"] = GenerationRequestToJsonObject(task.request);
  if (task.state == TaskState::kQueued && task.queue_position) {
    o["queue_position"] = *task.queue_position;
  } else {
    o["queue_position"] = nullptr;
  }
  if (!terminal && eta_s) {
    o["eta_s"] = *eta_s;
  } else {
    o["eta_s"] = nullptr;
  }
  if (task.progress) {
    o["progress"] = json::object{{"step", task.progress->step}, {"steps", task.progress->steps}};
  } else {
    o["progress"] = nullptr;
  }
  o["attempts"] = task.attempts;
  o["cancel_requested"] = task.cancel_requested;
  if (task.error) {
    o["error"] = json::object{{"code", task.error->code}, {"message", task.error->message}};
  } else {
    o["error"] = nullptr;
  }
  json::array outputs;
  for (const TaskOutput& output : task.outputs) {
    outputs.push_back(json::object{{"index", output.index},
                                   {"url", TaskOutputUrl(task.id, output.index)},
                                   {"content_type", output.content_type},
                                   {"width", output.width},
                                   {"height", output.height},
                                   {"seed", static_cast<int64_t>(output.seed)}});
  }
  o["outputs"] = std::move(outputs);
  o["outputs_expire_at"] = TimeOrNull(task.outputs_expire_at);
  o["metadata"] = ParseJsonObjectOrEmpty(task.request.metadata_json);
  std::string self = TaskUrl(task.id);
  o["urls"] =
      json::object{{"self", self}, {"events", self + "/events"}, {"cancel", self + "/cancel"}};
  return o;
}

std::string TaskToJson(const Task& task, std::optional<double> eta_s) {
  return WriteJson(TaskToJsonObject(task, eta_s));
}

}  // namespace stipple
