#include "webhook/redis/redis_outbox.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <unordered_map>

#include "common/id.h"
#include "common/log.h"
#include "store/redis/task_hash.h"
#include "webhook/redis/redis_outbox_scripts.h"

namespace stipple::webhook {
namespace {

using redis::Reply;
using redis::ReplyInt;
using redis::ReplyString;
namespace json = boost::json;

constexpr int kIntentBatch = 256;     // intents read per round trip
constexpr int kMaxIntentRounds = 20;  // per Materialize call; the rest waits for the next
constexpr Millis kWakePoll{250};      // the background thread's longest blocking wait

std::string Ms(Timestamp t) { return std::to_string(ToUnixMillis(t)); }

int64_t ToInt(const std::string& s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// A flat [name, value, ...] reply as a map.
std::unordered_map<std::string, std::string> Fields(const redisReply& flat) {
  std::unordered_map<std::string, std::string> f;
  if (flat.type != REDIS_REPLY_ARRAY) return f;
  for (size_t i = 0; i + 1 < flat.elements; i += 2) {
    f.emplace(ReplyString(*flat.element[i]), ReplyString(*flat.element[i + 1]));
  }
  return f;
}

std::string AttemptToJson(const WebhookAttempt& a) {
  return json::serialize(json::object{{"at", ToUnixMillis(a.at)},
                                      {"status", a.response_status},
                                      {"error", a.error},
                                      {"ms", a.duration.count()}});
}

WebhookAttempt AttemptFromJson(int number, const std::string& text) {
  WebhookAttempt a;
  a.number = number;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return a;
  const json::object& o = v.get_object();
  auto num = [&](std::string_view k) -> int64_t {
    const json::value* x = o.if_contains(k);
    return x && x->is_number() ? x->to_number<int64_t>() : 0;
  };
  a.at = FromUnixMillis(num("at"));
  a.response_status = static_cast<int>(num("status"));
  if (const json::value* e = o.if_contains("error"); e && e->is_string()) {
    a.error = std::string(e->get_string());
  }
  a.duration = Millis(num("ms"));
  return a;
}

// The delivery an intent stands for, if any: a state change the task's webhook asks for, or a
// progress delivery built by AddProgress.
std::optional<WebhookDelivery> DeliveryOfIntent(const std::string& stream_id,
                                                const redisReply& flat) {
  std::unordered_map<std::string, std::string> f = Fields(flat);
  if (f["kind"] == "progress") {
    WebhookDelivery d;
    d.id = f["id"];
    d.task_id = f["task"];
    d.event = f["event"];
    d.url = f["url"];
    d.host = f["host"];
    d.created_at = FromUnixMillis(ToInt(f["created"]));
    d.payload = f["payload"];
    return d;
  }
  Result<redis::StoredTask> stored = redis::TaskFromHash(flat);
  if (!stored.ok()) {  // kept forever it would block nothing but would never become valid
    LogWarn("webhook intent dropped: unreadable task snapshot",
            {{"intent", stream_id}, {"error", stored.status().ToString()}});
    return std::nullopt;
  }
  return DeliveryForStateChange(stored->task, FromUnixMillis(ToInt(f["at"])));
}

}  // namespace

RedisWebhookOutbox::RedisWebhookOutbox(RedisWebhookOutboxOptions options, redis::RedisUrl url)
    : options_(std::move(options)),
      owner_(NewId("outbox")),
      client_(redis::RedisClientOptions{.url = std::move(url),
                                        .connect_timeout = options_.connect_timeout,
                                        .command_timeout = options_.command_timeout}) {}

Result<std::unique_ptr<RedisWebhookOutbox>> RedisWebhookOutbox::Open(
    RedisWebhookOutboxOptions options) {
  if (options.claim_lease < Millis(3)) return InvalidArgumentError("claim_lease is too short");
  ASSIGN_OR_RETURN(redis::RedisUrl url, redis::ParseRedisUrl(options.url));
  auto outbox =
      std::unique_ptr<RedisWebhookOutbox>(new RedisWebhookOutbox(std::move(options), url));
  RETURN_IF_ERROR(outbox->client_.Check());
  outbox->background_ = std::thread([o = outbox.get()] { o->Background(); });
  return outbox;
}

RedisWebhookOutbox::~RedisWebhookOutbox() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (background_.joinable()) background_.join();
  std::vector<std::string> args = {options_.key_prefix, owner_};
  args.insert(args.end(), held_.begin(), held_.end());
  if (args.size() > 2) {
    if (Result<Reply> r = client_.Eval(redis_scripts::Release(), args); !r.ok()) {
      LogWarn("webhook claims not given back; due again when their lease lapses",
              {{"error", r.status().ToString()}});
    }
  }
}

Status RedisWebhookOutbox::Materialize() {
  for (int round = 0; round < kMaxIntentRounds; ++round) {
    ASSIGN_OR_RETURN(Reply r, client_.Command({"XRANGE", Key("wh:intents"), "-", "+", "COUNT",
                                               std::to_string(kIntentBatch)}));
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return Status::Ok();
    std::vector<std::string> args = {options_.key_prefix,
                                     std::to_string(options_.retention.count())};
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply& entry = *r->element[i];
      if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2) continue;
      const std::string stream_id = ReplyString(*entry.element[0]);
      std::optional<WebhookDelivery> d = DeliveryOfIntent(stream_id, *entry.element[1]);
      args.push_back(stream_id);
      if (!d) {
        args.emplace_back("0");
        continue;
      }
      args.emplace_back("1");
      for (std::string* v : {&d->id, &d->task_id, &d->event, &d->url, &d->host}) {
        args.push_back(std::move(*v));
      }
      args.push_back(Ms(d->created_at));
      args.push_back(std::move(d->payload));
    }
    Result<Reply> stored = client_.Eval(redis_scripts::Materialize(), args);
    if (!stored.ok()) return stored.status();
    {
      MutexLock lock(mu_);
      next_due_after_claim_.reset();
    }
    if (r->elements < static_cast<size_t>(kIntentBatch)) return Status::Ok();
  }
  return Status::Ok();
}

