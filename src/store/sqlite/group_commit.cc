#include "store/sqlite/group_commit.h"

namespace stipple::sqlite {

struct GroupCommitter::Pending {
  Operation op;
  Durability durability;
  Status status;
  bool done = false;
  std::condition_variable cv;  // waits on mu_
};

GroupCommitter::GroupCommitter(std::unique_ptr<Connection> db, Options options,
                               WorkAddedCallback on_work_added)
    : db_(std::move(db)), options_(options), on_work_added_(std::move(on_work_added)) {
  if (options_.batching) thread_ = std::thread([this] { Loop(); });
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status GroupCommitter::Run(Operation op, Durability durability) {
  Pending p{std::move(op), durability};
  if (!options_.batching) {
    std::lock_guard<std::mutex> direct(direct_mu_);
    std::deque<Pending*> one{&p};
    RunBatch(one);
    return p.status;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return UnavailableError("task store is closing");
  queue_.push_back(&p);
  cv_.notify_one();
  p.cv.wait(lock, [&] { return p.done; });
  return p.status;
}

GroupCommitStats GroupCommitter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void GroupCommitter::Loop() {
  std::deque<Pending*> batch;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    RunBatch(batch);
    lock.lock();
    for (Pending* p : batch) {
      p->done = true;
      p->cv.notify_one();
    }
    batch.clear();
  }
}

void GroupCommitter::RunBatch(std::deque<Pending*>& batch) {
  bool sync = false;
  for (Pending* p : batch) sync |= (p->durability == Durability::kSync);
  sync &= options_.sync_full;

  auto fail_all = [&](const Status& s) {
    for (Pending* p : batch) p->status = s;
  };
  if (sync != current_sync_) {
    Status s = db_->Exec(sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    if (!s.ok()) return fail_all(s);
    current_sync_ = sync;
  }
  Status begin = db_->Run("BEGIN IMMEDIATE");
  if (!begin.ok()) return fail_all(begin);

  WriteContext ctx{*db_};
  for (Pending* p : batch) {
    if (batch.size() == 1) {
      p->status = p->op(ctx);  // alone: the transaction itself is its savepoint
      continue;
    }
    Status s = db_->Run("SAVEPOINT op");
    if (s.ok()) {
      bool added_before = ctx.work_added;
      s = p->op(ctx);
      if (!s.ok()) {
        ctx.work_added = added_before;
        Status undo = db_->Run("ROLLBACK TO op");
        if (!undo.ok()) s = undo;
      }
      Status release = db_->Run("RELEASE op");
      if (s.ok() && !release.ok()) s = release;
    }
    p->status = s;
  }

  bool single_failed = batch.size() == 1 && !batch.front()->status.ok();
  Status commit = db_->Run(single_failed ? "ROLLBACK" : "COMMIT");
  if (!commit.ok()) {
    (void)db_->Run("ROLLBACK");
    if (!single_failed) fail_all(commit.WithContext("commit"));
    return;
  }
  if (ctx.work_added && on_work_added_ && !single_failed) on_work_added_();
  std::lock_guard<std::mutex> lock(mu_);  // RunBatch runs without mu_ held, in either mode
  stats_.commits += 1;
  stats_.synced_commits += sync ? 1 : 0;
  stats_.operations += static_cast<int64_t>(batch.size());
}

}  // namespace stipple::sqlite
