#include "service/local_task_service.h"

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
#include "notify/in_memory_event_bus.h"
#include "results/fs_result_store.h"
#include "service/local_task_service_test_fixture.h"
#include "store/sqlite/sqlite_task_store.h"

namespace stipple {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Collector = EventCollector;

TEST_F(LocalTaskServiceTest, LifecyclePublishesEventsInOrderNumberedFromOne) {
  Task t = Submit();
  Collector events;
  auto sub = service_->Subscribe("acme", t.id, 0, events.Callback());
  ASSERT_TRUE(sub.ok());
  Task leased = LeaseOne();
  ASSERT_TRUE(service_->Progress(t.id, leased.fencing, {10, 20}, "").ok());
  ASSERT_TRUE(service_->Progress(t.id, leased.fencing, {20, 20}, "preview").ok());
  auto done = CompleteWith(leased, "png bytes");
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  auto got = events.Wait(5);
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(got),
            (std::vector<std::pair<TaskEventType, int64_t>>{{T::kQueued, 1},
                                                            {T::kStarted, 2},
                                                            {T::kProgress, 3},
                                                            {T::kProgress, 4},
                                                            {T::kSucceeded, 5}}));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[1].worker_id, "worker-1");
  EXPECT_EQ(got[1].attempt, 1);
  ASSERT_TRUE(got[4].task.has_value());
  EXPECT_EQ(got[4].task->state, TaskState::kSucceeded);
}

TEST_F(LocalTaskServiceTest, CompletedOutputIsServedWithItsChecksumEtag) {
  Task t = Submit();
  Task leased = LeaseOne();
  auto done = CompleteWith(leased, "png bytes");
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->outputs.size(), 1u);
  EXPECT_EQ(done->outputs[0].size_bytes, 9);
  auto blob = service_->Output("acme", t.id, 0);
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_EQ(blob->bytes, "png bytes");
  EXPECT_EQ(blob->etag, EtagForSha256(Sha256Hex("png bytes")));
  EXPECT_EQ(blob->etag, done->outputs[0].etag);
  EXPECT_EQ(service_->Output("acme", t.id, 1).status().code(), StatusCode::kNotFound);
}

TEST_F(LocalTaskServiceTest, OutputOfAnUnfinishedTaskIsFailedPrecondition) {
  Task t = Submit();
  EXPECT_EQ(service_->Output("acme", t.id, 0).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(LocalTaskServiceTest, WhenTerminalFiresOnTheTerminalEvent) {
  Task t = Submit();
  std::promise<Task> ended;
  auto wait = service_->WhenTerminal("acme", t.id, [&](const Task& end) { ended.set_value(end); });
  ASSERT_TRUE(wait.ok());
  auto future = ended.get_future();
  Task leased = LeaseOne();
  EXPECT_EQ(future.wait_for(50ms), std::future_status::timeout);
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get().state, TaskState::kSucceeded);
}

TEST_F(LocalTaskServiceTest, WhenTerminalFiresAtOnceForAnEndedTask) {
  Task t = Submit();
  ASSERT_TRUE(service_->Cancel("acme", t.id).ok());
  std::promise<Task> ended;
  auto wait = service_->WhenTerminal("acme", t.id, [&](const Task& end) { ended.set_value(end); });
  ASSERT_TRUE(wait.ok());
  auto future = ended.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get().state, TaskState::kCanceled);
}

TEST_F(LocalTaskServiceTest, SubscribeReplaysEventsAfterTheGivenSeqThenLiveOnes) {
  Task t = Submit();
  Task leased = LeaseOne();
  ASSERT_TRUE(service_->Progress(t.id, leased.fencing, {5, 20}, "").ok());
  Collector events;
  auto sub = service_->Subscribe("acme", t.id, 2, events.Callback());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(events.Wait(2)), (std::vector<std::pair<TaskEventType, int64_t>>{
                                              {T::kProgress, 3}, {T::kSucceeded, 4}}));
}

