// TaskStore: the durable task records and the queue of every model, behind one interface that
// the SQLite (embedded) and Redis (distributed) implementations both satisfy. The same contract
// suite (task_store_contract.h) runs against each.
//
// Contract, for every implementation:
//  - Thread-safe: any method may be called from any thread at any time.
//  - Durable: when a mutating method returns OK, its effect survives a kill -9 of the process
//    (and, for the SQLite store with sync=full, a power cut). Exception: Lease and Heartbeat are
//    committed before they return (they survive a kill -9) but may reach stable storage only
//    with the next durable write; losing one to a power cut is the same as a lapsed lease, which
//    the protocol already handles, and fencing numbers are never reused even then.
//  - Monotonic: a terminal task never changes state again (outputs may still expire).
//  - Time comes from the injected Clock only, so tests drive leases and ttl without sleeping;
//    Lease's `wait` is the one real-time wait (for a consumer blocked on an empty queue).
//  - Fencing: every lease of a task gets a fencing number greater than any earlier lease of it.
//    Heartbeat, Complete, Fail, Release and MarkCanceled must present the number of the task's
//    current lease; otherwise they return kAborted ("lease lost") and change nothing, so a late
//    result from a worker that lost its lease can never be recorded.
//  - Errors: kNotFound (no such task), kAborted (stale lease), kFailedPrecondition (wrong state),
//    kAlreadyExists (idempotency key reused with a different body), kInvalidArgument,
//    kUnavailable (the backing store cannot be reached; retry), kDataLoss/kInternal otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "core/task.h"

namespace stipple {

// What Enqueue needs besides the normalized request.
struct NewTask {
  std::string id;  // from NewId("tsk"); the caller makes it so it can log it first
  std::string tenant;
  GenerationRequest request;        // normalized
  std::string idempotency_key;      // empty: none
  std::string request_fingerprint;  // RequestFingerprint(body), compared for idempotency
  int max_attempts = 3;
  // Admission, decided in the same transaction as the insert (0: no limit): the task is refused
  // when max_queued tasks (every tenant and model) are queued already, or when its tenant has
  // tenant_max_queued queued. Both counts are kept by the store, so the check costs the same
  // whatever the backlog.
  int64_t max_queued = 0;
  int64_t tenant_max_queued = 0;
};

// Why Enqueue refused a task (nothing was written).
struct AdmissionRefusal {
  bool tenant_quota = false;  // false: max_queued, true: tenant_max_queued
  int64_t queued = 0;         // the queued tasks counted against that limit
  // tenant_quota: the queue_position of the tenant's oldest queued task (when it should start).
  int64_t oldest_position = 0;
};

struct EnqueueResult {
  Task task;            // a newly queued one with its queue_position
  bool created = true;  // false: the idempotency key matched an existing task, which is returned
  // Set when admission refused the task: `task` and `created` are then meaningless. An
  // idempotent repeat of an admitted task is never refused.
  std::optional<AdmissionRefusal> refused;
};

struct LeaseRequest {
  std::string worker_id;
  std::vector<std::string> models;  // take tasks of these models only
  int max_tasks = 1;                // lease up to this many at once (a batch)
  Millis lease_duration{30'000};    // 1 ms .. kMaxLeaseDuration
  // How long to block when nothing is available (real time, not the injected clock; at most
  // kMaxLeaseWait). Returns as soon as any task is leased — also one whose retry backoff ends
  // during the wait — or empty when the wait ends.
  Millis wait{0};
};

inline constexpr Millis kMaxLeaseDuration{24LL * 3600 * 1000};
inline constexpr Millis kMaxLeaseWait{3600LL * 1000};

struct LeasedTask {
  Task task;  // state running, with fencing, worker_id and lease_expires_at set
};

struct HeartbeatReply {
  Timestamp lease_expires_at;
  bool cancel_requested = false;  // the worker should stop at the next step and MarkCanceled
};

struct Completion {
  std::string task_id;
  uint64_t fencing = 0;
  std::vector<TaskOutput> outputs;
  Timestamp outputs_expire_at;
};

enum class FailureKind {
  kPermanent,  // fail now, whatever attempts are left
  kTransient,  // back to the queue (attempts stay counted) unless max_attempts is reached
};

struct Failure {
  std::string task_id;
  uint64_t fencing = 0;
  TaskError error;
  FailureKind kind = FailureKind::kPermanent;
  Millis retry_after{0};  // transient: not leased again before now + retry_after
};

struct CancelResult {
  Task task;
  // The task was already terminal: nothing changed (API: 409 with the task).
  bool already_terminal = false;
};

struct ListQuery {
  std::string tenant;              // empty: every tenant (admin)
  std::optional<TaskState> state;  // filter
  int limit = 20;                  // 1..100
  std::string cursor;              // from a previous page's next_cursor; empty: newest first
};

struct TaskPage {
  std::vector<Task> tasks;  // newest first
  std::string next_cursor;  // empty: no more
};

// What Reap changed; the caller publishes events and deletes expired outputs' bytes.
struct ReapReport {
  std::vector<Task> requeued;         // lapsed leases put back (attempts kept counted)
  std::vector<Task> failed;           // lapsed past max_attempts → failed worker_lost
  std::vector<Task> canceled;         // lapsed while a cancel was requested → canceled
  std::vector<Task> expired;          // ttl passed while queued
  std::vector<Task> outputs_expired;  // retention passed; delete their bytes
  int idempotency_keys_dropped = 0;
};

struct QueueCounts {
  std::string model;
  int64_t queued[3] = {0, 0, 0};  // indexed by Priority
  int64_t running = 0;
  std::optional<Timestamp> oldest_queued_at;
};

class TaskStore {
 public:
  virtual ~TaskStore() = default;

