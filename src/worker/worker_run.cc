// The Worker's runner: one batch at a time through the engine; its progress reported per step
// and its completions in one report (WorkSource::ProgressBatch, CompleteBatch).
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "common/log.h"
#include "imaging/image_decode.h"
#include "worker/batching.h"
#include "worker/worker.h"

namespace stipple {
namespace {

// A kUnavailable reply (the store or the gateway is down or restarting) is retried with a
// doubling pause, for as long as the lease could still be alive — lease_duration from the first
// try, since no heartbeat renews it meanwhile — so a finished task's report lands when the
// service is back within that time. The fencing number makes a repeated report harmless; a
// lease that lapsed meanwhile is refused (kAborted) and the task runs again elsewhere, which is
// the protocol's answer to a worker that cannot be heard.
constexpr Millis kReportRetryPause{50};
constexpr Millis kReportRetryPauseMax{1'000};

}  // namespace

void Worker::RunLoop() {
  while (true) {
    Batch batch;
    {
      MutexLock lock(mu_);
      runner_cv_.wait(lock.native(),
                      [&]() REQUIRES(mu_) { return !ready_.empty() || leaser_done_; });
      if (ready_.empty()) break;  // the leaser has ended and nothing is left to run
      batch = std::move(ready_.front());
      ready_.pop_front();
      running_ = batch;
    }
    leaser_cv_.notify_one();  // room for the leaser to prefetch the next batch
    SetBusy(true);
    RunBatch(std::move(batch));
    bool nothing_waiting = false;
    {
      MutexLock lock(mu_);
      running_.clear();
      nothing_waiting = ready_.empty();
    }
    drain_cv_.notify_all();  // Drain may be waiting for the running batch
    if (nothing_waiting) SetBusy(false);
  }
}

void Worker::SetBusy(bool busy) {
  WorkerState from = busy ? WorkerState::kIdle : WorkerState::kBusy;
  const WorkerState to = busy ? WorkerState::kBusy : WorkerState::kIdle;
  if (state_.compare_exchange_strong(from, to) && options_.on_state_change) {
    options_.on_state_change(to);
  }
}

Engine* Worker::EngineFor(const std::string& model) const {
  auto it = engines_.find(model);
  return it == engines_.end() ? nullptr : it->second;
}

void Worker::RunBatch(Batch batch) {
  // Tasks stopped while they waited (cancel seen by a heartbeat, lease lost) never start.
  Batch live;
  for (auto& task : batch) {
    if (task->stop.load() != StopReason::kNone) {
      FinishStopped(*task);
    } else {
      live.push_back(std::move(task));
    }
  }
  if (live.empty()) return;

  // Image inputs are read (from the result store, by hash) before the batch runs; a task whose
  // input cannot be had fails alone.
  std::vector<EngineJob> jobs;
  Batch loaded;
  for (auto& task : live) {
    EngineJob job{task->task.request, &task->cancel};
    if (!LoadInputs(*task, job)) continue;
    jobs.push_back(std::move(job));
    loaded.push_back(std::move(task));
  }
  live = std::move(loaded);
  if (live.empty()) return;

  Engine* engine = EngineFor(live.front()->task.request.model);
  std::vector<Timestamp> deadlines;
  const Timestamp start = options_.clock->Now();
  for (const auto& task : live) {
    // timeout_s bounds this attempt from the moment the engine takes it, not from the lease:
    // time spent prefetched is the worker's choice, not the request's.
    deadlines.push_back(start + std::chrono::seconds(task->task.request.timeout_s));
  }
  if (engine == nullptr) {  // leased only for our models, so a store bug; say so, do not retry
    for (auto& task : live) {
      FinishFailed(*task, InvalidArgumentError("model '" + task->task.request.model +
                                               "' is not loaded by this worker"));
    }
    return;
  }

  // Progress of the batch coalesced per step: the reports of one step go together (one
  // publication, one exchange), sent once every job reported the step or the next step began.
  std::vector<ProgressReport> pending;
  std::vector<size_t> pending_jobs;
  auto flush = [&] {
    if (pending.empty()) return;
    std::vector<Status> statuses = source_->ProgressBatch(std::move(pending));
    for (size_t k = 0; k < pending_jobs.size() && k < statuses.size(); ++k) {
      if (statuses[k].code() == StatusCode::kAborted) {
        RequestStop(*live[pending_jobs[k]], StopReason::kLeaseLost);
      }
    }
    pending.clear();
    pending_jobs.clear();
  };
  ProgressSink sink = [&](const ProgressEvent& event) {
    if (event.job_index >= live.size()) return;
    HeldTask& task = *live[event.job_index];
    task.step.store(event.step);
    if (std::find(pending_jobs.begin(), pending_jobs.end(), event.job_index) !=
        pending_jobs.end()) {
      flush();  // a new step began before every job reported the last one
    }
    std::string preview;
    if (options_.preview_every > 0 && event.step % options_.preview_every == 0) {
      preview = event.preview_png;
    }
    pending.push_back({task.task.id, task.task.fencing, TaskProgress{event.step, event.steps},
                       std::move(preview)});
    pending_jobs.push_back(event.job_index);
    if (pending.size() >= live.size()) flush();
    if (options_.clock->Now() >= deadlines[event.job_index]) {
      RequestStop(task, StopReason::kTimeout);
    }
  };
  std::vector<Result<std::vector<GeneratedImage>>> results = engine->Generate(jobs, sink);
  flush();
  // The successes complete together (one batch report); every other end is reported alone.
  std::vector<HeldTask*> succeeded;
  std::vector<TaskImages> completions;
  for (size_t i = 0; i < live.size(); ++i) {
    if (i >= results.size()) {
      FinishFailed(*live[i], InternalError("the engine returned no result for this job"));
    } else if (!results[i].ok()) {
      FinishFailed(*live[i], results[i].status());
    } else {
      TaskImages done{live[i]->task.id, live[i]->task.fencing, std::move(*results[i])};
      succeeded.push_back(live[i].get());
      completions.push_back(std::move(done));
    }
  }
  if (!succeeded.empty()) CompleteAll(succeeded, std::move(completions));
}

void Worker::CompleteAll(const std::vector<HeldTask*>& tasks, std::vector<TaskImages> batch) {
  // As ReportOnce, for the batch: the tasks whose report was not heard (kUnavailable) are sent
  // again together while their leases may still be alive.
  std::vector<size_t> open(tasks.size());
  for (size_t i = 0; i < open.size(); ++i) open[i] = i;
  for (HeldTask* task : tasks) task->reporting.store(true);
  Millis pause = kReportRetryPause;
  const auto give_up = std::chrono::steady_clock::now() + options_.lease_duration;
  for (int attempt = 1; !open.empty(); ++attempt) {
    std::vector<TaskImages> sending;
    for (size_t i : open) sending.push_back(batch[i]);
    std::vector<Result<Task>> results = source_->CompleteBatch(std::move(sending));
    std::vector<size_t> again;
    const bool may_retry = std::chrono::steady_clock::now() + pause <= give_up;
    for (size_t k = 0; k < open.size(); ++k) {
      const HeldTask& task = *tasks[open[k]];
      const Status status =
          k < results.size() ? results[k].status() : InternalError("no reply for this task");
      if (status.ok()) {
        LogDebug("task succeeded", {{"task_id", task.task.id}, {"worker_id", info_.id}});
      } else if (status.code() == StatusCode::kAborted) {
        LogWarn("lease lost before the report was recorded; dropped, not retried",
                {{"task_id", task.task.id}, {"report", "complete"}, {"error", status.ToString()}});
      } else if (status.code() == StatusCode::kUnavailable && may_retry) {
        if (attempt == 1) {
          LogWarn(
              "report not heard; retrying while the lease may still be alive",
              {{"task_id", task.task.id}, {"report", "complete"}, {"error", status.ToString()}});
        }
        again.push_back(open[k]);
      } else {
        LogError("report failed", {{"task_id", task.task.id},
                                   {"report", "complete"},
                                   {"error", status.ToString()},
                                   {"tries", std::to_string(attempt)}});
      }
    }
    open = std::move(again);
    if (open.empty()) break;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kReportRetryPauseMax);
  }
  for (HeldTask* task : tasks) Forget(*task);
}

void Worker::FinishFailed(HeldTask& task, const Status& error) {
  if (error.code() == StatusCode::kCancelled) {
    FinishStopped(task);
    return;
  }
  const std::string& id = task.task.id;
  EngineFailure classified = ClassifyEngineError(error);
  Failure failure;
  failure.task_id = id;
  failure.fencing = task.task.fencing;
  failure.kind = classified.kind;
  failure.error = classified.error;
  if (failure.kind == FailureKind::kTransient) {
    failure.retry_after =
        RetryBackoff(task.task.attempts, options_.retry_backoff_base, options_.retry_backoff_max);
  }
  ReportOnce(task, "fail", [&] { return source_->Fail(failure).status(); });
  LogInfo("task failed", {{"task_id", id},
                          {"code", failure.error.code},
                          {"transient", failure.kind == FailureKind::kTransient ? "yes" : "no"},
                          {"error", error.ToString()}});
  Forget(task);
}

bool Worker::LoadInputs(HeldTask& task, EngineJob& job) {
  const GenerationRequest& request = task.task.request;
  Status error;
  auto load = [&](const std::optional<ImageInput>& input, const char* field,
                  std::shared_ptr<const RgbImage>& pixels) {
    if (!input || !error.ok()) return;
    Result<std::string> bytes = source_->GetInput(input->sha256);
    if (!bytes.ok()) {
      error = Status(bytes.status().code(),
                     std::string(field) + " " + input->sha256 + ": " + bytes.status().message());
      return;
    }
    Result<RgbImage> image = DecodeImage(*bytes);
    if (!image.ok()) {
      error = DataLossError(std::string(field) + " " + input->sha256 +
                            " does not decode: " + image.status().message());
      return;
    }
    pixels = std::make_shared<const RgbImage>(std::move(*image));
  };
  load(request.init_image, "init_image", job.init_image);
  load(request.mask_image, "mask_image", job.mask_image);
  if (error.ok()) return true;
  Failure failure;
  failure.task_id = task.task.id;
  failure.fencing = task.task.fencing;
  if (error.code() == StatusCode::kUnavailable) {
    failure.kind = FailureKind::kTransient;
    failure.error = {"input_unavailable",
                     "the result store holding the image inputs cannot be "
                     "reached: " +
                         error.message()};
    failure.retry_after =
        RetryBackoff(task.task.attempts, options_.retry_backoff_base, options_.retry_backoff_max);
  } else {
    failure.kind = FailureKind::kPermanent;
    failure.error = {"input_missing",
                     "an image input of this task cannot be read: " + error.message()};
  }
  ReportOnce(task, "fail", [&] { return source_->Fail(failure).status(); });
  LogInfo("task failed",
          {{"task_id", task.task.id}, {"code", failure.error.code}, {"error", error.ToString()}});
  Forget(task);
  return false;
}

void Worker::FinishStopped(HeldTask& task) {
  const std::string& id = task.task.id;
  const uint64_t fencing = task.task.fencing;
  switch (task.stop.load()) {
    case StopReason::kCancelRequested:
      ReportOnce(task, "mark canceled",
                 [&] { return source_->MarkCanceled(id, fencing).status(); });
      LogInfo("task canceled", {{"task_id", id}});
      break;
    case StopReason::kTimeout: {
      Failure failure;
      failure.task_id = id;
      failure.fencing = fencing;
      failure.kind = FailureKind::kPermanent;  // the same request would only time out again
      failure.error = {"timeout", "the attempt ran longer than the request's timeout_s (" +
                                      std::to_string(task.task.request.timeout_s) + " s)"};
      ReportOnce(task, "fail", [&] { return source_->Fail(failure).status(); });
      LogInfo("task timed out", {{"task_id", id}});
      break;
    }
    case StopReason::kDrain: {
      // Released only once the leaser has ended, so a Lease call still blocking cannot take the
      // task straight back (the lease is renewed meanwhile).
      MutexLock lock(mu_);
      runner_cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return leaser_done_; });
      lock.Unlock();
      ReportOnce(task, "release", [&] { return source_->Release(id, fencing).status(); });
      LogInfo("task released (drain)", {{"task_id", id}});
      break;
    }
    case StopReason::kLeaseLost:
      LogWarn("lease lost; the task's work is dropped", {{"task_id", id}});
      break;
    case StopReason::kNone: {  // the engine cancelled a job nobody stopped: an engine bug
      Failure failure;
      failure.task_id = id;
      failure.fencing = fencing;
      failure.kind = FailureKind::kTransient;
      failure.error = {"engine_error", "the engine cancelled the job unasked"};
      failure.retry_after =
          RetryBackoff(task.task.attempts, options_.retry_backoff_base, options_.retry_backoff_max);
      ReportOnce(task, "fail", [&] { return source_->Fail(failure).status(); });
      break;
    }
  }
  Forget(task);
}

void Worker::ReportOnce(HeldTask& task, std::string_view what,
                        const std::function<Status()>& call) {
  task.reporting.store(true);
  Millis pause = kReportRetryPause;
  const auto give_up = std::chrono::steady_clock::now() + options_.lease_duration;
  for (int attempt = 1;; ++attempt) {
    Status status = call();
    if (status.ok()) return;
    if (status.code() == StatusCode::kAborted) {
      LogWarn(
          "lease lost before the report was recorded; dropped, not retried",
          {{"task_id", task.task.id}, {"report", std::string(what)}, {"error", status.ToString()}});
      return;
    }
    if (status.code() != StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() + pause > give_up) {
      LogError("report failed", {{"task_id", task.task.id},
                                 {"report", std::string(what)},
                                 {"error", status.ToString()},
                                 {"tries", std::to_string(attempt)}});
      return;
    }
    if (attempt == 1) {
      LogWarn(
          "report not heard; retrying while the lease may still be alive",
          {{"task_id", task.task.id}, {"report", std::string(what)}, {"error", status.ToString()}});
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kReportRetryPauseMax);
  }
}

}  // namespace stipple
