// The Worker's lifecycle, its leaser and its heartbeats. The runner is in worker_run.cc.
#include "worker/worker.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <unistd.h>

#include "common/id.h"
#include "common/log.h"
#include "worker/batching.h"

namespace stipple {
namespace {

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

bool AnyHighPriority(const std::vector<LeasedTask>& tasks) {
  return std::any_of(tasks.begin(), tasks.end(), [](const LeasedTask& t) {
    return t.task.request.priority == Priority::kHigh;
  });
}

}  // namespace

Worker::Worker(WorkSource* source, std::vector<Engine*> engines, WorkerOptions options)
    : source_(source), options_(std::move(options)) {
  for (Engine* engine : engines) {
    if (engine != nullptr) engines_[engine->limits().name] = engine;
  }
  if (options_.worker_id.empty()) options_.worker_id = NewId("wkr");
  if (options_.heartbeat_interval <= Millis(0)) {
    options_.heartbeat_interval = std::max(Millis(1), options_.lease_duration / 10);
  }
  info_.id = options_.worker_id;
  info_.host = options_.host.empty() ? HostName() : options_.host;
  info_.device = options_.device;
  info_.max_batch = options_.max_batch;
  if (options_.models.empty()) {
    for (const auto& [model, engine] : engines_) info_.models.push_back(model);
  } else {
    info_.models = options_.models;
  }
}

Worker::~Worker() { Drain(options_.drain_grace); }

Status Worker::Start() {
  if (source_ == nullptr || engines_.empty()) {
    return InvalidArgumentError("a worker needs a WorkSource and at least one engine");
  }
  for (const std::string& model : info_.models) {
    if (engines_.count(model) == 0) {
      return InvalidArgumentError("worker model '" + model + "' is not loaded by any engine");
    }
  }
  if (options_.max_batch < 1) return InvalidArgumentError("max_batch must be at least 1");
  if (options_.batch_window < Millis(0)) return InvalidArgumentError("batch_window must be >= 0");
  if (options_.lease_duration < Millis(1) || options_.lease_duration > kMaxLeaseDuration) {
    return InvalidArgumentError("lease_duration out of range");
  }
  if (options_.heartbeat_interval >= options_.lease_duration) {
    return InvalidArgumentError("heartbeat_interval must be shorter than lease_duration");
  }
  if (options_.lease_wait < Millis(1) || options_.lease_wait > kMaxLeaseWait) {
    return InvalidArgumentError("lease_wait out of range");
  }
  if (options_.preview_every < 0) return InvalidArgumentError("preview_every must be >= 0");
  {
    MutexLock lock(mu_);
    if (started_) return FailedPreconditionError("worker already started");
    started_ = true;
  }
  RETURN_IF_ERROR(source_->Register(info_));
  SetState(WorkerState::kIdle);
  heartbeats_ = std::thread([this] { HeartbeatLoop(); });
  runner_ = std::thread([this] { RunLoop(); });
  leaser_ = std::thread([this] { LeaseLoop(); });
  LogInfo("worker started",
          {{"worker_id", info_.id}, {"max_batch", std::to_string(options_.max_batch)}});
  return Status::Ok();
}

void Worker::Drain(Millis grace) {
  Batch not_started;
  {
    MutexLock lock(mu_);
    if (!started_ || draining_) return;
    draining_ = true;
    for (Batch& batch : ready_) {
      for (auto& task : batch) not_started.push_back(std::move(task));
    }
    ready_.clear();
  }
  SetState(WorkerState::kDraining);
  leaser_cv_.notify_all();
  LogInfo("worker draining",
          {{"worker_id", info_.id}, {"grace_ms", std::to_string(grace.count())}});

  // Let the running batch finish within the grace; past it, stop it at its next step (its
  // tasks are then released by the runner).
  {
    MutexLock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    if (!drain_cv_.wait_until(lock.native(), deadline,
                              [&]() REQUIRES(mu_) { return running_.empty(); })) {
      for (auto& task : running_) RequestStop(*task, StopReason::kDrain);
    }
  }
  if (leaser_.joinable()) leaser_.join();
  // Tasks leased ahead never started: give them back (no attempt counted). Only now, with the
  // leaser gone: released earlier, its Lease call still blocking might take them right back.
  // Their leases stay renewed meanwhile.
  for (auto& task : not_started) {
    ReportOnce(*task, "release",
               [&] { return source_->Release(task->task.id, task->task.fencing).status(); });
    Forget(*task);
  }
  if (runner_.joinable()) runner_.join();
  {
    MutexLock lock(mu_);
    stop_heartbeats_ = true;
  }
  heartbeat_cv_.notify_all();
  if (heartbeats_.joinable()) heartbeats_.join();
  source_->Unregister(info_.id);
  SetState(WorkerState::kStopped);
  LogInfo("worker drained", {{"worker_id", info_.id}});
}

bool Worker::Draining() {
  MutexLock lock(mu_);
  return draining_;
}

// The prefetch bound: the leaser leases only when no batch is waiting, so the worker holds at
// most the running batch plus one lease round (max_batch tasks) ahead of it.
bool Worker::WaitForPrefetchRoom() {
  MutexLock lock(mu_);
  leaser_cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return draining_ || ready_.empty(); });
  return !draining_;
}