Status RedisWebhookOutbox::AddProgress(const WebhookDelivery& d) {
  Result<Reply> added = client_.Command(
      {"XADD", Key("wh:intents"), "*", "kind", "progress", "id", d.id, "task", d.task_id, "event",
       d.event, "url", d.url, "host", d.host, "created", Ms(d.created_at), "payload", d.payload});
  if (!added.ok()) return added.status();
  {
    MutexLock lock(mu_);
    next_due_after_claim_.reset();
  }
  Wake();
  return Status::Ok();
}

Result<std::vector<WebhookDelivery>> RedisWebhookOutbox::Claim(
    Timestamp now, int limit, const std::vector<std::string>& busy_hosts) {
  std::vector<std::string> args = {options_.key_prefix,
                                   Ms(now),
                                   std::to_string(limit),
                                   Ms(now + options_.claim_lease),
                                   owner_,
                                   "1"};
  args.insert(args.end(), busy_hosts.begin(), busy_hosts.end());
  ASSIGN_OR_RETURN(Reply r, client_.Eval(redis_scripts::Claim(), args));
  if (r->type == REDIS_REPLY_INTEGER) {  // intents first (one round trip less when there are none)
    RETURN_IF_ERROR(Materialize());
    args[5] = "0";
    ASSIGN_OR_RETURN(r, client_.Eval(redis_scripts::Claim(), args));
  }
  std::vector<WebhookDelivery> out;
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_ARRAY) {
    return DataLossError("unexpected reply from the claim script");
  }
  const redisReply& rows = *r->element[0];
  for (size_t i = 0; i < rows.elements; ++i) {
    const redisReply& row = *rows.element[i];
    if (row.type != REDIS_REPLY_ARRAY || row.elements != 8) {
      return DataLossError("unexpected row from the claim script");
    }
    WebhookDelivery d;
    d.id = ReplyString(*row.element[0]);
    d.task_id = ReplyString(*row.element[1]);
    d.event = ReplyString(*row.element[2]);
    d.url = ReplyString(*row.element[3]);
    d.host = ReplyString(*row.element[4]);
    d.payload = ReplyString(*row.element[5]);
    d.created_at = FromUnixMillis(ReplyInt(*row.element[6]));
    d.attempts = static_cast<int>(ReplyInt(*row.element[7]));
    out.push_back(std::move(d));
  }
  const int64_t next = ReplyInt(*r->element[1]);
  MutexLock lock(mu_);
  for (const WebhookDelivery& d : out) held_.insert(d.id);
  next_due_after_claim_ = next < 0 ? std::optional<Timestamp>() : FromUnixMillis(next);
  return out;
}

