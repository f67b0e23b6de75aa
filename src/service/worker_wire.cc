#include "service/worker_wire.h"

#include <boost/json.hpp>

#include "common/base64.h"
#include "core/generation_request_codec.h"
#include "core/json.h"

namespace stipple::wire {
namespace {

namespace json = boost::json;

constexpr MessageType kTypes[] = {MessageType::kHeartbeat, MessageType::kProgress,
                                  MessageType::kComplete,  MessageType::kFail,
                                  MessageType::kRelease,   MessageType::kCanceled};

// Reads fields of one JSON object, naming each missing or mistyped one by its path.
class Fields {
 public:
  Fields(const json::object& o, std::string path) : o_(o), path_(std::move(path)) {}

  std::string Name(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  Status Bad(std::string_view key, std::string_view what) const {
    std::string field = Name(key);
    return InvalidArgumentError(field + " " + std::string(what), {{field, std::string(what)}});
  }
  bool Has(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    return v != nullptr && !v->is_null();
  }
  const json::value* Get(std::string_view key) const {
    const json::value* v = o_.if_contains(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  }

  Result<std::string> String(std::string_view key, bool required = true) const {
    const json::value* v = Get(key);
    if (v == nullptr) {
      if (required) return Bad(key, "is required");
      return std::string();
    }
    if (!v->is_string()) return Bad(key, "must be a string");
    return std::string(v->get_string());
  }
  Result<int64_t> Int(std::string_view key, int64_t min, int64_t max,
                      std::optional<int64_t> fallback = std::nullopt) const {
    const json::value* v = Get(key);
    if (v == nullptr) {
      if (fallback) return *fallback;
      return Bad(key, "is required");
    }
    int64_t n = 0;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      n = static_cast<int64_t>(v->get_uint64());
    } else {
      return Bad(key, "must be an integer");
    }
    if (n < min || n > max) {
      return Bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return n;
  }
  Result<bool> Bool(std::string_view key) const {
    const json::value* v = Get(key);
    if (v == nullptr) return false;
    if (!v->is_bool()) return Bad(key, "must be true or false");
    return v->get_bool();
  }
  Result<std::vector<std::string>> Strings(std::string_view key) const {
    const json::value* v = Get(key);
    if (v == nullptr) return Bad(key, "is required");
    if (!v->is_array()) return Bad(key, "must be an array of strings");
    std::vector<std::string> out;
    for (const json::value& e : v->get_array()) {
      if (!e.is_string()) return Bad(key, "must be an array of strings");
      out.emplace_back(e.get_string());
    }
    return out;
  }
  Result<const json::array*> Array(std::string_view key) const {
    const json::value* v = Get(key);
    if (v == nullptr) return static_cast<const json::array*>(nullptr);
    if (!v->is_array()) return Bad(key, "must be an array");
    return &v->get_array();
  }
  Result<const json::object*> Object(std::string_view key) const {
    const json::value* v = Get(key);
    if (v == nullptr) return static_cast<const json::object*>(nullptr);
    if (!v->is_object()) return Bad(key, "must be an object");
    return &v->get_object();
  }

 private:
  const json::object& o_;
  std::string path_;
};

Result<json::object> ParseObject(std::string_view body) {
  Result<json::object> object = ParseJsonObject(body);
  if (!object.ok() && object.status().code() == StatusCode::kInvalidArgument) {
    return InvalidArgumentError("body " + object.status().message(),
                                {{"body", object.status().message()}});
  }
  return object;
}

constexpr int64_t kMaxMillis = 24LL * 3600 * 1000;

json::object ProgressJson(const TaskProgress& p) {
  return json::object{{"step", p.step}, {"steps", p.steps}};
}

Result<TaskProgress> ReadProgress(const json::object& o, const std::string& path) {
  Fields f(o, path);
  TaskProgress p;
  ASSIGN_OR_RETURN(int64_t step, f.Int("step", 0, 1'000'000));
  ASSIGN_OR_RETURN(int64_t steps, f.Int("steps", 0, 1'000'000));
  p.step = static_cast<int>(step);
  p.steps = static_cast<int>(steps);
  return p;
}

json::object MessageJson(const WorkerMessage& m) {
  json::object o;
  o["seq"] = m.seq;
  o["type"] = std::string(MessageTypeName(m.type));
  o["task_id"] = m.task_id;
  o["fencing"] = m.fencing;
  switch (m.type) {
    case MessageType::kHeartbeat:
      o["lease_ms"] = m.lease_duration.count();
      if (m.progress) o["progress"] = ProgressJson(*m.progress);
      break;
    case MessageType::kProgress:
      if (m.progress) o["progress"] = ProgressJson(*m.progress);
      if (!m.preview_png.empty()) o["preview_png"] = Base64Encode(m.preview_png);
      break;
    case MessageType::kComplete: {
      json::array images;
      for (const GeneratedImage& image : m.images) {
        images.push_back(json::object{{"png", Base64Encode(image.png)},
                                      {"width", image.width},
                                      {"height", image.height},
                                      {"seed", image.seed}});
      }
      o["images"] = std::move(images);
      break;
    }
    case MessageType::kFail:
      o["kind"] = m.failure_kind == FailureKind::kTransient ? "transient" : "permanent";
      o["code"] = m.error.code;
      o["message"] = m.error.message;
      o["retry_after_ms"] = m.retry_after.count();
      break;
    case MessageType::kRelease:
    case MessageType::kCanceled: break;
  }
  return o;
}

Result<WorkerMessage> ReadMessage(const json::object& o, const std::string& path) {
  Fields f(o, path);
  WorkerMessage m;
  ASSIGN_OR_RETURN(m.seq, f.Int("seq", 1, INT64_MAX));
  ASSIGN_OR_RETURN(std::string type, f.String("type"));
  bool known = false;
  for (MessageType t : kTypes) {
    if (MessageTypeName(t) == type) {
      m.type = t;
      known = true;
    }
  }
  if (!known) {
    return f.Bad("type", "must be heartbeat, progress, complete, fail, release or canceled");
  }
  ASSIGN_OR_RETURN(m.task_id, f.String("task_id"));
  if (m.task_id.empty() || m.task_id.size() > 128)
    return f.Bad("task_id", "must be 1..128 characters");
  ASSIGN_OR_RETURN(int64_t fencing, f.Int("fencing", 1, INT64_MAX));
  m.fencing = static_cast<uint64_t>(fencing);
  ASSIGN_OR_RETURN(const json::object* progress, f.Object("progress"));
  if (progress != nullptr) {
    ASSIGN_OR_RETURN(TaskProgress p, ReadProgress(*progress, f.Name("progress")));
    m.progress = p;
  }
  switch (m.type) {
    case MessageType::kHeartbeat: {
      ASSIGN_OR_RETURN(int64_t ms, f.Int("lease_ms", 1, kMaxMillis));
      m.lease_duration = Millis(ms);
      break;
    }
    case MessageType::kProgress: {
      if (!m.progress) return f.Bad("progress", "is required");
      ASSIGN_OR_RETURN(std::string preview, f.String("preview_png", false));
      if (!preview.empty()) {
        Result<std::string> bytes = Base64Decode(preview);
        if (!bytes.ok()) return f.Bad("preview_png", "must be base64");
        m.preview_png = std::move(bytes).value();
      }
      break;
    }
    case MessageType::kComplete: {
      ASSIGN_OR_RETURN(const json::array* images, f.Array("images"));
      if (images == nullptr) return f.Bad("images", "is required");
      for (size_t i = 0; i < images->size(); ++i) {
        const std::string at = f.Name("images") + "[" + std::to_string(i) + "]";
        if (!(*images)[i].is_object()) {
          return InvalidArgumentError(at + " must be an object", {{at, "must be an object"}});
        }
        Fields img((*images)[i].get_object(), at);
        GeneratedImage image;
        ASSIGN_OR_RETURN(std::string png, img.String("png"));
        Result<std::string> bytes = Base64Decode(png);
        if (!bytes.ok() || bytes->empty()) return img.Bad("png", "must be non-empty base64");
        image.png = std::move(bytes).value();
        ASSIGN_OR_RETURN(int64_t width, img.Int("width", 1, 1 << 16));
        ASSIGN_OR_RETURN(int64_t height, img.Int("height", 1, 1 << 16));
        ASSIGN_OR_RETURN(int64_t seed, img.Int("seed", 0, UINT32_MAX));
        image.width = static_cast<int>(width);
        image.height = static_cast<int>(height);
        image.seed = static_cast<uint32_t>(seed);
        m.images.push_back(std::move(image));
      }
      break;
    }
    case MessageType::kFail: {
      ASSIGN_OR_RETURN(std::string kind, f.String("kind"));
      if (kind == "transient") {
        m.failure_kind = FailureKind::kTransient;
      } else if (kind == "permanent") {
        m.failure_kind = FailureKind::kPermanent;
      } else {
        return f.Bad("kind", "must be permanent or transient");
      }
      ASSIGN_OR_RETURN(m.error.code, f.String("code"));
      if (m.error.code.empty()) return f.Bad("code", "must not be empty");
      ASSIGN_OR_RETURN(m.error.message, f.String("message", false));
      ASSIGN_OR_RETURN(int64_t ms, f.Int("retry_after_ms", 0, kMaxMillis, 0));
      m.retry_after = Millis(ms);
      break;
    }
    case MessageType::kRelease:
    case MessageType::kCanceled: break;
  }
  return m;
}

json::object StatusJson(const Status& status) {
  return json::object{{"code", std::string(StatusCodeName(status.code()))},
                      {"message", status.message()}};
}

Status ReadStatus(const json::object& o) {
  std::string code;
  std::string message;
  if (const json::value* c = o.if_contains("code"); c && c->is_string()) code = c->get_string();
  if (const json::value* m = o.if_contains("message"); m && m->is_string()) {
    message = m->get_string();
  }
  for (int i = 1; i <= static_cast<int>(StatusCode::kUnauthenticated); ++i) {
    if (StatusCodeName(static_cast<StatusCode>(i)) == code) {
      return Status(static_cast<StatusCode>(i), message);
    }
  }
  return InternalError("gateway answered an unknown error code '" + code + "': " + message);
}

json::object LeasedJson(const LeasedTask& lt) {
  const Task& t = lt.task;
  json::object o;
  o["id"] = t.id;
  o["tenant"] = t.tenant;
  o["fencing"] = t.fencing;
  o["attempts"] = t.attempts;
  o["max_attempts"] = t.max_attempts;
  o["created_at_ms"] = ToUnixMillis(t.created_at);
  if (t.started_at) o["started_at_ms"] = ToUnixMillis(*t.started_at);
  if (t.lease_expires_at) o["lease_expires_at_ms"] = ToUnixMillis(*t.lease_expires_at);
  o["request"] = GenerationRequestToJson(t.request);
  return o;
}

Result<LeasedTask> ReadLeased(const json::object& o, const std::string& path) {
  Fields f(o, path);
  LeasedTask lt;
  Task& t = lt.task;
  t.state = TaskState::kRunning;
  ASSIGN_OR_RETURN(t.id, f.String("id"));
  ASSIGN_OR_RETURN(t.tenant, f.String("tenant", false));
  ASSIGN_OR_RETURN(int64_t fencing, f.Int("fencing", 1, INT64_MAX));
  t.fencing = static_cast<uint64_t>(fencing);
  ASSIGN_OR_RETURN(int64_t attempts, f.Int("attempts", 0, 1'000'000));
  ASSIGN_OR_RETURN(int64_t max_attempts, f.Int("max_attempts", 0, 1'000'000));
  t.attempts = static_cast<int>(attempts);
  t.max_attempts = static_cast<int>(max_attempts);
  ASSIGN_OR_RETURN(int64_t created, f.Int("created_at_ms", 0, INT64_MAX, 0));
  t.created_at = FromUnixMillis(created);
  if (f.Has("started_at_ms")) {
    ASSIGN_OR_RETURN(int64_t started, f.Int("started_at_ms", 0, INT64_MAX));
    t.started_at = FromUnixMillis(started);
  }
  if (f.Has("lease_expires_at_ms")) {
    ASSIGN_OR_RETURN(int64_t expires, f.Int("lease_expires_at_ms", 0, INT64_MAX));
    t.lease_expires_at = FromUnixMillis(expires);
  }
  ASSIGN_OR_RETURN(const json::object* request, f.Object("request"));
  if (request == nullptr) return f.Bad("request", "is required");
  t.request = GenerationRequestFromJson(*request);
  return lt;
}

}  // namespace

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kHeartbeat: return "heartbeat";
    case MessageType::kProgress: return "progress";
    case MessageType::kComplete: return "complete";
    case MessageType::kFail: return "fail";
    case MessageType::kRelease: return "release";
    case MessageType::kCanceled: return "canceled";
  }
  return "unknown";
}

std::string EncodeRequest(const ExchangeRequest& request) {
  json::object o;
  o["worker_id"] = request.worker_id;
  if (request.hello) {
    json::array models;
    for (const std::string& m : request.hello->models) models.emplace_back(m);
    o["hello"] = json::object{{"host", request.hello->host},
                              {"device", request.hello->device},
                              {"models", std::move(models)},
                              {"max_batch", request.hello->max_batch}};
  }
  o["ack"] = request.ack;
  json::array messages;
  for (const WorkerMessage& m : request.messages) messages.push_back(MessageJson(m));
  o["messages"] = std::move(messages);
  if (request.lease) {
    json::array models;
    for (const std::string& m : request.lease->models) models.emplace_back(m);
    o["lease"] = json::object{{"models", std::move(models)},
                              {"max_tasks", request.lease->max_tasks},
                              {"lease_ms", request.lease->lease_duration.count()},
                              {"wait_ms", request.lease->wait.count()}};
  }
  if (request.goodbye) o["goodbye"] = true;
  return WriteJson(o);
}

Result<ExchangeRequest> DecodeRequest(std::string_view body) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(body));
  Fields f(o, "");
  ExchangeRequest r;
  ASSIGN_OR_RETURN(r.worker_id, f.String("worker_id"));
  if (r.worker_id.empty() || r.worker_id.size() > 128) {
    return f.Bad("worker_id", "must be 1..128 characters");
  }
  ASSIGN_OR_RETURN(const json::object* hello, f.Object("hello"));
  if (hello != nullptr) {
    Fields h(*hello, "hello");
    WorkerInfo info;
    info.id = r.worker_id;
    ASSIGN_OR_RETURN(info.host, h.String("host", false));
    ASSIGN_OR_RETURN(info.device, h.String("device", false));
    ASSIGN_OR_RETURN(info.models, h.Strings("models"));
    if (info.models.empty()) return h.Bad("models", "must name at least one model");
    ASSIGN_OR_RETURN(int64_t max_batch, h.Int("max_batch", 1, 1024, 1));
    info.max_batch = static_cast<int>(max_batch);
    r.hello = std::move(info);
  }
  ASSIGN_OR_RETURN(r.ack, f.Int("ack", 0, INT64_MAX, 0));
  ASSIGN_OR_RETURN(const json::array* messages, f.Array("messages"));
  if (messages != nullptr) {
    for (size_t i = 0; i < messages->size(); ++i) {
      const std::string path = "messages[" + std::to_string(i) + "]";
      if (!(*messages)[i].is_object()) {
        return InvalidArgumentError(path + " must be an object", {{path, "must be an object"}});
      }
      ASSIGN_OR_RETURN(WorkerMessage m, ReadMessage((*messages)[i].get_object(), path));
      r.messages.push_back(std::move(m));
    }
  }
  ASSIGN_OR_RETURN(const json::object* lease, f.Object("lease"));
  if (lease != nullptr) {
    Fields l(*lease, "lease");
    LeaseAsk ask;
    ASSIGN_OR_RETURN(ask.models, l.Strings("models"));
    if (ask.models.empty()) return l.Bad("models", "must name at least one model");
    ASSIGN_OR_RETURN(int64_t max_tasks, l.Int("max_tasks", 1, 1024));
    ASSIGN_OR_RETURN(int64_t lease_ms, l.Int("lease_ms", 1, kMaxMillis));
    ASSIGN_OR_RETURN(int64_t wait_ms, l.Int("wait_ms", 0, kMaxMillis, 0));
    ask.max_tasks = static_cast<int>(max_tasks);
    ask.lease_duration = Millis(lease_ms);
    ask.wait = Millis(wait_ms);
    r.lease = std::move(ask);
  }
  ASSIGN_OR_RETURN(r.goodbye, f.Bool("goodbye"));
  return r;
}

