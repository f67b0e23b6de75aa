// LocalTaskService's WorkSource side: leases, heartbeats, completions, the worker registry and
// the figures behind Queue().
#include <algorithm>

#include "common/log.h"
#include "service/local_task_service.h"

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

Status LocalTaskService::Register(const WorkerInfo& worker) {
  if (worker.id.empty()) return InvalidArgumentError("a worker needs an id", {{"id", "empty"}});
  std::lock_guard lock(workers_mu_);
  Worker& w = workers_[worker.id];
  w.info = worker;
  w.last_seen = options_.clock->Now();
  return Status::Ok();
}

void LocalTaskService::Unregister(const std::string& worker_id) {
  std::lock_guard lock(workers_mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  // Its leases stay in the store and lapse unless it completes them after all.
  for (const std::string& task_id : it->second.tasks) task_worker_.erase(task_id);
  workers_.erase(it);
}

void LocalTaskService::WorkerSeen(const std::string& worker_id,
                                  const std::vector<LeasedTask>& leased) {
  std::lock_guard lock(workers_mu_);
  Worker& w = workers_[worker_id];
  if (w.info.id.empty()) w.info.id = worker_id;  // leased without registering
  w.last_seen = options_.clock->Now();
  for (const LeasedTask& lt : leased) {
    auto [it, inserted] = task_worker_.try_emplace(lt.task.id, worker_id, lt.task.fencing);
    if (!inserted) {
      // The task's previous lease (of another worker, maybe) is over: this one is newer.
      auto old = workers_.find(it->second.first);
      if (old != workers_.end()) old->second.tasks.erase(lt.task.id);
      it->second = {worker_id, lt.task.fencing};
    }
    w.tasks.insert(lt.task.id);
  }
}

void LocalTaskService::TaskLeft(const std::string& task_id, uint64_t fencing) {
  std::lock_guard lock(workers_mu_);
  auto it = task_worker_.find(task_id);
  if (it == task_worker_.end() || it->second.second > fencing) return;
  auto w = workers_.find(it->second.first);
  if (w != workers_.end()) w->second.tasks.erase(task_id);
  task_worker_.erase(it);
}

void LocalTaskService::Finish(const Task& task) {
  auto seconds = [](Timestamp from, Timestamp to) {
    return std::chrono::duration<double>(to - from).count();
  };
  const Timestamp end = task.completed_at.value_or(options_.clock->Now());
  std::lock_guard lock(workers_mu_);
  ++totals_.ended[task.state];
  totals_.end_to_end.Observe(seconds(task.created_at, end));
  if (!task.started_at) return;  // never ran: not part of the run figures
  totals_.queue_wait.Observe(seconds(task.created_at, *task.started_at));
  totals_.run.Observe(seconds(*task.started_at, end));
  std::optional<double> run_s;
  if (task.state == TaskState::kSucceeded && task.completed_at) {
    run_s = seconds(*task.started_at, *task.completed_at);
  }
  finished_.push_back({options_.clock->Now(), run_s});
  while (!finished_.empty() && finished_.front().at + options_.stats_window < finished_.back().at) {
    finished_.pop_front();
  }
}

Result<std::vector<LeasedTask>> LocalTaskService::Lease(const LeaseRequest& request) {
  {
    std::unique_lock lock(state_mu_);
    if (draining_) {
      // Nothing new while draining; wait as a lease with nothing to hand out would, so a worker
      // loop does not spin.
      state_cv_.wait_for(lock, request.wait, [&] { return stopping_; });
      return std::vector<LeasedTask>{};
    }
  }
  if (request.worker_id.empty()) {
    return InvalidArgumentError("a lease needs the worker's id", {{"worker_id", "empty"}});
  }
  WorkerSeen(request.worker_id);
  ASSIGN_OR_RETURN(std::vector<LeasedTask> leased, store_.Lease(request));
  WorkerSeen(request.worker_id, leased);
  for (const LeasedTask& lt : leased) PublishStarted(lt.task);
  return leased;
}

Result<HeartbeatReply> LocalTaskService::Heartbeat(const std::string& task_id, uint64_t fencing,
                                                   Millis lease_duration,
                                                   std::optional<TaskProgress> progress) {
  auto reply = store_.Heartbeat(task_id, fencing, lease_duration, progress);
  if (!reply.ok()) {
    if (reply.status().code() == StatusCode::kAborted) TaskLeft(task_id, fencing);
    return reply;
  }
  std::string worker_id;
  {
    std::lock_guard lock(workers_mu_);
    auto it = task_worker_.find(task_id);
    if (it != task_worker_.end()) worker_id = it->second.first;
  }
  if (!worker_id.empty()) WorkerSeen(worker_id);
  return reply;
}

Result<Task> LocalTaskService::Complete(const std::string& task_id, uint64_t fencing,
                                        std::vector<OutputImage> images) {
  std::vector<TaskImages> one;
  one.push_back({task_id, fencing, std::move(images)});
  return std::move(CompleteBatch(std::move(one)).front());
}

std::vector<Result<Task>> LocalTaskService::CompleteBatch(std::vector<TaskImages> batch) {
  // Every image of the batch first, durable together; then every completion in one store write.
  std::vector<OutputToStore> puts;
  for (const TaskImages& t : batch) {
    for (size_t i = 0; i < t.images.size(); ++i) {
      puts.push_back({t.task_id, t.fencing, static_cast<int>(i), t.images[i].png});
    }
  }
  Result<std::vector<StoredOutput>> stored = results_.PutBatch(puts);
  NoteWrite(stored.status());
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
    NoteWrite(done[i].status());
    if (done[i].ok()) {
      AfterTransition(*done[i]);
    } else {
      done[i] = CompletionRefused(completions[i], done[i].status());
    }
  }
  return done;
}

