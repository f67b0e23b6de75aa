#include "notify/in_memory_event_bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "notify/event_collector.h"
#include "notify/testing/event_bus_contract.h"

namespace stipple {
namespace {

using namespace std::chrono_literals;
using Collector = EventCollector;

TaskEvent Event(const std::string& task, TaskEventType type, int step = 0) {
  TaskEvent e;
  e.task_id = task;
  e.type = type;
  if (type == TaskEventType::kProgress) e.progress = TaskProgress{step, 20};
  return e;
}

// One bus is both sides; there is no backing store to interrupt.
class InMemoryHarness : public EventBusHarness {
 public:
  explicit InMemoryHarness(const EventBusHarnessOptions& options)
      : bus_({.progress_kept = options.progress_kept}) {}
  EventBus& publisher() override { return bus_; }
  EventBus& subscriber() override { return bus_; }
  Status Interrupt(BusInterruption) override { return Status::Ok(); }
  Status Resume() override { return Status::Ok(); }
  bool WaitConnected() override { return true; }

 private:
  InMemoryEventBus bus_;
};

std::unique_ptr<EventBusHarness> MakeInMemoryHarness(const EventBusHarnessOptions& options) {
  return std::make_unique<InMemoryHarness>(options);
}

INSTANTIATE_EVENT_BUS_CONTRACT(InMemory, &MakeInMemoryHarness);

// ---- what only the in-memory bus promises ----

// Waits until the bus's delivery thread has handed over everything published so far.
void Settle(InMemoryEventBus& bus) {
  std::promise<void> done;
  auto handle = bus.Deliver({TaskEvent{}}, [&](const TaskEvent&) { done.set_value(); });
  done.get_future().wait_for(5s);
}

TEST(InMemoryEventBus, FinishedTasksHistoryIsDroppedAfterTheRetention) {
  ManualClock clock;
  InMemoryEventBus bus({.clock = &clock, .terminal_retention = Millis(60'000)});
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  bus.Publish("acme", Event("a", TaskEventType::kSucceeded));
  clock.Advance(Millis(59'999));
  EXPECT_TRUE(bus.TerminalEvent("a").has_value());
  clock.Advance(Millis(1));
  EXPECT_FALSE(bus.TerminalEvent("a").has_value());
  EXPECT_EQ(bus.tasks_held(), 0u);
}

TEST(InMemoryEventBus, PublishDoesNotWaitForASlowCallback) {
  InMemoryEventBus bus;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  auto sub = bus.Subscribe("a", 0, [&](const TaskEvent&) {
    ++calls;
    released.wait();
  });
  // The publisher finishes all 100 while the callback is still held: no time bound, only the
  // order of events (a Publish that waited for its callback would never finish before release).
  std::future<void> published = std::async(std::launch::async, [&] {
    for (int i = 0; i < 100; ++i) bus.Publish("acme", Event("a", TaskEventType::kProgress, i));
  });
  EXPECT_EQ(published.wait_for(60s), std::future_status::ready);
  EXPECT_LE(calls.load(), 1) << "the callback is still held";
  release.set_value();
  published.wait();
  for (int i = 0; i < 500 && calls < 100; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(calls.load(), 100);
}

TEST(InMemoryEventBus, DestroyedHandleWaitsForItsRunningCallbackAndGetsNothingMore) {
  InMemoryEventBus bus;
  std::promise<void> entered, release;
  std::atomic<bool> in_callback{false};
  std::atomic<int> calls{0};
  auto sub = bus.Subscribe("a", 0, [&](const TaskEvent&) {
    if (++calls == 1) {
      in_callback = true;
      entered.set_value();
      release.get_future().wait();
      in_callback = false;
    }
  });
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  entered.get_future().wait();
  bus.Publish("acme", Event("a", TaskEventType::kStarted));
  std::thread releaser([&] {
    std::this_thread::sleep_for(100ms);
    release.set_value();
  });
  sub.reset();
  EXPECT_FALSE(in_callback.load());  // the destructor returned only after the callback did
  releaser.join();
  bus.Publish("acme", Event("a", TaskEventType::kProgress, 1));
  Settle(bus);
  EXPECT_EQ(calls.load(), 1);
}

TEST(InMemoryEventBus, CallbackMayDestroyItsOwnHandle) {
  InMemoryEventBus bus;
  std::unique_ptr<Subscription> sub;
  std::atomic<int> calls{0};
  std::promise<void> done;
  // Nothing is held for "a" yet, so the callback cannot run before `sub` is assigned.
  sub = bus.Subscribe("a", 0, [&](const TaskEvent&) {
    ++calls;
    sub.reset();  // returns at once; no further call follows
    done.set_value();
  });
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  bus.Publish("acme", Event("a", TaskEventType::kStarted));
  ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  bus.Publish("acme", Event("a", TaskEventType::kProgress, 1));
  Settle(bus);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(bus.subscribers(), 0u);
}

}  // namespace
}  // namespace stipple
