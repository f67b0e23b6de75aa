// WorkerPool: N in-process Workers over one WorkSource, started together and drained together
// (in parallel, so a pool drains in one grace, not N).
//
//   WorkerPool pool(&work_source, {engine.get()}, {.workers = 1, .worker = options});
//   RETURN_IF_ERROR(pool.Start());
//   ShutdownSignal::Wait();        // SIGTERM / SIGINT
//   pool.Drain(Millis(30'000));
//
// One Worker per device is the usual shape: a Worker already leases its next batch while one
// runs, and an Engine runs one batch at a time, so several workers over the same engine only
// queue their batches at the engine's lock while holding more leases.
#pragma once

#include <memory>
#include <vector>

#include "worker/worker.h"

namespace stipple {

struct WorkerPoolOptions {
  int workers = 1;
  // Template for each worker; worker i's id is worker.worker_id + "-" + i (an empty id: a new
  // NewId("wkr") for each).
  WorkerOptions worker;
};

// Not thread-safe: Start, Drain and the destructor from one thread (states() from any).
class WorkerPool {
 public:
  WorkerPool(WorkSource* source, std::vector<Engine*> engines, WorkerPoolOptions options);
  ~WorkerPool();  // drains with each worker's drain_grace
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts every worker; when one fails to start, drains those started and returns its error.
  Status Start();
  // Worker::Drain on every worker at once; returns when all have drained.
  void Drain(Millis grace);

  std::vector<WorkerState> states() const;
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace stipple
