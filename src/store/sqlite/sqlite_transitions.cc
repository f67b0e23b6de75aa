// SqliteTaskStore: the transitions of a leased or queued task, housekeeping and crash recovery.
// Each loads the task, applies a rule from store/transitions.h and saves it, inside one write
// operation of the group committer.
#include <functional>

#include "store/sqlite/sqlite_task_store.h"
#include "store/sqlite/task_rows.h"
#include "store/transitions.h"

namespace stipple {

using sqlite::Durability;
using sqlite::ScopedStatement;
using sqlite::WriteContext;

namespace {

constexpr int kReapBatch = 1000;  // rows of each kind per Reap call, to bound one transaction

constexpr char kRunning[] = "SELECT " STIPPLE_TASK_COLUMNS " FROM tasks WHERE state=1";
constexpr char kLapsed[] =
    "SELECT " STIPPLE_TASK_COLUMNS " FROM tasks WHERE state=1 AND lease_expires_at<=?1 LIMIT ?2";
constexpr char kTtlPassed[] = "SELECT " STIPPLE_TASK_COLUMNS
                              " FROM tasks WHERE state=0 AND expires_at IS NOT NULL AND started_at "
                              "IS NULL AND expires_at<=?1 "
                              "LIMIT ?2";
constexpr char kRetentionPassed[] = "SELECT " STIPPLE_TASK_COLUMNS
                                    " FROM tasks WHERE outputs_expired=0 AND outputs_expire_at IS "
                                    "NOT NULL AND outputs_expire_at<=?1 "
                                    "LIMIT ?2";
constexpr char kDropIdempotency[] = "DELETE FROM idempotency WHERE expires_at<=?1";

// Runs a SELECT of task rows to completion (so the rows can then be updated).
Result<std::vector<Task>> SelectTasks(sqlite::Connection& db, const char* sql,
                                      std::optional<int64_t> now) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(sql));
  if (now) s->Bind(1, *now).Bind(2, static_cast<int64_t>(kReapBatch));
  std::vector<Task> tasks;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(Task t, sqlite::ReadTask(*s));
    tasks.push_back(std::move(t));
  }
  return tasks;
}

}  // namespace

// Loads one task, lets `apply` change it and saves it, durably. `apply` returning an error
// changes nothing.
Result<Task> SqliteTaskStore::Transition(const std::string& task_id,
                                         const std::function<Status(Task&)>& apply) {
  Task out;
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        ASSIGN_OR_RETURN(Task t, sqlite::LoadTask(ctx.db, task_id));
        RETURN_IF_ERROR(apply(t));
        RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));
        if (t.state == TaskState::kQueued) ctx.work_added = true;
        out = std::move(t);
        return Status::Ok();
      },
      Durability::kSync);
  if (!s.ok()) return s;
  return out;
}

Result<HeartbeatReply> SqliteTaskStore::Heartbeat(const std::string& task_id, uint64_t fencing,
                                                  Millis lease_duration,
                                                  std::optional<TaskProgress> progress) {
  RETURN_IF_ERROR(CheckLeaseDuration(lease_duration));
  HeartbeatReply reply;
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        ASSIGN_OR_RETURN(Task t, sqlite::LoadTask(ctx.db, task_id));
        RETURN_IF_ERROR(transitions::CheckLease(t, fencing));
        t.lease_expires_at = Now() + lease_duration;
        if (progress) t.progress = progress;
        RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));
        reply.lease_expires_at = *t.lease_expires_at;
        reply.cancel_requested = t.cancel_requested;
        return Status::Ok();
      },
      Durability::kLazy);
  if (!s.ok()) return s;
  return reply;
}

std::vector<Result<Task>> SqliteTaskStore::Complete(std::span<const Completion> completions) {
  std::vector<Result<Task>> results;
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        results.clear();
        Timestamp now = Now();
        for (const Completion& c : completions) {
          auto loaded = sqlite::LoadTask(ctx.db, c.task_id);
          if (!loaded.ok()) {
            results.emplace_back(loaded.status());
            continue;
          }
          Task& t = *loaded;
          if (Status lease = transitions::CheckLease(t, c.fencing); !lease.ok()) {
            results.emplace_back(lease);
            continue;
          }
          transitions::Complete(t, c, now);
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));  // a SQL error fails the whole batch
          results.emplace_back(std::move(t));
        }
        return Status::Ok();
      },
      Durability::kSync);
  if (!s.ok()) return std::vector<Result<Task>>(completions.size(), Result<Task>(s));
  return results;
}

