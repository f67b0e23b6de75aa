#include "service/store_task_service.h"

#include <algorithm>

#include "service/transitions.h"

namespace stipple {

StoreTaskService::StoreTaskService(TaskStore& store, ResultStore& results, Admission& admission,
                                   EventSequencer& events, WorkerRegistry& workers)
    : store_(store), results_(results), admission_(admission), events_(events), workers_(workers) {}

Result<EnqueueResult> StoreTaskService::Submit(const NewTask& task) {
  ASSIGN_OR_RETURN(EnqueueResult result, admission_.Submit(task, [this] {
    Result<QueueSnapshot> snapshot = Queue();
    return snapshot.ok() ? ComputeServiceRate(*snapshot) : ServiceRate{};
  }));
  if (result.created) {
    events_.PublishQueued(result.task);
    workers_.CountSubmitted();
  }
  return result;
}

Result<Task> StoreTaskService::Get(const std::string& tenant, const std::string& task_id) {
  ASSIGN_OR_RETURN(Task task, store_.Get(task_id));
  if (!tenant.empty() && task.tenant != tenant) return NotFoundError("no task " + task_id);
  return task;
}

Result<CancelResult> StoreTaskService::Cancel(const std::string& tenant,
                                              const std::string& task_id) {
  RETURN_IF_ERROR(Get(tenant, task_id));
  ASSIGN_OR_RETURN(CancelResult result, store_.Cancel(task_id));
  if (!result.already_terminal) AfterTransition(result.task, events_, workers_);
  return result;
}

Result<TaskPage> StoreTaskService::List(const ListQuery& query) { return store_.List(query); }

Result<std::unique_ptr<Subscription>> StoreTaskService::WhenTerminal(
    const std::string& tenant, const std::string& task_id, std::function<void(const Task&)> done) {
  ASSIGN_OR_RETURN(Task task, Get(tenant, task_id));
  return events_.WhenTerminal(task, std::move(done));
}

Result<std::unique_ptr<Subscription>> StoreTaskService::Subscribe(
    const std::string& tenant, const std::string& task_id, int64_t after_seq,
    std::function<void(const TaskEvent&)> on_event) {
  ASSIGN_OR_RETURN(Task task, Get(tenant, task_id));
  return events_.Subscribe(task, after_seq, std::move(on_event));
}

std::unique_ptr<Subscription> StoreTaskService::SubscribeAll(
    const std::string& tenant, std::function<void(const TaskEvent&)> on_event) {
  return events_.SubscribeAll(tenant, std::move(on_event));
}

Result<OutputBlob> StoreTaskService::Output(const std::string& tenant, const std::string& task_id,
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

Result<std::string> StoreTaskService::Preview(const std::string& tenant,
                                              const std::string& task_id) {
  RETURN_IF_ERROR(Get(tenant, task_id));
  return events_.Preview(task_id);
}

Result<QueueSnapshot> StoreTaskService::Queue() {
  QueueSnapshot snap;
  ASSIGN_OR_RETURN(snap.per_model, store_.Counts());
  workers_.Fill(snap, admission_.draining());
  return snap;
}

Status StoreTaskService::Ready() { return admission_.Ready(); }

}  // namespace stipple
