// LocalTaskService: TaskService and WorkSource of a `stipple serve` or `stipple gateway` process,
// over a TaskStore, an EventBus and a ResultStore (SQLite, in memory and files by default; Redis
// and S3 across gateways), all owned by the caller and outliving the service.
//
// What it adds to the store:
//  - Admission: Submit refuses with kResourceExhausted ("retry after N s", see QueueFullError)
//    when max_queue tasks are queued, with TenantQuotaError when the task's tenant has its
//    tenant_max_queued queued (both decided by the store in the enqueue's transaction, from
//    counts it keeps: the same cost at any backlog), and with kUnavailable once Drain() was
//    called.
//  - Events: every transition it makes (and every one the housekeeper's Reap reports) is
//    published once the store has committed it. Per task the events are numbered by the bus in
//    publication order, and the service keeps that order equal to the order of the transitions:
//    it remembers, per live task, what it has published (its Ledger), so when the `started` of
//    a new lease would come before the `retrying` of the lease it replaced (the housekeeper's
//    Reap and a waiting worker's lease finish at the same moment), the `retrying` is published
//    first and the late one is dropped; likewise a `queued` is always first.
//  - A task the bus knows nothing about (created before a restart, or ended longer ago than the
//    bus keeps histories) gets a history rebuilt from its record (queued, started if it ever
//    started, its terminal event if it ended), so a subscriber always receives the terminal
//    event, and a replay (Last-Event-ID) of an ended task gives its state changes, never only
//    its end.
//  - Outputs: Complete stores the images under the lease's fencing number before completing (a
//    worker's batch: every image in one PutBatch, every completion in one store write);
//    when the store refuses the completion (stale lease, task no longer running) they are
//    deleted again. Expired outputs are deleted by the housekeeper, and so, every
//    output_sweep_interval (and at its first pass, after a start), are the outputs no lease owns:
//    those of a lease other than the one that completed an ended task (a lease lost after its
//    images were stored), all those of a task that ended without succeeding, and those of a task
//    the store does not know. Tasks not yet ended are left alone.
//  - Readiness: Ready() is kUnavailable while draining, when the store does not answer, and while
//    writes are refused: after a task-store or result-store write failed with kUnavailable (a
//    full disk, a read-only file system, a store that cannot be reached), until a write succeeds
//    again or write_refusal_hold has passed without another refusal (then the next write tells).
//  - A worker registry behind Queue(), recent throughput and run times, and the task totals
//    (counters by final state, wait/run/end-to-end histograms) of the tasks it submitted and ended.
//  - Housekeeping: a thread calls TaskStore::Reap every reap_interval (real time).
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "notify/event_bus.h"
#include "results/result_store.h"
#include "service/task_service.h"
#include "store/task_store.h"

