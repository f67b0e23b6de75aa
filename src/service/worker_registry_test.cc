// The worker registry through the service: the workers and figures behind Queue().
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

TEST_F(ServiceStackTest, QueueReportsCountsAndWorkersWithTheirTasks) {
  ASSERT_TRUE(
      service_->work()
          .Register({.id = "worker-1", .host = "h", .device = "cpu", .models = {"shapes-32"}})
          .ok());
  ASSERT_TRUE(service_->work().Register({.id = "worker-2", .models = {"shapes-32"}}).ok());
  Task t = Submit();
  Submit();
  LeaseOne("worker-1");
  auto q = service_->tasks().Queue();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->workers_online, 2);
  EXPECT_EQ(q->workers_busy, 1);
  ASSERT_EQ(q->workers.size(), 2u);
  EXPECT_EQ(q->workers[0].state, WorkerState::kBusy);
  EXPECT_EQ(q->workers[0].current_tasks, std::vector<std::string>{t.id});
  EXPECT_EQ(q->workers[1].state, WorkerState::kIdle);
  ASSERT_EQ(q->per_model.size(), 1u);
  EXPECT_EQ(q->per_model[0].queued[static_cast<int>(Priority::kNormal)], 1);
  EXPECT_EQ(q->per_model[0].running, 1);
}

TEST_F(ServiceStackTest, QueueTotalsCountEndsByStateAndTimeWaitRunAndEndToEnd) {
  Task canceled = Submit();
  ASSERT_TRUE(service_->tasks().Cancel("", canceled.id).ok());
  Submit();
  clock_.Advance(2'000ms);  // waits 2 s in the queue
  Task leased = LeaseOne();
  clock_.Advance(3'000ms);  // runs 3 s
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  auto q = service_->tasks().Queue();
  ASSERT_TRUE(q.ok());
  const TaskTotals& t = q->totals;
  EXPECT_EQ(t.submitted, 2);
  EXPECT_EQ(t.ended.at(TaskState::kSucceeded), 1);
  EXPECT_EQ(t.ended.at(TaskState::kCanceled), 1);
  EXPECT_EQ(t.end_to_end.count, 2u);  // every end
  EXPECT_DOUBLE_EQ(t.end_to_end.sum, 5.0);
  EXPECT_EQ(t.queue_wait.count, 1u);  // only the task that started
  EXPECT_DOUBLE_EQ(t.queue_wait.sum, 2.0);
  EXPECT_DOUBLE_EQ(t.run.sum, 3.0);
  EXPECT_EQ(t.run.buckets[9], 1u);  // (2.5, 5]
}

// The registry on its own.
TEST(WorkerRegistry, KeepsEachWorkersLeasesUntilTheyEndOrANewerLeaseTakesThem) {
  ManualClock clock;
  WorkerRegistry registry({.clock = &clock});
  EXPECT_EQ(registry.Register({}).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(registry.Register({.id = "w-1", .host = "gpu-a", .device = "cuda:0"}).ok());
  LeasedTask a;
  a.task.id = "tsk_a";
  a.task.fencing = 1;
  registry.Seen("w-1", {a});
  EXPECT_EQ(registry.WorkerOf("tsk_a"), "w-1");
  // Leased again (the first lease lapsed) by a worker that never registered.
  a.task.fencing = 2;
  registry.Seen("w-2", {a});
  EXPECT_EQ(registry.WorkerOf("tsk_a"), "w-2");
  registry.TaskLeft("tsk_a", 1);  // the old lease's end leaves the new one alone
  EXPECT_EQ(registry.WorkerOf("tsk_a"), "w-2");
  QueueSnapshot snap;
  registry.Fill(snap, /*draining=*/false);
  ASSERT_EQ(snap.workers.size(), 2u);
  EXPECT_EQ(snap.workers_online, 2);
  EXPECT_EQ(snap.workers_busy, 1);
  EXPECT_EQ(snap.workers[0].info.host, "gpu-a");
  EXPECT_EQ(snap.workers[0].state, WorkerState::kIdle);
  EXPECT_EQ(snap.workers[1].info.id, "w-2");
  EXPECT_EQ(snap.workers[1].current_tasks, std::vector<std::string>{"tsk_a"});
  registry.TaskLeft("tsk_a", 2);
  EXPECT_EQ(registry.WorkerOf("tsk_a"), "");
  QueueSnapshot drained;
  registry.Fill(drained, /*draining=*/true);
  EXPECT_EQ(drained.workers[1].state, WorkerState::kDraining);
  EXPECT_EQ(drained.workers_busy, 0);
  registry.Unregister("w-1");
  QueueSnapshot after;
  registry.Fill(after, false);
  EXPECT_EQ(after.workers_online, 1);
}

TEST(WorkerRegistry, FiguresCoverTheStatsWindowOnly) {
  ManualClock clock;
  WorkerRegistry registry({.clock = &clock, .stats_window = Millis(60'000)});
  Task t;
  t.id = "tsk_a";
  t.state = TaskState::kSucceeded;
  t.created_at = clock.Now();
  t.started_at = clock.Now() + Millis(1'000);
  t.completed_at = clock.Now() + Millis(3'000);
  registry.CountSubmitted();
  registry.Finish(t);
  QueueSnapshot snap;
  registry.Fill(snap, false);
  EXPECT_DOUBLE_EQ(snap.throughput_per_min, 1.0);
  EXPECT_DOUBLE_EQ(snap.mean_run_s, 2.0);
  EXPECT_EQ(snap.totals.submitted, 1);
  EXPECT_EQ(snap.totals.ended[TaskState::kSucceeded], 1);
  clock.Advance(Millis(61'000));
  QueueSnapshot later;
  registry.Fill(later, false);
  EXPECT_DOUBLE_EQ(later.throughput_per_min, 0.0);
  EXPECT_EQ(later.totals.ended[TaskState::kSucceeded], 1);  // totals stay
}

}  // namespace
}  // namespace stipple
