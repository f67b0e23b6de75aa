// Admission: whether the service takes work — the service's side of admitting a task, the drain,
// and readiness.
//
// Contract:
//  - Submit: kUnavailable once Drain() was called; otherwise the task goes to TaskStore::Enqueue
//    carrying the service's queue bound (max_queue) and its own tenant_max_queued. The store
//    decides both in the enqueue's own transaction (a Redis script) from counts it keeps, so the
//    answer is exact under concurrent submits and costs the same at any backlog. Admission turns
//    a refusal into its error: QueueFullError with queue_full_retry_after, or TenantQuotaError
//    with a hint from the service rate the caller supplies.
//  - Leases: while draining, WaitWhileDraining holds a lease call for its wait (or until Stop)
//    so worker loops do not spin, and answers true (lease nothing).
//  - Readiness: Ready() is kUnavailable while draining, when the store does not answer a count,
//    and while writes are refused: after a task-store or result-store write failed with
//    kUnavailable (a full disk, a read-only file system, a store out of reach; reported through
//    NoteWrite), until a write succeeds or write_refusal_hold passes without a new refusal.
//  - Owns the drain and stop flags and the refused-write time; not the store (the caller's, and
//    it outlives this). Thread-safe; its mutexes are held for in-memory work only.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>

#include "common/thread_annotations.h"
#include "service/task_service.h"

namespace stipple {

struct AdmissionOptions {
  const Clock* clock = SystemClock::Get();  // for write_refusal_hold
  // Submit refuses once this many tasks (all models, all priorities) are queued; 0: no limit.
  int64_t max_queue = 10'000;
  Millis queue_full_retry_after{5'000};  // the hint sent with a queue-full refusal
  Millis write_refusal_hold{10'000};     // Ready() stays kUnavailable this long after a refusal
};

class Admission {
 public:
  Admission(TaskStore& store, AdmissionOptions options = {});

  // Enqueues `task` when admitted (see the header comment); `rate` is asked only for the retry
  // hint of a tenant over its quota.
  Result<EnqueueResult> Submit(const NewTask& task, const std::function<ServiceRate()>& rate);

  // Stops admitting and leasing. Irreversible; idempotent.
  void Drain();
  // Drain(), and wakes every WaitWhileDraining. Idempotent.
  void Stop();
  bool draining() const;
  // While draining: waits up to `wait` (or until Stop) and answers true. Else false at once.
  bool WaitWhileDraining(Millis wait);

  // Records the outcome of a write to the task store or the result store, for Ready().
  void NoteWrite(const Status& status);
  Status Ready();

 private:
  TaskStore& store_;
  const AdmissionOptions options_;

  mutable Mutex state_mu_;
  std::condition_variable state_cv_;  // draining or stopping
  bool draining_ GUARDED_BY(state_mu_) = false;
  bool stopping_ GUARDED_BY(state_mu_) = false;

  Mutex write_mu_;
  // When the last write was refused, until one succeeds (see Ready).
  std::optional<Timestamp> refused_write_ GUARDED_BY(write_mu_);
};

}  // namespace stipple