std::string EncodeResponse(const ExchangeResponse& response) {
  json::object o;
  json::array replies;
  for (const MessageReply& reply : response.replies) {
    json::object r;
    r["seq"] = reply.seq;
    r["ok"] = reply.status.ok();
    if (!reply.status.ok()) r["error"] = StatusJson(reply.status);
    if (reply.heartbeat) {
      r["lease_expires_at_ms"] = ToUnixMillis(reply.heartbeat->lease_expires_at);
      r["cancel_requested"] = reply.heartbeat->cancel_requested;
    }
    if (reply.state) r["state"] = std::string(TaskStateName(*reply.state));
    replies.push_back(std::move(r));
  }
  o["replies"] = std::move(replies);
  json::array leases;
  for (const LeasedTask& lt : response.leases) leases.push_back(LeasedJson(lt));
  o["leases"] = std::move(leases);
  if (!response.lease_status.ok()) o["lease_error"] = StatusJson(response.lease_status);
  return WriteJson(o);
}

Result<ExchangeResponse> DecodeResponse(std::string_view body) {
  ASSIGN_OR_RETURN(json::object o, ParseObject(body));
  Fields f(o, "");
  ExchangeResponse r;
  ASSIGN_OR_RETURN(const json::array* replies, f.Array("replies"));
  if (replies != nullptr) {
    for (size_t i = 0; i < replies->size(); ++i) {
      const std::string path = "replies[" + std::to_string(i) + "]";
      if (!(*replies)[i].is_object()) return InvalidArgumentError(path + " must be an object");
      const json::object& ro = (*replies)[i].get_object();
      Fields rf(ro, path);
      MessageReply reply;
      ASSIGN_OR_RETURN(reply.seq, rf.Int("seq", 1, INT64_MAX));
      ASSIGN_OR_RETURN(bool ok, rf.Bool("ok"));
      if (!ok) {
        ASSIGN_OR_RETURN(const json::object* error, rf.Object("error"));
        reply.status =
            error != nullptr ? ReadStatus(*error) : InternalError("error without detail");
      }
      if (rf.Has("lease_expires_at_ms")) {
        HeartbeatReply hb;
        ASSIGN_OR_RETURN(int64_t expires, rf.Int("lease_expires_at_ms", 0, INT64_MAX));
        hb.lease_expires_at = FromUnixMillis(expires);
        ASSIGN_OR_RETURN(hb.cancel_requested, rf.Bool("cancel_requested"));
        reply.heartbeat = hb;
      }
      ASSIGN_OR_RETURN(std::string state, rf.String("state", false));
      if (!state.empty()) reply.state = ParseTaskState(state);
      r.replies.push_back(std::move(reply));
    }
  }
  ASSIGN_OR_RETURN(const json::array* leases, f.Array("leases"));
  if (leases != nullptr) {
    for (size_t i = 0; i < leases->size(); ++i) {
      const std::string path = "leases[" + std::to_string(i) + "]";
      if (!(*leases)[i].is_object()) return InvalidArgumentError(path + " must be an object");
      ASSIGN_OR_RETURN(LeasedTask lt, ReadLeased((*leases)[i].get_object(), path));
      r.leases.push_back(std::move(lt));
    }
  }
  ASSIGN_OR_RETURN(const json::object* lease_error, f.Object("lease_error"));
  if (lease_error != nullptr) r.lease_status = ReadStatus(*lease_error);
  return r;
}

}  // namespace stipple::wire
