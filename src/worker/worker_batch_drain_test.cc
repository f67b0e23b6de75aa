// Dynamic batching, prefetch and drain against the test doubles.
#include <algorithm>
#include <atomic>
#include <csignal>

#include "common/thread_annotations.h"
#include "worker/shutdown_signal.h"
#include "worker/testing/worker_test_fixture.h"
#include "worker/worker_pool.h"

namespace stipple {
namespace {

using Prompts = std::vector<std::string>;

Prompts Sorted(Prompts prompts) {
  std::sort(prompts.begin(), prompts.end());
  return prompts;
}

TEST_F(WorkerTest, CompatibleTasksRunAsOneEngineCall) {
  std::vector<std::string> ids;
  for (const char* p : {"a", "b", "c", "d"}) ids.push_back(source_.Enqueue(TestRequest(p)));
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal(ids, kWait));
  ASSERT_EQ(engine_->calls().size(), 1u);
  EXPECT_EQ(engine_->calls()[0].prompts, (Prompts{"a", "b", "c", "d"}));
  for (const std::string& id : ids) EXPECT_EQ(source_.Get(id).state, TaskState::kSucceeded);
}

TEST_F(WorkerTest, ABatchIsReportedTogetherProgressPerStepAndCompletionsInOneCall) {
  std::vector<std::string> ids;
  for (const char* p : {"a", "b", "c"}) ids.push_back(source_.Enqueue(TestRequest(p, 5)));
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal(ids, kWait));
  ASSERT_EQ(engine_->calls().size(), 1u);
  EXPECT_EQ(source_.complete_batches(), (std::vector<size_t>{3}));
  // One report per step for the whole batch: 5 steps of 3 tasks.
  EXPECT_EQ(source_.progress_batches(), (std::vector<size_t>(5, 3)));
  for (const std::string& id : ids) {
    EXPECT_EQ(source_.Get(id).state, TaskState::kSucceeded);
    EXPECT_EQ(source_.completes(id), 1);
    ASSERT_EQ(source_.progress(id).size(), 5u);
    EXPECT_EQ(source_.progress(id).back().step, 5);
  }
}

TEST_F(WorkerTest, OnlyTheUnheardCompletionsOfABatchAreSentAgain) {
  MakeEngine({.step_delay = milliseconds(5)});
  std::vector<std::string> ids;
  for (const char* p : {"a", "b"}) ids.push_back(source_.Enqueue(TestRequest(p, 4)));
  engine_->SetOnStep([&](int step) {
    if (step == 4) source_.SetUnavailableFor(milliseconds(30));
  });
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal(ids, kWait));
  for (const std::string& id : ids) {
    EXPECT_EQ(source_.Get(id).state, TaskState::kSucceeded);
    EXPECT_GE(source_.completes(id), 2);  // refused while down, then heard
  }
  std::vector<size_t> batches = source_.complete_batches();
  ASSERT_GE(batches.size(), 2u);
  EXPECT_EQ(batches.front(), 2u);
}

TEST_F(WorkerTest, IncompatibleTasksRunInSeparateEngineCalls) {
  std::vector<std::string> ids = {
      source_.Enqueue(TestRequest("small-1", 4, 8)), source_.Enqueue(TestRequest("large-1", 4, 16)),
      source_.Enqueue(TestRequest("small-2", 4, 8)), source_.Enqueue(TestRequest("more-steps", 5))};
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal(ids, kWait));
  std::vector<Prompts> calls;
  for (const auto& call : engine_->calls()) calls.push_back(call.prompts);
  EXPECT_EQ(calls, (std::vector<Prompts>{{"small-1", "small-2"}, {"large-1"}, {"more-steps"}}));
}

TEST_F(WorkerTest, ABatchNeverExceedsMaxBatch) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(source_.Enqueue(TestRequest("t" + std::to_string(i))));
  WorkerOptions options = Options();
  options.max_batch = 2;
  StartWorker(options);
  ASSERT_TRUE(source_.WaitForTerminal(ids, kWait));
  for (const auto& call : engine_->calls()) EXPECT_LE(call.prompts.size(), 2u);
}

