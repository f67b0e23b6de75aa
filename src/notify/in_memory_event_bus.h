// InMemoryEventBus: the embedded deployment's EventBus — per-task histories in memory and one
// delivery thread.
//
// Why one delivery thread: publishers (workers reporting progress, the housekeeper, request
// handlers cancelling) must never wait for a consumer, and consumers must never be called under
// a lock a publisher holds. Publish only appends to the history and to each matching
// subscriber's backlog; the delivery thread drains backlogs one subscriber at a time. Because
// there is one delivery thread, a callback may destroy any handle — its own included — without
// deadlock (no other callback can be running at the same time).
//
// Memory is bounded per task (state events + the newest `progress_kept` progress events) and
// per subscriber (`max_backlog` events, beyond which new progress events are dropped for that
// subscriber). At its terminal event a task's progress events go and its state changes stay
// (queued, started, retrying, the end: what a replay of an ended task gives). Histories of
// finished tasks are dropped `terminal_retention` after their terminal event, checked whenever
// the bus is used.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "notify/event_bus.h"

namespace stipple {

struct InMemoryEventBusOptions {
  const Clock* clock = SystemClock::Get();    // times terminal_retention
  int progress_kept = 32;                     // progress events held per task, newest first kept
  Millis terminal_retention{10 * 60 * 1000};  // a finished task's history stays this long
  size_t max_backlog = 4096;                  // per subscriber; past it progress events are dropped
};

class InMemoryEventBus final : public EventBus {
 public:
  explicit InMemoryEventBus(InMemoryEventBusOptions options = {});
  // Stops the delivery thread; undelivered events are discarded. All handles must be gone.
  ~InMemoryEventBus() override;
  InMemoryEventBus(const InMemoryEventBus&) = delete;
  InMemoryEventBus& operator=(const InMemoryEventBus&) = delete;

  TaskEvent Publish(const std::string& tenant, TaskEvent event) override;
  std::vector<TaskEvent> PublishBatch(std::vector<TenantEvent> events) override;  // one lock
  bool Seed(const std::string& tenant, std::vector<TaskEvent> history) override;
  std::unique_ptr<Subscription> Subscribe(const std::string& task_id, int64_t after_seq,
                                          TaskEventCallback on_event) override;
  std::unique_ptr<Subscription> SubscribeAll(const std::string& tenant,
                                             TaskEventCallback on_event) override;
  std::unique_ptr<Subscription> SubscribePublished(TaskEventCallback on_event) override {
    return SubscribeAll("", std::move(on_event));
  }
  std::unique_ptr<Subscription> Deliver(std::vector<TaskEvent> events,
                                        TaskEventCallback on_event) override;
  std::optional<TaskEvent> TerminalEvent(const std::string& task_id) override;

  // For a bus that mirrors one shared between processes (RedisEventBus): takes an event that
  // bus has numbered already. A task is followed here while it has subscribers or a held
  // history. Events of a followed task are held and delivered to its subscribers when their seq
  // is above the newest held one (gaps allowed: the caller fills what it can first; an older or
  // equal seq is a duplicate and is dropped); nothing is held for other tasks. The all-task
  // subscribers get every event that is not a duplicate. Returns false for a duplicate.
  bool Relay(const std::string& tenant, TaskEvent event);
  // The newest seq held for a followed task (0: subscribers but nothing held yet); nullopt when
  // the task is not followed here.
  std::optional<int64_t> Followed(const std::string& task_id) const;
  // Every task with subscribers here, with the newest seq held for it.
  std::vector<std::pair<std::string, int64_t>> FollowedTasks() const;

  // For metrics and tests.
  size_t tasks_held() const;
  size_t subscribers() const;
  std::vector<TaskEvent> History(const std::string& task_id) const;

 private:
  TaskEvent PublishLocked(const std::string& tenant, TaskEvent event) REQUIRES(mu_);
  struct Subscriber;
  class Handle;
  struct TaskHistory {
    std::string tenant;
    int64_t next_seq = 1;
    std::deque<TaskEvent> events;  // seq order
    int progress_held = 0;
    bool ended = false;
  };

  void Enqueue(const std::shared_ptr<Subscriber>& sub, const TaskEvent& event) REQUIRES(mu_);
  void Schedule(const std::shared_ptr<Subscriber>& sub) REQUIRES(mu_);
  void Hold(TaskHistory& history, TaskEvent event) REQUIRES(mu_);
  void DropExpiredHistories() REQUIRES(mu_);
  std::unique_ptr<Subscription> Register(std::shared_ptr<Subscriber> sub) REQUIRES(mu_);
  void Unsubscribe(const std::shared_ptr<Subscriber>& sub) EXCLUDES(mu_);
  void DeliveryLoop();

  const InMemoryEventBusOptions options_;
  mutable Mutex mu_;
  std::condition_variable work_cv_;  // ready_ gained a subscriber, or stopping
  std::condition_variable idle_cv_;  // a subscriber's callback returned
  std::unordered_map<std::string, TaskHistory> histories_ GUARDED_BY(mu_);
  std::deque<std::pair<Timestamp, std::string>> ended_ GUARDED_BY(mu_);  // end time order
  std::unordered_multimap<std::string, std::shared_ptr<Subscriber>> by_task_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Subscriber>> all_tasks_ GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Subscriber>> ready_ GUARDED_BY(mu_);
  size_t subscribers_ GUARDED_BY(mu_) = 0;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread delivery_;
};

}  // namespace stipple
