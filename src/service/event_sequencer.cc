#include "service/event_sequencer.h"

#include <atomic>
#include <limits>

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

class EventSequencer::Waiter {
 public:
  Waiter(std::shared_ptr<Watches> watches, std::string task_id)
      : watches_(std::move(watches)), task_id_(std::move(task_id)) {
    MutexLock lock(watches_->mu);
    ++watches_->waiters[task_id_];
  }
  ~Waiter() { Release(); }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  void Release() {
    if (released_.exchange(true)) return;
    MutexLock lock(watches_->mu);
    auto it = watches_->waiters.find(task_id_);
    if (it != watches_->waiters.end() && --it->second <= 0) watches_->waiters.erase(it);
  }

 private:
  const std::shared_ptr<Watches> watches_;
  const std::string task_id_;
  std::atomic<bool> released_{false};
};

class EventSequencer::Watched final : public Subscription {
 public:
  Watched(std::unique_ptr<Subscription> held, std::shared_ptr<Waiter> waiter)
      : held_(std::move(held)), waiter_(std::move(waiter)) {}
  // The callback may keep its copy of the waiter a while: release it here, with the handle.
  ~Watched() override {
    held_.reset();
    waiter_->Release();
  }

 private:
  std::unique_ptr<Subscription> held_;
  std::shared_ptr<Waiter> waiter_;
};

EventSequencer::EventSequencer(TaskStore& store, EventBus& bus, const Clock* clock)
    : store_(store), bus_(bus), clock_(clock) {
  // Every gateway's progress reaches every gateway through the bus; the previews follow it.
  preview_feed_ = bus_.SubscribeAll("", [this](const TaskEvent& e) { Observe(e); });
}

EventSequencer::~EventSequencer() { preview_feed_.reset(); }

void EventSequencer::Observe(const TaskEvent& e) {
  if (e.type == TaskEventType::kProgress) {
    if (e.preview_png.empty()) return;
    MutexLock lock(previews_mu_);
    previews_[e.task_id] = e.preview_png;
    return;
  }
  if (IsTerminalEvent(e.type)) {
    // Ended, by this process or by another on a shared bus: this one's ledger of the task goes
    // too (it would otherwise stay when another gateway published the end).
    MutexLock lock(ledger_mu_);
    ledger_.erase(e.task_id);
  }
  if (e.type == TaskEventType::kRetrying || IsTerminalEvent(e.type)) DropPreview(e.task_id);
}

size_t EventSequencer::LiveTasks() {
  MutexLock lock(ledger_mu_);
  return ledger_.size();
}

void EventSequencer::DropPreview(const std::string& task_id) {
  MutexLock lock(previews_mu_);
  previews_.erase(task_id);
}

Result<std::string> EventSequencer::Preview(const std::string& task_id) {
  MutexLock lock(previews_mu_);
  auto it = previews_.find(task_id);
  if (it == previews_.end()) return NotFoundError("task " + task_id + " has no preview yet");
  return it->second;
}