TEST_F(WorkerTest, OneTaskFailingOrCanceledInABatchLeavesTheOthersSucceeded) {
  MakeEngine({.step_delay = milliseconds(5)});
  engine_->FailPrompt("fails", InvalidArgumentError("no"));
  std::string ok1 = source_.Enqueue(TestRequest("ok-1", 20));
  std::string fails = source_.Enqueue(TestRequest("fails", 20));
  std::string canceled = source_.Enqueue(TestRequest("canceled", 20));
  std::string ok2 = source_.Enqueue(TestRequest("ok-2", 20));
  engine_->SetOnStep([&](int step) {
    if (step == 2) source_.RequestCancel(canceled);
  });
  StartWorker();
  ASSERT_TRUE(source_.WaitForTerminal({ok1, fails, canceled, ok2}, kWait));
  ASSERT_EQ(engine_->calls().size(), 1u);
  EXPECT_EQ(source_.Get(ok1).state, TaskState::kSucceeded);
  EXPECT_EQ(source_.Get(ok2).state, TaskState::kSucceeded);
  EXPECT_EQ(source_.Get(fails).state, TaskState::kFailed);
  EXPECT_EQ(source_.Get(canceled).state, TaskState::kCanceled);
  EXPECT_EQ(source_.progress(ok1).size(), 20u);
}