TEST_F(LocalTaskServiceTest, SubscribingToAnEndedTaskReplaysItsStateChangesAfterTheGivenSeq) {
  Task t = Submit();
  Task leased = LeaseOne();
  ASSERT_TRUE(service_->Progress(t.id, leased.fencing, {10, 20}, "").ok());
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  using T = TaskEventType;
  using Seqs = std::vector<std::pair<TaskEventType, int64_t>>;
  for (auto [after, want] :
       {std::pair{int64_t{0}, Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 4}}},
        std::pair{int64_t{1}, Seqs{{T::kStarted, 2}, {T::kSucceeded, 4}}},
        std::pair{int64_t{4}, Seqs{{T::kSucceeded, 4}}}}) {
    Collector events;
    auto sub = service_->Subscribe("acme", t.id, after, events.Callback());
    ASSERT_TRUE(sub.ok());
    auto got = events.Wait(want.size());
    std::this_thread::sleep_for(20ms);  // room for an extra event to show up
    got = events.Wait(want.size());
    EXPECT_EQ(TypesAndSeqs(got), want) << "after " << after;
  }
}

TEST_F(LocalTaskServiceTest, AnEndedTaskFromBeforeARestartReplaysTheHistoryOfItsRecord) {
  auto made = store_->Enqueue(MakeTask());
  ASSERT_TRUE(made.ok());
  auto leased = store_->Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = 1});
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  ASSERT_TRUE(
      store_
          ->Fail(Failure{made->task.id, leased->front().task.fencing,
                         TaskError{"engine_error", "boom"}, FailureKind::kPermanent, Millis(0)})
          .ok());
  Collector events;
  auto sub = service_->Subscribe("acme", made->task.id, 0, events.Callback());
  ASSERT_TRUE(sub.ok());
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(events.Wait(3)), (std::vector<std::pair<TaskEventType, int64_t>>{
                                              {T::kQueued, 1}, {T::kStarted, 2}, {T::kFailed, 3}}));
}

TEST_F(LocalTaskServiceTest, TerminalEventOfATaskFromBeforeARestartIsRebuiltFromItsRecord) {
  // Made and finished through the store alone: the bus has never heard of it.
  auto made = store_->Enqueue(MakeTask());
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(store_->Cancel(made->task.id).ok());
  Collector events;
  auto sub = service_->Subscribe("acme", made->task.id, 40, events.Callback());
  ASSERT_TRUE(sub.ok());
  auto got = events.Wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, TaskEventType::kCanceled);
  EXPECT_EQ(got[0].seq, 2);  // queued, canceled
  ASSERT_TRUE(got[0].task.has_value());
  EXPECT_EQ(got[0].task->id, made->task.id);
}

