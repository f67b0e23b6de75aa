#include "service/worker_registry.h"

namespace stipple {

WorkerRegistry::WorkerRegistry(WorkerRegistryOptions options) : options_(options) {}

Status WorkerRegistry::Register(const WorkerInfo& worker) {
  if (worker.id.empty()) return InvalidArgumentError("a worker needs an id", {{"id", "empty"}});
  MutexLock lock(mu_);
  Worker& w = workers_[worker.id];
  w.info = worker;
  w.last_seen = options_.clock->Now();
  return Status::Ok();
}

void WorkerRegistry::Unregister(const std::string& worker_id) {
  MutexLock lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  for (const std::string& task_id : it->second.tasks) task_worker_.erase(task_id);
  workers_.erase(it);
}

void WorkerRegistry::Seen(const std::string& worker_id, const std::vector<LeasedTask>& leased) {
  MutexLock lock(mu_);
  Worker& w = workers_[worker_id];
  if (w.info.id.empty()) w.info.id = worker_id;  // leased without registering
  w.last_seen = options_.clock->Now();
  for (const LeasedTask& lt : leased) {
    auto [it, inserted] = task_worker_.try_emplace(lt.task.id, worker_id, lt.task.fencing);
    if (!inserted) {
      // The task's previous lease (of another worker, maybe) is over: this one is newer.
      auto old = workers_.find(it->second.first);
      if (old != workers_.end()) old->second.tasks.erase(lt.task.id);
      it->second = {worker_id, lt.task.fencing};
    }
    w.tasks.insert(lt.task.id);
  }
}

std::string WorkerRegistry::WorkerOf(const std::string& task_id) const {
  MutexLock lock(mu_);
  auto it = task_worker_.find(task_id);
  return it == task_worker_.end() ? std::string() : it->second.first;
}

void WorkerRegistry::TaskLeft(const std::string& task_id, uint64_t fencing) {
  MutexLock lock(mu_);
  auto it = task_worker_.find(task_id);
  if (it == task_worker_.end() || it->second.second > fencing) return;
  auto w = workers_.find(it->second.first);
  if (w != workers_.end()) w->second.tasks.erase(task_id);
  task_worker_.erase(it);
}

void WorkerRegistry::CountSubmitted() {
  MutexLock lock(mu_);
  ++totals_.submitted;
}

void WorkerRegistry::Finish(const Task& task) {
  auto seconds = [](Timestamp from, Timestamp to) {
    return std::chrono::duration<double>(to - from).count();
  };
  const Timestamp end = task.completed_at.value_or(options_.clock->Now());
  MutexLock lock(mu_);
  ++totals_.ended[task.state];
  totals_.end_to_end.Observe(seconds(task.created_at, end));
  if (!task.started_at) return;  // never ran: not part of the run figures
  totals_.queue_wait.Observe(seconds(task.created_at, *task.started_at));
  totals_.run.Observe(seconds(*task.started_at, end));
  std::optional<double> run_s;
  if (task.state == TaskState::kSucceeded && task.completed_at) {
    run_s = seconds(*task.started_at, *task.completed_at);
  }
  finished_.push_back({options_.clock->Now(), run_s});
  while (!finished_.empty() && finished_.front().at + options_.stats_window < finished_.back().at) {
    finished_.pop_front();
  }
}

void WorkerRegistry::Fill(QueueSnapshot& snap, bool draining) const {
  const Timestamp now = options_.clock->Now();
  MutexLock lock(mu_);
  for (const auto& [id, w] : workers_) {
    WorkerStatus status;
    status.info = w.info;
    status.info.id = id;
    status.current_tasks.assign(w.tasks.begin(), w.tasks.end());
    status.state = draining          ? WorkerState::kDraining
                   : w.tasks.empty() ? WorkerState::kIdle
                                     : WorkerState::kBusy;
    status.last_seen = w.last_seen;
    if (!w.tasks.empty()) ++snap.workers_busy;
    snap.workers.push_back(std::move(status));
  }
  snap.workers_online = static_cast<int>(workers_.size());
  snap.totals = totals_;
  int finished = 0;
  int succeeded = 0;
  double run_total = 0;
  for (const Finished& f : finished_) {
    if (f.at + options_.stats_window < now) continue;
    ++finished;
    if (f.run_s) {
      ++succeeded;
      run_total += *f.run_s;
    }
  }
  const double window_min = std::chrono::duration<double>(options_.stats_window).count() / 60.0;
  snap.throughput_per_min = window_min > 0 ? finished / window_min : 0;
  snap.mean_run_s = succeeded > 0 ? run_total / succeeded : 0;
}

}  // namespace stipple
