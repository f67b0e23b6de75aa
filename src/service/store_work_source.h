// StoreWorkSource: the WorkSource of a `stipple serve` or `stipple gateway` process — what its
// in-process workers call, and what its worker-protocol endpoint forwards remote workers'
// messages to — over any TaskStore (SQLite, Redis) and ResultStore, composed from the service's
// parts: Admission (no leases while draining; write refusals for readiness), the EventSequencer
// (each transition's event, progress, previews) and the WorkerRegistry.
//
// Contract (beyond WorkSource's):
//  - Lease: while draining, waits out the request's wait (or until Stop) and leases nothing.
//    Every lease call and heartbeat is a sign of life in the registry.
//  - CompleteBatch stores every image of the batch with one ResultStore::PutBatch (durable
//    together), then records every completion with one TaskStore::Complete (one transaction, one
//    Redis script call); each task is answered on its own and none is succeeded before its images
//    are durable. A refused completion (stale lease, task not running, no such task) deletes the
//    images just stored — never a second result; after an error of unknown outcome (store
//    unreachable) they are kept. A completion sent again after success answers as the first did.
//    Outputs expire output_retention after completion. Complete is a batch of one.
//  - ProgressBatch: the EventSequencer's PublishProgress (one EventBus::PublishBatch).
//  - Owns nothing: the stores and the parts are the caller's and outlive it. Holds no lock of its
//    own; thread-safe as its parts are.
#pragma once

#include "results/result_store.h"
#include "service/admission.h"
#include "service/event_sequencer.h"
#include "service/task_service.h"
#include "service/worker_registry.h"

namespace stipple {

struct StoreWorkSourceOptions {
  const Clock* clock = SystemClock::Get();      // the completion time outputs expire from
  Millis output_retention{24LL * 3600 * 1000};  // outputs_expire_at = completion + this
};

class StoreWorkSource final : public WorkSource {
 public:
  StoreWorkSource(TaskStore& store, ResultStore& results, Admission& admission,
                  EventSequencer& events, WorkerRegistry& workers,
                  StoreWorkSourceOptions options = {});

  Status Register(const WorkerInfo& worker) override;
  void Unregister(const std::string& worker_id) override;
  Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) override;
  Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                   Millis lease_duration,
                                   std::optional<TaskProgress> progress) override;
  Status Progress(const std::string& task_id, uint64_t fencing, TaskProgress progress,
                  std::string preview_png) override;
  Result<Task> Complete(const std::string& task_id, uint64_t fencing,
                        std::vector<GeneratedImage> images) override;
  std::vector<Result<Task>> CompleteBatch(std::vector<TaskImages> batch) override;
  std::vector<Status> ProgressBatch(std::vector<ProgressReport> reports) override;
  Result<Task> Fail(const Failure& failure) override;
  Result<Task> Release(const std::string& task_id, uint64_t fencing) override;
  Result<Task> MarkCanceled(const std::string& task_id, uint64_t fencing) override;
  // ResultStore::GetInput's bytes.
  Result<std::string> GetInput(const std::string& sha256_hex) override;

 private:
  // A completion the store refused: the task's state when it was this very completion sent
  // again; else the refusal, deleting the lease's images when it was certainly refused.
  Result<Task> CompletionRefused(const Completion& completion, Status refusal);
  // The answer of a transition the store made (or refused) for the lease `fencing`.
  Result<Task> Transitioned(Result<Task> task, const std::string& task_id, uint64_t fencing);

  TaskStore& store_;
  ResultStore& results_;
  Admission& admission_;
  EventSequencer& events_;
  WorkerRegistry& workers_;
  const StoreWorkSourceOptions options_;
};

}  // namespace stipple
