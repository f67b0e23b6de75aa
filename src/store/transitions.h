// The task state machine's transitions as pure functions on a Task, shared by every TaskStore
// implementation: a store loads the task, checks and applies one of these, and saves it in the
// same atomic step. Keeping the rules here means the SQLite and Redis stores cannot drift apart.
#pragma once

#include <string>

#include "common/status.h"
#include "core/task.h"
#include "store/task_store.h"

namespace stipple::transitions {

// kAborted unless the task is running under the lease with this fencing number.
Status CheckLease(const Task& task, uint64_t fencing);

// Whether a queued task may be leased at `now`: not_before passed, and the ttl not passed unless
// the task already started once (ttl bounds the wait for a first start, not a retry).
bool IsLeasable(const Task& task, Timestamp now);

// queued → running under a new lease; counts an attempt.
void Lease(Task& task, const std::string& worker_id, uint64_t fencing, Timestamp now,
           Millis duration);

// The lease lapsed (or its holder died): running → queued with the attempt kept counted;
// → failed "worker_lost" when no attempt is left; → canceled when a cancel was requested.
void LapseLease(Task& task, Timestamp now);

void Complete(Task& task, const Completion& completion, Timestamp now);

// Permanent, or transient without attempts left → failed; transient otherwise → queued with
// not_before = now + retry_after (→ canceled instead when a cancel was requested).
void Fail(Task& task, const Failure& failure, Timestamp now);

// running → queued without counting the attempt; → canceled if a cancel was requested.
void Release(Task& task, Timestamp now);

// running → canceled (the worker stopped at a step boundary).
void MarkCanceled(Task& task, Timestamp now);

// queued → canceled; running → cancel_requested; terminal → unchanged (already_terminal).
// Returns whether the task changed.
bool Cancel(Task& task, Timestamp now);

// queued past its ttl, never started → expired.
void Expire(Task& task, Timestamp now);

// The record a submission creates, after the argument checks every store makes (a task id, a
// tenant, max_attempts ≥ 1): queued, created `now`, expiring after the request's ttl_s.
Result<Task> NewQueuedTask(const NewTask& task, Timestamp now);

// The worker reports as every store applies them to the record it loaded: CheckLease, then the
// change. MarkCanceledUnderLease is kFailedPrecondition for a task without a cancel request.
Status FailUnderLease(Task& task, const Failure& failure, Timestamp now);
Status ReleaseUnderLease(Task& task, uint64_t fencing, Timestamp now);
Status MarkCanceledUnderLease(Task& task, uint64_t fencing, Timestamp now);

}  // namespace stipple::transitions