void Worker::LeaseLoop() {
  while (WaitForPrefetchRoom()) {
    Result<std::vector<LeasedTask>> leased = LeaseBatch();
    if (!leased.ok()) {
      LogWarn("lease failed; backing off",
              {{"worker_id", info_.id}, {"error", leased.status().ToString()}});
      MutexLock lock(mu_);
      leaser_cv_.wait_for(lock.native(), std::min(options_.lease_wait, Millis(1'000)),
                          [&]() REQUIRES(mu_) { return draining_; });
      continue;
    }
    QueueBatches(std::move(leased).value());
  }
  {
    MutexLock lock(mu_);
    leaser_done_ = true;
  }
  runner_cv_.notify_all();
}

// One blocking lease, then — unless a high-priority task came — more leases for up to
// batch_window to fill the batch while the queue has tasks.
Result<std::vector<LeasedTask>> Worker::LeaseBatch() {
  LeaseRequest request;
  request.worker_id = info_.id;
  request.models = info_.models;
  request.max_tasks = options_.max_batch;
  request.lease_duration = options_.lease_duration;
  request.wait = options_.lease_wait;
  ASSIGN_OR_RETURN(std::vector<LeasedTask> tasks, source_->Lease(request));
  if (tasks.empty() || options_.batch_window <= Millis(0)) return tasks;
  const auto deadline = std::chrono::steady_clock::now() + options_.batch_window;
  while (static_cast<int>(tasks.size()) < options_.max_batch && !AnyHighPriority(tasks) &&
         !Draining()) {
    const auto left = std::chrono::ceil<Millis>(deadline - std::chrono::steady_clock::now());
    if (left <= Millis(0)) break;
    request.max_tasks = options_.max_batch - static_cast<int>(tasks.size());
    request.wait = left;
    Result<std::vector<LeasedTask>> more = source_->Lease(request);
    if (!more.ok() || more->empty()) break;  // what we hold is still a batch; errors show next
    for (LeasedTask& t : *more) tasks.push_back(std::move(t));
  }
  return tasks;
}

void Worker::QueueBatches(std::vector<LeasedTask> leased) {
  if (leased.empty()) return;
  Batch held;
  for (LeasedTask& t : leased) {
    auto task = std::make_shared<HeldTask>();
    task->task = std::move(t.task);
    held.push_back(std::move(task));
  }
  bool draining = false;
  {
    MutexLock lock(mu_);
    draining = draining_;
    if (!draining) {
      for (auto& task : held) held_[task->task.id] = task;
      for (Batch& batch :
           GroupCompatible(held, options_.max_batch,
                           [](const std::shared_ptr<HeldTask>& t) -> const GenerationRequest& {
                             return t->task.request;
                           })) {
        ready_.push_back(std::move(batch));
      }
    }
  }
  if (draining) {  // leased while Drain began: hand back untouched
    for (auto& task : held) {
      ReportOnce(*task, "release",
                 [&] { return source_->Release(task->task.id, task->task.fencing).status(); });
    }
    return;
  }
  for (auto& task : held) {
    LogDebug("task leased", {{"worker_id", info_.id},
                             {"task_id", task->task.id},
                             {"fencing", std::to_string(task->task.fencing)}});
  }
  runner_cv_.notify_all();
}

// Renews every held task's lease on its own schedule, so a long engine step never lets a lease
// lapse, and carries cancel requests and lost leases to the tasks' CancelTokens.
void Worker::HeartbeatLoop() {
  MutexLock lock(mu_);
  while (true) {
    heartbeat_cv_.wait_for(lock.native(), options_.heartbeat_interval,
                           [&]() REQUIRES(mu_) { return stop_heartbeats_; });
    if (stop_heartbeats_) return;
    std::vector<std::shared_ptr<HeldTask>> tasks;
    tasks.reserve(held_.size());
    for (const auto& [id, task] : held_) tasks.push_back(task);
    lock.Unlock();
    for (const auto& task : tasks) {
      std::optional<TaskProgress> progress;
      const int step = task->step.load();
      if (step > 0) progress = TaskProgress{step, StepsToRun(task->task.request)};
      Result<HeartbeatReply> reply =
          source_->Heartbeat(task->task.id, task->task.fencing, options_.lease_duration, progress);
      if (reply.ok()) {
        if (reply->cancel_requested) RequestStop(*task, StopReason::kCancelRequested);
        continue;
      }
      {
        MutexLock held_lock(mu_);
        auto it = held_.find(task->task.id);
        if (it == held_.end() || it->second != task) continue;  // reported meanwhile
      }
      if (task->reporting.load()) {  // its final report may be recorded already: that decides
        LogDebug("heartbeat refused while the task's report is on its way",
                 {{"task_id", task->task.id}, {"error", reply.status().ToString()}});
        continue;
      }
      const StatusCode code = reply.status().code();
      if (code == StatusCode::kAborted || code == StatusCode::kNotFound ||
          code == StatusCode::kFailedPrecondition) {
        LogWarn("lease lost; stopping the task",
                {{"task_id", task->task.id}, {"error", reply.status().ToString()}});
        RequestStop(*task, StopReason::kLeaseLost);
      } else {  // kUnavailable and the like: the lease still has time; the next beat retries
        LogWarn("heartbeat failed",
                {{"task_id", task->task.id}, {"error", reply.status().ToString()}});
      }
    }
    lock.Lock();
  }
}

void Worker::RequestStop(HeldTask& task, StopReason reason) {
  StopReason expected = StopReason::kNone;
  if (!task.stop.compare_exchange_strong(expected, reason) && reason == StopReason::kLeaseLost) {
    task.stop.store(StopReason::kLeaseLost);
  }
  task.cancel.Cancel();
}

void Worker::Forget(const HeldTask& task) {
  MutexLock lock(mu_);
  auto it = held_.find(task.task.id);
  if (it != held_.end() && it->second.get() == &task) held_.erase(it);
}

void Worker::SetState(WorkerState state) {
  if (state_.exchange(state) != state && options_.on_state_change) options_.on_state_change(state);
}

}  // namespace stipple
