#include "worker/testing/worker_test_doubles.h"

#include <algorithm>
#include <cstdio>
#include <thread>
#include <utility>

namespace stipple {

// ---- InMemoryTestWorkSource ----

std::string InMemoryTestWorkSource::Enqueue(GenerationRequest request, int max_attempts) {
  MutexLock lock(mu_);
  char id[32];
  std::snprintf(id, sizeof(id), "tsk_%08lld", static_cast<long long>(next_seq_));
  Record record;
  record.seq = next_seq_++;
  record.task.id = id;
  record.task.request = std::move(request);
  record.task.max_attempts = max_attempts;
  tasks_[id] = std::move(record);
  cv_.notify_all();
  return id;
}

void InMemoryTestWorkSource::RequestCancel(const std::string& task_id) {
  MutexLock lock(mu_);
  Record& record = tasks_.at(task_id);
  if (record.task.state == TaskState::kQueued) {
    Finish(record, TaskState::kCanceled);
  } else if (record.task.state == TaskState::kRunning) {
    record.task.cancel_requested = true;
  }
}

void InMemoryTestWorkSource::StealLease(const std::string& task_id) {
  MutexLock lock(mu_);
  Record& record = tasks_.at(task_id);
  record.task.fencing = ++next_fencing_;
  record.task.worker_id = "another-worker";
  record.lease_expires = std::chrono::steady_clock::now() + std::chrono::hours(1);
}

void InMemoryTestWorkSource::SetOnProgress(
    std::function<void(const std::string&, int)> on_progress) {
  on_progress_ = std::move(on_progress);
}

void InMemoryTestWorkSource::SetOnCompleted(std::function<void()> on_completed) {
  on_completed_ = std::move(on_completed);
}

std::vector<GeneratedImage> InMemoryTestWorkSource::images(const std::string& task_id) const {
  MutexLock lock(mu_);
  return tasks_.at(task_id).images;
}

Task InMemoryTestWorkSource::Get(const std::string& task_id) const {
  MutexLock lock(mu_);
  return tasks_.at(task_id).task;
}

bool InMemoryTestWorkSource::WaitFor(
    const std::function<bool(const InMemoryTestWorkSource&)>& predicate,
    std::chrono::milliseconds timeout) const {
  MutexLock lock(mu_);
  return cv_.wait_for(lock.native(), timeout, [&]() REQUIRES(mu_) { return predicate(*this); });
}

bool InMemoryTestWorkSource::WaitForTerminal(const std::vector<std::string>& ids,
                                             std::chrono::milliseconds timeout) const {
  return WaitFor(
      [&](const InMemoryTestWorkSource& s) {
        return std::all_of(ids.begin(), ids.end(),
                           [&](const std::string& id) { return s.IsTerminalLocked(id); });
      },
      timeout);
}

int InMemoryTestWorkSource::heartbeats(const std::string& task_id) const {
  MutexLock lock(mu_);
  return tasks_.at(task_id).heartbeats;
}

int InMemoryTestWorkSource::completes(const std::string& task_id) const {
  MutexLock lock(mu_);
  return tasks_.at(task_id).completes;
}

int InMemoryTestWorkSource::lapses() const {
  MutexLock lock(mu_);
  return lapses_;
}

int InMemoryTestWorkSource::running() const {
  MutexLock lock(mu_);
  return RunningLocked();
}

int InMemoryTestWorkSource::RunningLocked() const {
  return static_cast<int>(std::count_if(tasks_.begin(), tasks_.end(), [](const auto& entry) {
    return entry.second.task.state == TaskState::kRunning;
  }));
}

bool InMemoryTestWorkSource::IsTerminalLocked(const std::string& task_id) const {
  return IsTerminal(tasks_.at(task_id).task.state);
}

int InMemoryTestWorkSource::ProgressCountLocked(const std::string& task_id) const {
  return static_cast<int>(std::count_if(progress_.begin(), progress_.end(),
                                        [&](const auto& p) { return p.task_id == task_id; }));
}

std::vector<InMemoryTestWorkSource::ProgressRecord> InMemoryTestWorkSource::progress(
    const std::string& task_id) const {
  MutexLock lock(mu_);
  std::vector<ProgressRecord> out;
  for (const ProgressRecord& p : progress_) {
    if (p.task_id == task_id) out.push_back(p);
  }
  return out;
}

std::vector<Failure> InMemoryTestWorkSource::failures() const {
  MutexLock lock(mu_);
  return failures_;
}

std::vector<std::string> InMemoryTestWorkSource::releases() const {
  MutexLock lock(mu_);
  return releases_;
}

std::optional<int> InMemoryTestWorkSource::cancel_seen_at_step(const std::string& task_id) const {
  MutexLock lock(mu_);
  return tasks_.at(task_id).cancel_seen_at_step;
}

std::vector<WorkerInfo> InMemoryTestWorkSource::registered() const {
  MutexLock lock(mu_);
  return registered_;
}

std::vector<std::string> InMemoryTestWorkSource::unregistered() const {
  MutexLock lock(mu_);
  return unregistered_;
}

Status InMemoryTestWorkSource::Register(const WorkerInfo& worker) {
  MutexLock lock(mu_);
  registered_.push_back(worker);
  return Status::Ok();
}

void InMemoryTestWorkSource::Unregister(const std::string& worker_id) {
  MutexLock lock(mu_);
  unregistered_.push_back(worker_id);
  cv_.notify_all();
}

Result<std::vector<LeasedTask>> InMemoryTestWorkSource::Lease(const LeaseRequest& request) {
  MutexLock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + request.wait;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    std::vector<Record*> candidates;
    std::optional<SteadyTime> next_retry;
    for (auto& [id, record] : tasks_) {
      if (record.task.state != TaskState::kQueued) continue;
      if (std::find(request.models.begin(), request.models.end(), record.task.request.model) ==
          request.models.end()) {
        continue;
      }
      if (record.not_before > now) {
        next_retry = std::min(next_retry.value_or(record.not_before), record.not_before);
        continue;
      }
      candidates.push_back(&record);
    }
    std::sort(candidates.begin(), candidates.end(), [](const Record* a, const Record* b) {
      if (a->task.request.priority != b->task.request.priority) {
        return a->task.request.priority < b->task.request.priority;
      }
      return a->seq < b->seq;
    });
    if (!candidates.empty()) {
      std::vector<LeasedTask> out;
      for (Record* record : candidates) {
        if (static_cast<int>(out.size()) >= request.max_tasks) break;
        record->task.state = TaskState::kRunning;
        record->task.attempts += 1;
        record->task.fencing = ++next_fencing_;
        record->task.worker_id = request.worker_id;
        record->lease_expires = now + request.lease_duration;
        out.push_back({record->task});
      }
      cv_.notify_all();
      return out;
    }
    if (now >= deadline) return std::vector<LeasedTask>{};
    cv_.wait_until(lock.native(), next_retry ? std::min(deadline, *next_retry) : deadline);
  }
}

