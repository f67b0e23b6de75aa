#include "store/sqlite/group_commit.h"

#include <pthread.h>

namespace stipple::sqlite {

// One caller's operation. The caller waits on `cv` under `mu` (its own mutex, so answering a
// batch never holds the queue's lock); the writer touches it for the last time while holding
// `mu`, after which the caller may return and destroy it.
struct GroupCommitter::Pending {
  Operation op;
  Durability durability;
  Status status;
  Mutex mu;
  std::condition_variable cv;
  bool done GUARDED_BY(mu) = false;
};

GroupCommitter::GroupCommitter(std::unique_ptr<Connection> db, Options options, WorkHooks* hooks)
    : db_(std::move(db)), options_(options), hooks_(hooks) {
  if (options_.batching) {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "stipple-commit");
      Loop();
    });
  }
}

GroupCommitter::~GroupCommitter() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status GroupCommitter::Run(Operation op, Durability durability) {
  Pending p{std::move(op), durability};
  if (!options_.batching) {
    MutexLock direct(direct_mu_);
    std::vector<Pending*> one{&p};
    RunAndEnd(one);
    return p.status;
  }
  {
    MutexLock lock(mu_);
    if (stopping_) return UnavailableError("task store is closing");
    queue_.push_back(&p);
  }
  cv_.notify_one();
  MutexLock lock(p.mu);
  p.cv.wait(lock.native(), [&]() REQUIRES(p.mu) { return p.done; });
  return p.status;
}

GroupCommitStats GroupCommitter::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

void GroupCommitter::Loop() {
  std::vector<Pending*> batch;
  while (true) {
    {
      MutexLock lock(mu_);
      cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    RunAndEnd(batch);
    for (Pending* p : batch) {
      MutexLock lock(p->mu);
      p->done = true;
      p->cv.notify_one();
    }
    batch.clear();
  }
}

void GroupCommitter::RunAndEnd(std::vector<Pending*>& batch) {
  bool committed = RunBatch(batch);
  if (hooks_) hooks_->BatchEnded(committed);
}

bool GroupCommitter::RunBatch(std::vector<Pending*>& batch) {
  auto fail_all = [&](const Status& s) {
    for (Pending* p : batch) p->status = s;
    return false;
  };
  // The naive mode is the baseline "one transaction and one fsync per transition": every
  // operation is synced whatever it asked for.
  bool sync = !options_.batching;
  for (Pending* p : batch) sync |= (p->durability == Durability::kSync);
  sync &= options_.sync_full;
  if (sync != current_sync_) {
    Status s = db_->Exec(sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    if (!s.ok()) return fail_all(s);
    current_sync_ = sync;
  }
  Status begin = db_->Run("BEGIN IMMEDIATE");
  if (!begin.ok()) return fail_all(begin);

  WriteContext ctx{*db_};
  bool alone = batch.size() == 1;  // the transaction itself is its savepoint
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending* p = batch[i];
    bool added_before = ctx.work_added;
    Status s = alone ? Status::Ok() : db_->Run("SAVEPOINT op");
    if (s.ok()) s = p->op(ctx);
    if (!s.ok()) ctx.work_added = added_before;
    if (sqlite3_get_autocommit(db_->raw())) {
      // Some errors (I/O, full disk, out of memory) make SQLite roll back the whole transaction:
      // nothing of this batch was written, and what follows must not run outside a transaction.
      Status lost = s.ok() ? UnavailableError("the transaction was rolled back") : s;
      for (size_t j = 0; j < batch.size(); ++j) {
        batch[j]->status = (j == i) ? lost : lost.WithContext("batch rolled back");
      }
      return false;
    }
    if (!alone) {
      // A failed operation is undone back to its savepoint; either way the savepoint is then
      // released. If that fails, the batch's state is unknown: roll all of it back.
      Status end = s.ok() ? Status::Ok() : db_->Run("ROLLBACK TO op");
      if (end.ok()) end = db_->Run("RELEASE op");
      if (!end.ok()) {
        (void)db_->Run("ROLLBACK");
        return fail_all(end.WithContext("batch rolled back"));
      }
    }
    p->status = s;
  }

  bool single_failed = alone && !batch.front()->status.ok();
  bool hooked = hooks_ && ctx.work_added && !single_failed;
  bool hook_ok = false;
  if (hooked) {
    // The hook's changes are undone alone if it fails; the batch commits either way.
    Status s = db_->Run("SAVEPOINT hook");
    if (s.ok()) {
      hook_ok = hooks_->BeforeCommit(ctx).ok();
      if (!hook_ok && !sqlite3_get_autocommit(db_->raw())) s = db_->Run("ROLLBACK TO hook");
    }
    if (s.ok() && !sqlite3_get_autocommit(db_->raw())) s = db_->Run("RELEASE hook");
    if (!s.ok() || sqlite3_get_autocommit(db_->raw())) {
      if (!sqlite3_get_autocommit(db_->raw())) (void)db_->Run("ROLLBACK");
      hooks_->AfterCommit(false);
      return fail_all(s.ok() ? UnavailableError("the transaction was rolled back") : s);
    }
  }
  Status commit = db_->Run(single_failed ? "ROLLBACK" : "COMMIT");
  if (!commit.ok()) {
    (void)db_->Run("ROLLBACK");
    if (hooked) hooks_->AfterCommit(false);
    if (!single_failed) fail_all(commit.WithContext("commit"));
    return false;
  }
  if (hooked) hooks_->AfterCommit(hook_ok);
  MutexLock lock(mu_);  // RunBatch runs without mu_ held, in either mode
  stats_.commits += 1;
  stats_.synced_commits += sync ? 1 : 0;
  stats_.operations += static_cast<int64_t>(batch.size());
  return !single_failed;
}

}  // namespace stipple::sqlite
