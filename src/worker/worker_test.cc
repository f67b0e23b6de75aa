// The worker's loop against the test doubles: leases and heartbeats, progress, cancel, timeout,
// error classification and lost leases. Batching and drain are in worker_batch_drain_test.cc.
#include <algorithm>
#include <cstdio>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "worker/testing/worker_test_fixture.h"

namespace stipple {
namespace {

TEST_F(WorkerTest, RegistersItsModelsAndBatchSize) {
  StartWorker();
  ASSERT_EQ(source_.registered().size(), 1u);
  WorkerInfo info = source_.registered()[0];
  EXPECT_EQ(info.id, "wkr_test");
  EXPECT_EQ(info.models, std::vector<std::string>{"test-model"});
  EXPECT_EQ(info.max_batch, 4);
  EXPECT_EQ(worker_->state(), WorkerState::kIdle);
}

TEST_F(WorkerTest, StartRefusesAModelNoEngineRuns) {
  MakeEngine();
  WorkerOptions options = Options();
  options.models = {"other-model"};
  Worker worker(&source_, {engine_.get()}, options);
  EXPECT_EQ(worker.Start().code(), StatusCode::kInvalidArgument);
}

TEST_F(WorkerTest, CompletesATaskWithItsImagesUnderItsFencingNumber) {
  GenerationRequest request = TestRequest("a red square");
  request.num_images = 2;
  std::string id = source_.Enqueue(request);
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  Task task = source_.Get(id);
  EXPECT_EQ(task.state, TaskState::kSucceeded);
  ASSERT_EQ(task.outputs.size(), 2u);
  EXPECT_EQ(task.outputs[1].seed, 43u);
  EXPECT_EQ(source_.completes(id), 1);
}

TEST_F(WorkerTest, HeartbeatsKeepTheLeaseThroughAnEngineStepLongerThanTheLease) {
  // Each step outlasts the 1 s lease. The lease is long beside the 20 ms heartbeats so that a
  // loaded machine, which may delay a heartbeat by a few hundred ms, does not lapse it.
  MakeEngine({.step_delay = milliseconds(1'200)});
  WorkerOptions options = Options();
  options.lease_duration = Millis(1'000);
  options.heartbeat_interval = Millis(20);
  std::string id = source_.Enqueue(TestRequest("slow", 2));
  StartWorker(options);
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  EXPECT_EQ(source_.Get(id).state, TaskState::kSucceeded);
  EXPECT_EQ(source_.lapses(), 0);
  EXPECT_GE(source_.heartbeats(id), 10);
}

TEST_F(WorkerTest, PublishesProgressEveryStepAndAPreviewEveryKSteps) {
  WorkerOptions options = Options();
  options.preview_every = 2;
  std::string id = source_.Enqueue(TestRequest("progress", 6));
  StartWorker(options);
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  std::vector<InMemoryTestWorkSource::ProgressRecord> progress = source_.progress(id);
  ASSERT_EQ(progress.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(progress[i].step, i + 1);
    EXPECT_EQ(progress[i].steps, 6);
    EXPECT_EQ(progress[i].has_preview, (i + 1) % 2 == 0) << "step " << i + 1;
  }
}

TEST_F(WorkerTest, CancelSeenByAHeartbeatStopsWithinOneStepAndMarksCanceled) {
  MakeEngine({.step_delay = milliseconds(10)});
  std::string id = source_.Enqueue(TestRequest("to cancel", 150));
  engine_->SetOnStep([&](int step) {
    if (step == 3) source_.RequestCancel(id);
  });
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  EXPECT_EQ(source_.Get(id).state, TaskState::kCanceled);
  std::optional<int> seen = source_.cancel_seen_at_step(id);
  ASSERT_TRUE(seen.has_value());
  std::vector<InMemoryTestWorkSource::ProgressRecord> progress = source_.progress(id);
  ASSERT_FALSE(progress.empty());
  EXPECT_LE(progress.back().step, *seen + 1);
  EXPECT_LT(progress.back().step, 150);
}

TEST_F(WorkerTest, AnAttemptPastTimeoutSFailsWithCodeTimeout) {
  ManualClock clock;
  std::string id = source_.Enqueue([] {
    GenerationRequest r = TestRequest("too slow", 100);
    r.timeout_s = 3;
    return r;
  }());
  MakeEngine();
  engine_->SetOnStep([&](int) { clock.Advance(Millis(1'000)); });  // each step "takes" 1 s
  WorkerOptions options = Options();
  options.clock = &clock;
  StartWorker(options);
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  Task task = source_.Get(id);
  EXPECT_EQ(task.state, TaskState::kFailed);
  ASSERT_TRUE(task.error.has_value());
  EXPECT_EQ(task.error->code, "timeout");
  EXPECT_EQ(task.attempts, 1);  // permanent: not retried
  EXPECT_LE(source_.progress(id).back().step, 4);
}

TEST_F(WorkerTest, ARequestTheModelCannotRunFailsPermanentlyWithAClearMessage) {
  MakeEngine();
  engine_->FailPrompt("bad", InvalidArgumentError("size 9x9 is not allowed"));
  std::string id = source_.Enqueue(TestRequest("bad"));
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  Task task = source_.Get(id);
  EXPECT_EQ(task.state, TaskState::kFailed);
  EXPECT_EQ(task.attempts, 1);
  EXPECT_EQ(task.error->code, "invalid_model");
  EXPECT_NE(task.error->message.find("size 9x9 is not allowed"), std::string::npos);
  ASSERT_EQ(source_.failures().size(), 1u);
  EXPECT_EQ(source_.failures()[0].kind, FailureKind::kPermanent);
}

TEST_F(WorkerTest, TransientEngineErrorsRetryWithExponentialBackoffUntilMaxAttempts) {
  MakeEngine();
  engine_->FailPrompt("flaky", ResourceExhaustedError("out of memory"));
  std::string id = source_.Enqueue(TestRequest("flaky"), /*max_attempts=*/3);
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  Task task = source_.Get(id);
  EXPECT_EQ(task.state, TaskState::kFailed);
  EXPECT_EQ(task.attempts, 3);
  EXPECT_EQ(task.error->code, "engine_error");
  std::vector<Failure> failures = source_.failures();
  ASSERT_EQ(failures.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(failures[i].kind, FailureKind::kTransient);
    EXPECT_EQ(failures[i].retry_after, Millis(5 << i));  // 5, 10, 20 ms
  }
}

TEST_F(WorkerTest, ACompletionRejectedAsStaleIsDroppedNotRetried) {
  std::string stolen = source_.Enqueue(TestRequest("stolen"));
  MakeEngine();
  bool once = true;
  engine_->SetOnFinish([&] {  // after the last progress: only Complete sees the lost lease
    if (std::exchange(once, false)) source_.StealLease(stolen);
  });
  StartWorker();
  std::string next = source_.Enqueue(TestRequest("next"));
  ASSERT_TRUE(source_.WaitForTerminal({next}, kWait));
  EXPECT_EQ(source_.completes(stolen), 1);  // one stale attempt, no retry
  Task task = source_.Get(stolen);
  EXPECT_EQ(task.state, TaskState::kRunning);  // still the other worker's
  EXPECT_EQ(task.worker_id, "another-worker");
  EXPECT_TRUE(source_.failures().empty());
  EXPECT_EQ(source_.Get(next).state, TaskState::kSucceeded);
}

TEST_F(WorkerTest, ACompletionIsRetriedWhileTheServiceIsDownWithinTheLease) {
  std::string id = source_.Enqueue(TestRequest("outage"));
  MakeEngine();
  engine_->SetOnFinish([&] { source_.SetUnavailableFor(milliseconds(600)); });
  StartWorker();  // lease 2 s: the outage is shorter
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  EXPECT_EQ(source_.Get(id).state, TaskState::kSucceeded);
  EXPECT_GE(source_.completes(id), 2);  // refused while down, then recorded once
  EXPECT_EQ(source_.lapses(), 0);
  EXPECT_TRUE(source_.failures().empty());
}

TEST_F(WorkerTest, ALeaseLostDuringTheRunStopsTheTaskAndReportsNothing) {
  MakeEngine({.step_delay = milliseconds(5)});
  std::string id = source_.Enqueue(TestRequest("lost", 100));
  engine_->SetOnStep([&](int step) {
    if (step == 2) source_.StealLease(id);
  });
  StartWorker();
  ASSERT_TRUE(Eventually([&] { return engine_->calls().size() == 1; }));
  worker_->Drain(Millis(1'000));
  EXPECT_EQ(source_.progress(id).size(), 1u);  // step 2's Progress got kAborted: stop
  EXPECT_EQ(source_.completes(id), 0);
  EXPECT_TRUE(source_.failures().empty());
  EXPECT_TRUE(source_.releases().empty());
}

TEST_F(WorkerTest, AHeartbeatMeetingItsOwnRecordedCompletionIsNotALostLease) {
  // The completion is recorded, then its reply is slow: meanwhile the heartbeat thread renews
  // the task it still holds, and the source refuses (the task has succeeded). Nothing was lost.
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  ConfigureLogging({.level = LogLevel::kInfo, .fd = fileno(log)});
  std::string id = source_.Enqueue(TestRequest("slow reply"));
  source_.SetOnCompleted([] { std::this_thread::sleep_for(milliseconds(120)); });
  StartWorker();  // heartbeats every 20 ms: several meet the succeeded task
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  std::this_thread::sleep_for(milliseconds(200));  // the slow reply returns; the worker forgets it
  worker_->Drain(Millis(1'000));
  ConfigureLogging({});
  std::string lines(static_cast<size_t>(std::ftell(log)), '\0');
  std::rewind(log);
  lines.resize(std::fread(lines.data(), 1, lines.size(), log));
  std::fclose(log);
  EXPECT_EQ(source_.Get(id).state, TaskState::kSucceeded);
  EXPECT_EQ(lines.find("lease lost"), std::string::npos) << lines;
}

}  // namespace
}  // namespace stipple
