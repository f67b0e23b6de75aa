// The baseline of the batch-completion benchmarks: the path a worker's batch took before it
// was reported as one — each task completed on its own (its images put one file at a time, one
// store transaction or Redis script call per task) and each progress report published alone.
//
// PerTaskWorkSource forwards every call to a WorkSource but not the batch calls, so
// WorkSource's own CompleteBatch and ProgressBatch run: Complete and Progress once per task.
// PerRecordResultStore forwards every call to a ResultStore but PutBatch, so ResultStore's own
// PutBatch runs: Put once per record (FsResultStore: fsync the file, its directory and, for a new
// task, the parent — per image).
#pragma once

#include <string>
#include <vector>

#include "results/result_store.h"
#include "service/task_service.h"

namespace stipple::bench {

class PerTaskWorkSource final : public WorkSource {
 public:
  explicit PerTaskWorkSource(WorkSource& inner) : inner_(inner) {}
  Status Register(const WorkerInfo& worker) override { return inner_.Register(worker); }
  void Unregister(const std::string& worker_id) override { inner_.Unregister(worker_id); }
  Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) override {
    return inner_.Lease(request);
  }
  Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                   Millis lease_duration,
                                   std::optional<TaskProgress> progress) override {
    return inner_.Heartbeat(task_id, fencing, lease_duration, progress);
  }
  Status Progress(const std::string& task_id, uint64_t fencing, TaskProgress progress,
                  std::string preview_png) override {
    return inner_.Progress(task_id, fencing, progress, std::move(preview_png));
  }
  Result<Task> Complete(const std::string& task_id, uint64_t fencing,
                        std::vector<GeneratedImage> images) override {
    return inner_.Complete(task_id, fencing, std::move(images));
  }
  Result<Task> Fail(const Failure& failure) override { return inner_.Fail(failure); }
  Result<Task> Release(const std::string& task_id, uint64_t fencing) override {
    return inner_.Release(task_id, fencing);
  }
  Result<Task> MarkCanceled(const std::string& task_id, uint64_t fencing) override {
    return inner_.MarkCanceled(task_id, fencing);
  }

 private:
  WorkSource& inner_;
};

class PerRecordResultStore final : public ResultStore {
 public:
  explicit PerRecordResultStore(ResultStore& inner) : inner_(inner) {}
  Result<StoredOutput> Put(const std::string& task_id, uint64_t fencing, int index,
                           std::string_view bytes) override {
    return inner_.Put(task_id, fencing, index, bytes);
  }
  Result<OutputBytes> Get(const std::string& task_id, uint64_t fencing, int index) override {
    return inner_.Get(task_id, fencing, index);
  }
  Status DeleteLease(const std::string& task_id, uint64_t fencing) override {
    return inner_.DeleteLease(task_id, fencing);
  }
  Status Delete(const std::string& task_id) override { return inner_.Delete(task_id); }
  Result<std::vector<StoredLease>> ListLeases() override { return inner_.ListLeases(); }

 private:
  ResultStore& inner_;
};

}  // namespace stipple::bench
