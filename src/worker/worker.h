// Worker: takes tasks of its models from a WorkSource, runs them on its engines in batches and
// reports each outcome with its lease's fencing number. One Worker drives one device: it runs one
// batch at a time (an Engine serializes its calls anyway) and leases the next batch while the
// current one runs. docs/worker.md describes the loop, leases, batching, drain and errors.
//
// Threads (all owned by the Worker, started by Start, joined by Drain):
//  - the leaser blocks in WorkSource::Lease (a blocking wait, never periodic polling), groups
//    what it gets into compatible batches and queues them, holding at most one batch ahead of
//    the one running (the prefetch bound);
//  - the runner takes batches in order and calls Engine::Generate with a progress sink that
//    publishes every step and a CancelToken per task, then completes, fails, cancels or
//    releases each task on its own;
//  - the heartbeat thread renews the lease of every held task (queued ahead or running) every
//    heartbeat_interval, independently of how long an engine step takes, and turns a reply's
//    cancel_requested or a lost lease into that task's CancelToken.
//
// Contract:
//  - The WorkSource and the engines outlive the Worker (or at least its Drain).
//  - Start once; Drain once (later calls return at once); the destructor drains with no grace.
//  - state() and info() are safe from any thread. Drain and the destructor must not run
//    concurrently with each other or with Start.
//  - A result is reported once: a kAborted reply (lease lost) to Complete, Fail, Release or
//    MarkCanceled is logged and dropped, never retried; only kUnavailable is retried (the same
//    fencing number makes the retry safe).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "engine/engine.h"
#include "service/task_service.h"

namespace stipple {

struct WorkerOptions {
  // The registry's name for this worker. Empty: NewId("wkr").
  std::string worker_id;
  // For WorkerInfo. Empty host: the machine's hostname.
  std::string host;
  std::string device = "cpu";
  // The models to lease. Empty: every engine's model. Each must be an engine's model.
  std::vector<std::string> models;

  // Compatible tasks run in one Engine::Generate call, up to this many.
  int max_batch = 4;
  // After a lease returns fewer than max_batch tasks, keep leasing (blocking) for up to this
  // long to fill the batch — except when a high-priority task is among them, which is never
  // held back. 0: run what the first lease returned.
  Millis batch_window{10};

