#include "client/task_codec.h"

#include <cmath>

#include "core/json.h"
#include "core/task_json.h"

namespace stipple::client {
namespace {

namespace json = boost::json;

Status Bad(std::string_view what, std::string_view field) {
  return DataLossError("the server's " + std::string(what) + " has no valid '" +
                       std::string(field) + "'");
}

Result<json::object> ParseObject(std::string_view text, std::string_view what) {
  Result<json::object> object = ParseJsonObject(text);
  if (!object.ok()) {
    return DataLossError("the server's " + std::string(what) + " " + object.status().message());
  }
  return object;
}

// The member's value, or null when absent or JSON null.
const json::value* Find(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

std::optional<std::string> String(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<double> Number(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  boost::system::error_code ec;
  double d = v->to_number<double>(ec);
  if (ec) return std::nullopt;
  return d;
}

std::optional<int64_t> Int(const json::object& o, std::string_view key) {
  const json::value* v = Find(o, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  // A whole double inside int64's range (2^63 is not: casting it would be undefined).
  if (v->is_double()) {
    const double d = v->as_double();
    if (d >= -0x1p63 && d < 0x1p63 && d == std::trunc(d)) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

}  // namespace

Result<TaskSnapshot> ParseTaskSnapshot(const json::object& object) {
  TaskSnapshot snapshot;
  ASSIGN_OR_RETURN(snapshot.task, TaskFromJson(object));
  snapshot.eta_s = Number(object, "eta_s");
  snapshot.json = WriteJson(object);
  return snapshot;
}

Result<TaskSnapshot> ParseTaskSnapshot(std::string_view text) {
  ASSIGN_OR_RETURN(json::object object, ParseObject(text, "task"));
  return ParseTaskSnapshot(object);
}

Result<EventSnapshot> ParseEventSnapshot(std::string_view data) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(data, "event"));
  EventSnapshot snapshot;
  ASSIGN_OR_RETURN(snapshot.event, TaskEventFromJson(o));
  snapshot.json = WriteJson(o);
  return snapshot;
}

Result<TaskPage> ParseTaskPage(std::string_view text) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, "task list"));
  TaskPage page;
  const json::value* data = Find(o, "data");
  if (data == nullptr || !data->is_array()) return Bad("task list", "data");
  for (const json::value& item : data->as_array()) {
    if (!item.is_object()) return Bad("task list", "data");
    ASSIGN_OR_RETURN(TaskSnapshot task, ParseTaskSnapshot(item.as_object()));
    page.tasks.push_back(std::move(task));
  }
  page.next_cursor = String(o, "next_cursor").value_or("");
  page.json = WriteJson(o);
  return page;
}

Result<ModelList> ParseModelList(std::string_view text) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, "model list"));
  ModelList list;
  const json::value* data = Find(o, "data");
  if (data == nullptr || !data->is_array()) return Bad("model list", "data");
  for (const json::value& item : data->as_array()) {
    if (!item.is_object()) return Bad("model list", "data");
    const json::object& m = item.as_object();
    ModelInfo model;
    std::optional<std::string> id = String(m, "id");
    if (!id) return Bad("model list", "data[].id");
    model.id = *id;
    model.width = static_cast<int>(Int(m, "width").value_or(0));
    model.height = static_cast<int>(Int(m, "height").value_or(0));
    if (const json::value* sizes = Find(m, "sizes"); sizes && sizes->is_array()) {
      for (const json::value& size : sizes->as_array()) {
        if (!size.is_array() || size.as_array().size() != 2) continue;
        const json::array& wh = size.as_array();
        if (!wh[0].is_int64() || !wh[1].is_int64()) continue;
        model.sizes.emplace_back(static_cast<int>(wh[0].as_int64()),
                                 static_cast<int>(wh[1].as_int64()));
      }
    }
    if (const json::value* rule = Find(m, "size_rule"); rule && rule->is_object()) {
      model.size_multiple = static_cast<int>(Int(rule->as_object(), "multiple").value_or(0));
      model.min_size = static_cast<int>(Int(rule->as_object(), "min").value_or(0));
      model.max_size = static_cast<int>(Int(rule->as_object(), "max").value_or(0));
    }
    model.family = String(m, "family").value_or("");
    model.max_steps = static_cast<int>(Int(m, "max_steps").value_or(0));
    if (const json::value* s = Find(m, "schedulers"); s && s->is_array()) {
      for (const json::value& name : s->as_array()) {
        if (name.is_string()) model.schedulers.emplace_back(name.as_string());
      }
    }
    model.default_steps = static_cast<int>(Int(m, "default_steps").value_or(0));
    model.default_guidance_scale = Number(m, "default_guidance_scale").value_or(0);
    model.default_scheduler = String(m, "default_scheduler").value_or("");
    model.max_clip_skip = static_cast<int>(Int(m, "max_clip_skip").value_or(0));
    if (const json::value* d = Find(m, "default"); d && d->is_bool())
      model.is_default = d->as_bool();
    list.models.push_back(std::move(model));
  }
  list.json = WriteJson(o);
  return list;
}

Result<QueueFigures> ParseQueueFigures(std::string_view text) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, "queue figures"));
  QueueFigures q;
  const json::value* queued = Find(o, "queued");
  if (queued == nullptr || !queued->is_object()) return Bad("queue figures", "queued");
  q.queued_high = Int(queued->as_object(), "high").value_or(0);
  q.queued_normal = Int(queued->as_object(), "normal").value_or(0);
  q.queued_low = Int(queued->as_object(), "low").value_or(0);
  q.running = Int(o, "running").value_or(0);
  if (const json::value* w = Find(o, "workers"); w && w->is_object()) {
    q.workers_online = Int(w->as_object(), "online").value_or(0);
    q.workers_busy = Int(w->as_object(), "busy").value_or(0);
  }
  q.oldest_queued_age_s = Number(o, "oldest_queued_age_s");
  q.throughput_per_min = Number(o, "throughput_per_min").value_or(0);
  q.mean_run_s = Number(o, "mean_run_s");
  q.estimated_wait_s = Number(o, "estimated_wait_s");
  q.desired_workers = Int(o, "desired_workers").value_or(0);
  q.json = WriteJson(o);
  return q;
}

Result<WorkerList> ParseWorkerList(std::string_view text) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(text, "worker list"));
  const json::value* workers = Find(o, "workers");
  if (workers == nullptr || !workers->is_array()) return Bad("worker list", "workers");
  auto strings = [](const json::object& w, std::string_view key) {
    std::vector<std::string> out;
    if (const json::value* v = Find(w, key); v && v->is_array()) {
      for (const json::value& item : v->as_array()) {
        if (item.is_string()) out.emplace_back(item.as_string());
      }
    }
    return out;
  };
  WorkerList list;
  for (const json::value& item : workers->as_array()) {
    if (!item.is_object()) return Bad("worker list", "workers");
    const json::object& w = item.as_object();
    std::optional<std::string> id = String(w, "id");
    if (!id) return Bad("worker list", "workers[].id");
    list.workers.push_back(WorkerEntry{.id = *id,
                                       .host = String(w, "host").value_or(""),
                                       .device = String(w, "device").value_or(""),
                                       .models = strings(w, "models"),
                                       .state = String(w, "state").value_or(""),
                                       .current_tasks = strings(w, "current_tasks"),
                                       .last_seen = String(w, "last_seen").value_or("")});
  }
  list.json = WriteJson(o);
  return list;
}

}  // namespace stipple::client
