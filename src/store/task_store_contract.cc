#include "store/task_store_contract.h"

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

namespace {

Completion CompletionFor(const Task& t, Timestamp expire) {
  TaskOutput out;
  out.width = 32;
  out.height = 32;
  out.seed = t.request.seed;
  out.size_bytes = 100;
  out.etag = "\"abc\"";
  return Completion{t.id, t.fencing, {out}, expire};
}

Failure FailureFor(const Task& t, FailureKind kind, Millis retry_after = Millis(0)) {
  return Failure{t.id, t.fencing, TaskError{"engine_error", "boom"}, kind, retry_after};
}

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
  auto got = store().Lease({.worker_id = "w", .models = {"shapes-32"}, .wait = Millis(10'000)});
  producer.join();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, Millis(5'000));
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

// ---- completion and failure ----

TEST_P(TaskStoreContract, CompleteRecordsTheOutputsAndSucceeds) {
  Enqueue();
  Task t = LeaseOne();
  clock().Advance(Millis(1500));
  Completion c = CompletionFor(t, clock().Now() + Millis(3'600'000));
  auto done = store().Complete(c);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  EXPECT_EQ(done->completed_at, clock().Now());
  EXPECT_EQ(done->outputs, c.outputs);
  EXPECT_EQ(done->outputs_expire_at, c.outputs_expire_at);
  EXPECT_FALSE(done->lease_expires_at.has_value());
  EXPECT_EQ(*store().Get(t.id), *done);
}

TEST_P(TaskStoreContract, CompleteBatchAnswersEachTaskOnItsOwn) {
  Enqueue();
  Enqueue();
  auto batch = store().Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = 2});
  ASSERT_EQ(batch->size(), 2u);
  Completion good = CompletionFor((*batch)[0].task, clock().Now());
  Completion stale = CompletionFor((*batch)[1].task, clock().Now());
  stale.fencing += 1000;
  std::vector<Completion> both{good, stale};
  auto results = store().Complete(std::span<const Completion>(both));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status().code(), StatusCode::kAborted);
  EXPECT_EQ(store().Get((*batch)[1].task.id)->state, TaskState::kRunning);
}

TEST_P(TaskStoreContract, TerminalTaskNeverChangesState) {
  Enqueue();
  Task t = LeaseOne();
  ASSERT_TRUE(store().Complete(CompletionFor(t, clock().Now())).ok());
  EXPECT_EQ(store().Complete(CompletionFor(t, clock().Now())).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(store().Fail(FailureFor(t, FailureKind::kPermanent)).status().code(),
            StatusCode::kAborted);
  auto cancel = store().Cancel(t.id);
  ASSERT_TRUE(cancel.ok());
  EXPECT_TRUE(cancel->already_terminal);
  clock().Advance(Millis(100'000'000));
  ASSERT_TRUE(store().Reap().ok());
  EXPECT_EQ(store().Get(t.id)->state, TaskState::kSucceeded);
}

TEST_P(TaskStoreContract, PermanentFailureFailsAtOnce) {
  Enqueue();
  Task t = LeaseOne();
  auto failed = store().Fail(FailureFor(t, FailureKind::kPermanent));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state, TaskState::kFailed);
  EXPECT_EQ(failed->error, (TaskError{"engine_error", "boom"}));
}

TEST_P(TaskStoreContract, TransientFailureRequeuesAfterTheBackoff) {
  Enqueue();
  Task t = LeaseOne();
  auto retried = store().Fail(FailureFor(t, FailureKind::kTransient, Millis(5000)));
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(retried->state, TaskState::kQueued);
  EXPECT_EQ(retried->attempts, 1);
  EXPECT_TRUE(store().Lease({.worker_id = "w", .models = {"shapes-32"}})->empty());
  clock().Advance(Millis(5000));
  EXPECT_EQ(LeaseOne().attempts, 2);
}

TEST_P(TaskStoreContract, TransientFailureOnTheLastAttemptFails) {
  Enqueue();
  for (int i = 0; i < 2; ++i) {
    Task t = LeaseOne();
    ASSERT_EQ(store().Fail(FailureFor(t, FailureKind::kTransient))->state, TaskState::kQueued);
  }
  Task last = LeaseOne();
  auto failed = store().Fail(FailureFor(last, FailureKind::kTransient));
  EXPECT_EQ(failed->state, TaskState::kFailed);
  EXPECT_EQ(failed->error->code, "engine_error");
}

TEST_P(TaskStoreContract, ReleaseRequeuesWithoutCountingTheAttempt) {
  Task queued = Enqueue();
  Task t = LeaseOne();
  auto released = store().Release(t.id, t.fencing);
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released->state, TaskState::kQueued);
  EXPECT_EQ(released->attempts, 0);
  EXPECT_EQ(store().Get(queued.id)->queue_position, 0);  // back at the head: oldest first
}

// ---- cancellation ----

TEST_P(TaskStoreContract, CancelOfAQueuedTaskCancelsItAtOnce) {
  Task t = Enqueue();
  auto c = store().Cancel(t.id);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->already_terminal);
  EXPECT_EQ(c->task.state, TaskState::kCanceled);
  EXPECT_TRUE(store().Lease({.worker_id = "w", .models = {"shapes-32"}})->empty());
}