  // Adds a queued task, unless admission refuses it (NewTask's limits; EnqueueResult::refused).
  // With an idempotency key already used by this tenant within 24 h: the same fingerprint
  // returns the original task with created=false; another → kAlreadyExists.
  virtual Result<EnqueueResult> Enqueue(const NewTask& task) = 0;

  // The task with queue_position filled while queued (O(log n) in the queue's length, never a
  // count of the tasks ahead). kNotFound if none.
  virtual Result<Task> Get(const std::string& task_id) = 0;

  // Leases up to max_tasks queued tasks of the given models, highest priority first, FIFO within
  // a level (by id), skipping tasks whose not_before is in the future or whose ttl passed before
  // they ever started (ttl bounds the wait for a first start; a retried task is not expired).
  // Each becomes running with attempts + 1, a new fencing number and lease_expires_at =
  // now + lease_duration. Empty when nothing is available by the end of `wait`.
  virtual Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) = 0;

  // Extends the lease to now + lease_duration (1 ms .. kMaxLeaseDuration) and records progress.
  virtual Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                           Millis lease_duration,
                                           std::optional<TaskProgress> progress) = 0;

  // Running → succeeded, for each completion independently (one result per completion, in
  // order); the batch shares one commit. kAborted for a stale fencing number.
  virtual std::vector<Result<Task>> Complete(std::span<const Completion> completions) = 0;

  // Running → failed (permanent, or transient with no attempts left) or → queued (transient).
  virtual Result<Task> Fail(const Failure& failure) = 0;

  // Running → queued without counting the attempt (a draining worker gives the task back).
  virtual Result<Task> Release(const std::string& task_id, uint64_t fencing) = 0;

  // Running with cancel_requested → canceled: the worker stopped at a step boundary.
  virtual Result<Task> MarkCanceled(const std::string& task_id, uint64_t fencing) = 0;

  // Queued → canceled at once; running → cancel_requested = true (the worker sees it on its
  // next heartbeat); terminal → unchanged with already_terminal = true.
  virtual Result<CancelResult> Cancel(const std::string& task_id) = 0;

  // The tasks of a tenant (or all), newest first, one page at a time.
  virtual Result<TaskPage> List(const ListQuery& query) = 0;

  // Housekeeping at the clock's now: lapsed leases, ttl expiry of never-started tasks, output
  // retention, old idempotency keys. Each task appears in at most one list of the report.
  // Idempotent; the caller runs it periodically (about once a second).
  virtual Result<ReapReport> Reap() = 0;

  // Queue figures per model (models with nothing queued or running may be absent), from counts
  // the store keeps with each transition: the cost does not grow with the backlog.
  virtual Result<std::vector<QueueCounts>> Counts() = 0;

  // Single-completion convenience.
  Result<Task> Complete(const Completion& completion) {
    return std::move(Complete(std::span<const Completion>(&completion, 1)).front());
  }
};

}  // namespace stipple
