#include "notify/in_memory_event_bus.h"

#include <algorithm>
#include <atomic>
#include <exception>

#include "common/log.h"

namespace stipple {

struct InMemoryEventBus::Subscriber {
  enum class Kind { kTask, kAllTasks, kFixed };
  Kind kind = Kind::kFixed;
  std::string key;  // kTask: the task id; kAllTasks: the tenant (empty: every tenant)
  TaskEventCallback on_event;
  std::deque<TaskEvent> backlog;  // GUARDED_BY(bus mu_)
  bool scheduled = false;         // GUARDED_BY(bus mu_): in ready_ or being delivered
  bool running = false;           // GUARDED_BY(bus mu_): its callback is being called
  std::thread::id runner;         // GUARDED_BY(bus mu_): the thread calling it while running
  // Set under mu_; also read without it between two callbacks of one batch, so a handle
  // destroyed during a batch stops the rest of it.
  std::atomic<bool> closed{false};
};

class InMemoryEventBus::Handle final : public Subscription {
 public:
  Handle(InMemoryEventBus* bus, std::shared_ptr<Subscriber> sub)
      : bus_(bus), sub_(std::move(sub)) {}
  ~Handle() override { bus_->Unsubscribe(sub_); }

 private:
  InMemoryEventBus* bus_;
  std::shared_ptr<Subscriber> sub_;
};

InMemoryEventBus::InMemoryEventBus(InMemoryEventBusOptions options)
    : options_(options), delivery_([this] { DeliveryLoop(); }) {}

InMemoryEventBus::~InMemoryEventBus() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  delivery_.join();
}

void InMemoryEventBus::Schedule(const std::shared_ptr<Subscriber>& sub) {
  if (sub->scheduled || sub->backlog.empty()) return;
  sub->scheduled = true;
  ready_.push_back(sub);
  work_cv_.notify_one();
}

void InMemoryEventBus::Enqueue(const std::shared_ptr<Subscriber>& sub, const TaskEvent& event) {
  if (sub->backlog.size() >= options_.max_backlog && event.type == TaskEventType::kProgress) {
    return;  // a consumer this far behind loses progress, never a state change
  }
  sub->backlog.push_back(event);
  Schedule(sub);
}

void InMemoryEventBus::Hold(TaskHistory& history, TaskEvent event) {
  if (event.type == TaskEventType::kProgress) {
    if (options_.progress_kept <= 0) return;
    if (history.progress_held == options_.progress_kept) {
      // Thin: the oldest progress event goes; state events are never dropped.
      auto oldest = std::find_if(history.events.begin(), history.events.end(),
                                 [](const auto& e) { return e.type == TaskEventType::kProgress; });
      history.events.erase(oldest);
      --history.progress_held;
    }
    ++history.progress_held;
  }
  if (IsTerminalEvent(event.type)) {
    // What a replay of an ended task needs is its state changes; its progress (previews
    // included) would only hold memory for the retention.
    std::erase_if(history.events,
                  [](const TaskEvent& e) { return e.type == TaskEventType::kProgress; });
    history.progress_held = 0;
    history.ended = true;
    ended_.emplace_back(options_.clock->Now(), event.task_id);
  }
  history.events.push_back(std::move(event));
}

void InMemoryEventBus::DropExpiredHistories() {
  const Timestamp now = options_.clock->Now();
  while (!ended_.empty() && ended_.front().first + options_.terminal_retention <= now) {
    histories_.erase(ended_.front().second);
    ended_.pop_front();
  }
}

TaskEvent InMemoryEventBus::Publish(const std::string& tenant, TaskEvent event) {
  MutexLock lock(mu_);
  DropExpiredHistories();
  return PublishLocked(tenant, std::move(event));
}

std::vector<TaskEvent> InMemoryEventBus::PublishBatch(std::vector<TenantEvent> events) {
  std::vector<TaskEvent> published;
  published.reserve(events.size());
  MutexLock lock(mu_);
  DropExpiredHistories();
  for (TenantEvent& e : events) published.push_back(PublishLocked(e.tenant, std::move(e.event)));
  return published;
}

