// WorkerRegistry: the service's view of its workers and of the runs they finished — the data
// behind /v1/queue's workers, its throughput and mean run time, and the task totals of /metrics.
//
// Contract:
//  - Owns, per worker: what it announced (WorkerInfo), the tasks it holds leases on (as handed
//    out by this process), and when it was last seen (a lease call or a heartbeat). A worker that
//    leases without registering is registered by its id. Also owns the finished runs of the last
//    stats_window and the totals (TaskTotals) of the tasks this process submitted and ended.
//  - Knows only what this process saw: on a shared store each gateway registers the workers
//    attached to it, and the deployment's totals are the sum over its gateways.
//  - Thread-safe: every method may be called from any thread; one private mutex, held for
//    in-memory work only (it never calls out).
//  - Never fails: it records what it is told; reads and writes of the task store are the callers'.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/thread_annotations.h"
#include "service/task_service.h"

namespace stipple {

struct WorkerRegistryOptions {
  const Clock* clock = SystemClock::Get();  // last_seen, and the statistics window
  Millis stats_window{5 * 60 * 1000};       // throughput and mean run time cover this much
};

class WorkerRegistry {
 public:
  explicit WorkerRegistry(WorkerRegistryOptions options = {});

  // Announces a worker (idempotent by id); kInvalidArgument without an id.
  Status Register(const WorkerInfo& worker);
  // Forgets a worker. Its leases stay in the store and lapse unless it completes them after all.
  void Unregister(const std::string& worker_id);

  // A sign of life of `worker_id` (registering it when unknown) and the leases it just got; a
  // task's older lease, held by whichever worker, is over.
  void Seen(const std::string& worker_id, const std::vector<LeasedTask>& leased = {});
  // The worker holding the lease this process handed out for the task; empty when none.
  std::string WorkerOf(const std::string& task_id) const;
  // The lease `fencing` of the task ended, whatever the way (a newer lease is left alone).
  void TaskLeft(const std::string& task_id, uint64_t fencing);

  // A task this process created (TaskTotals::submitted).
  void CountSubmitted();
  // A task that ended: its totals, and a run for the throughput and mean run time.
  void Finish(const Task& task);

  // Fills the registry's part of a snapshot: workers (each `draining` when the service drains,
  // else busy or idle), workers_online, workers_busy, throughput_per_min, mean_run_s, totals.
  void Fill(QueueSnapshot& snapshot, bool draining) const;

 private:
  struct Worker {
    WorkerInfo info;
    std::set<std::string> tasks;
    std::optional<Timestamp> last_seen;
  };
  struct Finished {
    Timestamp at;
    std::optional<double> run_s;  // successful runs only
  };

  const WorkerRegistryOptions options_;
  mutable Mutex mu_;
  std::map<std::string, Worker> workers_ GUARDED_BY(mu_);
  // task id → (worker, fencing) of the leases handed out here.
  std::unordered_map<std::string, std::pair<std::string, uint64_t>> task_worker_ GUARDED_BY(mu_);
  std::deque<Finished> finished_ GUARDED_BY(mu_);
  TaskTotals totals_ GUARDED_BY(mu_);
};

}  // namespace stipple