namespace stipple {

struct LocalTaskServiceOptions {
  const Clock* clock = SystemClock::Get();  // the store's clock: event times, output retention
  // Submit refuses once this many tasks (all models, all priorities) are queued; 0: no limit.
  int64_t max_queue = 10'000;
  Millis queue_full_retry_after{5'000};         // the hint sent with a queue-full refusal
  Millis output_retention{24LL * 3600 * 1000};  // outputs_expire_at = completion + this
  Millis reap_interval{1'000};                  // housekeeping period (real time)
  bool housekeeping_thread = true;     // false: nothing runs by itself; call Housekeep() (tests)
  Millis stats_window{5 * 60 * 1000};  // throughput and mean run time cover this much history
  Millis output_sweep_interval{10 * 60 * 1000};  // how often Housekeep looks for orphan outputs
  Millis write_refusal_hold{10'000};  // Ready() stays kUnavailable this long after a refusal
};

class LocalTaskService final : public TaskService, public WorkSource {
 public:
  LocalTaskService(TaskStore& store, EventBus& bus, ResultStore& results,
                   LocalTaskServiceOptions options = {});
  ~LocalTaskService() override;  // Stop()
  LocalTaskService(const LocalTaskService&) = delete;
  LocalTaskService& operator=(const LocalTaskService&) = delete;

  // TaskService.
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
  Result<QueueSnapshot> Queue() override;
  Status Ready() override;

  // WorkSource.
  Status Register(const WorkerInfo& worker) override;
  void Unregister(const std::string& worker_id) override;
  // While draining: waits up to request.wait (or until Stop) and leases nothing.
  Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) override;
  Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                   Millis lease_duration,
                                   std::optional<TaskProgress> progress) override;
  Status Progress(const std::string& task_id, uint64_t fencing, TaskProgress progress,
                  std::string preview_png) override;
  Result<Task> Complete(const std::string& task_id, uint64_t fencing,
                        std::vector<OutputImage> images) override;
  // The images of the whole batch in one ResultStore::PutBatch, then one TaskStore::Complete of
  // every task (one transaction, one Redis script call). Complete is a batch of one.
  std::vector<Result<Task>> CompleteBatch(std::vector<TaskImages> batch) override;
  // The batch's progress events in one EventBus::PublishBatch.
  std::vector<Status> ProgressBatch(std::vector<ProgressReport> reports) override;
  Result<Task> Fail(const Failure& failure) override;
  Result<Task> Release(const std::string& task_id, uint64_t fencing) override;
  Result<Task> MarkCanceled(const std::string& task_id, uint64_t fencing) override;

  // Stops admitting (Submit → kUnavailable, Ready → kUnavailable) and leasing; running tasks
  // may still heartbeat, complete, fail and release. Irreversible.
  void Drain();
  // Drain(), then stops the housekeeping thread and wakes Lease calls waiting in the drain.
  // Idempotent.
  void Stop();
  // One housekeeping pass: Reap, publish what it changed, delete expired outputs.
  Status Housekeep();

 private:
  // What has been published for a live task (see the header comment).
  struct Ledger {
    std::string tenant;
    uint64_t fencing = 0;        // of the last lease whose `started` was published; 0: none
    int attempt = 0;             // that lease's attempt
    bool back_in_queue = false;  // its `retrying` was published
  };
  struct Worker {
    WorkerInfo info;
    std::set<std::string> tasks;
    std::optional<Timestamp> last_seen;
  };
  struct Finished {
    Timestamp at;
    std::optional<double> run_s;  // successful runs only
  };

  // Event publication; each takes ledger_mu_.
  void PublishQueued(const Task& task);
  void PublishStarted(const Task& task);
  void PublishRetrying(const Task& task);  // task: back in the queue; its fencing: the lost lease
  void PublishTerminal(const Task& task);
  // After a transition that returned `task`: its event, registry and statistics upkeep.
  void AfterTransition(const Task& task);
  // ledger_mu_ held. Creates the ledger of an unknown task, publishing its `queued` first;
  // nullptr when the task's terminal event was published already (the caller's event is stale).
  Ledger* LedgerFor(const Task& task);
  TaskEvent MakeEvent(const Task& task, TaskEventType type) const;
  // The terminal event of a terminal task: the bus's, or one rebuilt from the record.
  TaskEvent TerminalEventOf(const Task& task);
  // Subscribe for an ended task: its state changes after after_seq and its terminal event, from
  // the bus's history or, when the bus holds none, rebuilt from the record.
  Result<std::unique_ptr<Subscription>> SubscribeEnded(
      const Task& task, int64_t after_seq, std::function<void(const TaskEvent&)> on_event);

  // A completion the store refused: the task's state when it was this very completion sent
  // again; else the refusal, deleting the lease's images when it was certainly refused.
  Result<Task> CompletionRefused(const Completion& completion, Status refusal);
  // Records a sign of life (auto-registering an unknown worker) and the leases it just got.
  void WorkerSeen(const std::string& worker_id, const std::vector<LeasedTask>& leased = {});
  // The lease `fencing` of the task ended, whatever the way (a newer lease is left alone).
  void TaskLeft(const std::string& task_id, uint64_t fencing);
  void Finish(const Task& task);  // statistics and totals of a task that ended
  void HousekeepingLoop();
  // Deletes the outputs no lease owns (see the header comment).
  Status SweepOutputs();
  // Records the outcome of a write to the task store or the result store, for Ready().
  void NoteWrite(const Status& status);

  TaskStore& store_;
  EventBus& bus_;
  ResultStore& results_;
  const LocalTaskServiceOptions options_;

  std::mutex ledger_mu_;  // held across bus_.Publish so per-task order is transition order
  std::unordered_map<std::string, Ledger> ledger_;  // GUARDED_BY(ledger_mu_), live tasks only

  std::mutex previews_mu_;
  std::unordered_map<std::string, std::string> previews_;  // GUARDED_BY(previews_mu_)

  std::mutex workers_mu_;
  std::map<std::string, Worker> workers_;  // GUARDED_BY(workers_mu_)
  // task id → (worker, fencing) of the leases handed out here.
  std::unordered_map<std::string, std::pair<std::string, uint64_t>>
      task_worker_;                // GUARDED_BY(workers_mu_)
  std::deque<Finished> finished_;  // GUARDED_BY(workers_mu_)
  TaskTotals totals_;              // GUARDED_BY(workers_mu_)

  std::mutex state_mu_;
  std::condition_variable state_cv_;     // draining or stopping
  bool draining_ = false;                // GUARDED_BY(state_mu_)
  bool stopping_ = false;                // GUARDED_BY(state_mu_)
  std::optional<Timestamp> last_sweep_;  // GUARDED_BY(state_mu_)
  std::thread housekeeper_;

  std::mutex write_mu_;
  // When the last write was refused, until one succeeds (see Ready).
  std::optional<Timestamp> refused_write_;  // GUARDED_BY(write_mu_)
};

}  // namespace stipple
