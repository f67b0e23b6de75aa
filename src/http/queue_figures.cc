#include "http/queue_figures.h"

#include <algorithm>
#include <boost/json/object.hpp>
#include <cmath>

#include "core/json.h"

namespace stipple::http {

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
  int64_t queued = f.queued[0] + f.queued[1] + f.queued[2];
  if (f.workers_online > 0 && f.mean_run_s > 0) {
    f.estimated_wait_s = static_cast<double>(queued) * f.mean_run_s / f.workers_online;
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
         m.oldest_queued_age_s ? json::value(*m.oldest_queued_age_s) : json::value(nullptr)}});
  }
  o["models"] = std::move(models);
  return WriteJson(o);
}

}  // namespace stipple::http
