// Subscription: the handle a caller keeps while it is subscribed to something (a task's events,
// the end of a task). Destroying it unsubscribes; what exactly that guarantees about callbacks
// still running is the contract of the method that returned it (EventBus, TaskService).
#pragma once

#include <memory>
#include <utility>

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

// Two subscriptions held as one handle (a live one and a replay, say); destroyed in reverse order
// of the arguments.
class SubscriptionPair final : public Subscription {
 public:
  SubscriptionPair(std::unique_ptr<Subscription> a, std::unique_ptr<Subscription> b)
      : a_(std::move(a)), b_(std::move(b)) {}

 private:
  std::unique_ptr<Subscription> a_;
  std::unique_ptr<Subscription> b_;
};

}  // namespace stipple