TEST_P(TaskStoreContract, CancelOfARunningTaskIsSeenByItsWorkerOnTheNextHeartbeat) {
  Enqueue();
  Task t = LeaseOne();
  auto c = store().Cancel(t.id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->task.state, TaskState::kRunning);
  EXPECT_TRUE(c->task.cancel_requested);
  auto hb = store().Heartbeat(t.id, t.fencing, Millis(30'000), {});
  ASSERT_TRUE(hb.ok());
  EXPECT_TRUE(hb->cancel_requested);
  auto canceled = store().MarkCanceled(t.id, t.fencing);
  ASSERT_TRUE(canceled.ok());
  EXPECT_EQ(canceled->state, TaskState::kCanceled);
}

TEST_P(TaskStoreContract, MarkCanceledWithoutACancelRequestIsRefused) {
  Enqueue();
  Task t = LeaseOne();
  EXPECT_EQ(store().MarkCanceled(t.id, t.fencing).status().code(), StatusCode::kFailedPrecondition);
}

TEST_P(TaskStoreContract, CanceledRunningTaskWhoseLeaseLapsesIsCanceledNotRetried) {
  Enqueue();
  Task t = LeaseOne("shapes-32", Millis(1000));
  ASSERT_TRUE(store().Cancel(t.id).ok());
  clock().Advance(Millis(1001));
  ASSERT_TRUE(store().Reap().ok());
  EXPECT_EQ(store().Get(t.id)->state, TaskState::kCanceled);
}

TEST_P(TaskStoreContract, CancelOfAnUnknownTaskIsNotFound) {
  EXPECT_EQ(store().Cancel(NewId("tsk")).status().code(), StatusCode::kNotFound);
}

// ---- ttl and retention ----

TEST_P(TaskStoreContract, TaskNotStartedWithinItsTtlExpires) {
  Task t = Enqueue("acme", "shapes-32", Priority::kNormal, 60);
  clock().Advance(Millis(60'000));
  EXPECT_TRUE(store().Lease({.worker_id = "w", .models = {"shapes-32"}})->empty());
  auto report = store().Reap();
  ASSERT_EQ(report->expired.size(), 1u);
  EXPECT_EQ(store().Get(t.id)->state, TaskState::kExpired);
}

TEST_P(TaskStoreContract, TaskStartedWithinItsTtlDoesNotExpire) {
  Enqueue("acme", "shapes-32", Priority::kNormal, 60);
  Task t = LeaseOne("shapes-32", Millis(600'000));
  clock().Advance(Millis(120'000));
  ASSERT_TRUE(store().Reap().ok());
  EXPECT_EQ(store().Get(t.id)->state, TaskState::kRunning);
}

TEST_P(TaskStoreContract, OutputsExpireAfterTheirRetention) {
  Enqueue();
  Task t = LeaseOne();
  ASSERT_TRUE(store().Complete(CompletionFor(t, clock().Now() + Millis(10'000))).ok());
  ASSERT_TRUE(store().Reap()->outputs_expired.empty());
  clock().Advance(Millis(10'000));
  auto report = store().Reap();
  ASSERT_EQ(report->outputs_expired.size(), 1u);
  auto got = store().Get(t.id);
  EXPECT_TRUE(got->outputs_expired);
  EXPECT_EQ(got->state, TaskState::kSucceeded);
  EXPECT_TRUE(store().Reap()->outputs_expired.empty());  // reported once
}

// ---- idempotency ----

NewTask Keyed(const std::string& tenant, const std::string& key, const std::string& prompt) {
  NewTask nt = TestNewTask(tenant, TestRequest("shapes-32", Priority::kNormal, prompt));
  nt.idempotency_key = key;
  return nt;
}

TEST_P(TaskStoreContract, SameIdempotencyKeyAndBodyReturnTheOriginalTask) {
  auto first = store().Enqueue(Keyed("acme", "k1", "a red circle"));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->created);
  auto again = store().Enqueue(Keyed("acme", "k1", "a red circle"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->task.id, first->task.id);
  EXPECT_EQ(store().List({.tenant = "acme"})->tasks.size(), 1u);
}

TEST_P(TaskStoreContract, SameIdempotencyKeyWithAnotherBodyConflicts) {
  ASSERT_TRUE(store().Enqueue(Keyed("acme", "k1", "a red circle")).ok());
  EXPECT_EQ(store().Enqueue(Keyed("acme", "k1", "a blue square")).status().code(),
            StatusCode::kAlreadyExists);
}

TEST_P(TaskStoreContract, IdempotencyKeysBelongToOneTenant) {
  auto a = store().Enqueue(Keyed("acme", "k1", "a red circle"));
  auto b = store().Enqueue(Keyed("globex", "k1", "a red circle"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b->created);
  EXPECT_NE(a->task.id, b->task.id);
}

TEST_P(TaskStoreContract, IdempotencyKeyIsForgottenAfterADay) {
  auto a = store().Enqueue(Keyed("acme", "k1", "a red circle"));
  clock().Advance(Millis(24LL * 3600 * 1000));
  EXPECT_EQ(store().Reap()->idempotency_keys_dropped, 1);
  auto b = store().Enqueue(Keyed("acme", "k1", "a blue square"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(b->created);
}

TEST_P(TaskStoreContract, IdempotencyKeyStillConflictsJustBeforeADay) {
  ASSERT_TRUE(store().Enqueue(Keyed("acme", "k1", "a red circle")).ok());
  clock().Advance(Millis(24LL * 3600 * 1000 - 1));
  ASSERT_TRUE(store().Reap().ok());
  EXPECT_EQ(store().Enqueue(Keyed("acme", "k1", "a blue square")).status().code(),
            StatusCode::kAlreadyExists);
}

// ---- listing and counts ----

TEST_P(TaskStoreContract, ListIsNewestFirstPerTenantOnePageAtATime) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Enqueue("acme").id);
    clock().Advance(Millis(1));
  }
  Enqueue("globex");
  auto p1 = store().List({.tenant = "acme", .limit = 2});
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->tasks.size(), 2u);
  EXPECT_EQ(p1->tasks[0].id, ids[4]);
  EXPECT_EQ(p1->tasks[1].id, ids[3]);
  auto p2 = store().List({.tenant = "acme", .limit = 2, .cursor = p1->next_cursor});
  EXPECT_EQ(p2->tasks[0].id, ids[2]);
  auto p3 = store().List({.tenant = "acme", .limit = 2, .cursor = p2->next_cursor});
  ASSERT_EQ(p3->tasks.size(), 1u);
  EXPECT_EQ(p3->tasks[0].id, ids[0]);
  EXPECT_TRUE(p3->next_cursor.empty());
}

TEST_P(TaskStoreContract, ListFiltersByState) {
  Task first = Enqueue();
  Task second = Enqueue();
  ASSERT_EQ(LeaseOne().id, first.id);
  auto queued = store().List({.tenant = "acme", .state = TaskState::kQueued});
  ASSERT_EQ(queued->tasks.size(), 1u);
  EXPECT_EQ(queued->tasks[0].id, second.id);
  auto running = store().List({.tenant = "acme", .state = TaskState::kRunning});
  ASSERT_EQ(running->tasks.size(), 1u);
  EXPECT_EQ(running->tasks[0].id, first.id);
}

TEST_P(TaskStoreContract, ListWithoutTenantShowsEveryTenant) {
  Enqueue("acme");
  Enqueue("globex");
  EXPECT_EQ(store().List({})->tasks.size(), 2u);
}

TEST_P(TaskStoreContract, ListRejectsABadLimitOrCursorNamingTheField) {
  auto bad_limit = store().List({.tenant = "acme", .limit = 0});
  ASSERT_EQ(bad_limit.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_limit.status().field_errors().at(0).field, "limit");
  auto bad_cursor = store().List({.tenant = "acme", .cursor = "nope"});
  ASSERT_EQ(bad_cursor.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_cursor.status().field_errors().at(0).field, "cursor");
}

TEST_P(TaskStoreContract, CountsReportQueuedPerPriorityRunningAndTheOldest) {
  Task oldest = Enqueue("acme", "shapes-32", Priority::kLow);
  clock().Advance(Millis(10));
  Enqueue("acme", "shapes-32", Priority::kHigh);
  Enqueue("acme", "shapes-32", Priority::kHigh);
  Enqueue("acme", "shapes-32", Priority::kNormal);
  LeaseOne();  // one high
  auto counts = store().Counts();
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1u);
  const QueueCounts& c = counts->front();
  EXPECT_EQ(c.model, "shapes-32");
  EXPECT_EQ(c.queued[0], 1);
  EXPECT_EQ(c.queued[1], 1);
  EXPECT_EQ(c.queued[2], 1);
  EXPECT_EQ(c.running, 1);
  EXPECT_EQ(c.oldest_queued_at, oldest.created_at);
}

// ---- edge cases ----

TEST_P(TaskStoreContract, EnqueueRejectsAMalformedIdAnEmptyTenantOrNoAttempts) {
  NewTask bad_id = TestNewTask("acme", TestRequest());
  bad_id.id = "task-1";
  EXPECT_EQ(store().Enqueue(bad_id).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().Enqueue(TestNewTask("", TestRequest())).status().code(),
            StatusCode::kInvalidArgument);
  NewTask no_attempts = TestNewTask("acme", TestRequest());
  no_attempts.max_attempts = 0;
  EXPECT_EQ(store().Enqueue(no_attempts).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(TaskStoreContract, LeaseNamingAModelTwiceHandsOutEachTaskOnce) {
  Enqueue();
  auto got =
      store().Lease({.worker_id = "w", .models = {"shapes-32", "shapes-32"}, .max_tasks = 2});
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().task.attempts, 1);
}

TEST_P(TaskStoreContract, LeaseAcrossModelsTakesTheHighestPriorityFirst) {
  Enqueue("acme", "shapes-32", Priority::kLow);
  Task high = Enqueue("acme", "other-model", Priority::kHigh);
  auto got = store().Lease({.worker_id = "w", .models = {"shapes-32", "other-model"}});
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().task.id, high.id);
}

TEST_P(TaskStoreContract, LeaseAndHeartbeatRejectNonPositiveDurations) {
  Enqueue();
  EXPECT_EQ(store()
                .Lease({.worker_id = "w", .models = {"shapes-32"}, .lease_duration = Millis(0)})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  Task t = LeaseOne();
  EXPECT_EQ(store().Heartbeat(t.id, t.fencing, Millis(-1), {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(TaskStoreContract, WaitingLeaseWakesWhenATaskIsReleased) {
  Enqueue();
  Task t = LeaseOne();
  std::thread releaser([&] {
    std::this_thread::sleep_for(Millis(50));
    ASSERT_TRUE(store().Release(t.id, t.fencing).ok());
  });
  auto got = store().Lease({.worker_id = "w2", .models = {"shapes-32"}, .wait = Millis(10'000)});
  releaser.join();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().task.id, t.id);
}

TEST_P(TaskStoreContract, WaitingLeaseTakesATaskWhoseRetryBackoffEndsDuringTheWait) {
  Enqueue();
  Task t = LeaseOne();
  ASSERT_TRUE(store().Fail(FailureFor(t, FailureKind::kTransient, Millis(100))).ok());
  std::thread time_passes([&] {
    std::this_thread::sleep_for(Millis(20));
    clock().Advance(Millis(100));
  });
  auto start = std::chrono::steady_clock::now();
  auto got = store().Lease({.worker_id = "w", .models = {"shapes-32"}, .wait = Millis(10'000)});
  time_passes.join();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, Millis(5'000));
}

TEST_P(TaskStoreContract, TwoWaitingLeasesAreHandedOneNewTaskEach) {
  std::atomic<int> got{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back([&, i] {
      auto r = store().Lease(
          {.worker_id = "w" + std::to_string(i), .models = {"shapes-32"}, .wait = Millis(10'000)});
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r->size(), 1u);
      got++;
    });
  }
  std::this_thread::sleep_for(Millis(50));
  Task first = Enqueue();
  std::this_thread::sleep_for(Millis(50));
  Task second = Enqueue();
  for (auto& w : waiters) w.join();
  EXPECT_EQ(got, 2);
  EXPECT_EQ(store().Get(first.id)->state, TaskState::kRunning);
  EXPECT_EQ(store().Get(second.id)->state, TaskState::kRunning);
  EXPECT_EQ(store().Get(first.id)->attempts, 1);
}

TEST_P(TaskStoreContract, MarkCanceledWithAStaleFencingIsAborted) {
  Enqueue();
  Task t = LeaseOne();
  ASSERT_TRUE(store().Cancel(t.id).ok());
  EXPECT_EQ(store().MarkCanceled(t.id, t.fencing + 1).status().code(), StatusCode::kAborted);
}

TEST_P(TaskStoreContract, TransientFailureOfACancelRequestedTaskCancelsIt) {
  Enqueue();
  Task t = LeaseOne();
  ASSERT_TRUE(store().Cancel(t.id).ok());
  auto failed = store().Fail(FailureFor(t, FailureKind::kTransient));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state, TaskState::kCanceled);
}

TEST_P(TaskStoreContract, RetriedTaskIsNotExpiredByItsTtl) {
  Task queued = Enqueue("acme", "shapes-32", Priority::kNormal, 60);
  LeaseOne("shapes-32", Millis(120'000));
  clock().Advance(Millis(120'001));  // past the ttl and the lease
  auto report = store().Reap();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->requeued.size(), 1u);
  EXPECT_TRUE(report->expired.empty());
  EXPECT_EQ(store().Get(queued.id)->state, TaskState::kQueued);
  EXPECT_EQ(LeaseOne().id, queued.id);
}

TEST_P(TaskStoreContract, ReapReportsEachTaskUnderWhatHappenedToIt) {
  Enqueue();
  Enqueue();
  Task canceled = LeaseOne("shapes-32", Millis(1000));
  Task requeued = LeaseOne("shapes-32", Millis(1000));
  ASSERT_TRUE(store().Cancel(canceled.id).ok());
  clock().Advance(Millis(1001));
  auto report = store().Reap();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->canceled.size(), 1u);
  EXPECT_EQ(report->canceled[0].id, canceled.id);
  ASSERT_EQ(report->requeued.size(), 1u);
  EXPECT_EQ(report->requeued[0].id, requeued.id);
  EXPECT_TRUE(report->failed.empty());
}

TEST_P(TaskStoreContract, ListAcrossTenantsWithAStateFilterPagesThroughEverything) {
  for (int i = 0; i < 3; ++i) Enqueue("acme");
  for (int i = 0; i < 2; ++i) Enqueue("globex");
  std::set<std::string> seen;
  std::string cursor;
  do {
    auto page = store().List({.state = TaskState::kQueued, .limit = 2, .cursor = cursor});
    ASSERT_TRUE(page.ok());
    for (const Task& t : page->tasks) EXPECT_TRUE(seen.insert(t.id).second);
    cursor = page->next_cursor;
  } while (!cursor.empty());
  EXPECT_EQ(seen.size(), 5u);
}

}  // namespace
}  // namespace stipple
