// The TaskStore contract, continued: completion, failure, cancellation, ttl, retention,
// idempotency, listing and edge cases (see task_store_contract.h).
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "common/id.h"
#include "store/testing/task_store_contract.h"

namespace stipple {
namespace {

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
  // Every step ran, whether or not a heartbeat reported one (API: progress stays after the run).
  EXPECT_EQ(done->progress, (std::optional<TaskProgress>{TaskProgress{20, 20}}));
  EXPECT_EQ(*store().Get(t.id), *done);
}

TEST_P(TaskStoreContract, CompleteCountsTheStepsAnInitImagesStrengthRuns) {
  GenerationRequest r = TestRequest();
  r.init_image = ImageInput{"", std::string(64, 'a'), "image/png", 32, 32};
  r.strength = 0.55;  // int(20 x 0.55) = 11 of the 20 steps
  ASSERT_TRUE(store().Enqueue(TestNewTask("tenant", r)).ok());
  Task t = LeaseOne();
  auto done = store().Complete(CompletionFor(t, clock().Now() + Millis(3'600'000)));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->progress, (std::optional<TaskProgress>{TaskProgress{11, 11}}));
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

// A worker's batch completes in one write, but each task on its own: a stale lease, a task that
// ended meanwhile, one never leased or unknown fail alone, the others succeed, in order.
TEST_P(TaskStoreContract, CompleteBatchWithPartialFailuresCompletesTheRest) {
  for (int i = 0; i < 4; ++i) Enqueue();
  Task queued = Enqueue();
  auto batch = store().Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = 4});
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 4u);
  const Task& ended = (*batch)[2].task;
  ASSERT_TRUE(store().Fail(FailureFor(ended, FailureKind::kPermanent)).ok());
  std::vector<Completion> all;
  for (const LeasedTask& lt : *batch) all.push_back(CompletionFor(lt.task, clock().Now()));
  all[1].fencing += 1000;  // a stale lease between two good ones
  Completion never_leased = CompletionFor(queued, clock().Now());
  never_leased.fencing = 1;
  all.push_back(never_leased);
  Completion unknown = CompletionFor((*batch)[0].task, clock().Now());
  unknown.task_id = NewId("tsk");
  all.push_back(unknown);
  auto results = store().Complete(std::span<const Completion>(all));
  ASSERT_EQ(results.size(), all.size());
  EXPECT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(results[1].status().code(), StatusCode::kAborted);
  EXPECT_EQ(results[2].status().code(), StatusCode::kAborted);
  EXPECT_TRUE(results[3].ok()) << results[3].status().ToString();
  EXPECT_FALSE(results[4].ok());
  EXPECT_EQ(results[5].status().code(), StatusCode::kNotFound);
  for (size_t i : {0u, 3u}) {
    EXPECT_EQ(results[i]->id, (*batch)[i].task.id);
    EXPECT_EQ(results[i]->state, TaskState::kSucceeded);
    EXPECT_EQ(results[i]->outputs, all[i].outputs);
    EXPECT_EQ(*store().Get((*batch)[i].task.id), *results[i]);
  }
  EXPECT_EQ(store().Get((*batch)[1].task.id)->state, TaskState::kRunning);
  EXPECT_EQ(store().Get(ended.id)->state, TaskState::kFailed);
  EXPECT_EQ(store().Get(queued.id)->state, TaskState::kQueued);
  // The stale one completes later under its own lease.
  EXPECT_TRUE(store().Complete(CompletionFor((*batch)[1].task, clock().Now())).ok());
  // The counts moved with each success only.
  auto counts = store().Counts();
  ASSERT_TRUE(counts.ok());
  int64_t running = 0, queued_count = 0;
  for (const QueueCounts& c : *counts) {
    running += c.running;
    for (int64_t q : c.queued) queued_count += q;
  }
  EXPECT_EQ(running, 0);
  EXPECT_EQ(queued_count, 1);
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
  auto got = store().Lease({.worker_id = "w", .models = {"shapes-32"}, .wait = Millis(60'000)});
  time_passes.join();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  // Taken within the wait, not at its end 60 s later (generous, for a loaded machine).
  EXPECT_LT(std::chrono::steady_clock::now() - start, Millis(30'000));
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
