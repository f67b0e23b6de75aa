// SqliteTaskStore: the embedded TaskStore — one SQLite database in WAL mode in the data dir.
//
// Writes go through a GroupCommitter (many transitions per fsync); reads use a small pool of
// read connections, which WAL lets run beside the writer. One process owns a database at a time
// (an flock on "<path>-lock"); a second Open of the same path fails with kUnavailable.
//
// Crash recovery on Open: every running task whose lease was granted by an earlier opening (a
// process that is gone) is treated as a lapsed lease at once: back to the queue with the attempt
// counted, or failed with worker_lost past max_attempts. Each opening has a new epoch, and
// fencing numbers are (epoch << 32) + counter, so they never repeat even if a lease was lost with
// the process.
//
// Backlog-independent costs: the queued and running tasks are counted per state, tenant, model
// and priority by triggers in each transition's transaction (task_rows.h), so admission
// (NewTask's limits, checked inside the enqueue's transaction) and Counts read a few rows; a
// task's queue_position comes from an in-memory order-statistic index of the queues
// (queue_index.h), changed after each commit. Both are rebuilt from the tasks on Open.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/thread_annotations.h"
#include "store/sqlite/checkpointer.h"
#include "store/sqlite/group_commit.h"
#include "store/sqlite/queue_index.h"
#include "store/sqlite/task_rows.h"
#include "store/sqlite/task_write_listener.h"
#include "store/transition_task_store.h"

