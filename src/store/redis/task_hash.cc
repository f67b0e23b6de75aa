#include "store/redis/task_hash.h"

#include <charconv>
#include <unordered_map>

#include "store/stored_outputs.h"

namespace stipple::redis {
namespace {

std::string Ms(const std::optional<Timestamp>& t) {
  return t ? std::to_string(ToUnixMillis(*t)) : std::string();
}

// A field's integer value; `ok` false when it is not one.
int64_t ToInt(const std::string& s, bool& ok) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) ok = false;
  return v;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> TaskToFields(const Task& t) {
  std::vector<std::pair<std::string, std::string>> f;
  f.reserve(26);
  f.emplace_back("id", t.id);
  f.emplace_back("tenant", t.tenant);
  f.emplace_back("model", t.request.model);
  f.emplace_back("priority", std::to_string(static_cast<int>(t.request.priority)));
  f.emplace_back("state", std::to_string(static_cast<int>(t.state)));
  f.emplace_back("request", StoredRequestToJson(t.request));
  f.emplace_back("idem", t.idempotency_key);
  f.emplace_back("created_at", std::to_string(ToUnixMillis(t.created_at)));
  f.emplace_back("started_at", Ms(t.started_at));
  f.emplace_back("completed_at", Ms(t.completed_at));
  f.emplace_back("expires_at", Ms(t.expires_at));
  f.emplace_back("attempts", std::to_string(t.attempts));
  f.emplace_back("max_attempts", std::to_string(t.max_attempts));
  f.emplace_back("cancel", t.cancel_requested ? "1" : "0");
  f.emplace_back("has_error", t.error ? "1" : "0");
  f.emplace_back("error_code", t.error ? t.error->code : "");
  f.emplace_back("error_message", t.error ? t.error->message : "");
  f.emplace_back("outputs", StoredOutputsToJson(t.outputs));
  f.emplace_back("outputs_expire_at", Ms(t.outputs_expire_at));
  f.emplace_back("outputs_expired", t.outputs_expired ? "1" : "0");
  f.emplace_back("progress_step", t.progress ? std::to_string(t.progress->step) : "");
  f.emplace_back("progress_steps", t.progress ? std::to_string(t.progress->steps) : "");
  f.emplace_back("worker_id", t.worker_id);
  f.emplace_back("fencing", std::to_string(t.fencing));
  f.emplace_back("lease_expires_at", Ms(t.lease_expires_at));
  f.emplace_back("not_before", Ms(t.not_before));
  return f;
}

Result<StoredTask> TaskFromHash(const redisReply& flat) {
  if (flat.type != REDIS_REPLY_ARRAY || flat.elements == 0) {
    return DataLossError("a stored task is not a hash");
  }
  std::unordered_map<std::string, std::string> f;
  for (size_t i = 0; i + 1 < flat.elements; i += 2) {
    f.emplace(ReplyString(*flat.element[i]), ReplyString(*flat.element[i + 1]));
  }
  return TaskFromFields(f);
}

Result<StoredTask> TaskFromFields(const std::unordered_map<std::string, std::string>& f) {
  bool ok = true;
  auto get = [&](const char* name) -> const std::string& {
    static const std::string kEmpty;
    auto it = f.find(name);
    if (it == f.end()) {
      ok = false;
      return kEmpty;
    }
    return it->second;
  };
  auto integer = [&](const char* name) { return ToInt(get(name), ok); };
  auto time = [&](const char* name) -> std::optional<Timestamp> {
    const std::string& s = get(name);
    if (s.empty()) return std::nullopt;
    return FromUnixMillis(ToInt(s, ok));
  };
  StoredTask out;
  Task& t = out.task;
  t.id = get("id");
  t.tenant = get("tenant");
  int64_t state = integer("state");
  if (state < 0 || state > static_cast<int64_t>(TaskState::kExpired)) ok = false;
  t.state = static_cast<TaskState>(state);
  t.idempotency_key = get("idem");
  t.created_at = FromUnixMillis(integer("created_at"));
  t.started_at = time("started_at");
  t.completed_at = time("completed_at");
  t.expires_at = time("expires_at");
  t.attempts = static_cast<int>(integer("attempts"));
  t.max_attempts = static_cast<int>(integer("max_attempts"));
  t.cancel_requested = get("cancel") == "1";
  if (get("has_error") == "1") t.error = TaskError{get("error_code"), get("error_message")};
  t.outputs_expire_at = time("outputs_expire_at");
  t.outputs_expired = get("outputs_expired") == "1";
  if (!get("progress_step").empty()) {
    t.progress = TaskProgress{static_cast<int>(integer("progress_step")),
                              static_cast<int>(integer("progress_steps"))};
  }
  t.worker_id = get("worker_id");
  t.fencing = static_cast<uint64_t>(integer("fencing"));
  t.lease_expires_at = time("lease_expires_at");
  t.not_before = time("not_before");
  out.version = integer("v");
  if (!ok) return DataLossError("stored task " + t.id + " has a missing or malformed field");
  ASSIGN_OR_RETURN(t.outputs, StoredOutputsFromJson(get("outputs")));
  ASSIGN_OR_RETURN(t.request, StoredRequestFromJson(get("request")));
  return out;
}

}  // namespace stipple::redis
