#include "worker/worker_pool.h"

#include <string>
#include <thread>
#include <utility>

namespace stipple {

WorkerPool::WorkerPool(WorkSource* source, std::vector<Engine*> engines,
                       WorkerPoolOptions options) {
  for (int i = 0; i < options.workers; ++i) {
    WorkerOptions worker = options.worker;
    if (!worker.worker_id.empty()) worker.worker_id += "-" + std::to_string(i);
    workers_.push_back(std::make_unique<Worker>(source, engines, std::move(worker)));
  }
}

WorkerPool::~WorkerPool() {
  std::vector<std::thread> drains;
  for (auto& worker : workers_) drains.emplace_back([&worker] { worker.reset(); });
  for (std::thread& t : drains) t.join();
}

Status WorkerPool::Start() {
  for (auto& worker : workers_) {
    Status status = worker->Start();
    if (!status.ok()) {
      Drain(Millis(0));
      return status;
    }
  }
  return Status::Ok();
}

void WorkerPool::Drain(Millis grace) {
  std::vector<std::thread> drains;
  for (auto& worker : workers_) {
    drains.emplace_back([&worker, grace] { worker->Drain(grace); });
  }
  for (std::thread& t : drains) t.join();
}

std::vector<WorkerState> WorkerPool::states() const {
  std::vector<WorkerState> out;
  for (const auto& worker : workers_) out.push_back(worker->state());
  return out;
}

}  // namespace stipple
