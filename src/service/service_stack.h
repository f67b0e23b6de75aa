// ServiceStack: the task service of a `stipple serve` or `stipple gateway` process, assembled
// from its parts over a TaskStore, an EventBus and a ResultStore (SQLite, in memory and files by
// default; Redis and S3 across gateways), all owned by the caller and outliving the stack.
//
// The parts, each with one job (docs/service.md):
//  - Admission: submits (queue bound, tenant quota, drain), readiness.
//  - EventSequencer: each task's events in transition order, subscriptions, previews.
//  - WorkerRegistry: the workers, their leases, the run figures and totals.
//  - Housekeeper: its thread reaps lapsed leases and ttl-expired tasks, deletes outputs whose
//    retention passed or that no lease owns, and has the EventSequencer repair lost ends.
//  - StoreTaskService (tasks()): the TaskService the HTTP gateway serves clients with.
//  - StoreWorkSource (work()): the WorkSource of the in-process workers and of the
//    worker-protocol endpoint.
//
// Threads: the housekeeping thread (unless options.housekeeping_thread is false); everything
// else runs on the caller's threads. Thread-safe.
#pragma once

#include "service/admission.h"
#include "service/event_sequencer.h"
#include "service/housekeeper.h"
#include "service/store_task_service.h"
#include "service/store_work_source.h"
#include "service/worker_registry.h"

namespace stipple {

struct ServiceOptions {
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
  // How often housekeeping reads the tasks this process's open streams and waits follow, to
  // publish an end the bus lacks (EventSequencer::RepairLostEnds; one store read per task).
  Millis lost_end_check_interval{5'000};
};

class ServiceStack {
 public:
  ServiceStack(TaskStore& store, EventBus& bus, ResultStore& results, ServiceOptions options = {});
  ~ServiceStack();  // Stop()
  ServiceStack(const ServiceStack&) = delete;
  ServiceStack& operator=(const ServiceStack&) = delete;

  TaskService& tasks() { return tasks_; }
  WorkSource& work() { return work_; }
  EventSequencer& events() { return events_; }

  // Stops admitting (Submit → kUnavailable, Ready → kUnavailable) and leasing; running tasks
  // may still heartbeat, complete, fail and release. Irreversible.
  void Drain();
  // Drain(), then stops the housekeeping thread and wakes Lease calls waiting in the drain.
  // Idempotent.
  void Stop();
  // One housekeeping pass (Housekeeper::Housekeep).
  Status Housekeep();

 private:
  Admission admission_;
  WorkerRegistry workers_;
  EventSequencer events_;
  StoreTaskService tasks_;
  StoreWorkSource work_;
  Housekeeper housekeeper_;  // last: its thread uses the parts above
};

}  // namespace stipple
