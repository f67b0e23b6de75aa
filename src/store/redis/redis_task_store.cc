// RedisTaskStore: opening, enqueue, leasing and the read paths. The other transitions and
// housekeeping are in redis_transitions.cc; the Lua scripts in redis_scripts.cc.
#include "store/redis/redis_task_store.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "common/id.h"
#include "store/redis/redis_scripts.h"
#include "store/transitions.h"

namespace stipple {

using redis::Reply;

namespace {

std::string MsText(Timestamp t) { return std::to_string(ToUnixMillis(t)); }

// A script's {HGETALL, position} pair as a task with queue_position filled while queued.
Result<Task> TaskWithPosition(const redisReply& pair) {
  if (pair.type != REDIS_REPLY_ARRAY || pair.elements != 2) {
    return DataLossError("unexpected reply from the task store's script");
  }
  ASSIGN_OR_RETURN(redis::StoredTask st, redis::TaskFromHash(*pair.element[0]));
  int64_t pos = redis::ReplyInt(*pair.element[1]);
  if (pos >= 0) st.task.queue_position = pos;
  return std::move(st.task);
}

}  // namespace

RedisTaskStore::RedisTaskStore(RedisTaskStoreOptions options, redis::RedisUrl url)
    : options_(std::move(options)),
      client_(redis::RedisClientOptions{.url = std::move(url),
                                        .connect_timeout = options_.connect_timeout,
                                        .command_timeout = options_.command_timeout}) {}

Result<std::unique_ptr<RedisTaskStore>> RedisTaskStore::Open(const RedisTaskStoreOptions& options) {
  ASSIGN_OR_RETURN(redis::RedisUrl url, redis::ParseRedisUrl(options.url));
  auto store = std::unique_ptr<RedisTaskStore>(new RedisTaskStore(options, url));
  ASSIGN_OR_RETURN(Reply info, store->client_.Command({"INFO", "server"}));
  std::string text = redis::ReplyString(*info);
  size_t at = text.find("redis_version:");
  int major = 0, minor = 0;
  if (at != std::string::npos) {
    std::sscanf(text.c_str() + at, "redis_version:%d.%d", &major, &minor);
  }
  if (major < 6 || (major == 6 && minor < 2)) {
    return FailedPreconditionError("the Redis task store needs Redis 6.2 or later; " +
                                   url.Redacted() + " is " + std::to_string(major) + "." +
                                   std::to_string(minor));
  }
  return store;
}

Result<EnqueueResult> RedisTaskStore::Enqueue(const NewTask& nt) {
  Timestamp now = Now();
  EnqueueResult out;
  ASSIGN_OR_RETURN(out.task, transitions::NewQueuedTask(nt, now));
  Task& t = out.task;

  std::vector<std::string> args = {options_.key_prefix,
                                   nt.id,
                                   nt.tenant,
                                   nt.idempotency_key,
                                   nt.request_fingerprint,
                                   MsText(now),
                                   MsText(now + options_.idempotency_ttl),
                                   std::to_string(options_.idempotency_ttl.count()),
                                   std::to_string(options_.task_retention.count()),
                                   std::to_string(std::max<int64_t>(0, nt.max_queued)),
                                   std::to_string(std::max<int64_t>(0, nt.tenant_max_queued))};
  for (auto& [name, value] : redis::TaskToFields(t)) {
    args.push_back(std::move(name));
    args.push_back(std::move(value));
  }
  ASSIGN_OR_RETURN(Reply r, client_.Eval(redis::scripts::Enqueue(), args));
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
    return DataLossError("unexpected reply from the enqueue script");
  }
  const int64_t kind = redis::ReplyInt(*r->element[0]);
  if (kind == 0 && r->elements == 2) {
    ASSIGN_OR_RETURN(redis::StoredTask original, redis::TaskFromHash(*r->element[1]));
    out.task = std::move(original.task);
    out.created = false;
  } else if (kind == 1 && r->elements == 2) {
    out.task.queue_position = redis::ReplyInt(*r->element[1]);
  } else if (kind == 2 && r->elements == 4) {
    out.refused =
        AdmissionRefusal{redis::ReplyInt(*r->element[1]) == 1, redis::ReplyInt(*r->element[2]),
                         redis::ReplyInt(*r->element[3])};
  } else {
    return DataLossError("unexpected reply from the enqueue script");
  }
  return out;
}

Result<Task> RedisTaskStore::Get(const std::string& task_id) {
  ASSIGN_OR_RETURN(Reply r, client_.Eval(redis::scripts::Get(), {options_.key_prefix, task_id}));
  return TaskWithPosition(*r);
}

Result<redis::StoredTask> RedisTaskStore::Load(const std::string& task_id) {
  ASSIGN_OR_RETURN(Reply r, client_.Command({"HGETALL", options_.key_prefix + "task:" + task_id}));
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) return NotFoundError("no task " + task_id);
  return redis::TaskFromHash(*r);
}

std::optional<redis::StoredTask> RedisTaskStore::Recall(const std::string& task_id) {
  const uint64_t connections = client_.connections_opened();
  MutexLock lock(remembered_mu_);
  auto it = remembered_.find(task_id);
  if (it == remembered_.end()) return std::nullopt;
  if (it->second.connections != connections) {
    remembered_.erase(it);  // from before a reconnection: Redis may have restarted since
    return std::nullopt;
  }
  return it->second.stored;
}

