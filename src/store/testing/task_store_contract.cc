#include "store/testing/task_store_contract.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/id.h"

namespace stipple {

GenerationRequest TestRequest(const std::string& model, Priority priority, std::string prompt) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.model = model;
  r.width = 32;
  r.height = 32;
  r.steps = 20;
  r.guidance_scale = 4.0;
  r.scheduler = "ddim";
  r.seed = 42;
  r.priority = priority;
  return r;
}

NewTask TestNewTask(const std::string& tenant, const GenerationRequest& request) {
  NewTask t;
  t.id = NewId("tsk");
  t.tenant = tenant;
  t.request = request;
  t.request_fingerprint = request.prompt;
  return t;
}

Task TaskStoreContract::Enqueue(const std::string& tenant, const std::string& model,
                                Priority priority, std::optional<int> ttl_s) {
  GenerationRequest r = TestRequest(model, priority);
  r.ttl_s = ttl_s;
  auto res = store().Enqueue(TestNewTask(tenant, r));
  EXPECT_TRUE(res.ok()) << res.status().ToString();
  return res.ok() ? res->task : Task{};
}

Task TaskStoreContract::LeaseOne(const std::string& model, Millis lease,
                                 const std::string& worker) {
  auto res = store().Lease(
      {.worker_id = worker, .models = {model}, .max_tasks = 1, .lease_duration = lease});
  EXPECT_TRUE(res.ok()) << res.status().ToString();
  if (!res.ok() || res->size() != 1) {
    ADD_FAILURE() << "expected to lease one task";
    return Task{};
  }
  return res->front().task;
}

Completion CompletionFor(const Task& t, Timestamp expire) {
  TaskOutput out;
  out.width = 32;
  out.height = 32;
  out.seed = t.request.seed;
  out.size_bytes = 100;
  out.etag = "\"abc\"";
  return Completion{t.id, t.fencing, {out}, expire};
}

Failure FailureFor(const Task& t, FailureKind kind, Millis retry_after) {
  return Failure{t.id, t.fencing, TaskError{"engine_error", "boom"}, kind, retry_after};
}

namespace {

// ---- enqueue and get ----

TEST_P(TaskStoreContract, EnqueuedTaskIsQueuedWithItsRequest) {
  Task t = Enqueue();
  auto got = store().Get(t.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->state, TaskState::kQueued);
  EXPECT_EQ(got->tenant, "acme");
  EXPECT_EQ(got->request, TestRequest());
  EXPECT_EQ(got->attempts, 0);
  EXPECT_EQ(got->created_at, clock().Now());
  EXPECT_EQ(got->queue_position, 0);
}

TEST_P(TaskStoreContract, UnknownTaskIsNotFound) {
  EXPECT_EQ(store().Get(NewId("tsk")).status().code(), StatusCode::kNotFound);
}

TEST_P(TaskStoreContract, DuplicateTaskIdIsRefused) {
  NewTask nt = TestNewTask("acme", TestRequest());
  ASSERT_TRUE(store().Enqueue(nt).ok());
  EXPECT_EQ(store().Enqueue(nt).status().code(), StatusCode::kAlreadyExists);
}

TEST_P(TaskStoreContract, QueuePositionCountsHigherPriorityAndOlderTasksOfTheSameModel) {
  Task n1 = Enqueue("acme", "shapes-32", Priority::kNormal);
  Task other = Enqueue("acme", "other-model", Priority::kHigh);
  Task n2 = Enqueue("acme", "shapes-32", Priority::kNormal);
  Task h1 = Enqueue("acme", "shapes-32", Priority::kHigh);
  Task l1 = Enqueue("acme", "shapes-32", Priority::kLow);
  EXPECT_EQ(store().Get(h1.id)->queue_position, 0);
  EXPECT_EQ(store().Get(n1.id)->queue_position, 1);
  EXPECT_EQ(store().Get(n2.id)->queue_position, 2);
  EXPECT_EQ(store().Get(l1.id)->queue_position, 3);
  EXPECT_EQ(store().Get(other.id)->queue_position, 0);
}

// ---- leasing ----

TEST_P(TaskStoreContract, LeaseTakesHigherPriorityFirstAndFifoWithinALevel) {
  Task low = Enqueue("acme", "shapes-32", Priority::kLow);
  Task n1 = Enqueue("acme", "shapes-32", Priority::kNormal);
  Task n2 = Enqueue("acme", "shapes-32", Priority::kNormal);
  Task high = Enqueue("acme", "shapes-32", Priority::kHigh);
  EXPECT_EQ(LeaseOne().id, high.id);
  EXPECT_EQ(LeaseOne().id, n1.id);
  EXPECT_EQ(LeaseOne().id, n2.id);
  EXPECT_EQ(LeaseOne().id, low.id);
}

TEST_P(TaskStoreContract, LeaseTakesOnlyTasksOfTheRequestedModels) {
  Enqueue("acme", "other-model");
  auto none = store().Lease({.worker_id = "w", .models = {"shapes-32"}});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto some = store().Lease({.worker_id = "w", .models = {"shapes-32", "other-model"}});
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->size(), 1u);
}

