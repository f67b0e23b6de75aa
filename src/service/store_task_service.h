// StoreTaskService: the TaskService of a `stipple serve` or `stipple gateway` process, over any
// TaskStore (SQLite, Redis) and ResultStore, composed from the service's parts: Admission decides
// submits and readiness, the EventSequencer publishes and follows events and keeps previews, the
// WorkerRegistry supplies the workers and figures of Queue().
//
// Contract (beyond TaskService's):
//  - Submit: Admission's answer; a created task's `queued` is published and counted.
//  - Tenancy: another tenant's task answers exactly as a missing one (kNotFound, same message).
//  - Output: kFailedPrecondition before success, kOutOfRange once the outputs expired, kNotFound
//    for an index the task does not have, kDataLoss when the bytes fail their checksum or are
//    missing while the record says they exist.
//  - Owns nothing: the stores and the parts are the caller's and outlive it. Holds no lock of its
//    own; thread-safe as its parts are.
#pragma once

#include "results/result_store.h"
#include "service/admission.h"
#include "service/event_sequencer.h"
#include "service/task_service.h"
#include "service/worker_registry.h"

namespace stipple {

class StoreTaskService final : public TaskService {
 public:
  StoreTaskService(TaskStore& store, ResultStore& results, Admission& admission,
                   EventSequencer& events, WorkerRegistry& workers);

  Result<EnqueueResult> Submit(const NewTask& task) override;
  Result<Task> Get(const std::string& tenant, const std::string& task_id) override;
  Result<CancelResult> Cancel(const std::string& tenant, const std::string& task_id) override;
  Result<TaskPage> List(const ListQuery& query) override;
  Result<std::unique_ptr<Subscription>> WhenTerminal(
      const std::string& tenant, const std::string& task_id,
      std::function<void(const Task&)> done) override;
  Result<std::unique_ptr<Subscription>> Subscribe(
      const std::string& tenant, const std::string& task_id, int64_t after_seq,
      std::function<void(const TaskEvent&)> on_event) override;
  std::unique_ptr<Subscription> SubscribeAll(
      const std::string& tenant, std::function<void(const TaskEvent&)> on_event) override;
  Result<OutputBlob> Output(const std::string& tenant, const std::string& task_id,
                            int index) override;
  Result<std::string> Preview(const std::string& tenant, const std::string& task_id) override;
  // The store's counts, and the registry's workers and figures.
  Result<QueueSnapshot> Queue() override;
  Status Ready() override;  // Admission::Ready

 private:
  TaskStore& store_;
  ResultStore& results_;
  Admission& admission_;
  EventSequencer& events_;
  WorkerRegistry& workers_;
};

}  // namespace stipple
