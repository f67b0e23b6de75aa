// The event sequencer through the service: numbering and order of each task's events, replay,
// histories rebuilt from records, WhenTerminal, previews.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/id.h"
#include "notify/event_collector.h"
#include "service/testing/service_test_fixture.h"

namespace stipple {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Collector = EventCollector;

TEST_F(ServiceStackTest, LifecyclePublishesEventsInOrderNumberedFromOne) {
  Task t = Submit();
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", t.id, 0, events.Callback());
  ASSERT_TRUE(sub.ok());
  Task leased = LeaseOne();
  ASSERT_TRUE(service_->work().Progress(t.id, leased.fencing, {10, 20}, "").ok());
  ASSERT_TRUE(service_->work().Progress(t.id, leased.fencing, {20, 20}, "preview").ok());
  auto done = CompleteWith(leased, "png bytes");
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  auto got = events.Wait(5);
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(got),
            (std::vector<std::pair<TaskEventType, int64_t>>{{T::kQueued, 1},
                                                            {T::kStarted, 2},
                                                            {T::kProgress, 3},
                                                            {T::kProgress, 4},
                                                            {T::kSucceeded, 5}}));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[1].worker_id, "worker-1");
  EXPECT_EQ(got[1].attempt, 1);
  ASSERT_TRUE(got[4].task.has_value());
  EXPECT_EQ(got[4].task->state, TaskState::kSucceeded);
}

TEST_F(ServiceStackTest, WhenTerminalFiresOnTheTerminalEvent) {
  Task t = Submit();
  std::promise<Task> ended;
  auto wait =
      service_->tasks().WhenTerminal("acme", t.id, [&](const Task& end) { ended.set_value(end); });
  ASSERT_TRUE(wait.ok());
  auto future = ended.get_future();
  Task leased = LeaseOne();
  EXPECT_EQ(future.wait_for(50ms), std::future_status::timeout);
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get().state, TaskState::kSucceeded);
}

TEST_F(ServiceStackTest, WhenTerminalFiresAtOnceForAnEndedTask) {
  Task t = Submit();
  ASSERT_TRUE(service_->tasks().Cancel("acme", t.id).ok());
  std::promise<Task> ended;
  auto wait =
      service_->tasks().WhenTerminal("acme", t.id, [&](const Task& end) { ended.set_value(end); });
  ASSERT_TRUE(wait.ok());
  auto future = ended.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get().state, TaskState::kCanceled);
}

TEST_F(ServiceStackTest, SubscribeReplaysEventsAfterTheGivenSeqThenLiveOnes) {
  Task t = Submit();
  Task leased = LeaseOne();
  ASSERT_TRUE(service_->work().Progress(t.id, leased.fencing, {5, 20}, "").ok());
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", t.id, 2, events.Callback());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(events.Wait(2)), (std::vector<std::pair<TaskEventType, int64_t>>{
                                              {T::kProgress, 3}, {T::kSucceeded, 4}}));
}

TEST_F(ServiceStackTest, SubscribingToAnEndedTaskReplaysItsStateChangesAfterTheGivenSeq) {
  Task t = Submit();
  Task leased = LeaseOne();
  ASSERT_TRUE(service_->work().Progress(t.id, leased.fencing, {10, 20}, "").ok());
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  using T = TaskEventType;
  using Seqs = std::vector<std::pair<TaskEventType, int64_t>>;
  for (auto [after, want] :
       {std::pair{int64_t{0}, Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 4}}},
        std::pair{int64_t{1}, Seqs{{T::kStarted, 2}, {T::kSucceeded, 4}}},
        std::pair{int64_t{4}, Seqs{{T::kSucceeded, 4}}}}) {
    Collector events;
    auto sub = service_->tasks().Subscribe("acme", t.id, after, events.Callback());
    ASSERT_TRUE(sub.ok());
    auto got = events.Wait(want.size());
    std::this_thread::sleep_for(20ms);  // room for an extra event to show up
    got = events.Wait(want.size());
    EXPECT_EQ(TypesAndSeqs(got), want) << "after " << after;
  }
}

TEST_F(ServiceStackTest, AnEndedTaskFromBeforeARestartReplaysTheHistoryOfItsRecord) {
  auto made = store_->Enqueue(MakeTask());
  ASSERT_TRUE(made.ok());
  auto leased = store_->Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = 1});
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  ASSERT_TRUE(
      store_
          ->Fail(Failure{made->task.id, leased->front().task.fencing,
                         TaskError{"engine_error", "boom"}, FailureKind::kPermanent, Millis(0)})
          .ok());
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", made->task.id, 0, events.Callback());
  ASSERT_TRUE(sub.ok());
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(events.Wait(3)), (std::vector<std::pair<TaskEventType, int64_t>>{
                                              {T::kQueued, 1}, {T::kStarted, 2}, {T::kFailed, 3}}));
}

TEST_F(ServiceStackTest, TerminalEventOfATaskFromBeforeARestartIsRebuiltFromItsRecord) {
  // Made and finished through the store alone: the bus has never heard of it.
  auto made = store_->Enqueue(MakeTask());
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(store_->Cancel(made->task.id).ok());
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", made->task.id, 40, events.Callback());
  ASSERT_TRUE(sub.ok());
  auto got = events.Wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, TaskEventType::kCanceled);
  EXPECT_EQ(got[0].seq, 2);  // queued, canceled
  ASSERT_TRUE(got[0].task.has_value());
  EXPECT_EQ(got[0].task->id, made->task.id);
}

