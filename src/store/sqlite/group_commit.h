// GroupCommitter: runs write operations on one SQLite connection from one thread, many
// operations per transaction and so many per fsync.
//
// Callers hand in an operation and block until the transaction that ran it has committed (so
// "returned OK" means "durable"). The writer thread takes every operation waiting at the start of
// a batch, runs each inside its own SAVEPOINT (a failing operation rolls back only its own
// changes and reports its own error), then commits once. While that commit's fsync runs, new
// operations queue up and form the next batch: the more concurrent callers, the more transitions
// per fsync.
//
// Durability per operation: kSync commits with synchronous=FULL (fsync of the WAL: survives a
// power cut); kLazy commits with synchronous=NORMAL (written to the WAL, survives a kill -9, made
// stable by the next fsync). A batch is synced if any operation in it asks for kSync.
//
// With Options::batching off, each operation runs as its own transaction on the caller's thread
// (under a mutex) and every commit is synced — the naive baseline the benchmarks compare against.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "store/sqlite/sqlite_db.h"

namespace stipple::sqlite {

enum class Durability { kSync, kLazy };

// What an operation sees: the connection, inside an open transaction.
struct WriteContext {
  Connection& db;
  bool work_added = false;  // set when the operation made a task leasable (wakes waiting leases)
};

struct GroupCommitStats {
  int64_t commits = 0;
  int64_t synced_commits = 0;
  int64_t operations = 0;
};

class GroupCommitter {
 public:
  struct Options {
    bool batching = true;
    int max_batch = 1024;
    bool sync_full = true;  // false: kSync commits use NORMAL too (survive a process crash only)
  };
  using Operation = std::function<Status(WriteContext&)>;
  // Called (on the writer thread, outside any lock) after a commit that added work.

  // What the owner of the committer hears about each batch that made work leasable, on the
  // writer thread: BeforeCommit runs inside the batch's transaction after its operations (its
  // changes commit with them, or are undone alone if it fails); AfterCommit runs after the
  // commit or the rollback, outside any lock of the committer.
  class WorkHooks {
   public:
    virtual ~WorkHooks() = default;
    virtual Status BeforeCommit(WriteContext& ctx) = 0;
    virtual void AfterCommit(bool committed) = 0;
    // After every batch, whether it committed or not, on the writer thread before any of its
    // callers is answered (after AfterCommit when both run).
    virtual void BatchEnded(bool committed) = 0;
  };

  // `hooks` may be null; it must outlive the committer.
  GroupCommitter(std::unique_ptr<Connection> db, Options options, WorkHooks* hooks);
  ~GroupCommitter();  // finishes queued operations, then stops the thread

  // Runs `op` in a transaction and returns its status once committed (or the commit's error).
  Status Run(Operation op, Durability durability);

  GroupCommitStats stats() const;

 private:
  struct Pending;
  void Loop();
  // Runs the batch; true when it committed something.
  bool RunBatch(std::vector<Pending*>& batch);
  void RunAndEnd(std::vector<Pending*>& batch);
  Status Commit(bool sync);

  std::unique_ptr<Connection> db_;
  const Options options_;
  WorkHooks* const hooks_;
  bool current_sync_ = true;  // the connection's synchronous setting; writer thread only

  mutable Mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  GroupCommitStats stats_ GUARDED_BY(mu_);
  Mutex direct_mu_;  // serializes operations when batching is off
  std::thread thread_;
};

}  // namespace stipple::sqlite
