// Subscription: the handle a caller keeps while it is subscribed to something (a task's events,
// the end of a task). Destroying it unsubscribes; what exactly that guarantees about callbacks
// still running is the contract of the method that returned it (EventBus, TaskService).
#pragma once

namespace stipple {

// Unsubscribes (or stops waiting) when destroyed. Owned by the caller through a unique_ptr;
// neither copyable nor movable itself.
class Subscription {
 public:
  Subscription() = default;
  virtual ~Subscription() = default;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
};

}  // namespace stipple