Status RedisWebhookOutbox::Record(std::span<const DeliveryOutcome> outcomes) {
  {
    MutexLock lock(mu_);
    next_due_after_claim_.reset();
  }
  // Intents written since the claim count as later deliveries (a progress retry is dropped).
  const bool progress_retry = std::any_of(outcomes.begin(), outcomes.end(), [](const auto& o) {
    return o.state == DeliveryState::kPending && o.event == "task.progress";
  });
  if (Status s = progress_retry ? Materialize() : Status::Ok(); !s.ok()) {
    MutexLock lock(mu_);
    for (const DeliveryOutcome& o : outcomes) held_.erase(o.delivery_id);
    return s;
  }
  std::vector<std::string> args = {options_.key_prefix, owner_,
                                   std::to_string(options_.retention.count())};
  for (const DeliveryOutcome& o : outcomes) {
    args.push_back(o.delivery_id);
    args.push_back(std::to_string(static_cast<int>(o.state)));
    args.push_back(std::to_string(o.attempt.number));
    args.push_back(o.state == DeliveryState::kPending ? Ms(o.next_attempt_at) : "");
    args.emplace_back(o.gone ? "1" : "0");
    args.push_back(AttemptToJson(o.attempt));
  }
  Result<Reply> r = client_.Eval(redis_scripts::Record(), args);
  // Recorded, no longer ours, or not recorded (Redis away): no longer renewed in any case, so an
  // unrecorded one lapses and is sent again (by any gateway) rather than stay claimed forever.
  MutexLock lock(mu_);
  for (const DeliveryOutcome& o : outcomes) held_.erase(o.delivery_id);
  return r.status();
}

Result<std::optional<Timestamp>> RedisWebhookOutbox::NextDue() {
  {
    MutexLock lock(mu_);
    if (next_due_after_claim_) {
      std::optional<Timestamp> next = *next_due_after_claim_;
      next_due_after_claim_.reset();
      return next;
    }
  }
  ASSIGN_OR_RETURN(Reply r, client_.Eval(redis_scripts::NextDue(), {options_.key_prefix}));
  const int64_t at = ReplyInt(*r);
  if (at < 0) return std::optional<Timestamp>();
  return std::optional<Timestamp>(FromUnixMillis(at));
}

