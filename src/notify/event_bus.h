// EventBus: carries task events (core/task_event.h) from the code that changes tasks (the task
// service, on behalf of workers and the housekeeper) to the code that follows them (SSE and
// WebSocket streams, sync waiters, webhooks). InMemoryEventBus serves one process;
// RedisEventBus (notify/redis/redis_event_bus.h) puts Redis pub/sub and a capped per-task stream
// behind the same interface, so that every gateway sees every task's events.
//
// Contract, for every implementation (the suite in event_bus_contract.h runs it against both):
//  - Numbering: the bus numbers each task's events 1, 2, 3, ... in the order Publish is called
//    for that task. A task has at most one terminal event and it is the last: anything published
//    for a task after its terminal event is dropped (Publish answers seq 0).
//  - Replay: per task the bus holds a bounded history. State events (queued, started, retrying)
//    and the terminal event are always held; progress events may be thinned to the newest few.
//    A task's history is dropped some time (the retention) after its terminal event.
//  - Delivery: callbacks run on the bus's own delivery thread, never on the publisher's thread
//    and never under a lock of the bus, so Publish never waits for a consumer. Each subscription
//    gets its events in seq order, each at most once.
//  - Callbacks must not block: hand the event to your own executor (an Asio strand, a queue) and
//    return. A slow callback delays the other subscribers' deliveries (not the publishers); a
//    subscriber whose backlog exceeds a bound loses progress events first (never state events).
//  - Handles: destroying a handle unsubscribes. When the destructor returns, the callback is not
//    running and will not be called again — with one exception that keeps it deadlock-free: a
//    handle destroyed from inside its own callback returns at once (the callback that is running
//    is the caller itself) and no further call follows. Do not destroy a handle while holding a
//    lock that its callback takes: the destructor waits for a running callback to finish.
//    Every handle must be destroyed before the bus.
//  - Thread-safe: every method may be called from any thread, including from inside a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/subscription.h"
#include "core/task_event.h"

namespace stipple {

using TaskEventCallback = std::function<void(const TaskEvent&)>;

// An event with its task's tenant: PublishBatch's input.
struct TenantEvent {
  std::string tenant;
  TaskEvent event;
};

class EventBus {
 public:
  virtual ~EventBus() = default;

  // Numbers `event` (its seq is ignored), holds it for replay and delivers it to the task's
  // subscribers and to the all-task subscribers of `tenant` and of every tenant. Returns the
  // event as published; seq 0 when it was dropped (its task already had a terminal event, or —
  // a bus may thin progress — a progress event coalesced with a newer one).
  virtual TaskEvent Publish(const std::string& tenant, TaskEvent event) = 0;
  // Publish for several events (a worker batch's progress at one step), in order, each as
  // Publish would; one answer per event. An implementation may do it in one step (one lock, one
  // Redis round trip); the base class calls Publish for each.
  virtual std::vector<TaskEvent> PublishBatch(std::vector<TenantEvent> events);

  // Gives a task the bus knows nothing about (e.g. one created before a restart) a history
  // rebuilt by the caller, numbered by the caller from 1 in order; later events continue the
  // numbering. Delivered to no one live. Returns false, and changes nothing, when the bus
  // already holds events of the task.
  virtual bool Seed(const std::string& tenant, std::vector<TaskEvent> history) = 0;

  // The task's held events with seq > after_seq, then its live events. The terminal event is
  // delivered even when its seq is not above after_seq, so a subscriber always learns the end.
  virtual std::unique_ptr<Subscription> Subscribe(const std::string& task_id, int64_t after_seq,
                                                  TaskEventCallback on_event) = 0;

  // Live events of every task of `tenant` (empty: of all tenants), from now on; no replay.
  virtual std::unique_ptr<Subscription> SubscribeAll(const std::string& tenant,
                                                     TaskEventCallback on_event) = 0;

  // Live events published through this instance (this process), of every tenant, from now on;
  // no replay. For work that exactly one process must do per event where several share a bus
  // (webhook progress deliveries): on a bus of one process it is SubscribeAll("").
  virtual std::unique_ptr<Subscription> SubscribePublished(TaskEventCallback on_event) = 0;

  // Delivers exactly `events` (not published, not numbered by the bus) on the delivery thread,
  // with the same handle rules: for answers the caller made up itself, such as the terminal event
  // of a task whose history the bus no longer holds.
  virtual std::unique_ptr<Subscription> Deliver(std::vector<TaskEvent> events,
                                                TaskEventCallback on_event) = 0;

  // The task's terminal event while the bus holds it.
  virtual std::optional<TaskEvent> TerminalEvent(const std::string& task_id) = 0;
};

}  // namespace stipple