TEST_F(WorkerTest, TheBatchWindowGathersTasksThatArriveWithinIt) {
  WorkerOptions options = Options();
  options.batch_window = Millis(2'000);
  StartWorker(options);  // the leaser now blocks in Lease on an empty queue
  std::vector<std::string> ids = {source_.Enqueue(TestRequest("first"))};
  std::this_thread::sleep_for(milliseconds(30));
  ids.push_back(source_.Enqueue(TestRequest("second")));
  ids.push_back(source_.Enqueue(TestRequest("third")));
  ids.push_back(source_.Enqueue(TestRequest("fourth")));  // fills the batch: no need to wait on
  ASSERT_TRUE(source_.WaitForTerminal(ids, kWait));
  ASSERT_EQ(engine_->calls().size(), 1u);
  EXPECT_EQ(Sorted(engine_->calls()[0].prompts), Sorted({"first", "second", "third", "fourth"}));
}

TEST_F(WorkerTest, AHighPriorityTaskIsNotHeldBackToFillABatch) {
  WorkerOptions options = Options();
  options.batch_window = Millis(60'000);  // were it waited for, the test would time out
  StartWorker(options);
  GenerationRequest request = TestRequest("urgent");
  request.priority = Priority::kHigh;
  std::string id = source_.Enqueue(request);
  ASSERT_TRUE(source_.WaitForTerminal({id}, kWait));
  EXPECT_EQ(source_.Get(id).state, TaskState::kSucceeded);
}

TEST_F(WorkerTest, PrefetchHoldsAtMostOneBatchBeyondTheRunningOne) {
  MakeEngine({.step_delay = milliseconds(20)});
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(source_.Enqueue(TestRequest("t" + std::to_string(i))));
  WorkerOptions options = Options();
  options.max_batch = 1;
  std::atomic<int> most_held{0};
  engine_->SetOnStep([&](int) { most_held = std::max(most_held.load(), source_.running()); });
  StartWorker(options);
  ASSERT_TRUE(source_.WaitForTerminal(ids, kWait));
  EXPECT_EQ(most_held.load(), 2);  // the running task and the next one, already leased
}

TEST_F(WorkerTest, DrainLetsTheRunningBatchFinishThenReturns) {
  MakeEngine({.step_delay = milliseconds(10)});
  std::string id = source_.Enqueue(TestRequest("finishing", 20));
  std::vector<WorkerState> states;
  Mutex states_mu;
  WorkerOptions options = Options();
  options.on_state_change = [&](WorkerState s) {
    MutexLock lock(states_mu);
    states.push_back(s);
  };
  StartWorker(options);
  ASSERT_TRUE(Eventually([&] { return !source_.progress(id).empty(); }));
  worker_->Drain(Millis(10'000));
  EXPECT_EQ(source_.Get(id).state, TaskState::kSucceeded);
  EXPECT_EQ(source_.progress(id).size(), 20u);
  EXPECT_EQ(worker_->state(), WorkerState::kStopped);
  EXPECT_EQ(source_.unregistered(), std::vector<std::string>{"wkr_test"});
  MutexLock lock(states_mu);
  EXPECT_EQ(states, (std::vector<WorkerState>{WorkerState::kIdle, WorkerState::kBusy,
                                              WorkerState::kDraining, WorkerState::kStopped}));
}

TEST_F(WorkerTest, DrainWithAShortGraceStopsTheRunningTaskAndReleasesIt) {
  MakeEngine({.step_delay = milliseconds(10)});
  std::string id = source_.Enqueue(TestRequest("too long", 150));
  StartWorker();
  ASSERT_TRUE(Eventually([&] { return !source_.progress(id).empty(); }));
  worker_->Drain(Millis(30));
  Task task = source_.Get(id);
  EXPECT_EQ(task.state, TaskState::kQueued);
  EXPECT_EQ(task.attempts, 0);  // a release does not count the attempt
  EXPECT_EQ(source_.releases(), std::vector<std::string>{id});
  EXPECT_LT(source_.progress(id).size(), 150u);
}

TEST_F(WorkerTest, DrainGivesBackPrefetchedTasksWithoutRunningThem) {
  MakeEngine({.step_delay = milliseconds(10)});
  std::string running = source_.Enqueue(TestRequest("running", 10));
  std::string prefetched = source_.Enqueue(TestRequest("prefetched", 10));
  WorkerOptions options = Options();
  options.max_batch = 1;
  StartWorker(options);
  ASSERT_TRUE(Eventually([&] { return source_.running() == 2; }));
  worker_->Drain(Millis(10'000));
  EXPECT_EQ(source_.Get(running).state, TaskState::kSucceeded);
  Task task = source_.Get(prefetched);
  EXPECT_EQ(task.state, TaskState::kQueued);
  EXPECT_EQ(task.attempts, 0);
  EXPECT_TRUE(source_.progress(prefetched).empty());
  ASSERT_EQ(engine_->calls().size(), 1u);
}

TEST_F(WorkerTest, ACancelSeenWhilePrefetchedMarksCanceledWithoutRunning) {
  MakeEngine({.step_delay = milliseconds(10)});
  std::string first = source_.Enqueue(TestRequest("first", 20));
  std::string waiting = source_.Enqueue(TestRequest("waiting", 20));
  WorkerOptions options = Options();
  options.max_batch = 1;
  StartWorker(options);
  ASSERT_TRUE(Eventually([&] { return source_.running() == 2; }));
  source_.RequestCancel(waiting);
  ASSERT_TRUE(source_.WaitForTerminal({first, waiting}, kWait));
  EXPECT_EQ(source_.Get(waiting).state, TaskState::kCanceled);
  EXPECT_TRUE(source_.progress(waiting).empty());
}

TEST_F(WorkerTest, APoolRunsItsWorkersAndDrainsThemTogether) {
  MakeEngine();
  WorkerPoolOptions options{.workers = 3, .worker = Options()};
  WorkerPool pool(&source_, {engine_.get()}, options);
  ASSERT_TRUE(pool.Start().ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(source_.Enqueue(TestRequest("t" + std::to_string(i))));
  ASSERT_TRUE(source_.WaitForTerminal(ids, kWait));
  std::vector<std::string> registered;
  for (const WorkerInfo& info : source_.registered()) registered.push_back(info.id);
  EXPECT_EQ(Sorted(registered), Sorted({"wkr_test-0", "wkr_test-1", "wkr_test-2"}));
  pool.Drain(Millis(1'000));
  EXPECT_EQ(pool.states(), std::vector<WorkerState>(3, WorkerState::kStopped));
  EXPECT_EQ(source_.unregistered().size(), 3u);
}

TEST(ShutdownSignal, ASignalWakesWait) {
  ASSERT_TRUE(ShutdownSignal::Install().ok());
  std::thread raiser([] { ::raise(SIGTERM); });
  EXPECT_EQ(ShutdownSignal::Wait(), SIGTERM);
  raiser.join();
  std::signal(SIGTERM, SIG_DFL);  // leave the test runner killable as before
  std::signal(SIGINT, SIG_DFL);
}

}  // namespace
}  // namespace stipple
