// RedisTaskStore: the transitions of a leased or queued task, and housekeeping. Each loads the
// task, applies a rule from store/transitions.h and saves it with the compare-and-set script.
#include <functional>
#include <optional>

#include "store/redis/redis_scripts.h"
#include "store/redis/redis_task_store.h"
#include "store/transitions.h"

namespace stipple {

using redis::Reply;

namespace {

constexpr int kReapBatch = 1000;        // tasks of each kind per Reap call
constexpr int kMaxSaveConflicts = 100;  // compare-and-set retries before giving up

}  // namespace

Result<Task> RedisTaskStore::Transition(const std::string& task_id,
                                        const std::function<Status(Task&)>& apply, bool* changed) {
  if (changed) *changed = false;
  for (int attempt = 0; attempt < kMaxSaveConflicts; ++attempt) {
    // The first try may start from the remembered record: one round trip instead of two.
    std::optional<redis::StoredTask> recalled = attempt == 0 ? Recall(task_id) : std::nullopt;
    const bool remembered = recalled.has_value();
    redis::StoredTask stored;
    if (remembered) {
      stored = std::move(*recalled);
    } else {
      ASSIGN_OR_RETURN(stored, Load(task_id));
    }
    const Task before = stored.task;
    Status applied = apply(stored.task);
    if (remembered && (!applied.ok() || stored.task == before)) {
      Forget(task_id);  // a refusal or a no-op is only believed on a freshly loaded record
      continue;
    }
    RETURN_IF_ERROR(applied);
    if (stored.task == before) return std::move(stored.task);  // nothing to write
    std::vector<std::string> args = {options_.key_prefix, task_id, std::to_string(stored.version),
                                     std::to_string(options_.task_retention.count())};
    for (auto& [name, value] : redis::TaskToFields(stored.task)) {
      args.push_back(std::move(name));
      args.push_back(std::move(value));
    }
    const uint64_t connections = client_.connections_opened();
    Result<Reply> r = client_.Eval(redis::scripts::Save(), args);
    if (!r.ok()) {
      Forget(task_id);
      return r.status();
    }
    if (redis::ReplyInt(**r) == 1) {
      if (changed) *changed = true;
      Remember({stored.task, stored.version + 1}, connections);  // the script adds 1 to v
      return std::move(stored.task);
    }
    // Another call changed the task between our load and our save: load it again.
    Forget(task_id);
  }
  return UnavailableError("task " + task_id + " kept changing under concurrent updates; retry");
}

Result<HeartbeatReply> RedisTaskStore::Heartbeat(const std::string& task_id, uint64_t fencing,
                                                 Millis lease_duration,
                                                 std::optional<TaskProgress> progress) {
  RETURN_IF_ERROR(transitions::CheckLeaseDuration(lease_duration));
  ASSIGN_OR_RETURN(Task t, Transition(task_id, [&](Task& t) {
                     return transitions::HeartbeatUnderLease(t, fencing, lease_duration, progress,
                                                             Now());
                   }));
  return HeartbeatReply{*t.lease_expires_at, t.cancel_requested};
}

// A batch in at most two round trips: the tasks not remembered loaded in one pipeline, then every
// compare-and-set in one script call (SaveBatch). A completion whose task changed in between
// goes through the one-at-a-time path, which reloads and retries.
std::vector<Result<Task>> RedisTaskStore::Complete(std::span<const Completion> completions) {
  const Timestamp now = Now();
  auto one = [&](const Completion& c) {
    return Transition(c.task_id,
                      [&](Task& t) { return transitions::CompleteUnderLease(t, c, Now()); });
  };
  // A remembered record is used only when the rule accepts it; otherwise the task is loaded.
  std::vector<std::optional<redis::StoredTask>> stored(completions.size());
  std::vector<size_t> loading;
  std::vector<std::vector<std::string>> loads;
  for (size_t i = 0; i < completions.size(); ++i) {
    const Completion& c = completions[i];
    stored[i] = Recall(c.task_id);
    if (stored[i] && transitions::CheckLease(stored[i]->task, c.fencing).ok()) continue;
    stored[i].reset();
    loading.push_back(i);
    loads.push_back({"HGETALL", options_.key_prefix + "task:" + c.task_id});
  }
  std::vector<Result<Reply>> loaded =
      loads.empty() ? std::vector<Result<Reply>>{} : client_.Pipeline(loads);
  std::vector<std::optional<Result<Task>>> results(completions.size());
  for (size_t k = 0; k < loading.size(); ++k) {
    const size_t i = loading[k];
    if (!loaded[k].ok()) {
      results[i].emplace(loaded[k].status());
    } else if ((*loaded[k])->type == REDIS_REPLY_ARRAY && (*loaded[k])->elements == 0) {
      results[i].emplace(NotFoundError("no task " + completions[i].task_id));
    } else if (auto st = redis::TaskFromHash(**loaded[k]); !st.ok()) {
      results[i].emplace(st.status());
    } else {
      stored[i] = std::move(*st);
    }
  }
  std::vector<size_t> saving;
  std::vector<std::string> args = {options_.key_prefix,
                                   std::to_string(options_.task_retention.count())};
  for (size_t i = 0; i < completions.size(); ++i) {
    if (results[i]) continue;
    const Completion& c = completions[i];
    if (Status done = transitions::CompleteUnderLease(stored[i]->task, c, now); !done.ok()) {
      results[i].emplace(done);
      continue;
    }
    auto fields = redis::TaskToFields(stored[i]->task);
    args.push_back(c.task_id);
    args.push_back(std::to_string(stored[i]->version));
    args.push_back(std::to_string(2 * fields.size()));
    for (auto& [name, value] : fields) {
      args.push_back(std::move(name));
      args.push_back(std::move(value));
    }
    saving.push_back(i);
  }
  if (!saving.empty()) {
    // Every compare-and-set of the batch in one script call.
    Result<Reply> saved = client_.Eval(redis::scripts::SaveBatch(), args);
    const bool answered =
        saved.ok() && (*saved)->type == REDIS_REPLY_ARRAY && (*saved)->elements == saving.size();
    for (size_t k = 0; k < saving.size(); ++k) {
      const size_t i = saving[k];
      Forget(completions[i].task_id);  // succeeded, or about to be reloaded
      if (answered && redis::ReplyInt(*(*saved)->element[k]) == 1) {
        results[i].emplace(std::move(stored[i]->task));
      } else if (answered && redis::ReplyInt(*(*saved)->element[k]) == -1) {
        results[i].emplace(NotFoundError("no task " + completions[i].task_id));
      } else if (!saved.ok() && saved.status().code() == StatusCode::kUnavailable) {
        results[i].emplace(saved.status());
      } else {
        results[i].emplace(one(completions[i]));  // changed meanwhile: one at a time
      }
    }
  }
  std::vector<Result<Task>> out;
  out.reserve(completions.size());
  for (auto& r : results) out.push_back(std::move(*r));
  return out;
}

Result<std::vector<std::string>> RedisTaskStore::DueIds(const std::string& index, Timestamp now,
                                                        int limit) {
  ASSIGN_OR_RETURN(Reply r, client_.Command({"ZRANGEBYSCORE", options_.key_prefix + index, "-inf",
                                             std::to_string(ToUnixMillis(now)), "LIMIT", "0",
                                             std::to_string(limit)}));
  std::vector<std::string> ids;
  for (size_t i = 0; i < r->elements; ++i) ids.push_back(redis::ReplyString(*r->element[i]));
  return ids;
}

Result<ReapReport> RedisTaskStore::Reap() {
  ReapReport report;
  const Timestamp now = Now();
  // Another gateway may reap the same task at the same time: the compare-and-set lets exactly one
  // of them change it, and only the one that changed it reports it. A task that no longer
  // qualifies when loaded (heartbeat, completion in between) is left as it is.
  ASSIGN_OR_RETURN(auto lapsed, DueIds("leases", now, kReapBatch));
  for (const std::string& id : lapsed) {
    bool changed = false;
    auto t = Transition(
        id,
        [&](Task& t) {
          if (transitions::IsLapsed(t, now)) {
            (void)transitions::LogRefused(transitions::LapseLease(t, now));  // refused: unchanged
          }
          return Status::Ok();
        },
        &changed);
    if (!t.ok() && t.status().code() == StatusCode::kNotFound) continue;
    if (!t.ok()) return t.status();
    if (!changed) continue;
    (t->state == TaskState::kQueued     ? report.requeued
     : t->state == TaskState::kCanceled ? report.canceled
                                        : report.failed)
        .push_back(std::move(*t));
  }
  ASSIGN_OR_RETURN(auto ttl_passed, DueIds("ttl", now, kReapBatch));
  for (const std::string& id : ttl_passed) {
    bool changed = false;
    auto t = Transition(
        id,
        [&](Task& t) {
          if (transitions::IsPastTtl(t, now)) {
            (void)transitions::LogRefused(transitions::Expire(t, now));
          }
          return Status::Ok();
        },
        &changed);
    if (!t.ok() && t.status().code() == StatusCode::kNotFound) continue;
    if (!t.ok()) return t.status();
    if (changed) report.expired.push_back(std::move(*t));
  }
  ASSIGN_OR_RETURN(auto retention_passed, DueIds("retention", now, kReapBatch));
  for (const std::string& id : retention_passed) {
    bool changed = false;
    auto t = Transition(
        id,
        [&](Task& t) {
          if (!t.outputs_expired && t.outputs_expire_at && *t.outputs_expire_at <= now) {
            t.outputs_expired = true;
          }
          return Status::Ok();
        },
        &changed);
    if (!t.ok() && t.status().code() == StatusCode::kNotFound) continue;
    if (!t.ok()) return t.status();
    if (changed) report.outputs_expired.push_back(std::move(*t));
  }
  ASSIGN_OR_RETURN(Reply r, client_.Eval(redis::scripts::Housekeeping(),
                                         {options_.key_prefix, std::to_string(ToUnixMillis(now)),
                                          std::to_string(kReapBatch)}));
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
    report.idempotency_keys_dropped = static_cast<int>(redis::ReplyInt(*r->element[0]));
  }
  return report;
}

}  // namespace stipple
