// SqliteTaskStore: leasing, and the hand-off of new work to Lease calls already waiting.
#include <algorithm>

#include "store/sqlite/sqlite_task_store.h"
#include "store/transitions.h"

namespace stipple {

using sqlite::Durability;
using sqlite::ScopedStatement;
using sqlite::TaskRow;
using sqlite::WriteContext;

namespace {

constexpr char kLeaseCandidates[] =
    "SELECT priority, id FROM tasks WHERE state=0 AND model=?1 "
    "AND (not_before IS NULL OR not_before<=?2) "
    "AND (expires_at IS NULL OR expires_at>?2 OR started_at IS NOT NULL) "
    "ORDER BY priority, id LIMIT ?3";

constexpr char kNextReady[] =
    "SELECT MIN(not_before) FROM tasks WHERE state=0 AND model=?1 AND not_before>?2";

Result<std::vector<LeasedTask>> Finish(std::vector<TaskRow>& rows) {
  std::vector<LeasedTask> out;
  for (TaskRow& row : rows) {
    ASSIGN_OR_RETURN(Task t, std::move(row).Finish());
    out.push_back(LeasedTask{std::move(t)});
  }
  return out;
}

}  // namespace

Result<std::vector<TaskRow>> SqliteTaskStore::LeaseRows(WriteContext& ctx, const LeaseRequest& req,
                                                        const std::vector<std::string>& models,
                                                        Timestamp now) {
  std::vector<std::pair<int64_t, std::string>> candidates;  // (priority, id)
  for (const std::string& model : models) {
    ASSIGN_OR_RETURN(ScopedStatement q, ctx.db.Prepare(kLeaseCandidates));
    q->Bind(1, model).Bind(2, ToUnixMillis(now)).Bind(3, static_cast<int64_t>(req.max_tasks));
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      candidates.emplace_back(q->Int(0), q->Text(1));
    }
  }
  std::sort(candidates.begin(), candidates.end());
  if (static_cast<int>(candidates.size()) > req.max_tasks) {
    candidates.resize(static_cast<size_t>(req.max_tasks));
  }
  std::vector<TaskRow> leased;
  for (const auto& c : candidates) {
    ASSIGN_OR_RETURN(TaskRow row, sqlite::LoadTaskRow(ctx.db, c.second));
    if (!transitions::IsLeasable(row.task, now)) continue;
    ASSIGN_OR_RETURN(uint64_t fencing, NextFencing());
    if (!transitions::LogRefused(
            transitions::Lease(row.task, req.worker_id, fencing, now, req.lease_duration))) {
      continue;
    }
    RETURN_IF_ERROR(sqlite::UpdateTask(ctx.db, row.task));
    RETURN_IF_ERROR(StateChanged(ctx, row, TaskState::kQueued));
    leased.push_back(std::move(row));
  }
  return leased;
}

Result<std::optional<Timestamp>> SqliteTaskStore::NextReady(WriteContext& ctx,
                                                            const std::vector<std::string>& models,
                                                            Timestamp now) {
  std::optional<Timestamp> next;
  for (const std::string& model : models) {
    ASSIGN_OR_RETURN(ScopedStatement q, ctx.db.Prepare(kNextReady));
    q->Bind(1, model).Bind(2, ToUnixMillis(now));
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row || q->IsNull(0)) continue;
    Timestamp ready = FromUnixMillis(q->Int(0));
    if (!next || ready < *next) next = ready;
  }
  return next;
}

Result<std::vector<LeasedTask>> SqliteTaskStore::Lease(const LeaseRequest& req) {
  ASSIGN_OR_RETURN(const std::vector<std::string> models, transitions::CheckLeaseRequest(req));
  auto deadline = std::chrono::steady_clock::now() + req.wait;
  LeaseWaiter waiter{&req, &models};

  while (true) {
    uint64_t generation;
    {
      MutexLock lock(work_mu_);
      generation = work_generation_;
    }
    std::vector<TaskRow> leased;
    std::optional<Timestamp> next_ready;  // the earliest retry backoff still running
    Status s = Write(
        [&](WriteContext& ctx) -> Status {
          Timestamp now = Now();
          ASSIGN_OR_RETURN(leased, LeaseRows(ctx, req, models, now));
          if (leased.empty() && req.wait > Millis(0)) {
            ASSIGN_OR_RETURN(next_ready, NextReady(ctx, models, now));
          }
          return Status::Ok();
        },
        Durability::kLazy);
    if (!s.ok()) return s;
    auto steady_now = std::chrono::steady_clock::now();
    if (!leased.empty() || steady_now >= deadline) return Finish(leased);

    // Wait to be handed work by the batch that adds it, until a backoff ends or the wait runs
    // out; then look again (also once more at the deadline).
    auto wake = deadline;
    if (next_ready) wake = std::min(wake, steady_now + std::max(Millis(1), *next_ready - Now()));
    MutexLock lock(work_mu_);
    if (work_generation_ != generation) continue;  // work arrived since we looked
    waiter.state = LeaseWaiter::State::kWaiting;
    waiters_.push_back(&waiter);
    work_cv_.wait_until(lock.native(), wake, [&]() REQUIRES(work_mu_) {
      return waiter.state == LeaseWaiter::State::kServed || work_generation_ != generation;
    });
    // A batch may be leasing for this call right now: its answer must not be lost.
    work_cv_.wait(lock.native(), [&]() REQUIRES(work_mu_) {
      return waiter.state != LeaseWaiter::State::kClaimed;
    });
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
    if (waiter.state == LeaseWaiter::State::kServed) {
      lock.Unlock();
      return Finish(waiter.rows);
    }
  }
}

Status SqliteTaskStore::BeforeCommit(WriteContext& ctx) {
  {
    MutexLock lock(work_mu_);
    for (LeaseWaiter* w : waiters_) {
      if (w->state != LeaseWaiter::State::kWaiting) continue;
      w->state = LeaseWaiter::State::kClaimed;
      handoffs_.emplace_back(w, std::vector<TaskRow>{});
    }
  }
  Timestamp now = Now();
  const size_t mark = batch_changes_.size();  // a failing hook is undone alone
  for (auto& [waiter, rows] : handoffs_) {
    auto leased = LeaseRows(ctx, *waiter->request, *waiter->models, now);
    if (!leased.ok()) {
      batch_changes_.resize(mark);
      return leased.status();
    }
    rows = std::move(*leased);
  }
  return Status::Ok();
}

void SqliteTaskStore::AfterCommit(bool handoffs_committed) {
  {
    MutexLock lock(work_mu_);
    for (auto& [waiter, rows] : handoffs_) {
      if (handoffs_committed && !rows.empty()) {
        waiter->rows = std::move(rows);
        waiter->state = LeaseWaiter::State::kServed;
      } else {
        waiter->state = LeaseWaiter::State::kWaiting;
      }
    }
    ++work_generation_;
  }
  handoffs_.clear();
  work_cv_.notify_all();
}

}  // namespace stipple