TaskEvent InMemoryEventBus::PublishLocked(const std::string& tenant, TaskEvent event) {
  TaskHistory& history = histories_[event.task_id];
  if (history.ended) {
    event.seq = 0;
    return event;
  }
  history.tenant = tenant;
  event.seq = history.next_seq++;
  auto [first, last] = by_task_.equal_range(event.task_id);
  for (auto it = first; it != last; ++it) Enqueue(it->second, event);
  for (const auto& sub : all_tasks_) {
    if (sub->key.empty() || sub->key == tenant) Enqueue(sub, event);
  }
  Hold(history, event);
  return event;
}

bool InMemoryEventBus::Relay(const std::string& tenant, TaskEvent event) {
  MutexLock lock(mu_);
  DropExpiredHistories();
  auto [first, last] = by_task_.equal_range(event.task_id);
  auto held = histories_.find(event.task_id);
  TaskHistory* history = nullptr;
  if (held != histories_.end()) {
    history = &held->second;
  } else if (first != last) {
    history = &histories_[event.task_id];
  }
  if (history != nullptr) {
    if (history->ended || event.seq < history->next_seq) return false;
    history->tenant = tenant;
    history->next_seq = event.seq + 1;
    for (auto it = first; it != last; ++it) Enqueue(it->second, event);
  }
  for (const auto& sub : all_tasks_) {
    if (sub->key.empty() || sub->key == tenant) Enqueue(sub, event);
  }
  if (history != nullptr) Hold(*history, std::move(event));
  return true;
}

std::optional<int64_t> InMemoryEventBus::Followed(const std::string& task_id) const {
  MutexLock lock(mu_);
  auto it = histories_.find(task_id);
  if (it != histories_.end()) return it->second.next_seq - 1;
  if (by_task_.count(task_id) > 0) return 0;
  return std::nullopt;
}

std::vector<std::pair<std::string, int64_t>> InMemoryEventBus::FollowedTasks() const {
  MutexLock lock(mu_);
  std::vector<std::pair<std::string, int64_t>> out;
  for (auto it = by_task_.begin(); it != by_task_.end();
       it = by_task_.equal_range(it->first).second) {
    auto h = histories_.find(it->first);
    out.emplace_back(it->first, h == histories_.end() ? 0 : h->second.next_seq - 1);
  }
  return out;
}

bool InMemoryEventBus::Seed(const std::string& tenant, std::vector<TaskEvent> history_events) {
  if (history_events.empty()) return false;
  MutexLock lock(mu_);
  DropExpiredHistories();
  const std::string task_id = history_events.front().task_id;
  if (histories_.count(task_id) > 0) return false;
  TaskHistory& history = histories_[task_id];
  history.tenant = tenant;
  for (TaskEvent& e : history_events) {
    history.next_seq = std::max(history.next_seq, e.seq + 1);
    Hold(history, std::move(e));
  }
  return true;
}

std::unique_ptr<Subscription> InMemoryEventBus::Register(std::shared_ptr<Subscriber> sub) {
  ++subscribers_;
  Schedule(sub);
  return std::make_unique<Handle>(this, std::move(sub));
}

std::unique_ptr<Subscription> InMemoryEventBus::Subscribe(const std::string& task_id,
                                                          int64_t after_seq,
                                                          TaskEventCallback on_event) {
  auto sub = std::make_shared<Subscriber>();
  sub->kind = Subscriber::Kind::kTask;
  sub->key = task_id;
  sub->on_event = std::move(on_event);
  MutexLock lock(mu_);
  DropExpiredHistories();
  // Replay and registration under one lock: no event can fall between them or come twice.
  auto it = histories_.find(task_id);
  if (it != histories_.end()) {
    for (const TaskEvent& e : it->second.events) {
      if (e.seq > after_seq || IsTerminalEvent(e.type)) sub->backlog.push_back(e);
    }
  }
  by_task_.emplace(task_id, sub);
  return Register(std::move(sub));
}

