// The TaskStore contract, continued: races. Each case starts its contenders on their own threads,
// holds them at a barrier and releases them together, for many rounds (a fresh task each round),
// then checks what the contract promises whichever thread won: a stale lease never records
// anything, a task ends exactly once, and an end never changes afterwards.
#include <atomic>
#include <barrier>
#include <chrono>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "store/testing/task_store_contract.h"

namespace stipple {
namespace {

constexpr int kRounds = 40;

// Runs every function on its own thread, all released at once by a barrier; returns when all
// have returned. With `round` >= 0 one contender (they take turns) starts a little late, by 0 to
// 200 µs (a busy wait): the cheaper call would otherwise win every round and the race would only
// ever go one way.
void RunTogether(const std::vector<std::function<void()>>& contenders, int round = -1) {
  std::barrier start(static_cast<std::ptrdiff_t>(contenders.size()));
  std::vector<std::thread> threads;
  threads.reserve(contenders.size());
  for (size_t i = 0; i < contenders.size(); ++i) {
    const bool late = round >= 0 && i == static_cast<size_t>(round) % contenders.size();
    const auto skew = std::chrono::microseconds(late ? (round / 2 % 5) * 50 : 0);
    threads.emplace_back([&start, &run = contenders[i], skew] {
      start.arrive_and_wait();
      const auto go = std::chrono::steady_clock::now() + skew;
      while (std::chrono::steady_clock::now() < go) {
      }
      run();
    });
  }
  for (std::thread& t : threads) t.join();
}

// Checks that the stored task is terminal in `state` and stays so: another completion of its
// last lease is refused and a housekeeping pass long after leaves it as it is.
void ExpectEndedFor(TaskStore& store, ManualClock& clock, const Task& last_lease, TaskState state,
                    int round) {
  auto got = store.Get(last_lease.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->state, state) << "round " << round;
  EXPECT_EQ(store.Complete(CompletionFor(last_lease, clock.Now())).status().code(),
            StatusCode::kAborted)
      << "round " << round << ": an ended task takes no completion";
  clock.Advance(Millis(3'600'000));
  ASSERT_TRUE(store.Reap().ok());
  EXPECT_EQ(store.Get(last_lease.id)->state, state) << "round " << round << ": the end changed";
}

// Two holders of one task (a lapsed one, requeued and leased again) complete at the same moment:
// only the current lease's completion is recorded.
TEST_P(TaskStoreContract, StaleAndCurrentHoldersCompletingAtOnceRecordOnlyTheCurrent) {
  for (int round = 0; round < kRounds; ++round) {
    Enqueue();
    Task stale = LeaseOne("shapes-32", Millis(1000), "stale-worker");
    clock().Advance(Millis(1001));
    ASSERT_TRUE(store().Reap().ok());
    Task current = LeaseOne("shapes-32", Millis(30'000), "current-worker");
    ASSERT_EQ(current.id, stale.id);
    Result<Task> stale_done = InternalError("not run");
    Result<Task> current_done = InternalError("not run");
    RunTogether({
                    [&] { stale_done = store().Complete(CompletionFor(stale, clock().Now())); },
                    [&] { current_done = store().Complete(CompletionFor(current, clock().Now())); },
                },
                round);
    EXPECT_EQ(stale_done.status().code(), StatusCode::kAborted) << "round " << round;
    ASSERT_TRUE(current_done.ok()) << "round " << round << ": " << current_done.status().ToString();
    EXPECT_EQ(current_done->fencing, current.fencing);
    ExpectEndedFor(store(), clock(), current, TaskState::kSucceeded, round);
  }
}

// The stale holder fails the task while the current one completes it: the failure is refused.
TEST_P(TaskStoreContract, StaleFailureRacingTheCurrentCompletionIsRefused) {
  for (int round = 0; round < kRounds; ++round) {
    Enqueue();
    Task stale = LeaseOne("shapes-32", Millis(1000));
    clock().Advance(Millis(1001));
    ASSERT_TRUE(store().Reap().ok());
    Task current = LeaseOne();
    Result<Task> stale_failed = InternalError("not run");
    Result<Task> current_done = InternalError("not run");
    RunTogether(
        {
            [&] { stale_failed = store().Fail(FailureFor(stale, FailureKind::kPermanent)); },
            [&] { current_done = store().Complete(CompletionFor(current, clock().Now())); },
        },
        round);
    EXPECT_EQ(stale_failed.status().code(), StatusCode::kAborted) << "round " << round;
    ASSERT_TRUE(current_done.ok()) << "round " << round;
    ExpectEndedFor(store(), clock(), current, TaskState::kSucceeded, round);
  }
}

// One lease's completion sent twice at once (a worker resending after a lost answer, to another
// gateway): exactly one is recorded, the other is refused.
TEST_P(TaskStoreContract, OneLeaseCompletedTwiceAtOnceEndsOnce) {
  for (int round = 0; round < kRounds; ++round) {
    Enqueue();
    Task t = LeaseOne();
    Result<Task> a = InternalError("not run");
    Result<Task> b = InternalError("not run");
    RunTogether({
                    [&] { a = store().Complete(CompletionFor(t, clock().Now())); },
                    [&] { b = store().Complete(CompletionFor(t, clock().Now())); },
                },
                round);
    EXPECT_NE(a.ok(), b.ok()) << "round " << round << ": exactly one completion is recorded";
    EXPECT_EQ((a.ok() ? b : a).status().code(), StatusCode::kAborted) << "round " << round;
    ExpectEndedFor(store(), clock(), t, TaskState::kSucceeded, round);
  }
}

// A completion arrives just as the housekeeper finds the lease lapsed. Either the completion is
// recorded (and Reap leaves the task alone) or Reap takes the task back (and the completion is
// refused): never both. On the last attempt Reap's "both" would be a second end (failed
// worker_lost after succeeded); on an earlier one a succeeded task run again.
TEST_P(TaskStoreContract, CompletionRacingReapOfItsLapsedLeaseEndsTheTaskOnce) {
  int completion_won = 0;
  for (int round = 0; round < kRounds; ++round) {
    NewTask nt = TestNewTask("acme", TestRequest());
    const bool last_attempt = round % 2 == 1;
    nt.max_attempts = last_attempt ? 1 : 3;
    ASSERT_TRUE(store().Enqueue(nt).ok());
    Task t = LeaseOne("shapes-32", Millis(1000));
    clock().Advance(Millis(1001));
    Result<Task> done = InternalError("not run");
    Result<ReapReport> reaped = InternalError("not run");
    RunTogether({
                    [&] { done = store().Complete(CompletionFor(t, clock().Now())); },
                    [&] { reaped = store().Reap(); },
                },
                round);
    ASSERT_TRUE(reaped.ok()) << reaped.status().ToString();
    size_t reported = 0;
    for (const auto* list : {&reaped->requeued, &reaped->failed, &reaped->canceled}) {
      for (const Task& r : *list) reported += r.id == t.id;
    }
    if (done.ok()) {
      ++completion_won;
      EXPECT_EQ(reported, 0u) << "round " << round << ": Reap took back a completed task";
      ExpectEndedFor(store(), clock(), t, TaskState::kSucceeded, round);
      continue;
    }
    EXPECT_EQ(done.status().code(), StatusCode::kAborted) << "round " << round;
    EXPECT_EQ(reported, 1u) << "round " << round << ": refused, so Reap must have taken it";
    if (last_attempt) {
      ASSERT_EQ(reaped->failed.size(), 1u) << "round " << round;
      EXPECT_EQ(reaped->failed[0].error->code, "worker_lost");
      ExpectEndedFor(store(), clock(), t, TaskState::kFailed, round);
    } else {
      EXPECT_EQ(store().Get(t.id)->state, TaskState::kQueued) << "round " << round;
      Task again = LeaseOne();
      ASSERT_TRUE(store().Complete(CompletionFor(again, clock().Now())).ok());
      ExpectEndedFor(store(), clock(), again, TaskState::kSucceeded, round);
    }
  }
  RecordProperty("completion_won", completion_won);  // of kRounds: how the race went
}

// A cancel arrives as the running task completes: the task succeeds (a running task is only asked
// to stop), and a cancel that found it ended says so and shows that end.
TEST_P(TaskStoreContract, CancelRacingACompletionNeverChangesTheEnd) {
  for (int round = 0; round < kRounds; ++round) {
    Enqueue();
    Task t = LeaseOne();
    Result<Task> done = InternalError("not run");
    Result<CancelResult> cancel = InternalError("not run");
    RunTogether({
                    [&] { done = store().Complete(CompletionFor(t, clock().Now())); },
                    [&] { cancel = store().Cancel(t.id); },
                },
                round);
    ASSERT_TRUE(done.ok()) << "round " << round << ": " << done.status().ToString();
    ASSERT_TRUE(cancel.ok()) << cancel.status().ToString();
    if (cancel->already_terminal) {
      EXPECT_EQ(cancel->task.state, TaskState::kSucceeded) << "round " << round;
    } else {
      EXPECT_EQ(cancel->task.state, TaskState::kRunning) << "round " << round;
      EXPECT_TRUE(cancel->task.cancel_requested);
    }
    ExpectEndedFor(store(), clock(), t, TaskState::kSucceeded, round);
  }
}

// A worker told to cancel stops (MarkCanceled) while its completion is also on its way: exactly
// one of them ends the task, and the end is the winner's.
TEST_P(TaskStoreContract, MarkCanceledRacingACompletionEndsTheTaskOnce) {
  int completion_won = 0;
  for (int round = 0; round < kRounds; ++round) {
    Enqueue();
    Task t = LeaseOne();
    ASSERT_TRUE(store().Cancel(t.id).ok());
    Result<Task> done = InternalError("not run");
    Result<Task> canceled = InternalError("not run");
    RunTogether({
                    [&] { done = store().Complete(CompletionFor(t, clock().Now())); },
                    [&] { canceled = store().MarkCanceled(t.id, t.fencing); },
                },
                round);
    ASSERT_NE(done.ok(), canceled.ok()) << "round " << round << ": exactly one ends the task";
    completion_won += done.ok();
    ExpectEndedFor(store(), clock(), t, done.ok() ? TaskState::kSucceeded : TaskState::kCanceled,
                   round);
  }
  RecordProperty("completion_won", completion_won);  // of kRounds: how the race went
}

// A queued task is canceled while a worker leases it: either the cancel ends it (and nobody holds
// it) or the worker holds it (and the cancel is a request it will see).
TEST_P(TaskStoreContract, CancelRacingALeaseOfAQueuedTaskHasOneWinner) {
  int cancel_won = 0;
  for (int round = 0; round < kRounds; ++round) {
    Task queued = Enqueue();
    Result<std::vector<LeasedTask>> leased = InternalError("not run");
    Result<CancelResult> cancel = InternalError("not run");
    RunTogether({
                    [&] { leased = store().Lease({.worker_id = "w", .models = {"shapes-32"}}); },
                    [&] { cancel = store().Cancel(queued.id); },
                },
                round);
    ASSERT_TRUE(leased.ok()) << leased.status().ToString();
    ASSERT_TRUE(cancel.ok()) << cancel.status().ToString();
    EXPECT_FALSE(cancel->already_terminal);
    if (leased->empty()) {
      ++cancel_won;
      EXPECT_EQ(cancel->task.state, TaskState::kCanceled) << "round " << round;
      EXPECT_EQ(store().Get(queued.id)->state, TaskState::kCanceled) << "round " << round;
      continue;
    }
    ASSERT_EQ(leased->size(), 1u);
    const Task& t = leased->front().task;
    EXPECT_EQ(cancel->task.state, TaskState::kRunning) << "round " << round;
    EXPECT_TRUE(store().Get(t.id)->cancel_requested) << "round " << round;
    ASSERT_TRUE(store().MarkCanceled(t.id, t.fencing).ok()) << "round " << round;
    ExpectEndedFor(store(), clock(), t, TaskState::kCanceled, round);
  }
  RecordProperty("cancel_won", cancel_won);  // of kRounds: how the race went
}

// Many clients submit one body under one Idempotency-Key at once: one task is created and every
// answer names it.
TEST_P(TaskStoreContract, ConcurrentEnqueuesWithOneIdempotencyKeyMakeOneTask) {
  constexpr int kClients = 8;
  for (int round = 0; round < kRounds / 4; ++round) {
    const std::string key = "key-" + std::to_string(round);
    std::vector<Result<EnqueueResult>> answers(kClients, InternalError("not run"));
    std::vector<std::function<void()>> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.push_back([&, c] {
        NewTask nt = TestNewTask("acme", TestRequest());  // each its own id, as a gateway does
        nt.idempotency_key = key;
        answers[c] = store().Enqueue(nt);
      });
    }
    RunTogether(clients);
    std::set<std::string> named;
    int created = 0;
    for (const auto& a : answers) {
      ASSERT_TRUE(a.ok()) << "round " << round << ": " << a.status().ToString();
      named.insert(a->task.id);
      created += a->created;
    }
    EXPECT_EQ(named.size(), 1u) << "round " << round << ": every answer names one task";
    EXPECT_EQ(created, 1) << "round " << round;
  }
  auto page = store().List({.tenant = "acme", .limit = 100});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->tasks.size(), static_cast<size_t>(kRounds / 4));
}

}  // namespace
}  // namespace stipple
