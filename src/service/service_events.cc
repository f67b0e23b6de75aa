// LocalTaskService's event publication: the ledger that keeps each task's events in the order
// of its transitions, and the histories rebuilt for tasks the bus does not know.
#include <atomic>

#include "common/log.h"
#include "service/local_task_service.h"

namespace stipple {

namespace {

TaskEvent At(const Task& task, TaskEventType type, Timestamp time, int64_t seq) {
  TaskEvent e;
  e.task_id = task.id;
  e.type = type;
  e.time = time;
  e.seq = seq;
  return e;
}

// The events a task's record implies, numbered from 1: queued; started and (if it is back in
// the queue) retrying when it was ever leased; its terminal event when it ended.
std::vector<TaskEvent> RebuildHistory(const Task& task) {
  std::vector<TaskEvent> events;
  events.push_back(At(task, TaskEventType::kQueued, task.created_at, 1));
  if (task.started_at) {
    TaskEvent started = At(task, TaskEventType::kStarted, *task.started_at, 2);
    started.attempt = std::max(task.attempts, 1);
    started.worker_id = task.worker_id;
    started.fencing = task.fencing;
    events.push_back(started);
    if (task.state == TaskState::kQueued) {
      TaskEvent retrying = At(task, TaskEventType::kRetrying, *task.started_at, 3);
      retrying.attempt = task.attempts;
      retrying.fencing = task.fencing;
      events.push_back(retrying);
    }
  }
  if (IsTerminal(task.state)) {
    TaskEvent end =
        At(task, TerminalEventType(task.state), task.completed_at.value_or(task.created_at),
           static_cast<int64_t>(events.size()) + 1);
    end.task = task;
    events.push_back(end);
  }
  return events;
}

}  // namespace

TaskEvent LocalTaskService::MakeEvent(const Task& task, TaskEventType type) const {
  TaskEvent e = At(task, type, options_.clock->Now(), 0);
  switch (type) {
    case TaskEventType::kStarted:
      e.attempt = task.attempts;
      e.worker_id = task.worker_id;
      e.fencing = task.fencing;
      break;
    case TaskEventType::kRetrying:
      e.attempt = task.attempts;
      e.fencing = task.fencing;
      break;
    case TaskEventType::kSucceeded:
    case TaskEventType::kFailed:
    case TaskEventType::kCanceled:
    case TaskEventType::kExpired: e.task = task; break;
    case TaskEventType::kQueued:
    case TaskEventType::kProgress: break;
  }
  return e;
}

LocalTaskService::Ledger* LocalTaskService::LedgerFor(const Task& task) {
  auto it = ledger_.find(task.id);
  if (it != ledger_.end()) return &it->second;
  // The ledger forgets a task at its terminal event; an event that comes later is stale.
  if (bus_.TerminalEvent(task.id)) return nullptr;
  // Unknown here (created before a restart, or this is its first event): every task's events
  // begin with `queued`.
  Ledger& l = ledger_[task.id];
  l.tenant = task.tenant;
  TaskEvent queued = MakeEvent(task, TaskEventType::kQueued);
  queued.time = task.created_at;
  bus_.Publish(task.tenant, queued);
  return &l;
}

void LocalTaskService::PublishQueued(const Task& task) {
  std::lock_guard lock(ledger_mu_);
  (void)LedgerFor(task);
}

void LocalTaskService::PublishStarted(const Task& task) {
  std::lock_guard lock(ledger_mu_);
  Ledger* ledger = LedgerFor(task);
  if (ledger == nullptr) return;
  Ledger& l = *ledger;
  if (l.fencing != 0 && l.fencing >= task.fencing) return;  // published already
  if (l.fencing != 0 && !l.back_in_queue) {
    // The lease this one replaced ended (reaped, released, failed transiently) and whoever saw
    // that has not published it yet: publish it now, in its place; theirs will be dropped.
    TaskEvent retrying = MakeEvent(task, TaskEventType::kRetrying);
    retrying.attempt = l.attempt;
    retrying.fencing = l.fencing;
    bus_.Publish(l.tenant, retrying);
  }
  bus_.Publish(l.tenant, MakeEvent(task, TaskEventType::kStarted));
  l.fencing = task.fencing;
  l.attempt = task.attempts;
  l.back_in_queue = false;
}

void LocalTaskService::PublishRetrying(const Task& task) {
  {
    std::lock_guard lock(ledger_mu_);
    Ledger* ledger = LedgerFor(task);
    if (ledger == nullptr) return;
    Ledger& l = *ledger;
    if (l.fencing > task.fencing || (l.fencing == task.fencing && l.back_in_queue)) return;
    bus_.Publish(l.tenant, MakeEvent(task, TaskEventType::kRetrying));
    l.fencing = task.fencing;
    l.attempt = task.attempts;
    l.back_in_queue = true;
  }
  std::lock_guard lock(previews_mu_);
  previews_.erase(task.id);
}

void LocalTaskService::PublishTerminal(const Task& task) {
  {
    std::lock_guard lock(ledger_mu_);
    if (Ledger* l = LedgerFor(task)) {
      bus_.Publish(l->tenant, MakeEvent(task, TerminalEventType(task.state)));
      ledger_.erase(task.id);
    }
  }
  std::lock_guard lock(previews_mu_);
  previews_.erase(task.id);
}

Status LocalTaskService::Progress(const std::string& task_id, uint64_t fencing,
                                  TaskProgress progress, std::string preview_png) {
  std::vector<ProgressReport> one;
  one.push_back({task_id, fencing, progress, std::move(preview_png)});
  return ProgressBatch(std::move(one)).front();
}

std::vector<Status> LocalTaskService::ProgressBatch(std::vector<ProgressReport> reports) {
  std::vector<Status> statuses(reports.size(), Status::Ok());
  // A task not started by this process's reckoning: ask the store whether the lease is current.
  for (size_t i = 0; i < reports.size(); ++i) {
    {
      std::lock_guard lock(ledger_mu_);
      if (ledger_.count(reports[i].task_id) > 0) continue;
    }
    Result<Task> task = store_.Get(reports[i].task_id);
    if (!task.ok()) {
      statuses[i] = task.status();
    } else if (task->state != TaskState::kRunning || task->fencing != reports[i].fencing) {
      statuses[i] = AbortedError("lease lost: task " + reports[i].task_id +
                                 " is not running under this lease");
    } else {
      PublishStarted(*task);
    }
  }
  std::vector<TenantEvent> events;
  {
    std::lock_guard lock(ledger_mu_);
    for (size_t i = 0; i < reports.size(); ++i) {
      if (!statuses[i].ok()) continue;
      const ProgressReport& r = reports[i];
      auto it = ledger_.find(r.task_id);
      if (it == ledger_.end()) {
        statuses[i] = AbortedError("lease lost: task " + r.task_id + " ended");
        continue;
      }
      if (it->second.fencing != r.fencing || it->second.back_in_queue) {
        statuses[i] =
            AbortedError("lease lost: task " + r.task_id + " is not running under this lease");
        continue;
      }
      TaskEvent e;
      e.task_id = r.task_id;
      e.type = TaskEventType::kProgress;
      e.time = options_.clock->Now();
      e.progress = r.progress;
      e.fencing = r.fencing;
      e.preview_png = r.preview_png;
      events.push_back({it->second.tenant, std::move(e)});
    }
    if (!events.empty()) bus_.PublishBatch(std::move(events));
  }
  std::lock_guard previews_lock(previews_mu_);
  for (size_t i = 0; i < reports.size(); ++i) {
    if (statuses[i].ok() && !reports[i].preview_png.empty()) {
      previews_[reports[i].task_id] = std::move(reports[i].preview_png);
    }
  }
  return statuses;
}

Result<std::unique_ptr<Subscription>> LocalTaskService::SubscribeEnded(
    const Task& task, int64_t after_seq, std::function<void(const TaskEvent&)> on_event) {
  // The bus's replay when it still holds the history; else the history the record implies.
  // Both subscriptions deliver on the bus's one delivery thread, the bus's first: the rebuilt
  // one is delivered only when the bus's delivered nothing (its history was dropped between
  // the check below and the subscription, or it never held one).
  struct Shared {
    std::function<void(const TaskEvent&)> on_event;
    std::atomic<bool> from_bus{false};
  };
  auto shared = std::make_shared<Shared>();
  shared->on_event = std::move(on_event);
  auto held = bus_.Subscribe(task.id, after_seq, [shared](const TaskEvent& e) {
    shared->from_bus = true;
    shared->on_event(e);
  });
  if (bus_.TerminalEvent(task.id)) return held;
  std::vector<TaskEvent> rebuilt;
  for (TaskEvent& e : RebuildHistory(task)) {
    if (e.seq > after_seq || IsTerminalEvent(e.type)) rebuilt.push_back(std::move(e));
  }
  auto replay = bus_.Deliver(std::move(rebuilt), [shared](const TaskEvent& e) {
    if (!shared->from_bus) shared->on_event(e);
  });
  return std::unique_ptr<Subscription>(
      std::make_unique<SubscriptionPair>(std::move(held), std::move(replay)));
}

TaskEvent LocalTaskService::TerminalEventOf(const Task& task) {
  if (auto held = bus_.TerminalEvent(task.id)) return *held;
  return RebuildHistory(task).back();
}

Result<std::unique_ptr<Subscription>> LocalTaskService::Subscribe(
    const std::string& tenant, const std::string& task_id, int64_t after_seq,
    std::function<void(const TaskEvent&)> on_event) {
  ASSIGN_OR_RETURN(Task task, Get(tenant, task_id));
  if (IsTerminal(task.state)) return SubscribeEnded(task, after_seq, std::move(on_event));
  std::lock_guard lock(ledger_mu_);
  auto [it, created] = ledger_.try_emplace(task.id);
  if (created) {
    // A task from before a restart: give the bus the history its record implies, so a
    // subscriber starts from a consistent numbering and later events continue it.
    Ledger& l = it->second;
    l.tenant = task.tenant;
    if (task.started_at) {
      l.fencing = task.fencing;
      l.attempt = task.attempts;
      l.back_in_queue = task.state == TaskState::kQueued;
    }
    // The bus holds events already only when the task ended since Get: then no ledger is kept.
    if (!bus_.Seed(task.tenant, RebuildHistory(task))) ledger_.erase(it);
  }
  // Under ledger_mu_: no event of this task is published between the replay and the live part.
  return bus_.Subscribe(task_id, after_seq, std::move(on_event));
}

}  // namespace stipple