  // Each lease, and each renewal, lasts this long. A worker that dies loses its tasks this long
  // after its last heartbeat.
  Millis lease_duration{30'000};
  // Heartbeats renew every held task's lease this often, and carry cancel requests back, so
  // this bounds the delay between a cancel and the engine stopping (plus one step). 0:
  // lease_duration / 10.
  Millis heartbeat_interval{1'000};
  // How long one WorkSource::Lease call blocks when nothing is queued. A task enqueued during
  // the wait is handed over at once; the wait only bounds how long Drain waits for an idle
  // leaser to notice it is draining.
  Millis lease_wait{2'000};

  // Transient engine failures retry after RetryBackoff(attempt, base, max); the store fails the
  // task once its max_attempts are used up.
  Millis retry_backoff_base{2'000};
  Millis retry_backoff_max{60'000};

  // Progress is published after every step; the engine's preview PNG is forwarded with it when
  // step % preview_every == 0 (the engine renders previews at its own interval, so make this a
  // multiple of it). 0: never forward previews.
  int preview_every = 5;

  // Grace the destructor gives running work when Drain was not called.
  Millis drain_grace{0};

  // Deadlines (timeout_s) are measured on this clock; tests use a ManualClock.
  const Clock* clock = SystemClock::Get();
  // Called on a worker thread whenever state() changes (e.g. to update the registry). Must not
  // block or call back into the Worker.
  std::function<void(WorkerState)> on_state_change;
};

class Worker {
 public:
  // `engines`: one per model this worker can run; not owned.
  Worker(WorkSource* source, std::vector<Engine*> engines, WorkerOptions options = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Registers with the WorkSource and starts the threads. kInvalidArgument: a bad option or a
  // model no engine runs; the WorkSource's error when Register fails; kFailedPrecondition when
  // started before.
  Status Start();

  // Stops leasing; lets the running batch finish for up to `grace`, then cancels it at its next
  // step; gives back (Release, no attempt counted) what did not finish and what was leased but
  // never started; unregisters and returns once every thread has ended. Releases wait for the
  // leaser's last Lease call to return, so a draining worker never re-leases what it gave
  // back. Takes about max(grace + one engine step, lease_wait) at most.
  void Drain(Millis grace);

  WorkerState state() const { return state_.load(std::memory_order_acquire); }
  const WorkerInfo& info() const { return info_; }

 private:
  // Why a held task must stop before its engine work ends. The first reason wins, except that a
  // lost lease overrides any other (nothing may be reported for it any more).
  enum class StopReason : int { kNone, kCancelRequested, kTimeout, kDrain, kLeaseLost };

  // A task between its lease and its final report. Shared by the thread that holds it (leaser,
  // then runner) and the heartbeat thread; the fields that both touch are atomic.
  struct HeldTask {
    Task task;           // as leased: id, fencing, attempts, request
    CancelToken cancel;  // raised together with `stop`
    std::atomic<StopReason> stop{StopReason::kNone};
    std::atomic<int> step{0};  // last step reported by the engine (for heartbeats)
    // Set before its final report is sent: a heartbeat refused from then on (the report already
    // recorded, the task ended) is expected, not a lost lease.
    std::atomic<bool> reporting{false};
  };
  using Batch = std::vector<std::shared_ptr<HeldTask>>;

  // Threads.
  void LeaseLoop();
  void RunLoop();
  void HeartbeatLoop();

  // Leaser helpers (worker.cc).
  Result<std::vector<LeasedTask>> LeaseBatch();
  bool Draining();
  void QueueBatches(std::vector<LeasedTask> leased);
  bool WaitForPrefetchRoom();

  // Runner helpers (worker_run.cc).
  void RunBatch(Batch batch);
  // Reports a task whose engine job ended without images (failed, or stopped: kCancelled).
  void FinishFailed(HeldTask& task, const Status& error);
  // Sets the job's init_image and mask_image from the task's inputs (WorkSource::GetInput, then
  // decoded); false when one cannot be had, after failing the task: "input_missing"
  // (permanent: the store has no such input, or it does not decode) or "input_unavailable"
  // (transient: the store cannot be reached now).
  bool LoadInputs(HeldTask& task, EngineJob& job);
  void FinishStopped(HeldTask& task);
  // Reports the tasks' successes in one CompleteBatch (retrying the unheard ones), then forgets
  // them. batch[i] is tasks[i]'s.
  void CompleteAll(const std::vector<HeldTask*>& tasks, std::vector<TaskImages> batch);
  void ReportOnce(HeldTask& task, std::string_view what, const std::function<Status()>& call);
  Engine* EngineFor(const std::string& model) const;

  static void RequestStop(HeldTask& task, StopReason reason);
  void Forget(const HeldTask& task);
  void SetState(WorkerState state);
  void SetBusy(bool busy);  // idle <-> busy; never leaves kDraining

  WorkSource* const source_;
  std::map<std::string, Engine*> engines_;  // by model name
  WorkerOptions options_;
  WorkerInfo info_;
  std::atomic<WorkerState> state_{WorkerState::kStopped};

  Mutex mu_;
  // One condition variable per waiter, so a change wakes only the thread that waits for it.
  std::condition_variable leaser_cv_;     // ready_ emptied, or draining_
  std::condition_variable runner_cv_;     // ready_ filled, or leaser_done_
  std::condition_variable drain_cv_;      // running_ emptied
  std::condition_variable heartbeat_cv_;  // stop_heartbeats_
  std::map<std::string, std::shared_ptr<HeldTask>> held_ GUARDED_BY(mu_);  // by task id
  std::deque<Batch> ready_ GUARDED_BY(mu_);                                // leased, not started
  Batch running_ GUARDED_BY(mu_);
  bool started_ GUARDED_BY(mu_) = false;
  bool draining_ GUARDED_BY(mu_) = false;
  bool leaser_done_ GUARDED_BY(mu_) = false;
  bool stop_heartbeats_ GUARDED_BY(mu_) = false;

  std::thread leaser_;
  std::thread runner_;
  std::thread heartbeats_;
};

}  // namespace stipple
