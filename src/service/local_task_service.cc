#include "service/local_task_service.h"

#include <algorithm>
#include <atomic>
#include <limits>

#include "common/id.h"
#include "common/log.h"

namespace stipple {

LocalTaskService::LocalTaskService(TaskStore& store, EventBus& bus, ResultStore& results,
                                   LocalTaskServiceOptions options)
    : store_(store), bus_(bus), results_(results), options_(options) {
  if (options_.housekeeping_thread) housekeeper_ = std::thread([this] { HousekeepingLoop(); });
}

LocalTaskService::~LocalTaskService() { Stop(); }

void LocalTaskService::Drain() {
  {
    std::lock_guard lock(state_mu_);
    if (draining_) return;
    draining_ = true;
  }
  LogInfo("task service draining: no new tasks or leases");
  state_cv_.notify_all();
}

void LocalTaskService::Stop() {
  {
    std::lock_guard lock(state_mu_);
    draining_ = true;
    stopping_ = true;
  }
  state_cv_.notify_all();
  if (housekeeper_.joinable()) housekeeper_.join();
}

void LocalTaskService::HousekeepingLoop() {
  std::unique_lock lock(state_mu_);
  while (!stopping_) {
    lock.unlock();
    Status s = Housekeep();
    if (!s.ok()) LogWarn("housekeeping failed", {{"error", s.ToString()}});
    lock.lock();
    state_cv_.wait_for(lock, options_.reap_interval, [&] { return stopping_; });
  }
}

Status LocalTaskService::Housekeep() {
  ASSIGN_OR_RETURN(ReapReport report, store_.Reap());
  for (const auto* list : {&report.requeued, &report.failed, &report.canceled, &report.expired}) {
    for (const Task& task : *list) AfterTransition(task);
  }
  Status result;
  for (const Task& task : report.outputs_expired) {
    Status s = results_.Delete(task.id);
    if (!s.ok()) {
      // Reap reports an expiry once; a failed delete leaves files behind, never a wrong answer
      // (the task says its outputs expired).
      LogWarn("could not delete expired outputs", {{"task_id", task.id}, {"error", s.ToString()}});
      result = s;
    }
  }
  bool sweep = false;
  {
    std::lock_guard lock(state_mu_);
    const Timestamp now = options_.clock->Now();
    if (!last_sweep_ || *last_sweep_ + options_.output_sweep_interval <= now) {
      last_sweep_ = now;
      sweep = true;
    }
  }
  if (sweep) {
    if (Status s = SweepOutputs(); !s.ok()) result = s;
  }
  return result;
}

Status LocalTaskService::SweepOutputs() {
  Result<std::vector<StoredLease>> leases = results_.ListLeases();
  if (leases.status().code() == StatusCode::kUnimplemented) return Status::Ok();
  RETURN_IF_ERROR(leases.status());
  Status result;
  for (size_t i = 0; i < leases->size();) {
    const std::string task_id = (*leases)[i].task_id;
    size_t end = i;
    while (end < leases->size() && (*leases)[end].task_id == task_id) ++end;
    if (!IsValidId(task_id, "tsk")) {  // not a task's: nothing here put it there
      i = end;
      continue;
    }
    Result<Task> task = store_.Get(task_id);
    Status s;
    if (!task.ok() && task.status().code() == StatusCode::kNotFound) {
      s = results_.Delete(task_id);
    } else if (!task.ok()) {
      s = task.status();
    } else if (IsTerminal(task->state) &&
               (task->state != TaskState::kSucceeded || task->outputs_expired)) {
      s = results_.Delete(task_id);
    } else if (task->state == TaskState::kSucceeded) {
      for (size_t k = i; k < end && s.ok(); ++k) {
        if ((*leases)[k].fencing != task->fencing) {
          s = results_.DeleteLease(task_id, (*leases)[k].fencing);
        }
      }
    }
    if (!s.ok()) {
      LogWarn("could not delete outputs no lease owns",
              {{"task_id", task_id}, {"error", s.ToString()}});
      result = s;
    }
    i = end;
  }
  return result;
}

void LocalTaskService::NoteWrite(const Status& status) {
  if (!status.ok() && status.code() != StatusCode::kUnavailable) return;
  std::lock_guard lock(write_mu_);
  if (status.ok()) {
    if (refused_write_) LogInfo("writes accepted again; ready");
    refused_write_.reset();
    return;
  }
  // The reason goes to the log only: /readyz answers anyone, and the message names files.
  if (!refused_write_) LogWarn("a write was refused; not ready", {{"error", status.ToString()}});
  refused_write_ = options_.clock->Now();
}

void LocalTaskService::AfterTransition(const Task& task) {
  if (task.state == TaskState::kQueued) {
    TaskLeft(task.id, task.fencing);
    PublishRetrying(task);
  } else if (IsTerminal(task.state)) {
    TaskLeft(task.id, task.fencing);
    Finish(task);
    PublishTerminal(task);
  }
}

Result<EnqueueResult> LocalTaskService::Submit(const NewTask& task) {
  {
    std::lock_guard lock(state_mu_);
    if (draining_) return UnavailableError("the server is draining; retry on another");
  }
  // Admission is the store's, in the enqueue's own transaction, from counts it keeps.
  NewTask admitted = task;
  admitted.max_queued = options_.max_queue;
  Result<EnqueueResult> enqueued = store_.Enqueue(admitted);
  NoteWrite(enqueued.status());
  ASSIGN_OR_RETURN(EnqueueResult result, std::move(enqueued));
  if (result.refused) {
    const AdmissionRefusal& r = *result.refused;
    if (!r.tenant_quota) {
      return QueueFullError(r.queued, options_.max_queue, options_.queue_full_retry_after);
    }
    Result<QueueSnapshot> snapshot = Queue();
    return TenantQuotaError(task.tenant, r.queued, task.tenant_max_queued, r.oldest_position,
                            snapshot.ok() ? ComputeServiceRate(*snapshot) : ServiceRate{});
  }
  if (result.created) {
    PublishQueued(result.task);
    std::lock_guard lock(workers_mu_);
    ++totals_.submitted;
  }
  return result;
}

Result<Task> LocalTaskService::Get(const std::string& tenant, const std::string& task_id) {
  ASSIGN_OR_RETURN(Task task, store_.Get(task_id));
  if (!tenant.empty() && task.tenant != tenant) return NotFoundError("no task " + task_id);
  return task;
}

Result<CancelResult> LocalTaskService::Cancel(const std::string& tenant,
                                              const std::string& task_id) {
  RETURN_IF_ERROR(Get(tenant, task_id));
  ASSIGN_OR_RETURN(CancelResult result, store_.Cancel(task_id));
  if (!result.already_terminal) AfterTransition(result.task);
  return result;
}

Result<TaskPage> LocalTaskService::List(const ListQuery& query) { return store_.List(query); }

Result<std::unique_ptr<Subscription>> LocalTaskService::WhenTerminal(
    const std::string& tenant, const std::string& task_id, std::function<void(const Task&)> done) {
  ASSIGN_OR_RETURN(Task task, Get(tenant, task_id));
  // Two sources may offer the end (the live event, the late check below); `done` runs once.
  auto fired = std::make_shared<std::atomic<bool>>(false);
  auto fire = [fired, done = std::move(done)](const TaskEvent& e) {
    if (IsTerminalEvent(e.type) && e.task && !fired->exchange(true)) done(*e.task);
  };
  if (IsTerminal(task.state)) return bus_.Deliver({TerminalEventOf(task)}, fire);
  // After the newest seq there is nothing to replay but the terminal event, which the bus
  // always delivers: the callback sees the end whether it came before this line or after.
  auto live = bus_.Subscribe(task_id, std::numeric_limits<int64_t>::max(), fire);
  // The end may have been committed without the bus holding it (its history dropped): check
  // the record once more now that the live subscription is in place.
  ASSIGN_OR_RETURN(Task now, store_.Get(task_id));
  if (!IsTerminal(now.state)) return live;
  return std::unique_ptr<Subscription>(std::make_unique<SubscriptionPair>(
      std::move(live), bus_.Deliver({TerminalEventOf(now)}, fire)));
}

std::unique_ptr<Subscription> LocalTaskService::SubscribeAll(
    const std::string& tenant, std::function<void(const TaskEvent&)> on_event) {
  return bus_.SubscribeAll(tenant, std::move(on_event));
}

Result<OutputBlob> LocalTaskService::Output(const std::string& tenant, const std::string& task_id,
                                            int index) {
  ASSIGN_OR_RETURN(Task task, Get(tenant, task_id));
  if (task.state != TaskState::kSucceeded) {
    return FailedPreconditionError("task " + task_id + " is " +
                                   std::string(TaskStateName(task.state)) +
                                   "; outputs exist once it has succeeded");
  }
  if (task.outputs_expired) {
    return Status(StatusCode::kOutOfRange, "the outputs of task " + task_id + " expired");
  }
  auto out = std::find_if(task.outputs.begin(), task.outputs.end(),
                          [&](const TaskOutput& o) { return o.index == index; });
  if (out == task.outputs.end()) {
    return NotFoundError("task " + task_id + " has no output " + std::to_string(index));
  }
  auto stored = results_.Get(task_id, task.fencing, index);
  if (!stored.ok()) {
    if (stored.status().code() != StatusCode::kNotFound) return stored.status();
    // Expiry may have deleted the bytes since the record was read.
    ASSIGN_OR_RETURN(Task again, store_.Get(task_id));
    if (again.outputs_expired) {
      return Status(StatusCode::kOutOfRange, "the outputs of task " + task_id + " expired");
    }
    return DataLossError("output " + std::to_string(index) + " of task " + task_id +
                         " is missing from the result store");
  }
  return OutputBlob{std::move(stored->bytes), out->content_type, stored->record.etag};
}

Result<std::string> LocalTaskService::Preview(const std::string& tenant,
                                              const std::string& task_id) {
  RETURN_IF_ERROR(Get(tenant, task_id));
  std::lock_guard lock(previews_mu_);
  auto it = previews_.find(task_id);
  if (it == previews_.end()) return NotFoundError("task " + task_id + " has no preview yet");
  return it->second;
}

Status LocalTaskService::Ready() {
  {
    std::lock_guard lock(state_mu_);
    if (draining_) return UnavailableError("draining");
  }
  auto counts = store_.Counts();
  if (!counts.ok()) return UnavailableError("task store: " + counts.status().ToString());
  std::lock_guard lock(write_mu_);
  if (refused_write_ && *refused_write_ + options_.write_refusal_hold > options_.clock->Now()) {
    return UnavailableError(
        "writes are refused (a full disk or an unreachable store: see the server's log)");
  }
  return Status::Ok();
}

}  // namespace stipple
