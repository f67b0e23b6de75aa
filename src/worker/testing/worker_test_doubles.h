// Test doubles that isolate the Worker in its tests and its benchmark: an in-memory WorkSource
// with the store's lease, fencing, retry and cancel rules (and counters of every call), and an
// Engine that returns at once, sleeps per step or fails on demand. Neither is part of the
// product; the product runs a real WorkSource and the real pipeline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/thread_annotations.h"
#include "engine/engine.h"
#include "service/task_service.h"

namespace stipple {

// In-memory WorkSource for tests. Leases lapse in real (steady) time: a call that arrives after
// its lease expired counts in lapses() and gets kAborted, as a real store would answer once the
// task had been requeued. Thread-safe.
class InMemoryTestWorkSource final : public WorkSource {
 public:
  struct ProgressRecord {
    std::string task_id;
    int step = 0;
    int steps = 0;
    bool has_preview = false;
  };

  // Adds a queued task; ids sort in creation order.
  std::string Enqueue(GenerationRequest request, int max_attempts = 3);
  // Queued → canceled; running → cancel_requested (seen by the holder's next heartbeat).
  void RequestCancel(const std::string& task_id);
  // The lease lapsed and another worker leased the task: the fencing number moves on, so every
  // later report of the current holder gets kAborted.
  void StealLease(const std::string& task_id);

  // For `duration` from now, Heartbeat, Progress and Complete answer kUnavailable (the service
  // is down) and record nothing but the attempt (completes() counts it).
  void SetUnavailableFor(std::chrono::milliseconds duration);

  // Called after each recorded Progress, on the caller's thread (the worker's runner, inside
  // the engine's step loop) and outside the lock: a hook that blocks makes a long step.
  void SetOnProgress(std::function<void(const std::string& task_id, int step)> on_progress);
  // Called by CompleteBatch after it recorded every completion, before it returns (outside the
  // lock): a worker's heartbeats then meet ended tasks it still holds. Set before the worker
  // starts, as SetOnProgress.
  void SetOnCompleted(std::function<void()> on_completed);

  Task Get(const std::string& task_id) const;
  std::vector<GeneratedImage> images(const std::string& task_id) const;  // as completed
  // Blocks until `predicate` (called under the lock with this object) holds or `timeout` passes.
  bool WaitFor(const std::function<bool(const InMemoryTestWorkSource&)>& predicate,
               std::chrono::milliseconds timeout) const;
  bool WaitForTerminal(const std::vector<std::string>& ids,
                       std::chrono::milliseconds timeout) const;

  // Counters and records (copies, taken under the lock). The *Locked variants are for use
  // inside a WaitFor predicate, which already holds it (the analysis cannot follow the lock into
  // a std::function, so they are NO_THREAD_SAFETY_ANALYSIS).
  int heartbeats(const std::string& task_id) const;
  int completes(const std::string& task_id) const;
  int lapses() const;
  int running() const;
  int RunningLocked() const NO_THREAD_SAFETY_ANALYSIS;
  bool IsTerminalLocked(const std::string& task_id) const NO_THREAD_SAFETY_ANALYSIS;
  // Tasks that reached a terminal state.
  int TerminalCountLocked() const NO_THREAD_SAFETY_ANALYSIS { return terminal_; }
  int ProgressCountLocked(const std::string& task_id) const NO_THREAD_SAFETY_ANALYSIS;
  std::vector<ProgressRecord> progress(const std::string& task_id) const;
  std::vector<Failure> failures() const;
  std::vector<std::string> releases() const;
  // The task's last reported step when a heartbeat reply first carried cancel_requested.
  std::optional<int> cancel_seen_at_step(const std::string& task_id) const;
  // The sizes of the CompleteBatch and ProgressBatch calls, in order (each report of a batch is
  // then recorded as its own Complete or Progress).
  std::vector<size_t> complete_batches() const;
  std::vector<size_t> progress_batches() const;
  std::vector<WorkerInfo> registered() const;
  std::vector<std::string> unregistered() const;

  // WorkSource.
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

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  struct Record {
    Task task;
    int64_t seq = 0;
    SteadyTime lease_expires{};
    SteadyTime not_before{};
    int last_step = 0;
    std::optional<int> cancel_seen_at_step;
    int heartbeats = 0;
    int completes = 0;
    std::vector<GeneratedImage> images;
  };

  // The running record under `fencing`, or the kAborted/kNotFound a real store gives.
  Result<Record*> Holder(const std::string& task_id, uint64_t fencing) REQUIRES(mu_);
  void Finish(Record& record, TaskState state) REQUIRES(mu_);

  mutable Mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, Record> tasks_ GUARDED_BY(mu_);
  int64_t next_seq_ GUARDED_BY(mu_) = 0;
  uint64_t next_fencing_ GUARDED_BY(mu_) = 0;
  int lapses_ GUARDED_BY(mu_) = 0;
  SteadyTime unavailable_until_ GUARDED_BY(mu_){};
  int terminal_ GUARDED_BY(mu_) = 0;
  std::vector<ProgressRecord> progress_ GUARDED_BY(mu_);
  std::vector<Failure> failures_ GUARDED_BY(mu_);
  std::vector<std::string> releases_ GUARDED_BY(mu_);
  std::vector<WorkerInfo> registered_ GUARDED_BY(mu_);
  std::vector<std::string> unregistered_ GUARDED_BY(mu_);
  std::vector<size_t> complete_batches_ GUARDED_BY(mu_);
  std::vector<size_t> progress_batches_ GUARDED_BY(mu_);
  // Set before the worker starts; called outside the lock.
  std::function<void(const std::string&, int)> on_progress_;
  std::function<void()> on_completed_;
};

struct TestDoubleEngineOptions {
  std::string model = "test-model";
  std::chrono::milliseconds step_delay{0};  // slept once per step of a batch
  int preview_every = 1;                    // events carry "preview:<step>" every k steps
};

// Engine for tests: validates jobs with CheckEngineJobs like a real engine, runs `steps` steps
// (checking cancel tokens before each, as the contract says), emits progress, and returns
// "png:<prompt>:<seed>" images — or the error set for a prompt. Serializes its calls.
class TestDoubleEngine final : public Engine {
 public:
  struct Call {
    std::vector<std::string> prompts;
    // Each job's decoded image inputs as the worker handed them over (null: none).
    std::vector<std::shared_ptr<const RgbImage>> init_images;
    std::vector<std::shared_ptr<const RgbImage>> mask_images;
    std::chrono::steady_clock::time_point start;
    std::chrono::steady_clock::time_point end;
  };

  explicit TestDoubleEngine(TestDoubleEngineOptions options = {});

  // Jobs with this prompt end with `status` (after their steps) instead of images.
  void FailPrompt(const std::string& prompt, Status status);
  // Set before the worker starts: called on the engine's thread after each step of a batch,
  // before that step's progress events, and just before Generate returns.
  void SetOnStep(std::function<void(int step)> on_step);
  void SetOnFinish(std::function<void()> on_finish);

  std::vector<Call> calls() const;

  ModelLimits limits() const override;
  std::vector<Result<std::vector<GeneratedImage>>> Generate(std::span<const EngineJob> jobs,
                                                            const ProgressSink& progress) override;

 private:
  TestDoubleEngineOptions options_;
  std::function<void(int)> on_step_;
  std::function<void()> on_finish_;
  mutable Mutex mu_;
  std::map<std::string, Status> failures_ GUARDED_BY(mu_);
  std::vector<Call> calls_ GUARDED_BY(mu_);
  Mutex generate_mu_;  // one Generate at a time, as a model runs
};

}  // namespace stipple
