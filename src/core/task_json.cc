#include "core/task_json.h"

#include <cmath>

#include "core/generation_request_codec.h"
#include "core/json.h"

namespace stipple {
namespace {

namespace json = boost::json;

json::value TimeOrNull(const std::optional<Timestamp>& t) {
  if (!t) return nullptr;
  return json::value(FormatRfc3339(*t));
}

Status Bad(std::string_view field) {
  return DataLossError("the task has no valid '" + std::string(field) + "'");
}

// The member's value, or null when absent or JSON null.
const json::value* Find(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

std::optional<std::string> String(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

std::optional<int64_t> Int(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  // A whole double inside int64's range (2^63 is not: casting it would be undefined).
  if (v->is_double()) {
    const double d = v->get_double();
    if (d >= -0x1p63 && d < 0x1p63 && d == std::trunc(d)) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

std::optional<Timestamp> Time(const json::object& o, std::string_view key) {
  std::optional<std::string> text = String(o, key);
  if (!text) return std::nullopt;
  Result<Timestamp> t = ParseRfc3339(*text);
  if (!t.ok()) return std::nullopt;
  return *t;
}

}  // namespace

std::string TaskUrl(const std::string& task_id) { return "/v1/tasks/" + task_id; }

std::string TaskOutputUrl(const std::string& task_id, int index) {
  return TaskUrl(task_id) + "/outputs/" + std::to_string(index);
}

json::object TaskToJson(const Task& task, std::optional<double> eta_s) {
  bool terminal = IsTerminal(task.state);
  json::object o;
  o["id"] = task.id;
  o["status"] = std::string(TaskStateName(task.state));
  o["created_at"] = FormatRfc3339(task.created_at);
  o["started_at"] = TimeOrNull(task.started_at);
  o["completed_at"] = TimeOrNull(task.completed_at);
  o["request"] = GenerationRequestToJson(task.request);
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

Result<Task> TaskFromJson(const json::object& o) {
  Task task;
  std::optional<std::string> id = String(o, "id");
  if (!id || id->empty()) return Bad("id");
  task.id = *id;
  std::optional<std::string> status = String(o, "status");
  std::optional<TaskState> state = status ? ParseTaskState(*status) : std::nullopt;
  if (!state) return Bad("status");
  task.state = *state;
  if (auto t = Time(o, "created_at")) task.created_at = *t;
  task.started_at = Time(o, "started_at");
  task.completed_at = Time(o, "completed_at");
  if (const json::value* request = Find(o, "request"); request && request->is_object()) {
    task.request = GenerationRequestFromJson(request->get_object());
  }
  task.queue_position = Int(o, "queue_position");
  if (const json::value* p = Find(o, "progress"); p && p->is_object()) {
    TaskProgress progress;
    progress.step = static_cast<int>(Int(p->get_object(), "step").value_or(0));
    progress.steps = static_cast<int>(Int(p->get_object(), "steps").value_or(0));
    task.progress = progress;
  }
  task.attempts = static_cast<int>(Int(o, "attempts").value_or(0));
  if (const json::value* c = Find(o, "cancel_requested"); c && c->is_bool()) {
    task.cancel_requested = c->get_bool();
  }
  if (const json::value* e = Find(o, "error"); e && e->is_object()) {
    task.error = TaskError{String(e->get_object(), "code").value_or(""),
                           String(e->get_object(), "message").value_or("")};
  }
  if (const json::value* outputs = Find(o, "outputs"); outputs && outputs->is_array()) {
    for (const json::value& item : outputs->get_array()) {
      if (!item.is_object()) return Bad("outputs");
      const json::object& out = item.get_object();
      TaskOutput output;
      std::optional<int64_t> index = Int(out, "index");
      if (!index) return Bad("outputs[].index");
      output.index = static_cast<int>(*index);
      output.content_type = String(out, "content_type").value_or("image/png");
      output.width = static_cast<int>(Int(out, "width").value_or(0));
      output.height = static_cast<int>(Int(out, "height").value_or(0));
      output.seed = static_cast<uint32_t>(Int(out, "seed").value_or(0));
      task.outputs.push_back(std::move(output));
    }
  }
  task.outputs_expire_at = Time(o, "outputs_expire_at");
  return task;
}

}  // namespace stipple