TEST_P(TaskStoreContract, LeaseStartsTheTaskUnderANewLeaseAndCountsTheAttempt) {
  Task queued = Enqueue();
  clock().Advance(Millis(500));
  Task t = LeaseOne("shapes-32", Millis(10'000), "worker-7");
  EXPECT_EQ(t.id, queued.id);
  EXPECT_EQ(t.state, TaskState::kRunning);
  EXPECT_EQ(t.attempts, 1);
  EXPECT_EQ(t.worker_id, "worker-7");
  EXPECT_GT(t.fencing, 0u);
  EXPECT_EQ(t.started_at, clock().Now());
  EXPECT_EQ(t.lease_expires_at, clock().Now() + Millis(10'000));
  EXPECT_EQ(*store().Get(t.id), t);
}

TEST_P(TaskStoreContract, LeaseTakesUpToMaxTasksAsABatch) {
  for (int i = 0; i < 5; ++i) Enqueue();
  auto batch = store().Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = 3});
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 3u);
}

TEST_P(TaskStoreContract, LeaseOfAnEmptyQueueReturnsNothingAfterItsWait) {
  auto start = std::chrono::steady_clock::now();
  auto none = store().Lease({.worker_id = "w", .models = {"shapes-32"}, .wait = Millis(50)});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, Millis(45));
}

