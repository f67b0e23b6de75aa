// TaskService and WorkSource: the one narrow API between the frontends and the core.
//
// TaskService is what a client-facing frontend sees (the HTTP gateway, in-process clients):
// submit, read, cancel, list, wait for the end, follow events, fetch outputs. WorkSource is what
// a worker sees: lease, heartbeat, progress, complete, fail, release. In-process workers call a
// WorkSource directly; the worker-protocol endpoint of the gateway forwards a remote worker's
// messages to one; the remote worker's client implements WorkSource over the connection. Nothing
// above these interfaces knows which task store, event bus or result store is behind them.
//
// (TaskService lives here, one level above src/store, not in src/core, because it speaks in the
// store's types — NewTask, LeaseRequest, Completion — and src/core must not depend on src/store;
// docs/architecture.md.)
//
// Contract, for every implementation:
//  - Thread-safe: any method may be called from any thread.
//  - Tenancy: methods taking `tenant` treat another tenant's task exactly as a missing one
//    (kNotFound). An empty tenant is the admin's view: every task.
//  - Callbacks (WhenTerminal, Subscribe) run on an internal thread, never inline under a lock
//    the caller could hold, and must not block: they hand the value to the caller's own executor
//    (an Asio strand, a queue). A handle's destructor unsubscribes; after it returns the
//    callback is not running and will not run again. Exception: a handle destroyed inside its
//    own callback returns at once (no further call follows). Do not destroy a handle while
//    holding a lock its callback takes. Handles must be destroyed before the service.
//  - Errors: those of TaskStore (kNotFound, kAborted "lease lost", kAlreadyExists idempotency
//    conflict, kFailedPrecondition, kInvalidArgument, kUnavailable), plus kResourceExhausted
//    from admission (queue full) with a retry hint, and kUnavailable while draining.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "core/generated_image.h"
#include "core/subscription.h"
#include "core/task.h"
#include "core/task_event.h"
#include "store/task_store.h"

namespace stipple {

// Subscription (core/subscription.h): unsubscribes (or stops waiting) when destroyed; owned by
// the caller through a unique_ptr.

// Admission's answer when the queue is full: kResourceExhausted whose message ends with
// "retry after N s", and the hint read back (the gateway's Retry-After). RetryAfterHint answers
// nullopt for a status that carries no hint.
Status QueueFullError(int64_t queued, int64_t max_queue, Millis retry_after);
std::optional<Millis> RetryAfterHint(const Status& status);

// An output's bytes as stored.
struct OutputBlob {
  std::string bytes;
  std::string content_type = "image/png";
  std::string etag;  // quoted, strong
};

// A worker's state: the same word for the worker process itself (Worker::state()) and for the
// registry's view of it (WorkerStatus). The registry derives it from the leases it sees and the
// service's draining; it never holds kStopped (a stopped worker unregisters).
enum class WorkerState {
  kIdle,      // started, no batch running (no leases)
  kBusy,      // a batch is in the engine (holds leases)
  kDraining,  // leases no more, finishing or giving back what it holds
  kStopped,   // not started, or drained
};
std::string_view WorkerStateName(WorkerState state);  // "idle", "busy", "draining", "stopped"

// A worker as it announces itself (its hello): what it is and what it takes.
struct WorkerInfo {
  std::string id;
  std::string host;
  std::string device;               // "cpu", "cuda:0"
  std::vector<std::string> models;  // it takes tasks of these only
  int max_batch = 1;
};

// One registered worker as the registry sees it now: what it announced and what it is doing.
struct WorkerStatus {
  WorkerInfo info;
  WorkerState state = WorkerState::kIdle;
  std::vector<std::string> current_tasks;  // ids of the tasks it holds leases on
  std::optional<Timestamp> last_seen;      // its last lease call or heartbeat
};

// Durations in seconds counted into fixed buckets (the /metrics histograms). Bucket i counts the
// observations in (kBounds[i-1], kBounds[i]]; the last bucket those above every bound.
struct DurationHistogram {
  static constexpr std::array<double, 17> kBounds = {
      0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600};
  std::array<uint64_t, kBounds.size() + 1> buckets{};
  uint64_t count = 0;
  double sum = 0;