TEST_F(LocalTaskServiceTest, AnotherTenantsTaskIsNotFoundEverywhere) {
  Task t = Submit("acme");
  auto nothing = [](const auto&) {};
  EXPECT_EQ(service_->Get("globex", t.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Cancel("globex", t.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Subscribe("globex", t.id, 0, nothing).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->WhenTerminal("globex", t.id, nothing).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Output("globex", t.id, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Preview("globex", t.id).status().code(), StatusCode::kNotFound);
  // The same answer as for an id that does not exist at all.
  EXPECT_EQ(service_->Get("globex", t.id).status().message(), "no task " + t.id);
  EXPECT_TRUE(service_->Get("acme", t.id).ok());
  EXPECT_TRUE(service_->Get("", t.id).ok());                          // the admin's view
  EXPECT_EQ(service_->Get("acme", t.id)->state, TaskState::kQueued);  // Cancel changed nothing
}

TEST_F(LocalTaskServiceTest, SubscribeAllDeliversOnlyTheTenantsTasks) {
  Collector acme;
  auto sub = service_->SubscribeAll("acme", acme.Callback());
  Submit("globex");
  Task mine = Submit("acme");
  acme.Wait(1);
  std::this_thread::sleep_for(20ms);  // room for a wrong delivery to show up
  auto got = acme.Wait(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task_id, mine.id);
}

TEST_F(LocalTaskServiceTest, StaleCompletionIsRefusedAndItsFilesDeleted) {
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
  EXPECT_EQ(service_->Output("acme", t.id, 0)->bytes, "current image");
}

TEST_F(LocalTaskServiceTest, ReaperRequeuesALapsedLeaseAndPublishesRetrying) {
  Task t = Submit();
  Collector events;
  auto sub = service_->Subscribe("acme", t.id, 0, events.Callback());
  LeaseOne("worker-1", Millis(1'000));
  clock_.Advance(Millis(1'001));
  ASSERT_TRUE(service_->Housekeep().ok());
  EXPECT_EQ(service_->Get("acme", t.id)->state, TaskState::kQueued);
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

TEST_F(LocalTaskServiceTest, ANewLeaseSeenBeforeTheLostOnesRetryingStillFollowsIt) {
  Task t = Submit();
  Collector events;
  auto sub = service_->Subscribe("acme", t.id, 0, events.Callback());
  LeaseOne("worker-1", Millis(1'000));
  clock_.Advance(Millis(1'001));
  ASSERT_TRUE(store_->Reap().ok());  // the requeue is committed but not yet published
  LeaseOne("worker-2");
  ASSERT_TRUE(service_->Housekeep().ok());
  using T = TaskEventType;
  EXPECT_EQ(TypesAndSeqs(events.Wait(4)),
            (std::vector<std::pair<TaskEventType, int64_t>>{
                {T::kQueued, 1}, {T::kStarted, 2}, {T::kRetrying, 3}, {T::kStarted, 4}}));
}

TEST_F(LocalTaskServiceTest, ProgressUnderALostLeaseIsAbortedAndPreviewIsKept) {
  Task t = Submit();
  Task leased = LeaseOne();
  EXPECT_EQ(service_->Preview("acme", t.id).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(service_->Progress(t.id, leased.fencing, {4, 20}, "tiny png").ok());
  EXPECT_EQ(*service_->Preview("acme", t.id), "tiny png");
  EXPECT_EQ(service_->Progress(t.id, leased.fencing + 1, {5, 20}, "").code(), StatusCode::kAborted);
}

TEST_F(LocalTaskServiceTest, FullQueueRefusesSubmitsWithARetryHint) {
  TearDown();
  Start({.max_queue = 2, .queue_full_retry_after = Millis(7'000)});
  Submit();
  Submit();
  auto refused = service_->Submit(MakeTask());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryAfterHint(refused.status()), Millis(7'000));
  LeaseOne();  // one fewer queued: room again
  EXPECT_TRUE(service_->Submit(MakeTask()).ok());
}

TEST_F(LocalTaskServiceTest, TenantQuotaRefusesAtTheQuotaAtomicallyWithTheEnqueue) {
  std::atomic<int> admitted{0}, over_quota{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 4; ++j) {
        NewTask t = MakeTask();
        t.tenant_max_queued = 5;
        auto r = service_->Submit(t);
        if (r.ok()) ++admitted;
        if (r.status().code() == StatusCode::kResourceExhausted) ++over_quota;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 5);
  EXPECT_EQ(over_quota.load(), 27);
  NewTask t = MakeTask();
  t.tenant_max_queued = 5;
  Status refused = service_->Submit(t).status();
  EXPECT_NE(refused.message().find("tenant acme has 5 queued tasks, its quota of 5"),
            std::string::npos)
      << refused.ToString();
  EXPECT_FALSE(RetryAfterHint(refused));  // no run time known yet: the gateway's default
  NewTask other = MakeTask("other");
  other.tenant_max_queued = 5;
  auto ok = service_->Submit(other);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->task.queue_position, 5);  // the submit's answer carries its position
}

TEST_F(LocalTaskServiceTest, DrainingRefusesSubmitsAndLeasesNothing) {
  Submit();
  service_->Drain();
  EXPECT_EQ(service_->Submit(MakeTask()).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(service_->Ready().code(), StatusCode::kUnavailable);
  auto leased = service_->Lease({.worker_id = "w", .models = {"shapes-32"}});
  ASSERT_TRUE(leased.ok());
  EXPECT_TRUE(leased->empty());
}

TEST_F(LocalTaskServiceTest, QueueReportsCountsAndWorkersWithTheirTasks) {
  ASSERT_TRUE(
      service_->Register({.id = "worker-1", .host = "h", .device = "cpu", .models = {"shapes-32"}})
          .ok());
  ASSERT_TRUE(service_->Register({.id = "worker-2", .models = {"shapes-32"}}).ok());
  Task t = Submit();
  Submit();
  LeaseOne("worker-1");
  auto q = service_->Queue();
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

TEST_F(LocalTaskServiceTest, QueueTotalsCountEndsByStateAndTimeWaitRunAndEndToEnd) {
  Task canceled = Submit();
  ASSERT_TRUE(service_->Cancel("", canceled.id).ok());
  Submit();
  clock_.Advance(2'000ms);  // waits 2 s in the queue
  Task leased = LeaseOne();
  clock_.Advance(3'000ms);  // runs 3 s
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  auto q = service_->Queue();
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

TEST_F(LocalTaskServiceTest, ExpiredOutputsAreDeletedByHousekeeping) {
  Task t = Submit();
  Task leased = LeaseOne();
  ASSERT_TRUE(CompleteWith(leased, "png").ok());
  clock_.Advance(LocalTaskServiceOptions{}.output_retention + Millis(1));
  ASSERT_TRUE(service_->Housekeep().ok());
  EXPECT_EQ(service_->Output("acme", t.id, 0).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(results_->Get(t.id, leased.fencing, 0).status().code(), StatusCode::kNotFound);
}

TEST_F(LocalTaskServiceTest, HousekeepingThreadReapsWithoutBeingAsked) {
  service_.reset();
  service_ = std::make_unique<LocalTaskService>(
      *store_, *bus_, *results_,
      LocalTaskServiceOptions{.clock = &clock_, .reap_interval = Millis(10)});
  Task t = Submit();
  Collector events;
  auto sub = service_->Subscribe("acme", t.id, 0, events.Callback());
  LeaseOne("worker-1", Millis(1'000));
  clock_.Advance(Millis(1'001));
  auto got = events.Wait(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].type, TaskEventType::kRetrying);
}

TEST_F(LocalTaskServiceTest, CancelOfARunningTaskEndsWhenTheWorkerStops) {
  Task t = Submit();
  Task leased = LeaseOne();
  auto canceled = service_->Cancel("acme", t.id);
  ASSERT_TRUE(canceled.ok());
  EXPECT_EQ(canceled->task.state, TaskState::kRunning);
  EXPECT_TRUE(canceled->task.cancel_requested);
  auto beat = service_->Heartbeat(t.id, leased.fencing, Millis(30'000), TaskProgress{3, 20});
  ASSERT_TRUE(beat.ok());
  EXPECT_TRUE(beat->cancel_requested);
  ASSERT_TRUE(service_->MarkCanceled(t.id, leased.fencing).ok());
  EXPECT_EQ(bus_->TerminalEvent(t.id)->type, TaskEventType::kCanceled);
  auto q = service_->Queue();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->workers_busy, 0);
}

TEST_F(LocalTaskServiceTest, ReleasedTaskIsRetryingAndPermanentFailureIsFailed) {
  Task t = Submit();
  Task first = LeaseOne();
  ASSERT_TRUE(service_->Release(t.id, first.fencing).ok());
  EXPECT_EQ(bus_->History(t.id).back().type, TaskEventType::kRetrying);
  Task second = LeaseOne();
  EXPECT_EQ(second.attempts, 1);  // a release does not count the attempt
  ASSERT_TRUE(
      service_
          ->Fail({t.id, second.fencing, TaskError{"engine_error", "boom"}, FailureKind::kPermanent})
          .ok());
  auto end = bus_->TerminalEvent(t.id);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->type, TaskEventType::kFailed);
  EXPECT_EQ(end->task->error->code, "engine_error");
}

// Workers lease, report progress and complete while tasks are submitted: every task's events,
// as an all-task subscriber sees them, are numbered 1..n without gaps, start with `queued` and
// end with exactly one terminal event.
TEST_F(LocalTaskServiceTest, ConcurrentWorkersKeepEachTasksEventsNumberedAndInOrder) {
  constexpr int kTasks = 40;
  std::mutex mu;
  std::map<std::string, std::vector<TaskEvent>> seen;
  auto all = service_->SubscribeAll("", [&](const TaskEvent& e) {
    std::lock_guard lock(mu);
    seen[e.task_id].push_back(e);
  });
  std::atomic<int> completed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&, w] {
      const std::string id = "worker-" + std::to_string(w);
      while (completed < kTasks) {
        auto leased = service_->Lease(
            {.worker_id = id, .models = {"shapes-32"}, .max_tasks = 2, .wait = Millis(20)});
        if (!leased.ok()) continue;
        for (const LeasedTask& lt : *leased) {
          (void)service_->Progress(lt.task.id, lt.task.fencing, {1, 2}, "");
          if (service_->Complete(lt.task.id, lt.task.fencing, {OutputImage{"png", 32, 32, 1}})
                  .ok()) {
            ++completed;
          }
        }
      }
    });
  }
  for (int i = 0; i < kTasks; ++i) Submit(i % 2 == 0 ? "acme" : "globex");
  for (auto& t : workers) t.join();
  // Let the delivery thread hand over the last events.
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      int ended = 0;
      for (const auto& [id, events] : seen) ended += IsTerminalEvent(events.back().type);
      if (ended == kTasks) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  all.reset();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kTasks));
  for (const auto& [id, events] : seen) {
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.front().type, TaskEventType::kQueued) << id;
    EXPECT_EQ(events.back().type, TaskEventType::kSucceeded) << id;
    for (size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(events[i].seq, static_cast<int64_t>(i) + 1) << id;
      EXPECT_EQ(IsTerminalEvent(events[i].type), i + 1 == events.size()) << id;
    }
  }
}

TEST_F(LocalTaskServiceTest, ASucceededTaskKeepsItsProgressAtEveryStep) {
  Submit();
  auto done = CompleteWith(LeaseOne(), "png");
  ASSERT_TRUE(done.ok());
  auto got = service_->Get("acme", done->id);
  ASSERT_TRUE(got.ok() && got->progress.has_value());
  EXPECT_EQ(*got->progress, (TaskProgress{20, 20}));
}

// A result store whose disk is full: every Put is refused as FsResultStore refuses on ENOSPC.
class FullDiskResultStore final : public ResultStore {
 public:
  explicit FullDiskResultStore(ResultStore& inner) : inner_(inner) {}
  Result<StoredOutput> Put(const std::string& task_id, uint64_t fencing, int index,
                           std::string_view bytes) override {
    if (full) return UnavailableError("write outputs/" + task_id + ": No space left on device");
    return inner_.Put(task_id, fencing, index, bytes);
  }
  Result<OutputBytes> Get(const std::string& task_id, uint64_t fencing, int index) override {
    return inner_.Get(task_id, fencing, index);
  }
  Status DeleteLease(const std::string& task_id, uint64_t fencing) override {
    return inner_.DeleteLease(task_id, fencing);
  }
  Status Delete(const std::string& task_id) override { return inner_.Delete(task_id); }
  std::atomic<bool> full{false};

 private:
  ResultStore& inner_;
};

TEST_F(LocalTaskServiceTest, NotReadyWhileWritesAreRefusedForLackOfSpace) {
  FullDiskResultStore disk(*results_);
  service_.reset();
  service_ = std::make_unique<LocalTaskService>(
      *store_, *bus_, disk,
      LocalTaskServiceOptions{.clock = &clock_, .housekeeping_thread = false});
  EXPECT_TRUE(service_->Ready().ok());
  disk.full = true;
  Submit();
  Task first = LeaseOne();
  EXPECT_EQ(CompleteWith(first, "png").status().code(), StatusCode::kUnavailable);
  Status ready = service_->Ready();
  EXPECT_EQ(ready.code(), StatusCode::kUnavailable);
  EXPECT_NE(ready.message().find("writes are refused"), std::string::npos) << ready.ToString();
  disk.full = false;  // space freed: the next write that succeeds makes it ready again
  ASSERT_TRUE(CompleteWith(first, "png").ok());
  EXPECT_TRUE(service_->Ready().ok());
}

TEST_F(LocalTaskServiceTest, HousekeepingRemovesOutputsNoLeaseOwns) {
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
  ASSERT_TRUE(service_
                  ->Fail(Failure{failed.id, failed_lease.fencing, TaskError{"e", "m"},
                                 FailureKind::kPermanent, Millis(0)})
                  .ok());
  const std::string unknown = NewId("tsk");
  ASSERT_TRUE(results_->Put(unknown, 3, 0, "y").ok());

  clock_.Advance(LocalTaskServiceOptions{}.output_sweep_interval);  // the next sweep is due
  ASSERT_TRUE(service_->Housekeep().ok());
  EXPECT_EQ(results_->Get(t.id, lost.fencing, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->Output("acme", t.id, 0)->bytes, "current image");
  EXPECT_EQ(results_->Get(failed.id, failed_lease.fencing, 0).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(results_->Get(unknown, 3, 0).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "outputs" / unknown));
}

}  // namespace
}  // namespace stipple