TEST_P(TaskStoreContract, WaitingLeaseWakesWhenATaskIsEnqueued) {
  std::thread producer([&] {
    std::this_thread::sleep_for(Millis(50));
    Enqueue();
  });
  auto start = std::chrono::steady_clock::now();
  auto got = store().Lease({.worker_id = "w", .models = {"shapes-32"}, .wait = Millis(60'000)});
  producer.join();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 1u);
  // Woken by the enqueue, not by the end of its 60 s wait (generous, for a loaded machine).
  EXPECT_LT(std::chrono::steady_clock::now() - start, Millis(30'000));
}

TEST_P(TaskStoreContract, EveryLeaseOfATaskHasAGreaterFencingNumber) {
  Task t = Enqueue();
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    Task leased = LeaseOne();
    EXPECT_GT(leased.fencing, last);
    last = leased.fencing;
    ASSERT_TRUE(store().Release(leased.id, leased.fencing).ok());
  }
}

TEST_P(TaskStoreContract, ConcurrentLeasesNeverHandOutATaskTwice) {
  constexpr int kTasks = 200;
  for (int i = 0; i < kTasks; ++i) Enqueue();
  std::mutex mu;
  std::multiset<std::string> seen;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      while (true) {
        auto got = store().Lease(
            {.worker_id = "w" + std::to_string(w), .models = {"shapes-32"}, .max_tasks = 3});
        if (!got.ok() || got->empty()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (auto& l : *got) seen.insert(l.task.id);
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), static_cast<size_t>(kTasks));
}

// ---- heartbeats and lapsed leases ----

TEST_P(TaskStoreContract, HeartbeatExtendsTheLeaseAndRecordsProgress) {
  Enqueue();
  Task t = LeaseOne("shapes-32", Millis(30'000));
  clock().Advance(Millis(20'000));
  auto hb = store().Heartbeat(t.id, t.fencing, Millis(30'000), TaskProgress{5, 20});
  ASSERT_TRUE(hb.ok()) << hb.status().ToString();
  EXPECT_EQ(hb->lease_expires_at, clock().Now() + Millis(30'000));
  clock().Advance(Millis(20'000));  // past the first lease, within the extended one
  ASSERT_TRUE(store().Reap().ok());
  auto got = store().Get(t.id);
  EXPECT_EQ(got->state, TaskState::kRunning);
  EXPECT_EQ(got->progress, (TaskProgress{5, 20}));
}

TEST_P(TaskStoreContract, LapsedLeaseIsRequeuedWithTheAttemptCounted) {
  Enqueue();
  Task t = LeaseOne("shapes-32", Millis(30'000));
  clock().Advance(Millis(30'001));
  auto report = store().Reap();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->requeued.size(), 1u);
  auto got = store().Get(t.id);
  EXPECT_EQ(got->state, TaskState::kQueued);
  EXPECT_EQ(got->attempts, 1);
  EXPECT_EQ(LeaseOne().attempts, 2);
}

TEST_P(TaskStoreContract, LeaseThatHasNotLapsedIsKept) {
  Enqueue();
  Task t = LeaseOne("shapes-32", Millis(30'000));
  clock().Advance(Millis(29'999));
  ASSERT_TRUE(store().Reap().ok());
  EXPECT_EQ(store().Get(t.id)->state, TaskState::kRunning);
}

TEST_P(TaskStoreContract, LapsedLeasePastMaxAttemptsFailsWithWorkerLost) {
  Enqueue();  // max_attempts 3
  for (int i = 0; i < 3; ++i) {
    LeaseOne("shapes-32", Millis(1000));
    clock().Advance(Millis(1001));
    ASSERT_TRUE(store().Reap().ok());
  }
  auto page = store().List({.tenant = "acme"});
  ASSERT_EQ(page->tasks.size(), 1u);
  const Task& t = page->tasks[0];
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.attempts, 3);
  ASSERT_TRUE(t.error.has_value());
  EXPECT_EQ(t.error->code, "worker_lost");
}

TEST_P(TaskStoreContract, StaleLeaseCannotCompleteHeartbeatOrFail) {
  Enqueue();
  Task first = LeaseOne("shapes-32", Millis(1000));
  clock().Advance(Millis(1001));
  ASSERT_TRUE(store().Reap().ok());
  Task second = LeaseOne();
  EXPECT_EQ(store().Complete(CompletionFor(first, clock().Now())).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(store().Heartbeat(first.id, first.fencing, Millis(1000), {}).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(store().Fail(FailureFor(first, FailureKind::kPermanent)).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(store().Release(first.id, first.fencing).status().code(), StatusCode::kAborted);
  auto now = store().Get(second.id);
  EXPECT_EQ(now->state, TaskState::kRunning);
  EXPECT_EQ(now->fencing, second.fencing);
}

TEST_P(TaskStoreContract, CompletionAfterTheLeaseLapsedIsRefused) {
  Enqueue();
  Task t = LeaseOne("shapes-32", Millis(1000));
  clock().Advance(Millis(1001));
  ASSERT_TRUE(store().Reap().ok());
  EXPECT_EQ(store().Complete(CompletionFor(t, clock().Now())).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(store().Get(t.id)->state, TaskState::kQueued);
}

}  // namespace
}  // namespace stipple