  void Observe(double seconds);  // a negative duration (clock skew) counts as 0
};

// What a service saw of its tasks since it started: the task counters and histograms of
// /metrics. Each process counts the tasks it submitted and the ends it recorded, so the sum
// over the gateways of a deployment counts every task once.
struct TaskTotals {
  int64_t submitted = 0;               // created by Submit (idempotent replays not counted)
  std::map<TaskState, int64_t> ended;  // by terminal state
  DurationHistogram queue_wait;  // created → first start, of tasks that ended after starting
  DurationHistogram run;         // first start → end, of the same tasks
  DurationHistogram end_to_end;  // created → end, of every task that ended
};

// Figures behind /v1/queue and the queue metrics.
struct QueueSnapshot {
  std::vector<QueueCounts> per_model;
  int workers_online = 0;
  int workers_busy = 0;
  std::vector<WorkerStatus> workers;  // registered workers, by id
  double throughput_per_min = 0;      // tasks finished in the last minute(s), per minute
  double mean_run_s = 0;              // recent mean time from start to end of successful tasks
  TaskTotals totals;                  // an implementation that keeps none leaves it empty
};

// How fast the workers get through tasks, for the estimates (GET /v1/queue's estimated_wait_s,
// a task's eta_s, the retry hint of a tenant over its quota). tasks_per_s is the larger of the
// recent throughput and workers_online / mean_run_s: the throughput alone undercounts a lightly
// loaded server, the run time alone ignores batching. 0 means unknown (no worker, or no run yet).
struct ServiceRate {
  double tasks_per_s = 0;
  double mean_run_s = 0;
};
ServiceRate ComputeServiceRate(const QueueSnapshot& snapshot);

// Admission's answer when the tenant has `quota` tasks queued already: kResourceExhausted, with
// a retry hint (RetryAfterHint) of when its oldest queued task should have started —
// (oldest_position + 1) / rate, 1 s .. 1 h — when the rate is known, else none.
Status TenantQuotaError(const std::string& tenant, int64_t queued, int64_t quota,
                        int64_t oldest_position, const ServiceRate& rate);

class TaskService {
 public:
  virtual ~TaskService() = default;

  // Admits and enqueues a task (durable when this returns OK) and publishes its `queued` event.
  // Admission is atomic with the enqueue: the service's own queue bound (QueueFullError) and
  // the task's tenant_max_queued (TenantQuotaError). Idempotent replay returns the original
  // task with created = false. A queued task comes back with its queue_position.
  virtual Result<EnqueueResult> Submit(const NewTask& task) = 0;

  virtual Result<Task> Get(const std::string& tenant, const std::string& task_id) = 0;

  // API.md's cancel: queued → canceled now; running → cancel_requested (the worker stops at its
  // next step); already terminal → already_terminal = true.
  virtual Result<CancelResult> Cancel(const std::string& tenant, const std::string& task_id) = 0;

  virtual Result<TaskPage> List(const ListQuery& query) = 0;

  // Calls `done` once, with the task as it ended, when the task reaches a terminal state — at
  // once (on the service's delivery thread, never inline) when it already has. No thread waits: the
  // caller keeps the handle and drops it when its own deadline passes. kNotFound when there is no
  // such task.
  virtual Result<std::unique_ptr<Subscription>> WhenTerminal(
      const std::string& tenant, const std::string& task_id,
      std::function<void(const Task&)> done) = 0;

  // The task's events with seq > after_seq: the ones still held (state changes and the
  // terminal event are always held; progress may be thinned), then live ones, in seq order,
  // each once. The terminal event is delivered even when its seq is not above after_seq (a
  // resumed stream always learns the end). A task that is already terminal delivers its
  // terminal event and nothing more.
  virtual Result<std::unique_ptr<Subscription>> Subscribe(
      const std::string& tenant, const std::string& task_id, int64_t after_seq,
      std::function<void(const TaskEvent&)> on_event) = 0;

