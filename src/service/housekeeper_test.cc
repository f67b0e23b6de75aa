// The housekeeper through the service: reaping and its events, expired and orphaned outputs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/digest.h"
#include "common/id.h"
#include "notify/event_collector.h"
#include "service/housekeeper.h"
#include "service/testing/counting_decorators.h"
#include "service/testing/service_test_fixture.h"

namespace stipple {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Collector = EventCollector;

TEST_F(ServiceStackTest, ReaperRequeuesALapsedLeaseAndPublishesRetrying) {
  Task t = Submit();
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", t.id, 0, events.Callback());
  LeaseOne("worker-1", Millis(1'000));
  clock_.Advance(Millis(1'001));
  ASSERT_TRUE(service_->Housekeep().ok());
  EXPECT_EQ(service_->tasks().Get("acme", t.id)->state, TaskState::kQueued);
  LeaseOne("worker-2");
  auto got = events.Wait(4);
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(got),
            (std::vector<std::pair<TaskEventType, int64_t>>{
                {T::kQueued, 1}, {T::kStarted, 2}, {T::kRetrying, 3}, {T::kStarted, 4}}));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[2].attempt, 1);
  EXPECT_EQ(got[3].attempt, 2);
}

TEST_F(ServiceStackTest, ExpiredOutputsAreDeletedByHousekeeping) {
  Task t = Submit();
  Task leased = LeaseOne();
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  clock_.Advance(ServiceOptions{}.output_retention + Millis(1));
  ASSERT_TRUE(service_->Housekeep().ok());
  EXPECT_EQ(service_->tasks().Output("acme", t.id, 0).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(results_->Get(t.id, leased.fencing, 0).status().code(), StatusCode::kNotFound);
}

TEST_F(ServiceStackTest, HousekeepingThreadReapsWithoutBeingAsked) {
  service_.reset();
  service_ = std::make_unique<ServiceStack>(
      *store_, *bus_, *results_, ServiceOptions{.clock = &clock_, .reap_interval = Millis(10)});
  Task t = Submit();
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", t.id, 0, events.Callback());
  LeaseOne("worker-1", Millis(1'000));
  clock_.Advance(Millis(1'001));
  auto got = events.Wait(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].type, TaskEventType::kRetrying);
}

TEST_F(ServiceStackTest, HousekeepingRemovesOutputsNoLeaseOwns) {
  // A lease lost after its images were stored (its process died before completing).
  Task t = Submit();
  Task lost = LeaseOne("worker-1", Millis(1'000));
  ASSERT_TRUE(results_->Put(t.id, lost.fencing, 0, "lost image").ok());
  clock_.Advance(Millis(2'000));
  ASSERT_TRUE(service_->Housekeep().ok());
  Task current = LeaseOne("worker-2");
  ASSERT_TRUE(CompleteWith(current, "current image").ok());
  // A failed task's images, and the images of a task the store does not know.
  Task failed = Submit();
  Task failed_lease = LeaseOne();
  ASSERT_TRUE(results_->Put(failed.id, failed_lease.fencing, 0, "x").ok());
  ASSERT_TRUE(service_->work()
                  .Fail(Failure{failed.id, failed_lease.fencing, TaskError{"e", "m"},
                                FailureKind::kPermanent, Millis(0)})
                  .ok());
  const std::string unknown = NewId("tsk");
  ASSERT_TRUE(results_->Put(unknown, 3, 0, "y").ok());

  clock_.Advance(ServiceOptions{}.output_sweep_interval);  // the next sweep is due
  ASSERT_TRUE(service_->Housekeep().ok());
  EXPECT_EQ(results_->Get(t.id, lost.fencing, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->tasks().Output("acme", t.id, 0)->bytes, "current image");
  EXPECT_EQ(results_->Get(failed.id, failed_lease.fencing, 0).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(results_->Get(unknown, 3, 0).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "outputs" / unknown));
}

// A pass whose Reap fails still runs its other parts (here the sweep of outputs no lease owns)
// and reports the Reap's error.
TEST_F(ServiceStackTest, AFailedReapLeavesTheRestOfThePassToRun) {
  CountingTaskStore failing(*store_);
  failing.FailReap(UnavailableError("the store is down"));
  Housekeeper housekeeper(failing, *results_, [](const Task&) {}, {.thread = false});
  const std::string unknown = NewId("tsk");
  ASSERT_TRUE(results_->Put(unknown, 3, 0, "y").ok());
  EXPECT_EQ(housekeeper.Housekeep().code(), StatusCode::kUnavailable);
  EXPECT_EQ(results_->Get(unknown, 3, 0).status().code(), StatusCode::kNotFound);
}

// Image inputs live while a queued or running task references them, then go after two sweeps.
TEST_F(ServiceStackTest, HousekeepingKeepsInputsWhileATaskCanStillRunThem) {
  auto with_input = [&](const std::string& bytes) {
    NewTask t = MakeTask();
    ImageInput input;
    input.sha256 = results_->PutInput(bytes)->sha256_hex;
    input.media_type = "image/png";
    input.width = input.height = 32;
    t.request.init_image = input;
    t.request.strength = 0.5;
    auto r = service_->tasks().Submit(t);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r->task;
  };
  Task done = with_input("finished task's input");
  Task leased = LeaseOne();
  ASSERT_EQ(leased.id, done.id);
  // A worker reads the input through its work source, by hash.
  Result<std::string> read = service_->work().GetInput(Sha256Hex("finished task's input"));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, "finished task's input");
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  Task queued = with_input("queued task's input");
  ASSERT_TRUE(results_->PutInput("nobody's input").ok());  // a submit refused after storing

  ASSERT_TRUE(service_->Housekeep().ok());  // the first sweep: unreferenced ones are noted
  EXPECT_TRUE(results_->GetInput(Sha256Hex("nobody's input")).ok());
  EXPECT_TRUE(results_->GetInput(Sha256Hex("finished task's input")).ok());
  clock_.Advance(ServiceOptions{}.output_sweep_interval);
  ASSERT_TRUE(service_->Housekeep().ok());  // the second: they go
  EXPECT_EQ(results_->GetInput(Sha256Hex("nobody's input")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(results_->GetInput(Sha256Hex("finished task's input")).status().code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(results_->GetInput(Sha256Hex("queued task's input")).ok());
  EXPECT_EQ(service_->work().GetInput(Sha256Hex("nobody's input")).status().code(),
            StatusCode::kNotFound);
  (void)queued;
}

// The housekeeper on its own: what Reap changed goes to on_transition, once.
TEST_F(ServiceStackTest, HousekeeperHandsEveryReapedTransitionToItsCallback) {
  std::vector<Task> seen;
  Housekeeper keeper(*store_, *results_, [&](const Task& t) { seen.push_back(t); },
                     {.clock = &clock_, .thread = false});
  Task t = Submit();
  LeaseOne("worker-1", Millis(1'000));
  clock_.Advance(Millis(1'001));
  ASSERT_TRUE(keeper.Housekeep().ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].id, t.id);
  EXPECT_EQ(seen[0].state, TaskState::kQueued);
  ASSERT_TRUE(keeper.Housekeep().ok());
  EXPECT_EQ(seen.size(), 1u);
}

}  // namespace
}  // namespace stipple
