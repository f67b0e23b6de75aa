// The task state machine's transitions as pure functions on a Task, shared by every TaskStore
// implementation: a store loads the task, checks and applies one of these, and saves it in the
// same atomic step. Keeping the rules here means the SQLite and Redis stores cannot drift apart.
//
// Every function that changes a task's state checks the move against IsAllowedTransition
// (core/task_state.h) in every build — not with assert(), which release builds compile out — and
// refuses one the state machine does not allow with kInternal, leaving the task unchanged. A
// refusal means the caller's precondition was wrong (a bug or a corrupt record), never a normal
// race (those are CheckLease's kAborted). What the stores do with one:
//  - a report of a worker (Complete, Fail, Release, MarkCanceled) answers the error and writes
//    nothing (the write transaction is rolled back);
//  - Lease skips the task (logged) and leases the next candidate;
//  - Reap and the recovery of earlier epochs' leases skip the task (logged), leaving its record
//    as it is, and go on with the others, so one bad record cannot stop housekeeping.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/task.h"
#include "store/task_store.h"

namespace stipple::transitions {

// kAborted unless the task is running under the lease with this fencing number.
Status CheckLease(const Task& task, uint64_t fencing);

// For the callers that skip a task whose transition was refused: logs a refusal (an error line
// naming the task and the move) and answers whether `status` is OK.
bool LogRefused(const Status& status);

// kInvalidArgument unless 1 ms <= duration <= kMaxLeaseDuration (Lease and Heartbeat).
Status CheckLeaseDuration(Millis duration);

// The argument checks of TaskStore::Lease (a worker id, at least one model, max_tasks >= 1, the
// lease duration, 0 <= wait <= kMaxLeaseWait); answers the request's models sorted, each once
// (a model named twice must not let one task be taken twice).
Result<std::vector<std::string>> CheckLeaseRequest(const LeaseRequest& request);

// Whether Reap lapses this task at `now`: running with its lease expired.
bool IsLapsed(const Task& task, Timestamp now);

// Whether Reap expires this task at `now`: queued, never started, its ttl passed.
bool IsPastTtl(const Task& task, Timestamp now);

// Whether a queued task may be leased at `now`: not_before passed, and the ttl not passed unless
// the task already started once (ttl bounds the wait for a first start, not a retry).
bool IsLeasable(const Task& task, Timestamp now);

// queued → running under a new lease; counts an attempt.
Status Lease(Task& task, const std::string& worker_id, uint64_t fencing, Timestamp now,
             Millis duration);

// The lease lapsed (or its holder died): running → queued with the attempt kept counted;
// → failed "worker_lost" when no attempt is left; → canceled when a cancel was requested.
Status LapseLease(Task& task, Timestamp now);

// running → succeeded with the completion's outputs, and progress steps/steps.
Status Complete(Task& task, const Completion& completion, Timestamp now);

// Permanent, or transient without attempts left → failed; transient otherwise → queued with
// not_before = now + retry_after (→ canceled instead when a cancel was requested).
Status Fail(Task& task, const Failure& failure, Timestamp now);

// running → queued without counting the attempt; → canceled if a cancel was requested.
Status Release(Task& task, Timestamp now);

// running → canceled (the worker stopped at a step boundary).
Status MarkCanceled(Task& task, Timestamp now);

// queued → canceled; running → cancel_requested; terminal → unchanged (already_terminal).
// Returns whether the task changed.
bool Cancel(Task& task, Timestamp now);

// queued past its ttl, never started → expired.
Status Expire(Task& task, Timestamp now);

// The record a submission creates, after the argument checks every store makes (a task id, a
// tenant, max_attempts ≥ 1): queued, created `now`, expiring after the request's ttl_s.
Result<Task> NewQueuedTask(const NewTask& task, Timestamp now);

// The worker reports as every store applies them to the record it loaded: CheckLease, then the
// change. HeartbeatUnderLease extends the lease to now + duration and records progress (when
// given); it does not check the duration (CheckLeaseDuration, before loading).
// MarkCanceledUnderLease is kFailedPrecondition for a task without a cancel request.
Status HeartbeatUnderLease(Task& task, uint64_t fencing, Millis duration,
                           const std::optional<TaskProgress>& progress, Timestamp now);
Status CompleteUnderLease(Task& task, const Completion& completion, Timestamp now);
Status FailUnderLease(Task& task, const Failure& failure, Timestamp now);
Status ReleaseUnderLease(Task& task, uint64_t fencing, Timestamp now);
Status MarkCanceledUnderLease(Task& task, uint64_t fencing, Timestamp now);

}  // namespace stipple::transitions