TaskEvent EventSequencer::MakeEvent(const Task& task, TaskEventType type) const {
  TaskEvent e = At(task, type, clock_->Now(), 0);
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

EventSequencer::Ledger* EventSequencer::LedgerFor(const Task& task) {
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

void EventSequencer::PublishQueued(const Task& task) {
  MutexLock lock(ledger_mu_);
  (void)LedgerFor(task);
}

void EventSequencer::PublishStarted(const Task& task) {
  MutexLock lock(ledger_mu_);
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

void EventSequencer::PublishRetrying(const Task& task) {
  {
    MutexLock lock(ledger_mu_);
    Ledger* ledger = LedgerFor(task);
    if (ledger == nullptr) return;
    Ledger& l = *ledger;
    if (l.fencing > task.fencing || (l.fencing == task.fencing && l.back_in_queue)) return;
    bus_.Publish(l.tenant, MakeEvent(task, TaskEventType::kRetrying));
    l.fencing = task.fencing;
    l.attempt = task.attempts;
    l.back_in_queue = true;
  }
  DropPreview(task.id);
}

void EventSequencer::PublishTerminal(const Task& task) {
  {
    MutexLock lock(ledger_mu_);
    if (Ledger* l = LedgerFor(task)) {
      bus_.Publish(l->tenant, MakeEvent(task, TerminalEventType(task.state)));
      ledger_.erase(task.id);
    }
  }
  DropPreview(task.id);
}

std::vector<Status> EventSequencer::PublishProgress(std::vector<ProgressReport> reports) {
  std::vector<Status> statuses(reports.size(), Status::Ok());
  // A task not started by this process's reckoning: ask the store whether the lease is current.
  for (size_t i = 0; i < reports.size(); ++i) {
    {
      MutexLock lock(ledger_mu_);
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
    MutexLock lock(ledger_mu_);
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
      e.time = clock_->Now();
      e.progress = r.progress;
      e.fencing = r.fencing;
      e.preview_png = r.preview_png;
      events.push_back({it->second.tenant, std::move(e)});
    }
    if (!events.empty()) bus_.PublishBatch(std::move(events));
  }
  MutexLock previews_lock(previews_mu_);
  for (size_t i = 0; i < reports.size(); ++i) {
    if (statuses[i].ok() && !reports[i].preview_png.empty()) {
      previews_[reports[i].task_id] = std::move(reports[i].preview_png);
    }
  }
  return statuses;
}

Result<std::unique_ptr<Subscription>> EventSequencer::SubscribeEnded(
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
  CompleteHistory(task);
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

void EventSequencer::CompleteHistory(const Task& task) {
  if (bus_.TerminalEvent(task.id)) return;
  // The bus holds no end for a task the store says ended. Either it knows nothing of the task
  // (a history dropped, or never held): it gets the one the record implies. Or the process that
  // ended the task died between the store's commit and the publish (a gateway killed there; the
  // others go on): its held history gets the end, numbered after it. A terminal event published
  // meanwhile by anyone wins; this one is then dropped.
  if (!bus_.Seed(task.tenant, RebuildHistory(task))) {
    bus_.Publish(task.tenant, MakeEvent(task, TerminalEventType(task.state)));
  }
}

TaskEvent EventSequencer::TerminalEventOf(const Task& task) {
  if (auto held = bus_.TerminalEvent(task.id)) return *held;
  return RebuildHistory(task).back();
}

Result<std::unique_ptr<Subscription>> EventSequencer::Subscribe(
    const Task& task, int64_t after_seq, std::function<void(const TaskEvent&)> on_event) {
  if (IsTerminal(task.state)) return SubscribeEnded(task, after_seq, std::move(on_event));
  MutexLock lock(ledger_mu_);
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
  // Watched until its end is delivered (released before the callback, which may destroy the
  // handle) or the handle goes.
  auto waiter = std::make_shared<Waiter>(watches_, task.id);
  // Under ledger_mu_: no event of this task is published between the replay and the live part.
  auto held = bus_.Subscribe(task.id, after_seq,
                             [waiter, on_event = std::move(on_event)](const TaskEvent& e) {
                               if (IsTerminalEvent(e.type)) waiter->Release();
                               on_event(e);
                             });
  return std::unique_ptr<Subscription>(std::make_unique<Watched>(std::move(held), waiter));
}

Result<std::unique_ptr<Subscription>> EventSequencer::WhenTerminal(
    const Task& task, std::function<void(const Task&)> done) {
  // Two sources may offer the end (the live event, the late check below); `done` runs once.
  auto fired = std::make_shared<std::atomic<bool>>(false);
  // A task not yet ended is watched until its end is delivered or the handle goes.
  auto waiter = IsTerminal(task.state) ? nullptr : std::make_shared<Waiter>(watches_, task.id);
  auto fire = [fired, waiter, done = std::move(done)](const TaskEvent& e) {
    if (!IsTerminalEvent(e.type) || !e.task || fired->exchange(true)) return;
    if (waiter) waiter->Release();
    done(*e.task);
  };
  if (IsTerminal(task.state)) return bus_.Deliver({TerminalEventOf(task)}, fire);
  // After the newest seq there is nothing to replay but the terminal event, which the bus
  // always delivers: the callback sees the end whether it came before this line or after.
  auto live = bus_.Subscribe(task.id, std::numeric_limits<int64_t>::max(), fire);
  // The end may have been committed without the bus holding it (its history dropped): check
  // the record once more now that the live subscription is in place.
  ASSIGN_OR_RETURN(Task now, store_.Get(task.id));
  if (IsTerminal(now.state)) {
    live = std::make_unique<SubscriptionPair>(std::move(live),
                                              bus_.Deliver({TerminalEventOf(now)}, fire));
  }
  return std::unique_ptr<Subscription>(std::make_unique<Watched>(std::move(live), waiter));
}

Status EventSequencer::RepairLostEnds() {
  std::vector<std::string> watched;
  {
    MutexLock lock(watches_->mu);
    watched.reserve(watches_->waiters.size());
    for (const auto& [task_id, waiters] : watches_->waiters) watched.push_back(task_id);
  }
  Status result;
  for (const std::string& task_id : watched) {
    Result<Task> task = store_.Get(task_id);
    if (!task.ok()) {
      if (result.ok()) result = task.status();
    } else if (IsTerminal(task->state)) {
      CompleteHistory(*task);
    }
  }
  return result;
}

std::unique_ptr<Subscription> EventSequencer::SubscribeAll(
    const std::string& tenant, std::function<void(const TaskEvent&)> on_event) {
  return bus_.SubscribeAll(tenant, std::move(on_event));
}

}  // namespace stipple