Result<Task> LocalTaskService::CompletionRefused(const Completion& completion, Status refusal) {
  const std::string& task_id = completion.task_id;
  // A completion sent again (its first reply was lost) finds the task succeeded under this very
  // lease: the images just put are the same ones; answer as the first time did.
  if (Result<Task> current = store_.Get(task_id); current.ok() &&
                                                  current->state == TaskState::kSucceeded &&
                                                  current->fencing == completion.fencing) {
    return current;
  }
  if (CompletionCertainlyRefused(refusal.code())) {
    // Never a second result: the images of a refused completion go.
    Status deleted = results_.DeleteLease(task_id, completion.fencing);
    if (!deleted.ok()) {
      LogWarn("could not delete the outputs of a refused completion",
              {{"task_id", task_id}, {"error", deleted.ToString()}});
    }
    TaskLeft(task_id, completion.fencing);
  }
  return refusal;
}

Result<Task> LocalTaskService::Fail(const Failure& failure) {
  Result<Task> task = store_.Fail(failure);
  if (task.ok()) {
    AfterTransition(*task);
  } else if (task.status().code() == StatusCode::kAborted) {
    TaskLeft(failure.task_id, failure.fencing);
  }
  return task;
}

Result<Task> LocalTaskService::Release(const std::string& task_id, uint64_t fencing) {
  Result<Task> task = store_.Release(task_id, fencing);
  if (task.ok()) {
    AfterTransition(*task);
  } else if (task.status().code() == StatusCode::kAborted) {
    TaskLeft(task_id, fencing);
  }
  return task;
}

Result<Task> LocalTaskService::MarkCanceled(const std::string& task_id, uint64_t fencing) {
  Result<Task> task = store_.MarkCanceled(task_id, fencing);
  if (task.ok()) {
    AfterTransition(*task);
  } else if (task.status().code() == StatusCode::kAborted) {
    TaskLeft(task_id, fencing);
  }
  return task;
}

Result<QueueSnapshot> LocalTaskService::Queue() {
  QueueSnapshot snap;
  ASSIGN_OR_RETURN(snap.per_model, store_.Counts());
  bool draining;
  {
    std::lock_guard lock(state_mu_);
    draining = draining_;
  }
  const Timestamp now = options_.clock->Now();
  std::lock_guard lock(workers_mu_);
  for (const auto& [id, w] : workers_) {
    WorkerStatus status;
    status.id = id;
    status.host = w.info.host;
    status.device = w.info.device;
    status.models = w.info.models;
    status.current_tasks.assign(w.tasks.begin(), w.tasks.end());
    status.state = draining          ? WorkerState::kDraining
                   : w.tasks.empty() ? WorkerState::kIdle
                                     : WorkerState::kBusy;
    status.last_seen = w.last_seen;
    if (!w.tasks.empty()) ++snap.workers_busy;
    snap.workers.push_back(std::move(status));
  }
  snap.workers_online = static_cast<int>(workers_.size());
  snap.totals = totals_;
  int finished = 0;
  int succeeded = 0;
  double run_total = 0;
  for (const Finished& f : finished_) {
    if (f.at + options_.stats_window < now) continue;
    ++finished;
    if (f.run_s) {
      ++succeeded;
      run_total += *f.run_s;
    }
  }
  const double window_min = std::chrono::duration<double>(options_.stats_window).count() / 60.0;
  snap.throughput_per_min = window_min > 0 ? finished / window_min : 0;
  snap.mean_run_s = succeeded > 0 ? run_total / succeeded : 0;
  return snap;
}

}  // namespace stipple