Result<Task> SqliteTaskStore::Fail(const Failure& failure) {
  return Transition(failure.task_id, [&](Task& t) {
    RETURN_IF_ERROR(transitions::CheckLease(t, failure.fencing));
    transitions::Fail(t, failure, Now());
    return Status::Ok();
  });
}

Result<Task> SqliteTaskStore::Release(const std::string& task_id, uint64_t fencing) {
  return Transition(task_id, [&](Task& t) {
    RETURN_IF_ERROR(transitions::CheckLease(t, fencing));
    transitions::Release(t, Now());
    return Status::Ok();
  });
}

Result<Task> SqliteTaskStore::MarkCanceled(const std::string& task_id, uint64_t fencing) {
  return Transition(task_id, [&](Task& t) {
    RETURN_IF_ERROR(transitions::CheckLease(t, fencing));
    if (!t.cancel_requested)
      return FailedPreconditionError("task " + task_id + " has no cancel request");
    transitions::MarkCanceled(t, Now());
    return Status::Ok();
  });
}

Result<CancelResult> SqliteTaskStore::Cancel(const std::string& task_id) {
  bool terminal = false;
  auto task = Transition(task_id, [&](Task& t) {
    terminal = IsTerminal(t.state);
    transitions::Cancel(t, Now());
    return Status::Ok();
  });
  if (!task.ok()) return task.status();
  return CancelResult{std::move(*task), terminal};
}

Result<ReapReport> SqliteTaskStore::Reap() {
  ReapReport report;
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        report = ReapReport{};
        Timestamp now = Now();
        int64_t now_ms = ToUnixMillis(now);
        ASSIGN_OR_RETURN(auto lapsed, SelectTasks(ctx.db, kLapsed, now_ms));
        for (Task& t : lapsed) {
          transitions::LapseLease(t, now);
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));
          if (t.state == TaskState::kQueued) {
            ctx.work_added = true;
            report.requeued.push_back(std::move(t));
          } else if (t.state == TaskState::kCanceled) {
            report.canceled.push_back(std::move(t));
          } else {
            report.failed.push_back(std::move(t));
          }
        }
        ASSIGN_OR_RETURN(auto stale, SelectTasks(ctx.db, kTtlPassed, now_ms));
        for (Task& t : stale) {
          transitions::Expire(t, now);
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));
          report.expired.push_back(std::move(t));
        }
        ASSIGN_OR_RETURN(auto retained, SelectTasks(ctx.db, kRetentionPassed, now_ms));
        for (Task& t : retained) {
          t.outputs_expired = true;
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));
          report.outputs_expired.push_back(std::move(t));
        }
        ASSIGN_OR_RETURN(ScopedStatement drop, ctx.db.Prepare(kDropIdempotency));
        drop->Bind(1, now_ms);
        RETURN_IF_ERROR(drop->Run());
        report.idempotency_keys_dropped = static_cast<int>(ctx.db.Changes());
        return Status::Ok();
      },
      Durability::kSync);
  if (!s.ok()) return s;
  return report;
}

Status SqliteTaskStore::RecoverLeasesOfEarlierEpochs() {
  return Write(
      [&](WriteContext& ctx) -> Status {
        Timestamp now = Now();
        ASSIGN_OR_RETURN(auto running, SelectTasks(ctx.db, kRunning, std::nullopt));
        for (Task& t : running) {
          if (static_cast<int64_t>(t.fencing >> 32) >= epoch_) continue;
          transitions::LapseLease(t, now);  // its holder died with the earlier process
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));
          if (t.state == TaskState::kQueued) ctx.work_added = true;
        }
        return Status::Ok();
      },
      Durability::kSync);
}

}  // namespace stipple