namespace stipple {

struct SqliteTaskStoreOptions {
  std::string path;  // the database file; its directory must exist
  const Clock* clock = SystemClock::Get();
  // true: transitions are fsynced before they return (survive a power cut).
  // false: written to the WAL only (survive a kill -9 of the process, not of the machine).
  bool sync_full = true;
  // false: one transaction and one fsync per transition (the naive baseline for benchmarks).
  bool group_commit = true;
  int max_batch = 1024;
  Millis idempotency_ttl{24 * 3600 * 1000};
  int read_connections = 4;         // kept open for reuse; more are opened under load
  Millis checkpoint_interval{100};  // how often the WAL is copied back into the database
  // Hears every state change inside its transaction (the webhook outbox); may be null. Must
  // outlive the store.
  sqlite::TaskWriteListener* listener = nullptr;
  // The SQLite VFS every connection opens through, by its registered name; empty: SQLite's
  // default. For tests (store/sqlite/testing/power_loss_vfs.h models a power cut).
  std::string vfs;
};

class SqliteTaskStore final : public TransitionTaskStore,
                              private sqlite::GroupCommitter::WorkHooks {
 public:
  static Result<std::unique_ptr<SqliteTaskStore>> Open(const SqliteTaskStoreOptions& options);
  ~SqliteTaskStore() override;

  Result<EnqueueResult> Enqueue(const NewTask& nt) override;
  Result<Task> Get(const std::string& task_id) override;
  Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) override;
  Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                   Millis lease_duration,
                                   std::optional<TaskProgress> progress) override;
  std::vector<Result<Task>> Complete(std::span<const Completion> completions) override;
  using TaskStore::Complete;
  Result<TaskPage> List(const ListQuery& query) override;
  Result<ReapReport> Reap() override;
  Result<std::vector<QueueCounts>> Counts() override;

  // For a companion keeping its own tables in this database (the webhook outbox): runs `op` as
  // one write operation of the store's group committer (its own savepoint; committed with the
  // batch, so it shares fsyncs with task transitions), or inside a read transaction on a pooled
  // read connection. `op` must not block; a write op's error undoes only its own changes.
  Status CompanionWrite(const std::function<Status(sqlite::Connection&)>& op,
                        sqlite::Durability durability);
  Status CompanionRead(const std::function<Status(sqlite::Connection&)>& op);

  // For tests only: enqueues every task in one transaction (no idempotency keys, no admission),
  // to build a large queue fast.
  Status EnqueueManyForTesting(std::span<const NewTask> tasks);

  // Commit statistics since Open (for benchmarks and metrics).
  sqlite::GroupCommitStats commit_stats() const { return writer_->stats(); }
  int64_t epoch() const { return epoch_; }

 private:
  class ReadLease;
  SqliteTaskStore(SqliteTaskStoreOptions options, int lock_fd, int64_t epoch);

  // Runs `op` as one write operation; the queue changes it records are kept only if it succeeds
  // (its savepoint is released), and reach queue_index_ once its batch has committed.
  Status Write(const sqlite::GroupCommitter::Operation& op, sqlite::Durability durability);
  Result<std::unique_ptr<sqlite::Connection>> AcquireReader();
  void ReturnReader(std::unique_ptr<sqlite::Connection> conn);
  Status RecoverLeasesOfEarlierEpochs();
  Result<Task> Transition(const std::string& task_id,
                          const std::function<Status(Task&)>& apply) override;
  // A Lease call blocked waiting for work. A batch that adds work leases for waiting calls in the
  // same transaction (BeforeCommit) and hands the tasks over once it has committed (AfterCommit):
  // the waiter has its task as soon as the enqueue is acknowledged, with no second transaction.
  struct LeaseWaiter {
    enum class State { kWaiting, kClaimed, kServed };
    const LeaseRequest* request;
    const std::vector<std::string>* models;  // deduplicated
    // Guarded by the store's work_mu_, which the analysis cannot name from a nested struct.
    State state = State::kWaiting;
    std::vector<sqlite::TaskRow> rows;  // kServed: what was leased for it
  };
  // Leases for `request` inside a write operation (nothing if no task is leasable).
  Result<std::vector<sqlite::TaskRow>> LeaseRows(sqlite::WriteContext& ctx,
                                                 const LeaseRequest& request,
                                                 const std::vector<std::string>& models,
                                                 Timestamp now);
  // The earliest not_before still ahead among the queued tasks of `models`.
  Result<std::optional<Timestamp>> NextReady(sqlite::WriteContext& ctx,
                                             const std::vector<std::string>& models, Timestamp now);
  Status BeforeCommit(sqlite::WriteContext& ctx) override;
  void AfterCommit(bool handoffs_committed) override;
  void BatchEnded(bool committed) override;
  // Admission inside the enqueue's transaction: the refusal, if a limit of `nt` is reached.
  Result<std::optional<AdmissionRefusal>> Admit(sqlite::Connection& db, const NewTask& nt);
  // Fills queue_position of a queued task from the index.
  void FillPosition(Task& task) const;
  // (epoch << 32) + a per-opening counter: unique across openings, increasing within one.
  Result<uint64_t> NextFencing();
  Timestamp Now() const override { return options_.clock->Now(); }
  // Records a state change written in `ctx`'s transaction: the queue change it makes, and the
  // listener (if any) hears it.
  Status StateChanged(sqlite::WriteContext& ctx, const sqlite::TaskRow& row, TaskState before);

  const SqliteTaskStoreOptions options_;
  const int lock_fd_;
  const int64_t epoch_;
  std::atomic<uint64_t> fencing_counter_{0};
  std::unique_ptr<sqlite::GroupCommitter> writer_;
  std::unique_ptr<sqlite::Checkpointer> checkpointer_;

  Mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite::Connection>> readers_ GUARDED_BY(readers_mu_);

  // Wakes Lease calls waiting for work; work_generation_ changes on every commit that added work.
  Mutex work_mu_;
  std::condition_variable work_cv_;
  uint64_t work_generation_ GUARDED_BY(work_mu_) = 0;
  std::vector<LeaseWaiter*> waiters_ GUARDED_BY(work_mu_);  // oldest first
  // Leases made for waiters by the batch being committed; writer thread only.
  std::vector<std::pair<LeaseWaiter*, std::vector<sqlite::TaskRow>>> handoffs_;

  sqlite::QueueIndex queue_index_;
  // Queue changes of the batch being written, by its successful operations; writer only.
  std::vector<sqlite::QueueChange> batch_changes_;
};

}  // namespace stipple