Result<InMemoryTestWorkSource::Record*> InMemoryTestWorkSource::Holder(const std::string& task_id,
                                                                       uint64_t fencing) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return NotFoundError("no task " + task_id);
  Record& record = it->second;
  if (record.task.state != TaskState::kRunning || record.task.fencing != fencing) {
    return AbortedError("lease lost");
  }
  if (std::chrono::steady_clock::now() > record.lease_expires) {
    ++lapses_;
    record.task.state = TaskState::kQueued;  // what a reaper would have done
    cv_.notify_all();
    return AbortedError("lease lost (lapsed)");
  }
  return &record;
}

void InMemoryTestWorkSource::Finish(Record& record, TaskState state) {
  record.task.state = state;
  if (IsTerminal(state)) ++terminal_;
  cv_.notify_all();
}

void InMemoryTestWorkSource::SetUnavailableFor(std::chrono::milliseconds duration) {
  MutexLock lock(mu_);
  unavailable_until_ = std::chrono::steady_clock::now() + duration;
}

Result<HeartbeatReply> InMemoryTestWorkSource::Heartbeat(const std::string& task_id,
                                                         uint64_t fencing, Millis lease_duration,
                                                         std::optional<TaskProgress> progress) {
  MutexLock lock(mu_);
  if (std::chrono::steady_clock::now() < unavailable_until_) {
    return UnavailableError("test work source: down");
  }
  ASSIGN_OR_RETURN(Record * record, Holder(task_id, fencing));
  record->heartbeats += 1;
  record->lease_expires = std::chrono::steady_clock::now() + lease_duration;
  if (progress) record->task.progress = progress;
  if (record->task.cancel_requested && !record->cancel_seen_at_step) {
    record->cancel_seen_at_step = record->last_step;
  }
  return HeartbeatReply{Timestamp{}, record->task.cancel_requested};
}

