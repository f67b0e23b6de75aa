#include "notify/in_memory_event_bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "notify/event_collector.h"

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

std::vector<int64_t> Seqs(const std::vector<TaskEvent>& events) {
  std::vector<int64_t> out;
  for (const auto& e : events) out.push_back(e.seq);
  return out;
}

// Waits until the bus's delivery thread has handed over everything published so far.
void Settle(InMemoryEventBus& bus) {
  std::promise<void> done;
  auto handle = bus.Deliver({TaskEvent{}}, [&](const TaskEvent&) { done.set_value(); });
  done.get_future().wait_for(5s);
}

TEST(InMemoryEventBus, NumbersEachTasksEventsFromOne) {
  InMemoryEventBus bus;
  EXPECT_EQ(bus.Publish("acme", Event("a", TaskEventType::kQueued)).seq, 1);
  EXPECT_EQ(bus.Publish("acme", Event("b", TaskEventType::kQueued)).seq, 1);
  EXPECT_EQ(bus.Publish("acme", Event("a", TaskEventType::kStarted)).seq, 2);
  EXPECT_EQ(bus.Publish("acme", Event("a", TaskEventType::kProgress, 1)).seq, 3);
}

TEST(InMemoryEventBus, PublishBatchNumbersEachEventAsPublishWouldInOrder) {
  InMemoryEventBus bus;
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  bus.Publish("acme", Event("a", TaskEventType::kFailed));
  EventCollector all;
  auto sub = bus.SubscribeAll("", all.Callback());
  std::vector<TaskEvent> out =
      bus.PublishBatch({{"acme", Event("b", TaskEventType::kQueued)},
                        {"other", Event("c", TaskEventType::kQueued)},
                        {"acme", Event("b", TaskEventType::kProgress, 1)},
                        {"acme", Event("a", TaskEventType::kProgress, 1)}});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].seq, 1);
  EXPECT_EQ(out[1].seq, 1);
  EXPECT_EQ(out[2].seq, 2);
  EXPECT_EQ(out[3].seq, 0);  // after a's terminal event: dropped
  auto got = all.Wait(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].task_id, "c");
  EXPECT_EQ(got[2].progress, (std::optional<TaskProgress>{TaskProgress{1, 20}}));
}

TEST(InMemoryEventBus, SubscriberGetsHeldEventsAfterItsSeqThenLiveOnesInOrder) {
  InMemoryEventBus bus;
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  bus.Publish("acme", Event("a", TaskEventType::kStarted));
  bus.Publish("acme", Event("a", TaskEventType::kProgress, 1));
  Collector got;
  auto sub = bus.Subscribe("a", 1, got.Callback());
  bus.Publish("acme", Event("a", TaskEventType::kProgress, 2));
  bus.Publish("acme", Event("a", TaskEventType::kSucceeded));
  EXPECT_EQ(Seqs(got.Wait(4)), (std::vector<int64_t>{2, 3, 4, 5}));
}

TEST(InMemoryEventBus, TerminalEventIsReplayedEvenWhenAfterSeqIsPastIt) {
  InMemoryEventBus bus;
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  bus.Publish("acme", Event("a", TaskEventType::kCanceled));
  Collector got;
  auto sub = bus.Subscribe("a", 10, got.Callback());
  auto events = got.Wait(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, TaskEventType::kCanceled);
}

TEST(InMemoryEventBus, NothingIsPublishedAfterTheTerminalEvent) {
  InMemoryEventBus bus;
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  bus.Publish("acme", Event("a", TaskEventType::kFailed));
  EXPECT_EQ(bus.Publish("acme", Event("a", TaskEventType::kProgress, 3)).seq, 0);
  EXPECT_EQ(bus.History("a").size(), 2u);
  EXPECT_EQ(bus.TerminalEvent("a")->type, TaskEventType::kFailed);
}

TEST(InMemoryEventBus, ProgressIsThinnedToTheNewestButStateEventsAreKept) {
  InMemoryEventBus bus({.progress_kept = 2});
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  bus.Publish("acme", Event("a", TaskEventType::kStarted));
  for (int step = 1; step <= 5; ++step)
    bus.Publish("acme", Event("a", TaskEventType::kProgress, step));
  EXPECT_EQ(Seqs(bus.History("a")), (std::vector<int64_t>{1, 2, 6, 7}));
  bus.Publish("acme", Event("a", TaskEventType::kRetrying));
  bus.Publish("acme", Event("a", TaskEventType::kStarted));
  bus.Publish("acme", Event("a", TaskEventType::kProgress, 1));
  // At the end the progress goes and every state change stays, for a replay of the ended task.
  bus.Publish("acme", Event("a", TaskEventType::kSucceeded));
  EXPECT_EQ(Seqs(bus.History("a")), (std::vector<int64_t>{1, 2, 8, 9, 11}));
}

TEST(InMemoryEventBus, AllTaskSubscriberSeesOnlyItsTenantAndEmptyTenantSeesAll) {
  InMemoryEventBus bus;
  Collector acme, all;
  auto s1 = bus.SubscribeAll("acme", acme.Callback());
  auto s2 = bus.SubscribeAll("", all.Callback());
  bus.Publish("acme", Event("a", TaskEventType::kQueued));
  bus.Publish("globex", Event("g", TaskEventType::kQueued));
  ASSERT_EQ(all.Wait(2).size(), 2u);
  Settle(bus);
  auto mine = acme.Now();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].task_id, "a");
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

TEST(InMemoryEventBus, SeedGivesAnUnknownTaskAHistoryThatLaterEventsContinue) {
  InMemoryEventBus bus;
  TaskEvent queued = Event("a", TaskEventType::kQueued);
  queued.seq = 1;
  TaskEvent started = Event("a", TaskEventType::kStarted);
  started.seq = 2;
  EXPECT_TRUE(bus.Seed("acme", {queued, started}));
  EXPECT_FALSE(bus.Seed("acme", {queued}));
  EXPECT_EQ(bus.Publish("acme", Event("a", TaskEventType::kProgress, 1)).seq, 3);
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
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) bus.Publish("acme", Event("a", TaskEventType::kProgress, i));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  release.set_value();
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

TEST(InMemoryEventBus, DeliverHandsOverExactlyTheGivenEvents) {
  InMemoryEventBus bus;
  TaskEvent made_up = Event("a", TaskEventType::kExpired);
  made_up.seq = 3;
  Collector got;
  auto sub = bus.Deliver({made_up}, got.Callback());
  auto events = got.Wait(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], made_up);
  EXPECT_EQ(bus.tasks_held(), 0u);
}

}  // namespace
}  // namespace stipple
