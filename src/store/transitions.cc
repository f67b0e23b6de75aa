#include "store/transitions.h"

#include <algorithm>
#include <chrono>

#include "common/id.h"
#include "common/log.h"

namespace stipple::transitions {
namespace {

// Checked in every build (never an assert, which -DNDEBUG compiles out): a refused transition
// changes nothing.
Status Enter(Task& task, TaskState to, Timestamp now) {
  if (!IsAllowedTransition(task.state, to)) {
    return InternalError("task " + task.id + ": " + std::string(TaskStateName(task.state)) + " → " +
                         std::string(TaskStateName(to)) + " is not a task transition");
  }
  task.state = to;
  if (IsTerminal(to)) task.completed_at = now;
  if (to != TaskState::kRunning) {
    task.lease_expires_at.reset();
    task.worker_id.clear();
  }
  return Status::Ok();
}

}  // namespace

bool LogRefused(const Status& status) {
  if (status.ok()) return true;
  LogError("task transition refused; the task is left as it is", {{"error", status.ToString()}});
  return false;
}

Status CheckLease(const Task& task, uint64_t fencing) {
  if (task.state != TaskState::kRunning || task.fencing != fencing) {
    return AbortedError("lease lost: task " + task.id + " is " +
                        std::string(TaskStateName(task.state)) +
                        (task.state == TaskState::kRunning ? " under a newer lease" : ""));
  }
  return Status::Ok();
}

Status CheckLeaseDuration(Millis duration) {
  if (duration <= Millis(0) || duration > kMaxLeaseDuration) {
    return InvalidArgumentError("lease duration must be between 1 and " +
                                std::to_string(kMaxLeaseDuration.count()) + " ms");
  }
  return Status::Ok();
}

Result<std::vector<std::string>> CheckLeaseRequest(const LeaseRequest& req) {
  if (req.worker_id.empty()) return InvalidArgumentError("lease request has no worker id");
  if (req.models.empty()) return InvalidArgumentError("lease request names no model");
  if (req.max_tasks < 1) return InvalidArgumentError("max_tasks must be at least 1");
  RETURN_IF_ERROR(CheckLeaseDuration(req.lease_duration));
  if (req.wait < Millis(0) || req.wait > kMaxLeaseWait) {
    return InvalidArgumentError("wait must be between 0 and " +
                                std::to_string(kMaxLeaseWait.count()) + " ms");
  }
  std::vector<std::string> models = req.models;
  std::sort(models.begin(), models.end());
  models.erase(std::unique(models.begin(), models.end()), models.end());
  return models;
}

bool IsLapsed(const Task& task, Timestamp now) {
  return task.state == TaskState::kRunning && task.lease_expires_at &&
         *task.lease_expires_at <= now;
}

bool IsPastTtl(const Task& task, Timestamp now) {
  return task.state == TaskState::kQueued && !task.started_at && task.expires_at &&
         *task.expires_at <= now;
}

bool IsLeasable(const Task& task, Timestamp now) {
  return task.state == TaskState::kQueued && (!task.not_before || *task.not_before <= now) &&
         (task.started_at || !task.expires_at || *task.expires_at > now);
}

Status Lease(Task& task, const std::string& worker_id, uint64_t fencing, Timestamp now,
             Millis duration) {
  RETURN_IF_ERROR(Enter(task, TaskState::kRunning, now));
  task.attempts += 1;
  task.worker_id = worker_id;
  task.fencing = fencing;
  task.lease_expires_at = now + duration;
  task.not_before.reset();
  task.progress.reset();
  if (!task.started_at) task.started_at = now;
  return Status::Ok();
}

Status LapseLease(Task& task, Timestamp now) {
  if (task.cancel_requested) return Enter(task, TaskState::kCanceled, now);
  if (task.attempts < task.max_attempts) return Enter(task, TaskState::kQueued, now);
  RETURN_IF_ERROR(Enter(task, TaskState::kFailed, now));
  task.error = TaskError{"worker_lost", "the worker running this task was lost " +
                                            std::to_string(task.attempts) + " time(s); giving up"};
  return Status::Ok();
}

Status Complete(Task& task, const Completion& completion, Timestamp now) {
  RETURN_IF_ERROR(Enter(task, TaskState::kSucceeded, now));
  task.outputs = completion.outputs;
  task.outputs_expire_at = completion.outputs_expire_at;
  task.error.reset();
  // A succeeded task ran every step, whether or not a heartbeat reported any of them (with an
  // init image, the steps its strength runs).
  task.progress = TaskProgress{StepsToRun(task.request), StepsToRun(task.request)};
  return Status::Ok();
}

Status Fail(Task& task, const Failure& failure, Timestamp now) {
  if (failure.kind == FailureKind::kTransient && task.cancel_requested) {
    return Enter(task, TaskState::kCanceled, now);  // the retry would only be canceled
  }
  if (failure.kind == FailureKind::kTransient && task.attempts < task.max_attempts) {
    RETURN_IF_ERROR(Enter(task, TaskState::kQueued, now));
    task.not_before = now + failure.retry_after;
  } else {
    RETURN_IF_ERROR(Enter(task, TaskState::kFailed, now));
    task.error = failure.error;
  }
  return Status::Ok();
}

Status Release(Task& task, Timestamp now) {
  if (task.cancel_requested) return Enter(task, TaskState::kCanceled, now);
  RETURN_IF_ERROR(Enter(task, TaskState::kQueued, now));
  task.attempts -= 1;
  return Status::Ok();
}

Status MarkCanceled(Task& task, Timestamp now) { return Enter(task, TaskState::kCanceled, now); }

bool Cancel(Task& task, Timestamp now) {
  if (task.state == TaskState::kQueued) {
    (void)Enter(task, TaskState::kCanceled, now);  // queued → canceled is always allowed
    task.cancel_requested = true;
    return true;
  }
  if (task.state == TaskState::kRunning && !task.cancel_requested) {
    task.cancel_requested = true;
    return true;
  }
  return false;
}

Status Expire(Task& task, Timestamp now) {
  RETURN_IF_ERROR(Enter(task, TaskState::kExpired, now));
  task.error = TaskError{"expired", "no worker started the task within its ttl_s"};
  return Status::Ok();
}

Result<Task> NewQueuedTask(const NewTask& nt, Timestamp now) {
  if (!IsValidId(nt.id, "tsk")) {
    return InvalidArgumentError("task id '" + nt.id + "' is not a task id");
  }
  if (nt.tenant.empty()) return InvalidArgumentError("task has no tenant");
  if (nt.max_attempts < 1) return InvalidArgumentError("max_attempts must be at least 1");
  Task t;
  t.id = nt.id;
  t.tenant = nt.tenant;
  t.request = nt.request;
  t.idempotency_key = nt.idempotency_key;
  t.created_at = now;
  if (nt.request.ttl_s) t.expires_at = now + std::chrono::seconds(*nt.request.ttl_s);
  t.max_attempts = nt.max_attempts;
  return t;
}

Status HeartbeatUnderLease(Task& task, uint64_t fencing, Millis duration,
                           const std::optional<TaskProgress>& progress, Timestamp now) {
  RETURN_IF_ERROR(CheckLease(task, fencing));
  task.lease_expires_at = now + duration;
  if (progress) task.progress = progress;
  return Status::Ok();
}

Status CompleteUnderLease(Task& task, const Completion& completion, Timestamp now) {
  RETURN_IF_ERROR(CheckLease(task, completion.fencing));
  return Complete(task, completion, now);
}

Status FailUnderLease(Task& task, const Failure& failure, Timestamp now) {
  RETURN_IF_ERROR(CheckLease(task, failure.fencing));
  return Fail(task, failure, now);
}

Status ReleaseUnderLease(Task& task, uint64_t fencing, Timestamp now) {
  RETURN_IF_ERROR(CheckLease(task, fencing));
  return Release(task, now);
}

Status MarkCanceledUnderLease(Task& task, uint64_t fencing, Timestamp now) {
  RETURN_IF_ERROR(CheckLease(task, fencing));
  if (!task.cancel_requested) {
    return FailedPreconditionError("task " + task.id + " has no cancel request");
  }
  return MarkCanceled(task, now);
}

}  // namespace stipple::transitions
