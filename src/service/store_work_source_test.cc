// StoreWorkSource: refused completions, release and failure, and the batch path (a worker's
// batch completed with one CompleteBatch — one PutBatch of every image, one store write — and
// its progress with one ProgressBatch).
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

class StoreWorkSourceBatchTest : public ServiceStackTest {
 protected:
  std::vector<Task> LeaseBatch(int n) {
    auto r =
        service_->work().Lease({.worker_id = "worker-1", .models = {"shapes-32"}, .max_tasks = n});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<Task> out;
    if (r.ok()) {
      for (const LeasedTask& lt : *r) out.push_back(lt.task);
    }
    EXPECT_EQ(out.size(), static_cast<size_t>(n));
    return out;
  }
  static TaskImages ImagesOf(const Task& t, std::vector<std::string> pngs) {
    TaskImages images{t.id, t.fencing, {}};
    for (auto& png : pngs) images.images.push_back({std::move(png), 32, 32, 42});
    return images;
  }
};

TEST_F(ServiceStackTest, StaleCompletionIsRefusedAndItsFilesDeleted) {
  Task t = Submit();
  Task first = LeaseOne("worker-1", Millis(1'000));
  clock_.Advance(Millis(2'000));
  ASSERT_TRUE(service_->Housekeep().ok());
  Task second = LeaseOne("worker-2");
  ASSERT_GT(second.fencing, first.fencing);
  auto late = CompleteWith(first, "stale image");
  EXPECT_EQ(late.status().code(), StatusCode::kAborted);
  EXPECT_EQ(results_->Get(t.id, first.fencing, 0).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(CompleteWith(second, "current image").ok());
  EXPECT_EQ(service_->tasks().Output("acme", t.id, 0)->bytes, "current image");
}

TEST_F(ServiceStackTest, ReleasedTaskIsRetryingAndPermanentFailureIsFailed) {
  Task t = Submit();
  Task first = LeaseOne();
  ASSERT_TRUE(service_->work().Release(t.id, first.fencing).ok());
  EXPECT_EQ(bus_->History(t.id).back().type, TaskEventType::kRetrying);
  Task second = LeaseOne();
  EXPECT_EQ(second.attempts, 1);  // a release does not count the attempt
  ASSERT_TRUE(
      service_->work()
          .Fail({t.id, second.fencing, TaskError{"engine_error", "boom"}, FailureKind::kPermanent})
          .ok());
  auto end = bus_->TerminalEvent(t.id);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->type, TaskEventType::kFailed);
  EXPECT_EQ(end->task->error->code, "engine_error");
}

TEST_F(StoreWorkSourceBatchTest, CompleteBatchStoresEveryImageAndCompletesEveryTask) {
  for (int i = 0; i < 3; ++i) Submit();
  std::vector<Task> batch = LeaseBatch(3);
  ASSERT_EQ(batch.size(), 3u);
  std::vector<TaskImages> done;
  done.push_back(ImagesOf(batch[0], {"zero-a", "zero-b"}));
  done.push_back(ImagesOf(batch[1], {"one"}));
  done.push_back(ImagesOf(batch[2], {"two"}));
  std::vector<Result<Task>> results = service_->work().CompleteBatch(std::move(done));
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status().ToString();
    EXPECT_EQ(results[i]->id, batch[i].id);
    EXPECT_EQ(results[i]->state, TaskState::kSucceeded);
  }
  ASSERT_EQ(results[0]->outputs.size(), 2u);
  EXPECT_EQ(service_->tasks().Output("acme", batch[0].id, 1)->bytes, "zero-b");
  EXPECT_EQ(service_->tasks().Output("acme", batch[2].id, 0)->bytes, "two");
  EXPECT_EQ(results[1]->outputs[0].etag, service_->tasks().Output("acme", batch[1].id, 0)->etag);
  // One pack file for the whole batch.
  EXPECT_EQ(results_->PackCount(), 1u);
  auto queue = service_->tasks().Queue();
  ASSERT_TRUE(queue.ok());
  EXPECT_EQ(queue->totals.ended[TaskState::kSucceeded], 3);
}

TEST_F(StoreWorkSourceBatchTest, AStaleLeaseInABatchFailsAloneAndItsImagesGo) {
  for (int i = 0; i < 3; ++i) Submit();
  std::vector<Task> batch = LeaseBatch(3);
  ASSERT_EQ(batch.size(), 3u);
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", batch[2].id, 0, events.Callback());
  ASSERT_TRUE(sub.ok());
  std::vector<TaskImages> done;
  done.push_back(ImagesOf(batch[0], {"zero"}));
  TaskImages stale = ImagesOf(batch[1], {"stale"});
  stale.fencing += 100;
  done.push_back(stale);
  done.push_back(ImagesOf(batch[2], {"two"}));
  std::vector<Result<Task>> results = service_->work().CompleteBatch(std::move(done));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status().code(), StatusCode::kAborted);
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(results_->Get(batch[1].id, stale.fencing, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->tasks().Get("acme", batch[1].id)->state, TaskState::kRunning);
  EXPECT_EQ(service_->tasks().Output("acme", batch[2].id, 0)->bytes, "two");
  auto got = events.Wait(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.back().type, TaskEventType::kSucceeded);
  // The stale task still completes under its own lease.
  EXPECT_TRUE(CompleteWith(batch[1], "late but current").ok());
}

TEST_F(StoreWorkSourceBatchTest, ACompletionBatchSentAgainGetsTheFirstAnswers) {
  for (int i = 0; i < 2; ++i) Submit();
  std::vector<Task> batch = LeaseBatch(2);
  ASSERT_EQ(batch.size(), 2u);
  std::vector<TaskImages> done = {ImagesOf(batch[0], {"a"}), ImagesOf(batch[1], {"b"})};
  ASSERT_TRUE(service_->work().CompleteBatch(done)[0].ok());
  std::vector<Result<Task>> again = service_->work().CompleteBatch(done);  // its reply was lost
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(again[i].ok()) << again[i].status().ToString();
    EXPECT_EQ(again[i]->state, TaskState::kSucceeded);
  }
  EXPECT_EQ(service_->tasks().Output("acme", batch[1].id, 0)->bytes, "b");
}

TEST_F(StoreWorkSourceBatchTest, ProgressBatchPublishesEachTasksStepAndRefusesAStaleLease) {
  for (int i = 0; i < 2; ++i) Submit();
  std::vector<Task> batch = LeaseBatch(2);
  ASSERT_EQ(batch.size(), 2u);
  Collector first, second;
  auto sub1 = service_->tasks().Subscribe("acme", batch[0].id, 0, first.Callback());
  auto sub2 = service_->tasks().Subscribe("acme", batch[1].id, 0, second.Callback());
  ASSERT_TRUE(sub1.ok() && sub2.ok());
  std::vector<Status> statuses =
      service_->work().ProgressBatch({{batch[0].id, batch[0].fencing, {3, 20}, "preview-0"},
                                      {batch[1].id, batch[1].fencing + 7, {3, 20}, ""},
                                      {"tsk_unknown", 1, {3, 20}, ""}});
  ASSERT_EQ(statuses.size(), 3u);
  EXPECT_TRUE(statuses[0].ok()) << statuses[0].ToString();
  EXPECT_EQ(statuses[1].code(), StatusCode::kAborted);
  EXPECT_EQ(statuses[2].code(), StatusCode::kNotFound);
  auto got = first.Wait(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].type, TaskEventType::kProgress);
  EXPECT_EQ(got[2].progress, (std::optional<TaskProgress>{TaskProgress{3, 20}}));
  EXPECT_EQ(*service_->tasks().Preview("acme", batch[0].id), "preview-0");
  EXPECT_EQ(second.Wait(2, std::chrono::milliseconds(200)).size(), 2u);  // queued, started
}

}  // namespace
}  // namespace stipple
