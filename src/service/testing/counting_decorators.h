// Test decorators that count what the service asks of its TaskStore and its EventBus, for the
// tests of what a periodic check costs (store reads per task) and of what it publishes (terminal
// events per task, counted when offered, whether or not the bus keeps them). Each forwards every
// call to the store or bus it wraps, which the caller owns and which outlives it; the store's
// Reap can be made to fail (FailReap). Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/thread_annotations.h"
#include "notify/event_bus.h"
#include "store/task_store.h"

namespace stipple {

class CountingTaskStore final : public TaskStore {
 public:
  explicit CountingTaskStore(TaskStore& store) : store_(store) {}

  // The Get calls for `task_id` so far.
  int Gets(const std::string& task_id) {
    MutexLock lock(mu_);
    auto it = gets_.find(task_id);
    return it == gets_.end() ? 0 : it->second;
  }

  Result<EnqueueResult> Enqueue(const NewTask& task) override { return store_.Enqueue(task); }
  Result<Task> Get(const std::string& task_id) override {
    {
      MutexLock lock(mu_);
      ++gets_[task_id];
    }
    return store_.Get(task_id);
  }
  Result<std::vector<LeasedTask>> Lease(const LeaseRequest& request) override {
    return store_.Lease(request);
  }
  Result<HeartbeatReply> Heartbeat(const std::string& task_id, uint64_t fencing,
                                   Millis lease_duration,
                                   std::optional<TaskProgress> progress) override {
    return store_.Heartbeat(task_id, fencing, lease_duration, std::move(progress));
  }
  using TaskStore::Complete;
  std::vector<Result<Task>> Complete(std::span<const Completion> completions) override {
    return store_.Complete(completions);
  }
  Result<Task> Fail(const Failure& failure) override { return store_.Fail(failure); }
  Result<Task> Release(const std::string& task_id, uint64_t fencing) override {
    return store_.Release(task_id, fencing);
  }
  Result<Task> MarkCanceled(const std::string& task_id, uint64_t fencing) override {
    return store_.MarkCanceled(task_id, fencing);
  }
  Result<CancelResult> Cancel(const std::string& task_id) override {
    return store_.Cancel(task_id);
  }
  Result<TaskPage> List(const ListQuery& query) override { return store_.List(query); }
  // From now on Reap answers `error` instead of reaping (OK: reaps again).
  void FailReap(Status error) {
    MutexLock lock(mu_);
    reap_error_ = std::move(error);
  }
  Result<ReapReport> Reap() override {
    {
      MutexLock lock(mu_);
      if (!reap_error_.ok()) return reap_error_;
    }
    return store_.Reap();
  }
  Result<std::vector<QueueCounts>> Counts() override { return store_.Counts(); }

 private:
  TaskStore& store_;
  Mutex mu_;
  std::map<std::string, int> gets_ GUARDED_BY(mu_);
  Status reap_error_ GUARDED_BY(mu_);
};

class CountingEventBus final : public EventBus {
 public:
  explicit CountingEventBus(EventBus& bus) : bus_(bus) {}

  // The terminal events offered for `task_id` so far: published, published in a batch, or in a
  // history the bus accepted (Seed).
  int EndsOffered(const std::string& task_id) {
    MutexLock lock(mu_);
    auto it = ends_.find(task_id);
    return it == ends_.end() ? 0 : it->second;
  }

  TaskEvent Publish(const std::string& tenant, TaskEvent event) override {
    Count(event);
    return bus_.Publish(tenant, std::move(event));
  }
  std::vector<TaskEvent> PublishBatch(std::vector<TenantEvent> events) override {
    for (const TenantEvent& e : events) Count(e.event);
    return bus_.PublishBatch(std::move(events));
  }
  bool Seed(const std::string& tenant, std::vector<TaskEvent> history) override {
    std::vector<TaskEvent> copy = history;
    if (!bus_.Seed(tenant, std::move(history))) return false;
    for (const TaskEvent& e : copy) Count(e);
    return true;
  }
  std::unique_ptr<Subscription> Subscribe(const std::string& task_id, int64_t after_seq,
                                          TaskEventCallback on_event) override {
    return bus_.Subscribe(task_id, after_seq, std::move(on_event));
  }
  std::unique_ptr<Subscription> SubscribeAll(const std::string& tenant,
                                             TaskEventCallback on_event) override {
    return bus_.SubscribeAll(tenant, std::move(on_event));
  }
  std::unique_ptr<Subscription> SubscribePublished(TaskEventCallback on_event) override {
    return bus_.SubscribePublished(std::move(on_event));
  }
  std::unique_ptr<Subscription> Deliver(std::vector<TaskEvent> events,
                                        TaskEventCallback on_event) override {
    return bus_.Deliver(std::move(events), std::move(on_event));
  }
  std::optional<TaskEvent> TerminalEvent(const std::string& task_id) override {
    return bus_.TerminalEvent(task_id);
  }

 private:
  void Count(const TaskEvent& event) {
    if (!IsTerminalEvent(event.type)) return;
    MutexLock lock(mu_);
    ++ends_[event.task_id];
  }

  EventBus& bus_;
  Mutex mu_;
  std::map<std::string, int> ends_ GUARDED_BY(mu_);
};

}  // namespace stipple