TEST_F(ServiceStackTest, SubscribeAllDeliversOnlyTheTenantsTasks) {
  Collector acme;
  auto sub = service_->tasks().SubscribeAll("acme", acme.Callback());
  Submit("globex");
  Task mine = Submit("acme");
  acme.Wait(1);
  std::this_thread::sleep_for(20ms);  // room for a wrong delivery to show up
  auto got = acme.Wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, mine.id);
}

TEST_F(ServiceStackTest, ANewLeaseSeenBeforeTheLostOnesRetryingStillFollowsIt) {
  Task t = Submit();
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", t.id, 0, events.Callback());
  LeaseOne("worker-1", Millis(1'000));
  clock_.Advance(Millis(1'001));
  ASSERT_TRUE(store_->Reap().ok());  // the requeue is committed but not yet published
  LeaseOne("worker-2");
  ASSERT_TRUE(service_->Housekeep().ok());
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(events.Wait(4)),
            (std::vector<std::pair<TaskEventType, int64_t>>{
                {T::kQueued, 1}, {T::kStarted, 2}, {T::kRetrying, 3}, {T::kStarted, 4}}));
}

TEST_F(ServiceStackTest, ProgressUnderALostLeaseIsAbortedAndPreviewIsKept) {
  Task t = Submit();
  Task leased = LeaseOne();
  EXPECT_EQ(service_->tasks().Preview("acme", t.id).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(service_->work().Progress(t.id, leased.fencing, {4, 20}, "tiny png").ok());
  EXPECT_EQ(*service_->tasks().Preview("acme", t.id), "tiny png");
  EXPECT_EQ(service_->work().Progress(t.id, leased.fencing + 1, {5, 20}, "").code(),
            StatusCode::kAborted);
}

TEST_F(ServiceStackTest, ConcurrentWorkersKeepEachTasksEventsNumberedAndInOrder) {
  constexpr int kTasks = 40;
  std::mutex mu;
  std::map<std::string, std::vector<TaskEvent>> seen;
  auto all = service_->tasks().SubscribeAll("", [&](const TaskEvent& e) {
    std::lock_guard lock(mu);
    seen[e.task_id].push_back(e);
  });
  std::atomic<int> completed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&, w] {
      const std::string id = "worker-" + std::to_string(w);
      while (completed < kTasks) {
        auto leased = service_->work().Lease(
            {.worker_id = id, .models = {"shapes-32"}, .max_tasks = 2, .wait = Millis(20)});
        if (!leased.ok()) continue;
        for (const LeasedTask& lt : *leased) {
          (void)service_->work().Progress(lt.task.id, lt.task.fencing, {1, 2}, "");
          if (service_->work()
                  .Complete(lt.task.id, lt.task.fencing, {GeneratedImage{"png", 32, 32, 1}})
                  .ok()) {
            ++completed;
          }
        }
      }
    });
  }
  for (int i = 0; i < kTasks; ++i) Submit(i % 2 == 0 ? "acme" : "globex");
  for (auto& t : workers) t.join();
  // Let the delivery thread hand over the last events.
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      int ended = 0;
      for (const auto& [id, events] : seen) ended += IsTerminalEvent(events.back().type);
      if (ended == kTasks) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  all.reset();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kTasks));
  for (const auto& [id, events] : seen) {
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.front().type, TaskEventType::kQueued) << id;
    EXPECT_EQ(events.back().type, TaskEventType::kSucceeded) << id;
    for (size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(events[i].seq, static_cast<int64_t>(i) + 1) << id;
      EXPECT_EQ(IsTerminalEvent(events[i].type), i + 1 == events.size()) << id;
    }
  }
}

TEST_F(ServiceStackTest, ASucceededTaskKeepsItsProgressAtEveryStep) {
  Submit();
  auto done = CompleteWith(LeaseOne(), "png");
  ASSERT_TRUE(done.ok());
  auto got = service_->tasks().Get("acme", done->id);
  ASSERT_TRUE(got.ok() && got->progress.has_value());
  EXPECT_EQ(*got->progress, (TaskProgress{20, 20}));
}

// Two gateways on one bus (as on Redis): the preview a worker reports to one is served by both.
TEST_F(ServiceStackTest, APreviewReportedToOneGatewayIsServedByAnotherOnTheSameBus) {
  ServiceStack other(*store_, *bus_, *results_, {.clock = &clock_, .housekeeping_thread = false});
  Task t = Submit();
  Task leased = LeaseOne();
  EXPECT_EQ(other.tasks().Preview("acme", t.id).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(service_->work().Progress(t.id, leased.fencing, {5, 20}, "preview-5").ok());
  auto served = [&](const std::string& want) {
    for (int i = 0; i < 500; ++i) {
      auto p = other.tasks().Preview("acme", t.id);
      if (p.ok() && *p == want) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  EXPECT_TRUE(served("preview-5"));
  EXPECT_EQ(*service_->tasks().Preview("acme", t.id), "preview-5");
  // Tenancy holds on the other gateway too.
  EXPECT_EQ(other.tasks().Preview("umbrella", t.id).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = other.tasks().Preview("acme", t.id).status().code() == StatusCode::kNotFound;
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "the terminal event drops the preview on every gateway";
}

}  // namespace
}  // namespace stipple