Status InMemoryTestWorkSource::Progress(const std::string& task_id, uint64_t fencing,
                                        TaskProgress progress, std::string preview_png) {
  {
    MutexLock lock(mu_);
    if (std::chrono::steady_clock::now() < unavailable_until_) {
      return UnavailableError("test work source: down");
    }
    ASSIGN_OR_RETURN(Record * record, Holder(task_id, fencing));
    record->last_step = progress.step;
    progress_.push_back({task_id, progress.step, progress.steps, !preview_png.empty()});
    cv_.notify_all();
  }
  if (on_progress_) on_progress_(task_id, progress.step);
  return Status::Ok();
}

Result<Task> InMemoryTestWorkSource::Complete(const std::string& task_id, uint64_t fencing,
                                              std::vector<GeneratedImage> images) {
  MutexLock lock(mu_);
  auto it = tasks_.find(task_id);
  if (it != tasks_.end()) it->second.completes += 1;  // every call, stale ones included
  if (std::chrono::steady_clock::now() < unavailable_until_) {
    return UnavailableError("test work source: down");
  }
  ASSIGN_OR_RETURN(Record * record, Holder(task_id, fencing));
  record->images = std::move(images);
  for (size_t i = 0; i < record->images.size(); ++i) {
    TaskOutput output;
    output.index = static_cast<int>(i);
    output.seed = record->images[i].seed;
    output.etag = "\"" + record->images[i].png + "\"";
    record->task.outputs.push_back(output);
  }
  Finish(*record, TaskState::kSucceeded);
  return record->task;
}

std::vector<Result<Task>> InMemoryTestWorkSource::CompleteBatch(std::vector<TaskImages> batch) {
  {
    MutexLock lock(mu_);
    complete_batches_.push_back(batch.size());
  }
  std::vector<Result<Task>> results = WorkSource::CompleteBatch(std::move(batch));
  if (on_completed_) on_completed_();
  return results;
}

std::vector<Status> InMemoryTestWorkSource::ProgressBatch(std::vector<ProgressReport> reports) {
  {
    MutexLock lock(mu_);
    progress_batches_.push_back(reports.size());
  }
  return WorkSource::ProgressBatch(std::move(reports));
}

std::vector<size_t> InMemoryTestWorkSource::complete_batches() const {
  MutexLock lock(mu_);
  return complete_batches_;
}

std::vector<size_t> InMemoryTestWorkSource::progress_batches() const {
  MutexLock lock(mu_);
  return progress_batches_;
}

Result<Task> InMemoryTestWorkSource::Fail(const Failure& failure) {
  MutexLock lock(mu_);
  failures_.push_back(failure);
  ASSIGN_OR_RETURN(Record * record, Holder(failure.task_id, failure.fencing));
  record->task.error = failure.error;
  if (failure.kind == FailureKind::kTransient && record->task.cancel_requested) {
    Finish(*record, TaskState::kCanceled);
  } else if (failure.kind == FailureKind::kTransient &&
             record->task.attempts < record->task.max_attempts) {
    record->not_before = std::chrono::steady_clock::now() + failure.retry_after;
    Finish(*record, TaskState::kQueued);
  } else {
    Finish(*record, TaskState::kFailed);
  }
  return record->task;
}

