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
using sqlite::TaskRow;
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
Result<std::vector<TaskRow>> SelectTasks(sqlite::Connection& db, const char* sql,
                                         std::optional<int64_t> now) {
  ASSIGN_OR_RETURN(ScopedStatement s, db.Prepare(sql));
  if (now) s->Bind(1, *now).Bind(2, static_cast<int64_t>(kReapBatch));
  std::vector<TaskRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(TaskRow r, sqlite::ReadTaskRow(*s));
    rows.push_back(std::move(r));
  }
  return rows;
}

// Finishes rows read by a write operation into tasks (parsing their requests).
Result<std::vector<Task>> FinishAll(std::vector<TaskRow>& rows) {
  std::vector<Task> tasks;
  for (TaskRow& r : rows) {
    ASSIGN_OR_RETURN(Task t, std::move(r).Finish());
    tasks.push_back(std::move(t));
  }
  return tasks;
}

}  // namespace

// Loads one task, lets `apply` change it and saves it, durably. `apply` returning an error
// changes nothing.
Result<Task> SqliteTaskStore::Transition(const std::string& task_id,
                                         const std::function<Status(Task&)>& apply) {
  TaskRow out;
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        ASSIGN_OR_RETURN(TaskRow row, sqlite::LoadTaskRow(ctx.db, task_id));
        const Task before = row.task;
        RETURN_IF_ERROR(apply(row.task));
        if (row.task == before) {  // e.g. cancel of a finished task: nothing to write
          out = std::move(row);
          return Status::Ok();
        }
        RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, row.task));
        RETURN_IF_ERROR(StateChanged(ctx, row, before.state));
        if (row.task.state == TaskState::kQueued) ctx.work_added = true;
        out = std::move(row);
        return Status::Ok();
      },
      Durability::kSync);
  if (!s.ok()) return s;
  return std::move(out).Finish();
}

Result<HeartbeatReply> SqliteTaskStore::Heartbeat(const std::string& task_id, uint64_t fencing,
                                                  Millis lease_duration,
                                                  std::optional<TaskProgress> progress) {
  RETURN_IF_ERROR(transitions::CheckLeaseDuration(lease_duration));
  HeartbeatReply reply;
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        ASSIGN_OR_RETURN(TaskRow row, sqlite::LoadTaskRow(ctx.db, task_id));
        Task& t = row.task;
        RETURN_IF_ERROR(
            transitions::HeartbeatUnderLease(t, fencing, lease_duration, progress, Now()));
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
  std::vector<Result<TaskRow>> rows;
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        rows.clear();
        Timestamp now = Now();
        for (const Completion& c : completions) {
          auto loaded = sqlite::LoadTaskRow(ctx.db, c.task_id);
          if (!loaded.ok()) {
            rows.emplace_back(loaded.status());
            continue;
          }
          Task& t = loaded->task;
          if (Status done = transitions::CompleteUnderLease(t, c, now); !done.ok()) {
            rows.emplace_back(done);
            continue;
          }
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));  // a SQL error fails the whole batch
          RETURN_IF_ERROR(StateChanged(ctx, *loaded, TaskState::kRunning));
          rows.emplace_back(std::move(*loaded));
        }
        return Status::Ok();
      },
      Durability::kSync);
  if (!s.ok()) return std::vector<Result<Task>>(completions.size(), Result<Task>(s));
  std::vector<Result<Task>> results;
  for (auto& row : rows) {
    if (row.ok()) {
      results.push_back(std::move(*row).Finish());
    } else {
      results.emplace_back(row.status());
    }
  }
  return results;
}

Result<ReapReport> SqliteTaskStore::Reap() {
  // Rows by what happened to them; finished into the report after the write.
  std::vector<TaskRow> requeued, failed, canceled, expired, outputs_expired;
  int dropped = 0;
  Status s = Write(
      [&](WriteContext& ctx) -> Status {
        for (auto* v : {&requeued, &failed, &canceled, &expired, &outputs_expired}) v->clear();
        Timestamp now = Now();
        int64_t now_ms = ToUnixMillis(now);
        ASSIGN_OR_RETURN(auto lapsed, SelectTasks(ctx.db, kLapsed, now_ms));
        for (TaskRow& r : lapsed) {
          // A refused transition leaves the record as it is (logged) and housekeeping goes on.
          if (!transitions::LogRefused(transitions::LapseLease(r.task, now))) continue;
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, r.task));
          RETURN_IF_ERROR(StateChanged(ctx, r, TaskState::kRunning));
          if (r.task.state == TaskState::kQueued) ctx.work_added = true;
          TaskState state = r.task.state;
          (state == TaskState::kQueued     ? requeued
           : state == TaskState::kCanceled ? canceled
                                           : failed)
              .push_back(std::move(r));
        }
        ASSIGN_OR_RETURN(auto ttl_passed, SelectTasks(ctx.db, kTtlPassed, now_ms));
        for (TaskRow& r : ttl_passed) {
          if (!transitions::LogRefused(transitions::Expire(r.task, now))) continue;
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, r.task));
          RETURN_IF_ERROR(StateChanged(ctx, r, TaskState::kQueued));
          expired.push_back(std::move(r));
        }
        ASSIGN_OR_RETURN(outputs_expired, SelectTasks(ctx.db, kRetentionPassed, now_ms));
        for (TaskRow& r : outputs_expired) {
          r.task.outputs_expired = true;
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, r.task));
        }
        ASSIGN_OR_RETURN(ScopedStatement drop, ctx.db.Prepare(kDropIdempotency));
        drop->Bind(1, now_ms);
        RETURN_IF_ERROR(drop->Run());
        dropped = static_cast<int>(ctx.db.Changes());
        return Status::Ok();
      },
      Durability::kSync);
  if (!s.ok()) return s;
  ReapReport report;
  ASSIGN_OR_RETURN(report.requeued, FinishAll(requeued));
  ASSIGN_OR_RETURN(report.failed, FinishAll(failed));
  ASSIGN_OR_RETURN(report.canceled, FinishAll(canceled));
  ASSIGN_OR_RETURN(report.expired, FinishAll(expired));
  ASSIGN_OR_RETURN(report.outputs_expired, FinishAll(outputs_expired));
  report.idempotency_keys_dropped = dropped;
  return report;
}

Status SqliteTaskStore::RecoverLeasesOfEarlierEpochs() {
  return Write(
      [&](WriteContext& ctx) -> Status {
        Timestamp now = Now();
        ASSIGN_OR_RETURN(auto running, SelectTasks(ctx.db, kRunning, std::nullopt));
        for (TaskRow& r : running) {
          Task& t = r.task;
          if (static_cast<int64_t>(t.fencing >> 32) >= epoch_) continue;
          // Its holder died with the earlier process.
          if (!transitions::LogRefused(transitions::LapseLease(t, now))) continue;
          RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, t));
          RETURN_IF_ERROR(StateChanged(ctx, r, TaskState::kRunning));
          if (t.state == TaskState::kQueued) ctx.work_added = true;
        }
        return Status::Ok();
      },
      Durability::kSync);
}

}  // namespace stipple
