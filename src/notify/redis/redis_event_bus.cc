#include "notify/redis/redis_event_bus.h"

#include <sys/socket.h>

#include <algorithm>
#include <charconv>

#include "common/log.h"
#include "notify/redis/event_codec.h"
#include "notify/redis/event_scripts.h"

namespace stipple {
namespace {

using redis::ReplyInt;
using redis::ReplyString;

std::string Ms(Millis d) { return std::to_string(d.count()); }

// "<seq>-0" → seq; 0 when it is not such an id.
int64_t SeqOf(const redisReply& id) {
  const std::string s = ReplyString(id);
  int64_t seq = 0;
  std::from_chars(s.data(), s.data() + s.size(), seq);
  return seq;
}

timeval ToTimeval(Millis d) {
  return {static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

}  // namespace

RedisEventBus::RedisEventBus(redis::RedisClientOptions client, RedisEventBusOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      channel_(options_.key_prefix + "events"),
      mirror_(InMemoryEventBusOptions{.clock = options_.clock,
                                      .progress_kept = options_.progress_kept,
                                      .terminal_retention = options_.terminal_retention}),
      published_(InMemoryEventBusOptions{.clock = options_.clock, .progress_kept = 0}),
      listener_([this] { ListenLoop(); }) {}

RedisEventBus::~RedisEventBus() {
  {
    MutexLock lock(listen_mu_);
    stopping_ = true;
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  }
  listen_cv_.notify_all();
  listener_.join();
}

bool RedisEventBus::ProgressDue(const TaskEvent& event) {
  const auto now = std::chrono::steady_clock::now();
  MutexLock lock(progress_mu_);
  if (++publications_ % 4096 == 0) {
    // Tasks whose terminal event was published by another process leave their entry behind.
    std::erase_if(last_progress_, [&](const auto& e) { return now - e.second > Millis{60'000}; });
  }
  if (IsTerminalEvent(event.type) || event.type == TaskEventType::kRetrying) {
    last_progress_.erase(event.task_id);
    return true;
  }
  if (event.type != TaskEventType::kProgress || options_.progress_interval.count() <= 0) {
    return true;
  }
  auto [it, first] = last_progress_.try_emplace(event.task_id, now);
  if (first || !event.preview_png.empty() || now - it->second >= options_.progress_interval) {
    it->second = now;
    return true;
  }
  return false;
}

std::vector<std::string> RedisEventBus::PublishArgs(const std::string& tenant,
                                                    const TaskEvent& event) const {
  return {options_.key_prefix,
          event.task_id,
          tenant,
          std::string(TaskEventTypeName(event.type)),
          std::to_string(event.fencing),
          std::to_string(event.attempt),
          std::to_string(ToUnixMillis(event.time)),
          redis::EncodeEvent(event),
          std::to_string(options_.progress_kept),
          Ms(options_.live_retention),
          Ms(options_.terminal_retention)};
}

std::vector<TaskEvent> RedisEventBus::PublishBatch(std::vector<TenantEvent> events) {
  std::vector<TaskEvent> out;
  out.reserve(events.size());
  std::vector<size_t> due;
  std::vector<std::vector<std::string>> calls;
  for (size_t i = 0; i < events.size(); ++i) {
    out.push_back(std::move(events[i].event));
    out.back().seq = 0;  // unless published below
    if (!ProgressDue(out.back())) continue;
    due.push_back(i);
    calls.push_back(PublishArgs(events[i].tenant, out.back()));
  }
  std::vector<Result<redis::Reply>> seqs =
      client_.EvalPipeline(redis::event_scripts::Publish(), calls);
  for (size_t k = 0; k < due.size(); ++k) {
    TaskEvent& event = out[due[k]];
    if (!seqs[k].ok()) {
      LogWarn("task event not published",
              {{"task_id", event.task_id}, {"error", seqs[k].status().ToString()}});
      continue;
    }
    event.seq = ReplyInt(**seqs[k]);
    if (event.seq > 0) published_.Relay(events[due[k]].tenant, event);
  }
  return out;
}

TaskEvent RedisEventBus::Publish(const std::string& tenant, TaskEvent event) {
  if (!ProgressDue(event)) {
    event.seq = 0;  // coalesced: a newer progress event will say more
    return event;
  }
  auto seq = client_.Eval(redis::event_scripts::Publish(), PublishArgs(tenant, event));
  if (!seq.ok()) {
    LogWarn("task event not published",
            {{"task_id", event.task_id}, {"error", seq.status().ToString()}});
    event.seq = 0;
    return event;
  }
  event.seq = ReplyInt(**seq);
  if (event.seq > 0) published_.Relay(tenant, event);
  return event;
}

bool RedisEventBus::Seed(const std::string& tenant, std::vector<TaskEvent> history) {
  if (history.empty()) return false;
  std::vector<std::string> args = {options_.key_prefix, history.front().task_id, tenant,
                                   Ms(options_.live_retention), Ms(options_.terminal_retention)};
  for (const TaskEvent& e : history) {
    args.push_back(std::to_string(e.seq));
    args.emplace_back(TaskEventTypeName(e.type));
    args.push_back(std::to_string(e.fencing));
    args.push_back(std::to_string(e.attempt));
    args.push_back(std::to_string(ToUnixMillis(e.time)));
    args.push_back(redis::EncodeEvent(e));
  }
  auto seeded = client_.Eval(redis::event_scripts::Seed(), args);
  if (!seeded.ok()) {
    LogWarn("task history not seeded",
            {{"task_id", history.front().task_id}, {"error", seeded.status().ToString()}});
    return false;
  }
  return ReplyInt(**seeded) == 1;
}

Result<RedisEventBus::Held> RedisEventBus::Fetch(const std::string& task_id, int64_t from,
                                                 int64_t to) {
  const std::string p = options_.key_prefix;
  auto replies = client_.Pipeline(
      {{"HMGET", p + "evm:" + task_id, "tenant", "qt", "term", "te", "seq", "hist"},
       {"XRANGE", p + "ev:" + task_id, std::to_string(from) + "-0",
        to > 0 ? std::to_string(to) + "-0" : std::string("+")}});
  for (const auto& r : replies) RETURN_IF_ERROR(r.status());
  const redisReply& meta = **replies[0];
  if (meta.elements != 6) return InternalError("Redis: unexpected HMGET reply");
  auto in_range = [&](int64_t seq) { return seq >= from && (to <= 0 || seq <= to); };
  Held held;
  held.tenant = ReplyString(*meta.element[0]);
  // The `queued` event lives in the hash as its time (see event_scripts.h).
  // An ended task has no stream: its state changes are in the hash (hist), its end in te.
  const bool ended = ReplyString(*meta.element[2]) == "1";
  if (const std::string qt = ReplyString(*meta.element[1]); !qt.empty() && in_range(1)) {
    TaskEvent queued;
    queued.task_id = task_id;
    queued.seq = 1;
    queued.type = TaskEventType::kQueued;
    queued.time = FromUnixMillis(std::stoll(qt));
    held.events.push_back(std::move(queued));
  }
  const redisReply& entries = **replies[1];
  for (size_t i = 0; i < entries.elements; ++i) {
    const redisReply& entry = *entries.element[i];
    if (entry.elements != 2 || entry.element[1]->elements != 2) continue;
    ASSIGN_OR_RETURN(TaskEvent e, redis::DecodeEvent(ReplyString(*entry.element[1]->element[1]),
                                                     SeqOf(*entry.element[0])));
    held.events.push_back(std::move(e));
  }
  if (ended) {
    // "<seq>\n<event>\n<seq>\n<event>...", seq order.
    const std::string hist = ReplyString(*meta.element[5]);
    size_t at = 0;
    while (at < hist.size()) {
      const size_t a = hist.find('\n', at);
      if (a == std::string::npos) return DataLossError("Redis: malformed history of " + task_id);
      size_t b = hist.find('\n', a + 1);
      if (b == std::string::npos) b = hist.size();
      const int64_t seq = std::stoll(hist.substr(at, a - at));
      if (in_range(seq)) {
        ASSIGN_OR_RETURN(TaskEvent e, redis::DecodeEvent(hist.substr(a + 1, b - a - 1), seq));
        held.events.push_back(std::move(e));
      }
      at = b + 1;
    }
  }
  const int64_t last = ReplyInt(*meta.element[4]);
  if (ended && in_range(last)) {
    ASSIGN_OR_RETURN(TaskEvent end, redis::DecodeEvent(ReplyString(*meta.element[3]), last));
    held.events.push_back(std::move(end));
  }
  return held;
}

void RedisEventBus::CatchUp(const std::string& task_id, int64_t after, int64_t to) {
  Result<Held> held = Fetch(task_id, after + 1, to);
  if (!held.ok()) {
    LogWarn("task events not read back",
            {{"task_id", task_id}, {"error", held.status().ToString()}});
    return;
  }
  for (TaskEvent& e : held->events) mirror_.Relay(held->tenant, std::move(e));
}

std::unique_ptr<Subscription> RedisEventBus::Subscribe(const std::string& task_id,
                                                       int64_t after_seq,
                                                       TaskEventCallback on_event) {
  MutexLock lock(relay_mu_);
  std::optional<int64_t> followed = mirror_.Followed(task_id);
  if (!followed || *followed == 0) {
    // Not held here yet: load what Redis holds, so the replay covers events published before.
    Result<Held> held = Fetch(task_id, 1, 0);
    if (!held.ok()) {
      LogWarn("task events not read", {{"task_id", task_id}, {"error", held.status().ToString()}});
    } else if (!held->events.empty()) {
      mirror_.Seed(held->tenant, std::move(held->events));
    }
  }
  return mirror_.Subscribe(task_id, after_seq, std::move(on_event));
}

std::unique_ptr<Subscription> RedisEventBus::SubscribeAll(const std::string& tenant,
                                                          TaskEventCallback on_event) {
  return mirror_.SubscribeAll(tenant, std::move(on_event));
}

std::unique_ptr<Subscription> RedisEventBus::SubscribePublished(TaskEventCallback on_event) {
  return published_.SubscribeAll("", std::move(on_event));
}

std::unique_ptr<Subscription> RedisEventBus::Deliver(std::vector<TaskEvent> events,
                                                     TaskEventCallback on_event) {
  return mirror_.Deliver(std::move(events), std::move(on_event));
}

std::optional<TaskEvent> RedisEventBus::TerminalEvent(const std::string& task_id) {
  if (auto held = mirror_.TerminalEvent(task_id)) return held;
  auto meta =
      client_.Command({"HMGET", options_.key_prefix + "evm:" + task_id, "term", "te", "seq"});
  if (!meta.ok() || (*meta)->elements != 3) return std::nullopt;
  if (ReplyString(*(*meta)->element[0]) != "1") return std::nullopt;
  auto e = redis::DecodeEvent(ReplyString(*(*meta)->element[1]), ReplyInt(*(*meta)->element[2]));
  if (!e.ok() || !IsTerminalEvent(e->type)) return std::nullopt;
  return *e;
}

void RedisEventBus::Relay(std::string_view message) {
  // "<tenant>\n<seq>\n<event>"
  const size_t a = message.find('\n');
  const size_t b = a == std::string_view::npos ? a : message.find('\n', a + 1);
  if (b == std::string_view::npos) return;
  const std::string tenant(message.substr(0, a));
  int64_t seq = 0;
  std::from_chars(message.data() + a + 1, message.data() + b, seq);
  Result<TaskEvent> event = redis::DecodeEvent(message.substr(b + 1), seq);
  if (!event.ok()) {
    LogWarn("malformed task event on the event channel", {{"error", event.status().ToString()}});
    return;
  }
  MutexLock lock(relay_mu_);
  std::optional<int64_t> followed = mirror_.Followed(event->task_id);
  // A followed task's events must not skip: read what pub/sub did not bring from the stream.
  if (followed && seq > *followed + 1) CatchUp(event->task_id, *followed, seq - 1);
  mirror_.Relay(tenant, std::move(*event));
}

bool RedisEventBus::WaitConnected(Millis timeout) {
  MutexLock lock(listen_mu_);
  return listen_cv_.wait_for(lock.native(), timeout, [&]() REQUIRES(listen_mu_) {
    return connected_ || stopping_;
  }) && connected_;
}

void RedisEventBus::ListenLoop() {
  Millis backoff{100};
  while (true) {
    {
      MutexLock lock(listen_mu_);
      if (stopping_) return;
    }
    const auto began = std::chrono::steady_clock::now();
    Listen();
    if (std::chrono::steady_clock::now() - began > std::chrono::seconds(5)) backoff = Millis{100};
    MutexLock lock(listen_mu_);
    if (listen_cv_.wait_for(lock.native(), backoff,
                            [&]() REQUIRES(listen_mu_) { return stopping_; }))
      return;
    backoff = std::min(backoff * 2, Millis{2000});
  }
}

void RedisEventBus::Listen() {
  const redis::RedisUrl& u = client_.url();
  std::unique_ptr<redisContext, void (*)(redisContext*)> ctx(
      redisConnectWithTimeout(u.host.c_str(), u.port, ToTimeval(Millis{1000})), &redisFree);
  if (!ctx || ctx->err) return;  // the next try comes after the backoff
  redisEnableKeepAlive(ctx.get());
  auto command = [&](const std::vector<std::string>& args) -> bool {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& s : args) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx.get(), static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) return false;
    const bool ok = r->type != REDIS_REPLY_ERROR;
    if (!ok) LogWarn("Redis refused the event listener", {{"error", std::string(r->str, r->len)}});
    freeReplyObject(r);
    return ok;
  };
  if (!u.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!u.user.empty()) auth.push_back(u.user);
    auth.push_back(u.password);
    if (!command(auth)) return;
  }
  if (!command({"SUBSCRIBE", channel_})) return;
  {
    MutexLock lock(listen_mu_);
    if (stopping_) return;
    listen_fd_ = ctx->fd;
  }
  {
    // Whatever was published while no listener was subscribed: read back for followed tasks
    // (messages from now on wait in the socket meanwhile).
    MutexLock lock(relay_mu_);
    for (const auto& [task_id, seq] : mirror_.FollowedTasks()) CatchUp(task_id, seq, 0);
  }
  {
    MutexLock lock(listen_mu_);
    connected_ = true;
  }
  listen_cv_.notify_all();
  LogInfo("event listener subscribed", {{"channel", channel_}});
  while (true) {
    void* raw = nullptr;
    if (redisGetReply(ctx.get(), &raw) != REDIS_OK || raw == nullptr) break;
    redis::Reply reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        ReplyString(*reply->element[0]) == "message") {
      const redisReply& payload = *reply->element[2];
      Relay(std::string_view(payload.str, payload.len));
    }
  }
  bool stopping;
  {
    MutexLock lock(listen_mu_);
    listen_fd_ = -1;
    connected_ = false;
    stopping = stopping_;
  }
  if (!stopping) LogWarn("event listener lost Redis; reconnecting", {{"channel", channel_}});
}

}  // namespace stipple