Result<Task> InMemoryTestWorkSource::Release(const std::string& task_id, uint64_t fencing) {
  MutexLock lock(mu_);
  releases_.push_back(task_id);
  ASSIGN_OR_RETURN(Record * record, Holder(task_id, fencing));
  record->task.attempts -= 1;  // a release does not count the attempt
  Finish(*record, record->task.cancel_requested ? TaskState::kCanceled : TaskState::kQueued);
  return record->task;
}

Result<Task> InMemoryTestWorkSource::MarkCanceled(const std::string& task_id, uint64_t fencing) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(Record * record, Holder(task_id, fencing));
  if (!record->task.cancel_requested) return FailedPreconditionError("no cancel was requested");
  Finish(*record, TaskState::kCanceled);
  return record->task;
}

// ---- TestDoubleEngine ----

TestDoubleEngine::TestDoubleEngine(TestDoubleEngineOptions options)
    : options_(std::move(options)) {}

void TestDoubleEngine::FailPrompt(const std::string& prompt, Status status) {
  MutexLock lock(mu_);
  failures_[prompt] = std::move(status);
}

void TestDoubleEngine::SetOnStep(std::function<void(int)> on_step) {
  on_step_ = std::move(on_step);
}

void TestDoubleEngine::SetOnFinish(std::function<void()> on_finish) {
  on_finish_ = std::move(on_finish);
}

std::vector<TestDoubleEngine::Call> TestDoubleEngine::calls() const {
  MutexLock lock(mu_);
  return calls_;
}

ModelLimits TestDoubleEngine::limits() const {
  ModelLimits limits;
  limits.name = options_.model;
  limits.width = 8;
  limits.height = 8;
  limits.sizes = {{8, 8}, {16, 16}};
  return limits;
}

std::vector<Result<std::vector<GeneratedImage>>> TestDoubleEngine::Generate(
    std::span<const EngineJob> jobs, const ProgressSink& progress) {
  MutexLock serialize(generate_mu_);
  Call call;
  call.start = std::chrono::steady_clock::now();
  for (const EngineJob& job : jobs) {
    call.prompts.push_back(job.request.prompt);
    call.init_images.push_back(job.init_image);
    call.mask_images.push_back(job.mask_image);
  }

  std::vector<Status> checks = CheckEngineJobs(jobs, limits());
  std::vector<Result<std::vector<GeneratedImage>>> results;
  std::vector<size_t> live;
  int steps = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    results.emplace_back(checks[i].ok() ? InternalError("unfinished") : checks[i]);
    if (checks[i].ok()) {
      live.push_back(i);
      steps = jobs[i].request.steps;
    }
  }
  for (int step = 1; step <= steps && !live.empty(); ++step) {
    std::erase_if(live, [&](size_t i) {
      if (jobs[i].cancel == nullptr || !jobs[i].cancel->cancelled()) return false;
      results[i] = Status(StatusCode::kCancelled, "cancelled");
      return true;
    });
    if (live.empty()) break;
    if (options_.step_delay > std::chrono::milliseconds(0)) {
      std::this_thread::sleep_for(options_.step_delay);
    }
    if (on_step_) on_step_(step);
    for (size_t i : live) {
      if (!progress) break;
      ProgressEvent event;
      event.job_index = i;
      event.step = step;
      event.steps = steps;
      if (options_.preview_every > 0 && step % options_.preview_every == 0) {
        event.preview_png = "preview:" + std::to_string(step);
      }
      progress(event);
    }
  }
  MutexLock lock(mu_);
  for (size_t i : live) {
    const GenerationRequest& r = jobs[i].request;
    auto failure = failures_.find(r.prompt);
    if (failure != failures_.end()) {
      results[i] = failure->second;
      continue;
    }
    std::vector<GeneratedImage> images;
    for (int n = 0; n < r.num_images; ++n) {
      const uint32_t seed = r.seed + static_cast<uint32_t>(n);
      images.push_back({"png:" + r.prompt + ":" + std::to_string(seed), r.width, r.height, seed});
    }
    results[i] = std::move(images);
  }
  lock.Unlock();
  if (on_finish_) on_finish_();
  call.end = std::chrono::steady_clock::now();
  lock.Lock();
  calls_.push_back(std::move(call));
  return results;
}

}  // namespace stipple