  // Live events of every task of `tenant` (empty: all tenants), from now on.
  virtual std::unique_ptr<Subscription> SubscribeAll(
      const std::string& tenant, std::function<void(const TaskEvent&)> on_event) = 0;

  // Output `index` of a succeeded task. kNotFound: no such task or output; kFailedPrecondition:
  // the task has not succeeded; kOutOfRange: the outputs expired (the gateway answers 410).
  virtual Result<OutputBlob> Output(const std::string& tenant, const std::string& task_id,
                                    int index) = 0;

  // The latest preview of a running task; kNotFound when there is none yet.
  virtual Result<std::string> Preview(const std::string& tenant, const std::string& task_id) = 0;

  virtual Result<QueueSnapshot> Queue() = 0;

  // OK while the store answers and tasks are accepted; kUnavailable while draining or degraded.
  virtual Status Ready() = 0;
};

// One task of a worker's batch, finished: CompleteBatch's input.
struct TaskImages {
  std::string task_id;
  uint64_t fencing = 0;
  std::vector<GeneratedImage> images;
};

// One task's step in a worker's batch: ProgressBatch's input.
struct ProgressReport {
  std::string task_id;
  uint64_t fencing = 0;
  TaskProgress progress;
  std::string preview_png;  // empty: none
};

class WorkSource {
 public:
  virtual ~WorkSource() = default;

  // Announces a worker (idempotent by id) and forgets it.
  virtual Status Register(const WorkerInfo& worker) = 0;
  virtual void Unregister(const std::string& worker_id) = 0;

  // TaskStore::Lease, publishing each leased task's `started` event.
  virtual Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) = 0;

  // TaskStore::Heartbeat; the reply says whether a cancel was requested.
  virtual Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                           Millis lease_duration,
                                           std::optional<TaskProgress> progress) = 0;

  // Not durable: publishes a `progress` event (and keeps the preview for GET .../preview).
  // kAborted when the fencing number is not the task's current lease.
  virtual Status Progress(const std::string& task_id, uint64_t fencing, TaskProgress progress,
                          std::string preview_png) = 0;

  // Stores the images (atomically, checksummed) and completes the task with `fencing`. A stale
  // lease → kAborted, and the images just stored are deleted: never a second result.
  virtual Result<Task> Complete(const std::string& task_id, uint64_t fencing,
                                std::vector<GeneratedImage> images) = 0;

  // Complete for every task of a worker's batch, each answered on its own (one result per
  // task, in order; a stale lease refuses that task only), made cheap together: the service
  // stores the batch's images durable together (ResultStore::PutBatch) and records every
  // completion in one store write; the remote worker's client sends them in one exchange. The
  // base class calls Complete for each task.
  virtual std::vector<Result<Task>> CompleteBatch(std::vector<TaskImages> batch);

  // Progress for the tasks of a batch at one step (one status per report, in order): one
  // publication for the lot where the service can (EventBus::PublishBatch), one exchange for a
  // remote worker. The base class calls Progress for each.
  virtual std::vector<Status> ProgressBatch(std::vector<ProgressReport> reports);

  virtual Result<Task> Fail(const Failure& failure) = 0;
  virtual Result<Task> Release(const std::string& task_id, uint64_t fencing) = 0;
  virtual Result<Task> MarkCanceled(const std::string& task_id, uint64_t fencing) = 0;

  // The bytes of an image input a leased task references (ImageInput::sha256), read from the
  // result store (ResultStore::GetInput) — never carried in the lease, so a retry elsewhere reads
  // the same bytes. kNotFound when the store has none; kUnavailable to retry. The base class
  // answers kUnimplemented (a source that cannot reach inputs).
  virtual Result<std::string> GetInput(const std::string& sha256_hex);
};

}  // namespace stipple