std::unique_ptr<Subscription> InMemoryEventBus::SubscribeAll(const std::string& tenant,
                                                             TaskEventCallback on_event) {
  auto sub = std::make_shared<Subscriber>();
  sub->kind = Subscriber::Kind::kAllTasks;
  sub->key = tenant;
  sub->on_event = std::move(on_event);
  MutexLock lock(mu_);
  all_tasks_.push_back(sub);
  return Register(std::move(sub));
}

std::unique_ptr<Subscription> InMemoryEventBus::Deliver(std::vector<TaskEvent> events,
                                                        TaskEventCallback on_event) {
  auto sub = std::make_shared<Subscriber>();
  sub->on_event = std::move(on_event);
  sub->backlog.assign(std::make_move_iterator(events.begin()),
                      std::make_move_iterator(events.end()));
  MutexLock lock(mu_);
  return Register(std::move(sub));
}

std::optional<TaskEvent> InMemoryEventBus::TerminalEvent(const std::string& task_id) {
  MutexLock lock(mu_);
  DropExpiredHistories();
  auto it = histories_.find(task_id);
  if (it == histories_.end() || !it->second.ended) return std::nullopt;
  return it->second.events.back();
}

void InMemoryEventBus::Unsubscribe(const std::shared_ptr<Subscriber>& sub) {
  TaskEventCallback doomed;  // destroyed after the lock is released: it may own other handles
  {
    MutexLock lock(mu_);
    sub->closed = true;
    sub->backlog.clear();
    --subscribers_;
    if (sub->kind == Subscriber::Kind::kTask) {
      auto [first, last] = by_task_.equal_range(sub->key);
      for (auto it = first; it != last; ++it) {
        if (it->second == sub) {
          by_task_.erase(it);
          break;
        }
      }
    } else if (sub->kind == Subscriber::Kind::kAllTasks) {
      std::erase(all_tasks_, sub);
    }
    if (sub->running && sub->runner == std::this_thread::get_id()) {
      return;  // destroyed from inside its own callback, which owns on_event until it returns
    }
    idle_cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return !sub->running; });
    doomed = std::move(sub->on_event);
  }
}

void InMemoryEventBus::DeliveryLoop() {
  MutexLock lock(mu_);
  while (true) {
    work_cv_.wait(lock.native(), [&]() REQUIRES(mu_) { return stopping_ || !ready_.empty(); });
    if (stopping_) break;
    std::shared_ptr<Subscriber> sub = std::move(ready_.front());
    ready_.pop_front();
    std::deque<TaskEvent> batch;
    batch.swap(sub->backlog);
    sub->running = true;
    sub->runner = std::this_thread::get_id();
    lock.Unlock();
    for (const TaskEvent& event : batch) {
      if (sub->closed) break;
      try {
        sub->on_event(event);
      } catch (const std::exception& e) {
        LogError("event callback threw", {{"task_id", event.task_id}, {"error", e.what()}});
      } catch (...) {
        LogError("event callback threw", {{"task_id", event.task_id}});
      }
    }
    lock.Lock();
    sub->running = false;
    sub->scheduled = false;
    if (!sub->closed) Schedule(sub);  // events that came during the batch
    idle_cv_.notify_all();
    // The last reference may be ours (its handle is gone): let it go without the lock, since
    // destroying the callback may destroy other handles.
    lock.Unlock();
    sub.reset();
    lock.Lock();
  }
}

size_t InMemoryEventBus::tasks_held() const {
  MutexLock lock(mu_);
  return histories_.size();
}

size_t InMemoryEventBus::subscribers() const {
  MutexLock lock(mu_);
  return subscribers_;
}

std::vector<TaskEvent> InMemoryEventBus::History(const std::string& task_id) const {
  MutexLock lock(mu_);
  auto it = histories_.find(task_id);
  if (it == histories_.end()) return {};
  return {it->second.events.begin(), it->second.events.end()};
}

}  // namespace stipple