void RedisTaskStore::Remember(const redis::StoredTask& stored, uint64_t connections) {
  MutexLock lock(remembered_mu_);
  if (stored.task.state != TaskState::kRunning) {
    remembered_.erase(stored.task.id);
    return;
  }
  if (remembered_.size() >= kMaxRemembered) remembered_.clear();
  remembered_.insert_or_assign(stored.task.id, Remembered{stored, connections});
}

void RedisTaskStore::Forget(const std::string& task_id) {
  MutexLock lock(remembered_mu_);
  remembered_.erase(task_id);
}

Result<RedisTaskStore::LeasePass> RedisTaskStore::LeaseOnce(
    const LeaseRequest& req, const std::vector<std::string>& models) {
  Timestamp now = Now();
  std::vector<std::string> args = {options_.key_prefix, MsText(now), req.worker_id,
                                   MsText(now + req.lease_duration), std::to_string(req.max_tasks)};
  args.insert(args.end(), models.begin(), models.end());
  const uint64_t connections = client_.connections_opened();
  ASSIGN_OR_RETURN(Reply r, client_.Eval(redis::scripts::Lease(), args));
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_ARRAY) {
    return DataLossError("unexpected reply from the lease script");
  }
  LeasePass pass;
  const redisReply& leased = *r->element[0];
  for (size_t i = 0; i < leased.elements; ++i) {
    ASSIGN_OR_RETURN(redis::StoredTask st, redis::TaskFromHash(*leased.element[i]));
    Remember(st, connections);
    pass.leased.push_back(LeasedTask{std::move(st.task)});
  }
  int64_t next = redis::ReplyInt(*r->element[1]);
  if (next >= 0) pass.next_ready = FromUnixMillis(next);
  return pass;
}

Result<std::vector<LeasedTask>> RedisTaskStore::Lease(const LeaseRequest& req) {
  ASSIGN_OR_RETURN(const std::vector<std::string> models, transitions::CheckLeaseRequest(req));
  const auto deadline = std::chrono::steady_clock::now() + req.wait;
  while (true) {
    ASSIGN_OR_RETURN(LeasePass pass, LeaseOnce(req, models));
    auto steady_now = std::chrono::steady_clock::now();
    if (!pass.leased.empty() || steady_now >= deadline) return std::move(pass.leased);

    // Block on the models' wake-up lists (every script that makes a task leasable pushes to its
    // model's list), until a retry backoff ends, the poll interval passes or the wait runs out.
    auto wake = std::min<std::chrono::steady_clock::time_point>(
        deadline, steady_now + options_.max_lease_poll);
    if (pass.next_ready) {
      wake = std::min(wake, steady_now + std::max(Millis(1), *pass.next_ready - Now()));
    }
    auto timeout = std::chrono::duration_cast<Millis>(wake - steady_now);
    if (timeout < Millis(1)) timeout = Millis(1);
    std::vector<std::string> cmd = {"BLPOP"};
    for (const std::string& m : models) cmd.push_back(options_.key_prefix + "wake:" + m);
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.3f", static_cast<double>(timeout.count()) / 1000);
    cmd.push_back(seconds);
    RETURN_IF_ERROR(client_.BlockingCommand(cmd, timeout));
  }
}

Result<TaskPage> RedisTaskStore::List(const ListQuery& q) {
  if (q.limit < 1 || q.limit > 100) {
    return InvalidArgumentError("invalid list query", {{"limit", "must be between 1 and 100"}});
  }
  if (!q.cursor.empty() && !IsValidId(q.cursor, "tsk")) {
    return InvalidArgumentError("invalid list query",
                                {{"cursor", "is not a cursor from a previous page"}});
  }
  std::string state = q.state ? std::to_string(static_cast<int>(*q.state)) : "";
  ASSIGN_OR_RETURN(
      Reply r, client_.Eval(redis::scripts::List(), {options_.key_prefix, q.tenant, state, q.cursor,
                                                     std::to_string(q.limit + 1)}));
  if (r->type != REDIS_REPLY_ARRAY) return DataLossError("unexpected reply from the list script");
  TaskPage page;
  for (size_t i = 0; i < r->elements; ++i) {
    ASSIGN_OR_RETURN(Task t, TaskWithPosition(*r->element[i]));
    page.tasks.push_back(std::move(t));
  }
  if (static_cast<int>(page.tasks.size()) > q.limit) {
    page.tasks.pop_back();
    page.next_cursor = page.tasks.back().id;
  }
  return page;
}

Result<std::vector<QueueCounts>> RedisTaskStore::Counts() {
  ASSIGN_OR_RETURN(Reply r, client_.Eval(redis::scripts::Counts(), {options_.key_prefix}));
  if (r->type != REDIS_REPLY_ARRAY) return DataLossError("unexpected reply from the count script");
  std::vector<QueueCounts> out;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply& row = *r->element[i];
    if (row.type != REDIS_REPLY_ARRAY || row.elements != 6) {
      return DataLossError("unexpected row from the count script");
    }
    QueueCounts c;
    c.model = redis::ReplyString(*row.element[0]);
    for (int p = 0; p < 3; ++p) c.queued[p] = redis::ReplyInt(*row.element[1 + p]);
    c.running = redis::ReplyInt(*row.element[4]);
    int64_t oldest = redis::ReplyInt(*row.element[5]);
    if (oldest >= 0) c.oldest_queued_at = FromUnixMillis(oldest);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace stipple
