// StoreTaskService: outputs, tenancy, cancel.
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

TEST_F(ServiceStackTest, CompletedOutputIsServedWithItsChecksumEtag) {
  Task t = Submit();
  Task leased = LeaseOne();
  auto done = CompleteWith(leased, "png bytes");
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->outputs.size(), 1u);
  EXPECT_EQ(done->outputs[0].size_bytes, 9);
  auto blob = service_->tasks().Output("acme", t.id, 0);
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_EQ(blob->bytes, "png bytes");
  EXPECT_EQ(blob->etag, EtagForSha256(Sha256Hex("png bytes")));
  EXPECT_EQ(blob->etag, done->outputs[0].etag);
  EXPECT_EQ(service_->tasks().Output("acme", t.id, 1).status().code(), StatusCode::kNotFound);
}

TEST_F(ServiceStackTest, OutputOfAnUnfinishedTaskIsFailedPrecondition) {
  Task t = Submit();
  EXPECT_EQ(service_->tasks().Output("acme", t.id, 0).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(ServiceStackTest, AnotherTenantsTaskIsNotFoundEverywhere) {
  Task t = Submit("acme");
  auto nothing = [](const auto&) {};
  EXPECT_EQ(service_->tasks().Get("globex", t.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->tasks().Cancel("globex", t.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->tasks().Subscribe("globex", t.id, 0, nothing).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(service_->tasks().WhenTerminal("globex", t.id, nothing).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(service_->tasks().Output("globex", t.id, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->tasks().Preview("globex", t.id).status().code(), StatusCode::kNotFound);
  // The same answer as for an id that does not exist at all.
  EXPECT_EQ(service_->tasks().Get("globex", t.id).status().message(), "no task " + t.id);
  EXPECT_TRUE(service_->tasks().Get("acme", t.id).ok());
  EXPECT_TRUE(service_->tasks().Get("", t.id).ok());  // the admin's view
  EXPECT_EQ(service_->tasks().Get("acme", t.id)->state,
            TaskState::kQueued);  // Cancel changed nothing
}

TEST_F(ServiceStackTest, CancelOfARunningTaskEndsWhenTheWorkerStops) {
  Task t = Submit();
  Task leased = LeaseOne();
  auto canceled = service_->tasks().Cancel("acme", t.id);
  ASSERT_TRUE(canceled.ok());
  EXPECT_EQ(canceled->task.state, TaskState::kRunning);
  EXPECT_TRUE(canceled->task.cancel_requested);
  auto beat = service_->work().Heartbeat(t.id, leased.fencing, Millis(30'000), TaskProgress{3, 20});
  ASSERT_TRUE(beat.ok());
  EXPECT_TRUE(beat->cancel_requested);
  ASSERT_TRUE(service_->work().MarkCanceled(t.id, leased.fencing).ok());
  EXPECT_EQ(bus_->TerminalEvent(t.id)->type, TaskEventType::kCanceled);
  auto q = service_->tasks().Queue();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->workers_busy, 0);
}

}  // namespace
}  // namespace stipple
