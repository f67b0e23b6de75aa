#include "api/queue_figures.h"

#include <algorithm>
#include <boost/json/object.hpp>
#include <cmath>
#include <iterator>

#include "core/json.h"

namespace stipple::http {

std::optional<double> EstimateTaskEta(const Task& task, const ServiceRate& rate, Timestamp now) {
  if (rate.tasks_per_s <= 0 || rate.mean_run_s <= 0) return std::nullopt;
  if (task.state == TaskState::kQueued) {
    double ahead = static_cast<double>(task.queue_position.value_or(0));
    return ahead / rate.tasks_per_s + rate.mean_run_s;
  }
  if (task.state != TaskState::kRunning) return std::nullopt;
  double done = 0;
  if (task.progress && task.progress->steps > 0) {
    done = std::clamp(static_cast<double>(task.progress->step) / task.progress->steps, 0.0, 1.0);
  } else if (task.started_at) {
    double elapsed = std::chrono::duration<double>(now - *task.started_at).count();
    done = std::clamp(elapsed / rate.mean_run_s, 0.0, 1.0);
  }
  return rate.mean_run_s * (1 - done);
}

ServiceRate ServiceRateCache::Get(TaskService& service, Timestamp now) {
  MutexLock lock(mu_);
  if (taken_ && now >= *taken_ && now - *taken_ < max_age_) return rate_;
  Result<QueueSnapshot> snapshot = service.Queue();
  rate_ = snapshot.ok() ? ComputeServiceRate(*snapshot) : ServiceRate{};
  taken_ = now;
  return rate_;
}

QueueFigures ComputeQueueFigures(const QueueSnapshot& snapshot, Timestamp now,
                                 double target_wait_s) {
  QueueFigures f;
  f.workers_online = snapshot.workers_online;
  f.workers_busy = snapshot.workers_busy;
  f.throughput_per_min = snapshot.throughput_per_min;
  f.mean_run_s = snapshot.mean_run_s;
  for (const QueueCounts& counts : snapshot.per_model) {
    ModelQueueFigures m;
    m.model = counts.model;
    for (int p = 0; p < 3; ++p) {
      m.queued[p] = counts.queued[p];
      f.queued[p] += counts.queued[p];
    }
    m.running = counts.running;
    f.running += counts.running;
    if (counts.oldest_queued_at) {
      double age = std::max<double>(0, (now - *counts.oldest_queued_at).count() / 1000.0);
      m.oldest_queued_age_s = age;
      f.oldest_queued_age_s = std::max(f.oldest_queued_age_s.value_or(0), age);
    }
    f.models.push_back(std::move(m));
  }
  // Every model a registered worker takes is listed, with or without tasks.
  for (const WorkerStatus& worker : snapshot.workers) {
    for (const std::string& model : worker.info.models) {
      auto it = std::find_if(f.models.begin(), f.models.end(),
                             [&](const ModelQueueFigures& m) { return m.model == model; });
      if (it == f.models.end()) {
        f.models.push_back(ModelQueueFigures{.model = model});
        it = std::prev(f.models.end());
      }
      ++it->workers;
    }
  }
  int64_t queued = f.queued[0] + f.queued[1] + f.queued[2];
  if (ServiceRate rate = ComputeServiceRate(snapshot); rate.tasks_per_s > 0) {
    f.estimated_wait_s = static_cast<double>(queued) / rate.tasks_per_s;
  }
  // desired_workers (docs/http.md): enough workers to finish everything queued or running
  // within target_wait_s at the recent mean run time; with no run time known yet, one worker per
  // task; never fewer than the busy workers, and 0 only when there is nothing to do.
  int64_t work = queued + f.running;
  double desired = 0;
  if (work > 0) {
    desired = f.mean_run_s > 0 && target_wait_s > 0
                  ? std::ceil(static_cast<double>(work) * f.mean_run_s / target_wait_s)
                  : static_cast<double>(work);
  }
  f.desired_workers = static_cast<int>(std::max<double>(desired, f.workers_busy));
  return f;
}

std::string QueueFiguresToJson(const QueueFigures& f) {
  namespace json = boost::json;
  json::object o;
  o["queued"] = json::object{{"high", f.queued[0]}, {"normal", f.queued[1]}, {"low", f.queued[2]}};
  o["running"] = f.running;
  o["workers"] = json::object{{"online", f.workers_online}, {"busy", f.workers_busy}};
  o["oldest_queued_age_s"] =
      f.oldest_queued_age_s ? json::value(*f.oldest_queued_age_s) : json::value(nullptr);
  o["throughput_per_min"] = f.throughput_per_min;
  o["mean_run_s"] = f.mean_run_s;
  o["estimated_wait_s"] =
      f.estimated_wait_s ? json::value(*f.estimated_wait_s) : json::value(nullptr);
  o["desired_workers"] = f.desired_workers;
  json::array models;
  for (const ModelQueueFigures& m : f.models) {
    models.push_back(json::object{
        {"model", m.model},
        {"queued",
         json::object{{"high", m.queued[0]}, {"normal", m.queued[1]}, {"low", m.queued[2]}}},
        {"running", m.running},
        {"oldest_queued_age_s",
         m.oldest_queued_age_s ? json::value(*m.oldest_queued_age_s) : json::value(nullptr)},
        {"workers", m.workers}});
  }
  o["models"] = std::move(models);
  return WriteJson(o);
}

std::string WorkersToJson(const QueueSnapshot& snapshot) {
  namespace json = boost::json;
  json::array workers;
  for (const WorkerStatus& w : snapshot.workers) {
    json::array models, tasks;
    for (const std::string& m : w.info.models) models.push_back(json::value(m));
    for (const std::string& t : w.current_tasks) tasks.push_back(json::value(t));
    workers.push_back(
        json::object{{"id", w.info.id},
                     {"host", w.info.host},
                     {"device", w.info.device},
                     {"models", std::move(models)},
                     {"state", WorkerStateName(w.state)},
                     {"current_tasks", std::move(tasks)},
                     {"last_seen", w.last_seen ? json::value(FormatRfc3339(*w.last_seen))
                                               : json::value(nullptr)}});
  }
  return WriteJson(json::object{{"workers", std::move(workers)}});
}

}  // namespace stipple::http
