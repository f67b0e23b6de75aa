#include "service/store_work_source.h"

#include "common/log.h"
#include "service/transitions.h"

namespace stipple {

namespace {

// Errors after which the store has certainly not recorded a completion, so the images stored
// for it can go. After any other error (the store unreachable) the outcome is unknown and the
// files stay: a leak until the task's outputs expire is better than a succeeded task without
// its images.
bool CompletionCertainlyRefused(StatusCode code) {
  return code == StatusCode::kAborted || code == StatusCode::kFailedPrecondition ||
         code == StatusCode::kNotFound || code == StatusCode::kInvalidArgument;
}

}  // namespace

StoreWorkSource::StoreWorkSource(TaskStore& store, ResultStore& results, Admission& admission,
                                 EventSequencer& events, WorkerRegistry& workers,
                                 StoreWorkSourceOptions options)
    : store_(store),
      results_(results),
      admission_(admission),
      events_(events),
      workers_(workers),
      options_(options) {}

Status StoreWorkSource::Register(const WorkerInfo& worker) { return workers_.Register(worker); }

void StoreWorkSource::Unregister(const std::string& worker_id) { workers_.Unregister(worker_id); }

Result<std::vector<LeasedTask>> StoreWorkSource::Lease(const LeaseRequest& request) {
  // Nothing new while draining; wait as a lease with nothing to hand out would, so a worker loop
  // does not spin.
  if (admission_.WaitWhileDraining(request.wait)) return std::vector<LeasedTask>{};
  if (request.worker_id.empty()) {
    return InvalidArgumentError("a lease needs the worker's id", {{"worker_id", "empty"}});
  }
  workers_.Seen(request.worker_id);
  ASSIGN_OR_RETURN(std::vector<LeasedTask> leased, store_.Lease(request));
  workers_.Seen(request.worker_id, leased);
  for (const LeasedTask& lt : leased) events_.PublishStarted(lt.task);
  return leased;
}

Result<HeartbeatReply> StoreWorkSource::Heartbeat(const std::string& task_id, uint64_t fencing,
                                                  Millis lease_duration,
                                                  std::optional<TaskProgress> progress) {
  auto reply = store_.Heartbeat(task_id, fencing, lease_duration, progress);
  if (!reply.ok()) {
    if (reply.status().code() == StatusCode::kAborted) workers_.TaskLeft(task_id, fencing);
    return reply;
  }
  if (std::string worker_id = workers_.WorkerOf(task_id); !worker_id.empty()) {
    workers_.Seen(worker_id);
  }
  return reply;
}

Result<Task> StoreWorkSource::Complete(const std::string& task_id, uint64_t fencing,
                                       std::vector<GeneratedImage> images) {
  std::vector<TaskImages> one;
  one.push_back({task_id, fencing, std::move(images)});
  return std::move(CompleteBatch(std::move(one)).front());
}

std::vector<Result<Task>> StoreWorkSource::CompleteBatch(std::vector<TaskImages> batch) {
  // Every image of the batch first, durable together; then every completion in one store write.
  std::vector<OutputToStore> puts;
  for (const TaskImages& t : batch) {
    for (size_t i = 0; i < t.images.size(); ++i) {
      puts.push_back({t.task_id, t.fencing, static_cast<int>(i), t.images[i].png});
    }
  }
  Result<std::vector<StoredOutput>> stored = results_.PutBatch(puts);
  admission_.NoteWrite(stored.status());
  if (!stored.ok()) {
    for (const TaskImages& t : batch) (void)results_.DeleteLease(t.task_id, t.fencing);
    return std::vector<Result<Task>>(batch.size(),
                                     Result<Task>(stored.status().WithContext("storing outputs")));
  }
  const Timestamp expire_at = options_.clock->Now() + options_.output_retention;
  std::vector<Completion> completions;
  completions.reserve(batch.size());
  size_t next = 0;
  for (const TaskImages& t : batch) {
    Completion c{t.task_id, t.fencing, {}, expire_at};
    for (size_t i = 0; i < t.images.size(); ++i, ++next) {
      TaskOutput out;
      out.index = static_cast<int>(i);
      out.width = t.images[i].width;
      out.height = t.images[i].height;
      out.seed = t.images[i].seed;
      out.size_bytes = (*stored)[next].size_bytes;
      out.etag = (*stored)[next].etag;
      c.outputs.push_back(std::move(out));
    }
    completions.push_back(std::move(c));
  }
  std::vector<Result<Task>> done = store_.Complete(std::span<const Completion>(completions));
  for (size_t i = 0; i < done.size(); ++i) {
    admission_.NoteWrite(done[i].status());
    if (done[i].ok()) {
      AfterTransition(*done[i], events_, workers_);
    } else {
      done[i] = CompletionRefused(completions[i], done[i].status());
    }
  }
  return done;
}

Result<Task> StoreWorkSource::CompletionRefused(const Completion& completion, Status refusal) {
  const std::string& task_id = completion.task_id;
  // A completion sent again (its first reply was lost) finds the task succeeded under this very
  // lease: the images just put are the same ones; answer as the first time did. The process
  // that got it first may have died before publishing the end (another gateway's, in the
  // distributed mode): the bus gets it now, so that live subscribers learn it.
  if (Result<Task> current = store_.Get(task_id); current.ok() &&
                                                  current->state == TaskState::kSucceeded &&
                                                  current->fencing == completion.fencing) {
    events_.CompleteHistory(*current);
    return current;
  }
  if (CompletionCertainlyRefused(refusal.code())) {
    // Never a second result: the images of a refused completion go.
    Status deleted = results_.DeleteLease(task_id, completion.fencing);
    if (!deleted.ok()) {
      LogWarn("could not delete the outputs of a refused completion",
              {{"task_id", task_id}, {"error", deleted.ToString()}});
    }
    workers_.TaskLeft(task_id, completion.fencing);
  }
  return refusal;
}

Result<Task> StoreWorkSource::Transitioned(Result<Task> task, const std::string& task_id,
                                           uint64_t fencing) {
  if (task.ok()) {
    AfterTransition(*task, events_, workers_);
  } else if (task.status().code() == StatusCode::kAborted) {
    workers_.TaskLeft(task_id, fencing);
  }
  return task;
}

Result<Task> StoreWorkSource::Fail(const Failure& failure) {
  return Transitioned(store_.Fail(failure), failure.task_id, failure.fencing);
}

Result<Task> StoreWorkSource::Release(const std::string& task_id, uint64_t fencing) {
  return Transitioned(store_.Release(task_id, fencing), task_id, fencing);
}

Result<Task> StoreWorkSource::MarkCanceled(const std::string& task_id, uint64_t fencing) {
  return Transitioned(store_.MarkCanceled(task_id, fencing), task_id, fencing);
}

Status StoreWorkSource::Progress(const std::string& task_id, uint64_t fencing,
                                 TaskProgress progress, std::string preview_png) {
  std::vector<ProgressReport> one;
  one.push_back({task_id, fencing, progress, std::move(preview_png)});
  return ProgressBatch(std::move(one)).front();
}

std::vector<Status> StoreWorkSource::ProgressBatch(std::vector<ProgressReport> reports) {
  return events_.PublishProgress(std::move(reports));
}

Result<std::string> StoreWorkSource::GetInput(const std::string& sha256_hex) {
  ASSIGN_OR_RETURN(OutputBytes input, results_.GetInput(sha256_hex));
  return std::move(input.bytes);
}

}  // namespace stipple
