#include "service/housekeeper.h"

#include <set>

#include "common/id.h"
#include "common/log.h"

namespace stipple {

Housekeeper::Housekeeper(TaskStore& store, ResultStore& results,
                         std::function<void(const Task&)> on_transition, HousekeeperOptions options)
    : store_(store),
      results_(results),
      on_transition_(std::move(on_transition)),
      options_(options) {
  if (options_.thread) thread_ = std::thread([this] { Loop(); });
}

Housekeeper::~Housekeeper() { Stop(); }

void Housekeeper::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Housekeeper::Loop() {
  MutexLock lock(mu_);
  while (!stopping_) {
    lock.Unlock();
    Status s = Housekeep();
    if (!s.ok()) LogWarn("housekeeping failed", {{"error", s.ToString()}});
    lock.Lock();
    cv_.wait_for(lock.native(), options_.reap_interval, [&]() REQUIRES(mu_) { return stopping_; });
  }
}

Status Housekeeper::Housekeep() {
  Status result;
  Result<ReapReport> reaped = store_.Reap();
  if (!reaped.ok()) result = reaped.status();  // the other parts do not depend on it
  ReapReport report = reaped.ok() ? std::move(reaped).value() : ReapReport{};
  for (const auto* list : {&report.requeued, &report.failed, &report.canceled, &report.expired}) {
    for (const Task& task : *list) on_transition_(task);
  }
  for (const Task& task : report.outputs_expired) {
    Status s = results_.Delete(task.id);
    if (!s.ok()) {
      // Reap reports an expiry once; a failed delete leaves files behind, never a wrong answer
      // (the task says its outputs expired).
      LogWarn("could not delete expired outputs", {{"task_id", task.id}, {"error", s.ToString()}});
      result = s;
    }
  }
  bool sweep = false;
  bool check_lost_ends = false;
  {
    MutexLock lock(mu_);
    const Timestamp now = options_.clock->Now();
    auto due = [&](std::optional<Timestamp>& last, Millis interval) REQUIRES(mu_) {
      if (last && *last + interval > now) return false;
      last = now;
      return true;
    };
    sweep = due(last_sweep_, options_.output_sweep_interval);
    check_lost_ends =
        options_.check_lost_ends && due(last_lost_end_check_, options_.lost_end_check_interval);
  }
  if (check_lost_ends) {
    if (Status s = options_.check_lost_ends(); !s.ok()) result = s;
  }
  if (sweep) {
    if (Status s = SweepOutputs(); !s.ok()) result = s;
  }
  return result;
}

Status Housekeeper::SweepOutputs() {
  Result<std::vector<StoredLease>> leases = results_.ListLeases();
  if (leases.status().code() == StatusCode::kUnimplemented) return Status::Ok();
  RETURN_IF_ERROR(leases.status());
  Status result = SweepInputs(*leases);
  for (size_t i = 0; i < leases->size();) {
    const std::string task_id = (*leases)[i].task_id;
    size_t end = i;
    while (end < leases->size() && (*leases)[end].task_id == task_id) ++end;
    if (!IsValidId(task_id, "tsk")) {  // not a task's: nothing here put it there
      i = end;
      continue;
    }
    Result<Task> task = store_.Get(task_id);
    Status s;
    if (!task.ok() && task.status().code() == StatusCode::kNotFound) {
      s = results_.Delete(task_id);
    } else if (!task.ok()) {
      s = task.status();
    } else if (IsTerminal(task->state) &&
               (task->state != TaskState::kSucceeded || task->outputs_expired)) {
      s = results_.Delete(task_id);
    } else if (task->state == TaskState::kSucceeded) {
      for (size_t k = i; k < end && s.ok(); ++k) {
        if ((*leases)[k].fencing != task->fencing) {
          s = results_.DeleteLease(task_id, (*leases)[k].fencing);
        }
      }
    }
    if (!s.ok()) {
      LogWarn("could not delete outputs no lease owns",
              {{"task_id", task_id}, {"error", s.ToString()}});
      result = s;
    }
    i = end;
  }
  return result;
}

Status Housekeeper::SweepInputs(const std::vector<StoredLease>& leases) {
  std::set<std::string> stored;
  for (const StoredLease& lease : leases) {
    std::string sha256 = InputSha256FromKey(lease.task_id);
    if (!sha256.empty()) stored.insert(std::move(sha256));
  }
  if (stored.empty()) {
    unreferenced_inputs_.clear();
    return Status::Ok();
  }
  std::set<std::string> referenced;
  for (TaskState state : {TaskState::kQueued, TaskState::kRunning}) {
    ListQuery query;
    query.state = state;
    query.limit = 100;
    do {
      ASSIGN_OR_RETURN(TaskPage page, store_.List(query));
      for (const Task& task : page.tasks) {
        for (const auto* input : {&task.request.init_image, &task.request.mask_image}) {
          if (*input) referenced.insert((*input)->sha256);
        }
      }
      query.cursor = page.next_cursor;
    } while (!query.cursor.empty());
  }
  const Timestamp now = options_.clock->Now();
  Status result;
  std::map<std::string, Timestamp> still_unreferenced;
  for (const std::string& sha256 : stored) {
    if (referenced.count(sha256) > 0) continue;
    auto seen = unreferenced_inputs_.find(sha256);
    if (seen == unreferenced_inputs_.end() || seen->second + options_.output_sweep_interval > now) {
      still_unreferenced[sha256] = seen == unreferenced_inputs_.end() ? now : seen->second;
      continue;
    }
    if (Status s = results_.DeleteInput(sha256); !s.ok()) {
      LogWarn("could not delete an unreferenced image input",
              {{"sha256", sha256}, {"error", s.ToString()}});
      result = s;
    }
  }
  unreferenced_inputs_ = std::move(still_unreferenced);
  return result;
}

}  // namespace stipple
