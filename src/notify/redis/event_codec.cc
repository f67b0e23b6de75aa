#include "notify/redis/event_codec.h"

#include <boost/json.hpp>
#include <charconv>
#include <unordered_map>

#include "common/base64.h"
#include "store/redis/task_hash.h"

namespace stipple::redis {
namespace {

namespace json = boost::json;

Status Bad(std::string_view what) {
  return DataLossError("a stored task event is malformed: " + std::string(what));
}

}  // namespace

std::string EncodeEvent(const TaskEvent& e) {
  json::object o;
  o["type"] = TaskEventTypeName(e.type);
  o["task_id"] = e.task_id;
  o["time"] = ToUnixMillis(e.time);
  if (e.attempt != 0) o["attempt"] = e.attempt;
  if (!e.worker_id.empty()) o["worker"] = e.worker_id;
  if (e.fencing != 0) o["fencing"] = std::to_string(e.fencing);
  if (e.progress) {
    o["step"] = e.progress->step;
    o["steps"] = e.progress->steps;
  }
  if (!e.preview_png.empty()) o["preview"] = Base64Encode(e.preview_png);
  if (e.task) {
    json::object fields;
    for (auto& [name, value] : TaskToFields(*e.task)) fields[name] = value;
    fields["v"] = "0";
    o["task"] = std::move(fields);
  }
  return json::serialize(o);
}

Result<TaskEvent> DecodeEvent(std::string_view text, int64_t seq) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Bad("not a JSON object");
  const json::object& o = v.get_object();
  auto str = [&](std::string_view k) -> std::string {
    const json::value* x = o.if_contains(k);
    return x && x->is_string() ? std::string(x->get_string()) : std::string();
  };
  auto num = [&](std::string_view k) -> int64_t {
    const json::value* x = o.if_contains(k);
    return x && x->is_number() ? x->to_number<int64_t>() : 0;
  };
  TaskEvent e;
  e.seq = seq;
  auto type = ParseTaskEventType(str("type"));
  if (!type) return Bad("unknown type");
  e.type = *type;
  e.task_id = str("task_id");
  if (e.task_id.empty()) return Bad("no task_id");
  e.time = FromUnixMillis(num("time"));
  e.attempt = static_cast<int>(num("attempt"));
  e.worker_id = str("worker");
  const std::string fencing = str("fencing");
  if (!fencing.empty()) {
    auto [end, err] = std::from_chars(fencing.data(), fencing.data() + fencing.size(), e.fencing);
    if (err != std::errc() || end != fencing.data() + fencing.size()) return Bad("fencing");
  }
  if (o.contains("step")) {
    e.progress = TaskProgress{static_cast<int>(num("step")), static_cast<int>(num("steps"))};
  }
  if (o.contains("preview")) {
    ASSIGN_OR_RETURN(e.preview_png, Base64Decode(str("preview")));
  }
  if (const json::value* t = o.if_contains("task"); t && t->is_object()) {
    std::unordered_map<std::string, std::string> fields;
    for (const auto& [name, value] : t->get_object()) {
      if (!value.is_string()) return Bad("task field " + std::string(name));
      fields.emplace(name, value.get_string());
    }
    ASSIGN_OR_RETURN(StoredTask stored, TaskFromFields(fields));
    e.task = std::move(stored.task);
  }
  return e;
}

}  // namespace stipple::redis