Result<std::vector<DeliveryRecord>> RedisWebhookOutbox::ForTask(const std::string& task_id) {
  RETURN_IF_ERROR(Materialize());
  ASSIGN_OR_RETURN(Reply r, client_.Eval(redis_scripts::ForTask(), {options_.key_prefix, task_id}));
  if (r->type != REDIS_REPLY_ARRAY) return DataLossError("unexpected reply from the log script");
  std::vector<DeliveryRecord> out;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply& row = *r->element[i];
    if (row.type != REDIS_REPLY_ARRAY || row.elements != 3) {
      return DataLossError("unexpected row from the log script");
    }
    std::unordered_map<std::string, std::string> f = Fields(*row.element[1]);
    DeliveryRecord rec;
    WebhookDelivery& d = rec.delivery;
    d.id = ReplyString(*row.element[0]);
    d.task_id = f["task"];
    d.event = f["event"];
    d.url = f["url"];
    d.host = f["host"];
    d.payload = f["payload"];
    d.created_at = FromUnixMillis(ToInt(f["created"]));
    d.attempts = static_cast<int>(ToInt(f["attempts"]));
    const int64_t state = ToInt(f["state"]);
    if (state < 0 || state > static_cast<int64_t>(DeliveryState::kDropped)) {
      return DataLossError("webhook delivery " + d.id + " has an unknown state");
    }
    rec.state = static_cast<DeliveryState>(state);
    if (rec.state == DeliveryState::kPending && !f["next"].empty()) {
      rec.next_attempt_at = FromUnixMillis(ToInt(f["next"]));
    }
    for (const auto& [number, text] : Fields(*row.element[2])) {
      rec.attempts.push_back(AttemptFromJson(static_cast<int>(ToInt(number)), text));
    }
    std::sort(rec.attempts.begin(), rec.attempts.end(),
              [](const WebhookAttempt& a, const WebhookAttempt& b) { return a.number < b.number; });
    out.push_back(std::move(rec));
  }
  return out;
}

void RedisWebhookOutbox::SetWakeup(std::function<void()> wakeup) {
  MutexLock lock(mu_);
  wakeup_ = std::move(wakeup);
}

void RedisWebhookOutbox::Wake() {
  MutexLock lock(mu_);
  if (wakeup_) wakeup_();
}

Result<SigningSecret> RedisWebhookOutbox::SharedSecret(bool* created) {
  const SigningSecret fresh = GenerateSecret();
  ASSIGN_OR_RETURN(Reply set, client_.Command({"SET", SharedSecretKey(), fresh.text, "NX"}));
  if (created) *created = ReplyString(*set) == "OK";
  ASSIGN_OR_RETURN(Reply get, client_.Command({"GET", SharedSecretKey()}));
  Result<SigningSecret> secret = ParseSecret(ReplyString(*get));
  if (!secret.ok()) {
    return DataLossError(SharedSecretKey() +
                         " in Redis is not a signing secret: " + secret.status().message());
  }
  return secret;
}

Status RedisWebhookOutbox::Renew() {
  std::vector<std::string> args = {options_.key_prefix, owner_,
                                   Ms(options_.clock->Now() + options_.claim_lease)};
  {
    MutexLock lock(mu_);
    if (held_.empty()) return Status::Ok();
    args.insert(args.end(), held_.begin(), held_.end());
  }
  ASSIGN_OR_RETURN(Reply lost, client_.Eval(redis_scripts::Renew(), args));
  MutexLock lock(mu_);
  for (size_t i = 0; i < lost->elements; ++i) held_.erase(ReplyString(*lost->element[i]));
  return Status::Ok();
}

void RedisWebhookOutbox::Background() {
  const auto renew_every = options_.claim_lease / 3;
  auto next_renew = std::chrono::steady_clock::now() + renew_every;
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.3f", static_cast<double>(kWakePoll.count()) / 1000);
  while (true) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
    }
    if (std::chrono::steady_clock::now() >= next_renew) {
      if (Status s = Renew(); !s.ok()) {
        LogWarn("webhook claims not renewed", {{"error", s.ToString()}});
      }
      next_renew = std::chrono::steady_clock::now() + renew_every;
    }
    // A state change with a webhook pushes to this list (in the task store's script): wake the
    // dispatcher. With several gateways one of them gets each token, and claims for everyone.
    Result<Reply> r = client_.BlockingCommand({"BLPOP", Key("wh:wake"), seconds}, kWakePoll);
    if (!r.ok()) {  // Redis away: wait a little, then try again
      MutexLock lock(mu_);
      stop_cv_.wait_for(lock.native(), kWakePoll, [this]() REQUIRES(mu_) { return stopping_; });
      continue;
    }
    if ((*r)->type == REDIS_REPLY_ARRAY) Wake();
  }
}

}  // namespace stipple::webhook
