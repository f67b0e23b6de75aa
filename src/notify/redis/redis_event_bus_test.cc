#include "notify/redis/redis_event_bus.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/id.h"
#include "notify/event_collector.h"
#include "results/fs_result_store.h"
#include "service/service_stack.h"
#include "store/redis/redis_task_store.h"
#include "store/redis/redis_test_server.h"

namespace stipple {
namespace {

using namespace std::chrono_literals;
using T = TaskEventType;
using Seqs = std::vector<std::pair<TaskEventType, int64_t>>;

// The (type, seq) pairs of the first `n` events `c` collects (waiting for them).
Seqs WaitSeqs(EventCollector& c, size_t n) { return TypesAndSeqs(c.Wait(n)); }

TaskEvent Event(const std::string& task_id, TaskEventType type, uint64_t fencing = 0,
                int attempt = 0) {
  TaskEvent e;
  e.task_id = task_id;
  e.type = type;
  e.time = FromUnixMillis(1'800'000'000'000);
  e.fencing = fencing;
  e.attempt = attempt;
  if (type == T::kProgress) e.progress = TaskProgress{3, 20};
  if (IsTerminalEvent(type)) {
    Task task;
    task.id = task_id;
    task.tenant = "acme";
    task.state = TaskState::kSucceeded;
    task.created_at = e.time;
    task.request.model = "shapes-32";
    task.request.prompt = "a red circle";
    task.attempts = attempt;
    task.fencing = fencing;
    e.task = task;
  }
  return e;
}

class RedisEventBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = redis::RedisTestServer::Start({.appendfsync = "always"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    a_ = MakeBus();
    b_ = MakeBus();
    ASSERT_TRUE(a_->WaitConnected(10s));
    ASSERT_TRUE(b_->WaitConnected(10s));
  }
  std::unique_ptr<RedisEventBus> MakeBus(int progress_kept = 32) {
    return std::make_unique<RedisEventBus>(
        redis::RedisClientOptions{.url = *redis::ParseRedisUrl(server_->url())},
        RedisEventBusOptions{.progress_kept = progress_kept, .progress_interval = Millis{0}});
  }
  std::unique_ptr<redis::RedisTestServer> server_;
  std::unique_ptr<RedisEventBus> a_;  // two gateways' buses on one Redis
  std::unique_ptr<RedisEventBus> b_;
};

TEST_F(RedisEventBusTest, PublishBatchNumbersEachEventInOnePipelineAndDeliversThem) {
  const std::string x = NewId("tsk"), y = NewId("tsk");
  EventCollector got;
  auto sub = a_->Subscribe(y, 0, got.Callback());
  EXPECT_EQ(b_->Publish("acme", Event(x, T::kQueued)).seq, 1);
  std::vector<TaskEvent> out = b_->PublishBatch({{"acme", Event(x, T::kStarted, 7, 1)},
                                                 {"acme", Event(y, T::kQueued)},
                                                 {"acme", Event(x, T::kProgress, 7)},
                                                 {"acme", Event(y, T::kStarted, 8, 1)}});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].seq, 2);
  EXPECT_EQ(out[1].seq, 1);
  EXPECT_EQ(out[2].seq, 3);
  EXPECT_EQ(out[3].seq, 2);
  EXPECT_EQ(WaitSeqs(got, 2), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}}));
}

TEST_F(RedisEventBusTest, SubscriberOnOneBusGetsEventsPublishedOnAnotherInOrder) {
  const std::string id = NewId("tsk");
  EventCollector got;
  auto sub = a_->Subscribe(id, 0, got.Callback());
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kQueued)).seq, 1);
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kStarted, 7, 1)).seq, 2);
  EXPECT_EQ(a_->Publish("acme", Event(id, T::kProgress, 7)).seq, 3);
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kSucceeded, 7, 1)).seq, 4);
  auto events = got.Wait(4);
  EXPECT_EQ(WaitSeqs(got, 4),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kProgress, 3}, {T::kSucceeded, 4}}));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].attempt, 1);
  EXPECT_EQ(events[2].progress, (TaskProgress{3, 20}));
  ASSERT_TRUE(events[3].task.has_value());
  EXPECT_EQ(events[3].task->request.prompt, "a red circle");
  EXPECT_EQ(events[3].task->state, TaskState::kSucceeded);
}

TEST_F(RedisEventBusTest, LateSubscriberGetsHeldEventsAfterItsSeqThenLiveOnes) {
  const std::string id = NewId("tsk");
  b_->Publish("acme", Event(id, T::kQueued));
  b_->Publish("acme", Event(id, T::kStarted, 7, 1));
  b_->Publish("acme", Event(id, T::kProgress, 7));
  EventCollector got;
  auto sub = a_->Subscribe(id, 2, got.Callback());  // Last-Event-ID: 2
  b_->Publish("acme", Event(id, T::kSucceeded, 7, 1));
  EXPECT_EQ(WaitSeqs(got, 2), (Seqs{{T::kProgress, 3}, {T::kSucceeded, 4}}));
}

TEST_F(RedisEventBusTest, TerminalEventIsReplayedAndKnownOnEveryBus) {
  const std::string id = NewId("tsk");
  b_->Publish("acme", Event(id, T::kQueued));
  b_->Publish("acme", Event(id, T::kSucceeded));
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kProgress)).seq, 0);  // nothing after the end
  auto end = a_->TerminalEvent(id);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->seq, 2);
  EXPECT_EQ(end->type, T::kSucceeded);
  EventCollector got;
  auto sub = a_->Subscribe(id, 99, got.Callback());
  EXPECT_EQ(WaitSeqs(got, 1), (Seqs{{T::kSucceeded, 2}}));
  EXPECT_FALSE(a_->TerminalEvent(NewId("tsk")).has_value());
}

TEST_F(RedisEventBusTest, AWaitingTaskCostsNoStreamAndAnEndedOneKeepsItsStateChangesInItsHash) {
  const std::string id = NewId("tsk");
  redis::RedisClient redis({.url = *redis::ParseRedisUrl(server_->url())});
  auto exists = [&](const std::string& key) {
    return redis::ReplyInt(**redis.Command({"EXISTS", "stipple:" + key + id}));
  };
  b_->Publish("acme", Event(id, T::kQueued));
  EXPECT_EQ(exists("ev:"), 0);
  EventCollector early;
  auto s1 = a_->Subscribe(id, 0, early.Callback());  // queued, rebuilt from the hash
  EXPECT_EQ(WaitSeqs(early, 1), (Seqs{{T::kQueued, 1}}));
  b_->Publish("acme", Event(id, T::kStarted, 5, 1));
  b_->Publish("acme", Event(id, T::kProgress, 5));
  EXPECT_EQ(exists("ev:"), 1);
  b_->Publish("acme", Event(id, T::kSucceeded, 5, 1));
  EXPECT_EQ(exists("ev:"), 0);
  EXPECT_EQ(exists("evp:"), 0);
  EXPECT_EQ(WaitSeqs(early, 4),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kProgress, 3}, {T::kSucceeded, 4}}));
  EventCollector late;  // every state change, never the progress
  auto s2 = b_->Subscribe(id, 0, late.Callback());
  EXPECT_EQ(WaitSeqs(late, 3), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 4}}));
  EventCollector after_start;
  auto s3 = b_->Subscribe(id, 2, after_start.Callback());
  EXPECT_EQ(WaitSeqs(after_start, 1), (Seqs{{T::kSucceeded, 4}}));
  EXPECT_GT(redis::ReplyInt(**redis.Command({"PTTL", "stipple:evm:" + id})), 0);
}

TEST_F(RedisEventBusTest, PublicationsOfSeveralProcessesFollowOneOrder) {
  const std::string id = NewId("tsk");
  EventCollector got;
  auto sub = a_->Subscribe(id, 0, got.Callback());
  EXPECT_EQ(a_->Publish("acme", Event(id, T::kQueued)).seq, 1);
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kQueued)).seq, 0);  // only as the first event
  EXPECT_EQ(a_->Publish("acme", Event(id, T::kStarted, 10, 1)).seq, 2);
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kStarted, 10, 1)).seq, 0);  // the same lease
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kProgress, 9)).seq, 0);     // an older lease
  // Lease 10 was reaped by one process and lease 20 given out by another, whose `started`
  // comes first: the `retrying` of lease 10 goes before it, and the late one is dropped.
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kStarted, 20, 2)).seq, 4);
  EXPECT_EQ(a_->Publish("acme", Event(id, T::kRetrying, 10, 1)).seq, 0);
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kProgress, 10)).seq, 0);
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kProgress, 20)).seq, 5);
  EXPECT_EQ(a_->Publish("acme", Event(id, T::kRetrying, 20, 2)).seq, 6);
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kProgress, 20)).seq, 0);  // back in the queue
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kFailed, 20, 2)).seq, 7);
  auto events = got.Wait(7);
  EXPECT_EQ(WaitSeqs(got, 7), (Seqs{{T::kQueued, 1},
                                    {T::kStarted, 2},
                                    {T::kRetrying, 3},
                                    {T::kStarted, 4},
                                    {T::kProgress, 5},
                                    {T::kRetrying, 6},
                                    {T::kFailed, 7}}));
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[2].attempt, 1);  // the inserted `retrying` is the lost lease's
  EXPECT_EQ(events[2].fencing, 10u);
}

TEST_F(RedisEventBusTest, ProgressIsThinnedInRedisButStateEventsAreKept) {
  auto thin = MakeBus(/*progress_kept=*/2);
  const std::string id = NewId("tsk");
  thin->Publish("acme", Event(id, T::kQueued));
  thin->Publish("acme", Event(id, T::kStarted, 5, 1));
  for (int i = 0; i < 5; ++i) thin->Publish("acme", Event(id, T::kProgress, 5));
  EventCollector got;
  auto sub = a_->Subscribe(id, 0, got.Callback());
  EXPECT_EQ(WaitSeqs(got, 4),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kProgress, 6}, {T::kProgress, 7}}));
}

TEST_F(RedisEventBusTest, ProgressIsCoalescedPerTaskButPreviewsAndStateEventsAlwaysGo) {
  RedisEventBus coalescing(redis::RedisClientOptions{.url = *redis::ParseRedisUrl(server_->url())},
                           RedisEventBusOptions{.progress_interval = Millis{60'000}});
  const std::string id = NewId("tsk");
  coalescing.Publish("acme", Event(id, T::kQueued));
  coalescing.Publish("acme", Event(id, T::kStarted, 5, 1));
  EXPECT_EQ(coalescing.Publish("acme", Event(id, T::kProgress, 5)).seq, 3);  // the first goes
  EXPECT_EQ(coalescing.Publish("acme", Event(id, T::kProgress, 5)).seq, 0);  // within the interval
  TaskEvent preview = Event(id, T::kProgress, 5);
  preview.preview_png = "png";
  EXPECT_EQ(coalescing.Publish("acme", preview).seq, 4);  // a preview always goes
  EXPECT_EQ(coalescing.Publish("acme", Event(id, T::kProgress, 5)).seq, 0);
  EXPECT_EQ(coalescing.Publish("acme", Event(id, T::kSucceeded, 5, 1)).seq, 5);
  const std::string other = NewId("tsk");  // per task
  coalescing.Publish("acme", Event(other, T::kQueued));
  coalescing.Publish("acme", Event(other, T::kStarted, 6, 1));
  EXPECT_EQ(coalescing.Publish("acme", Event(other, T::kProgress, 6)).seq, 3);
}

TEST_F(RedisEventBusTest, SeedGivesAnUnknownTaskAHistoryOnce) {
  const std::string id = NewId("tsk");
  TaskEvent queued = Event(id, T::kQueued);
  queued.seq = 1;
  TaskEvent started = Event(id, T::kStarted, 5, 1);
  started.seq = 2;
  EXPECT_TRUE(a_->Seed("acme", {queued, started}));
  EXPECT_FALSE(b_->Seed("acme", {queued}));
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kStarted, 5, 1)).seq, 0);  // seeded lease
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kProgress, 5)).seq, 3);
  EventCollector got;
  auto sub = b_->Subscribe(id, 0, got.Callback());
  EXPECT_EQ(WaitSeqs(got, 3), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kProgress, 3}}));
}

TEST_F(RedisEventBusTest, AllTaskSubscribersSeeEveryProcesssEventsOfTheirTenant) {
  EventCollector acme, everyone;
  auto s1 = a_->SubscribeAll("acme", acme.Callback());
  auto s2 = a_->SubscribeAll("", everyone.Callback());
  b_->Publish("acme", Event(NewId("tsk"), T::kQueued));
  b_->Publish("other", Event(NewId("tsk"), T::kQueued));
  EXPECT_EQ(everyone.Wait(2).size(), 2u);
  EXPECT_EQ(acme.Wait(1).size(), 1u);
}

TEST_F(RedisEventBusTest, SubscribePublishedSeesOnlyThisProcesssPublications) {
  EventCollector mine;
  auto sub = a_->SubscribePublished(mine.Callback());
  const std::string id = NewId("tsk");
  b_->Publish("acme", Event(id, T::kQueued));
  a_->Publish("acme", Event(id, T::kStarted, 5, 1));
  a_->Publish("acme", Event(id, T::kStarted, 5, 1));  // dropped by the script: not delivered
  b_->Publish("acme", Event(id, T::kProgress, 5));
  a_->Publish("acme", Event(id, T::kSucceeded, 5, 1));
  EXPECT_EQ(WaitSeqs(mine, 2), (Seqs{{T::kStarted, 2}, {T::kSucceeded, 4}}));
}

TEST_F(RedisEventBusTest, ListenerReconnectsAfterARedisRestartAndCatchesUp) {
  const std::string id = NewId("tsk");
  EventCollector got;
  auto sub = a_->Subscribe(id, 0, got.Callback());
  b_->Publish("acme", Event(id, T::kQueued));
  ASSERT_EQ(got.Wait(1).size(), 1u);
  ASSERT_TRUE(server_->Stop(/*kill=*/true).ok());
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kStarted, 5, 1)).seq, 0);  // Redis is down
  ASSERT_TRUE(server_->Restart().ok());
  // Published before a_'s listener is back: read back from the stream when it reconnects.
  EXPECT_EQ(b_->Publish("acme", Event(id, T::kStarted, 5, 1)).seq, 2);
  ASSERT_TRUE(a_->WaitConnected(20s));
  b_->Publish("acme", Event(id, T::kSucceeded, 5, 1));
  EXPECT_EQ(WaitSeqs(got, 3), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
}

// Two task services (two gateways) over one Redis: a client waits on A while the worker reports
// to B, and A serves the preview B received.
TEST_F(RedisEventBusTest, WaiterOnOneGatewaySeesATaskRunOnAnother) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("stipple-events-" + NewId("tmp"));
  auto results = FsResultStore::Open({.dir = dir.string(), .sync = false});
  ASSERT_TRUE(results.ok());
  auto store_a = RedisTaskStore::Open({.url = server_->url()});
  auto store_b = RedisTaskStore::Open({.url = server_->url()});
  ASSERT_TRUE(store_a.ok() && store_b.ok());
  ServiceOptions options{.housekeeping_thread = false};
  {
    ServiceStack stack_a(**store_a, *a_, **results, options);
    TaskService& gateway_a = stack_a.tasks();
    ServiceStack stack_b(**store_b, *b_, **results, options);
    WorkSource& gateway_b = stack_b.work();
    NewTask t;
    t.id = NewId("tsk");
    t.tenant = "acme";
    t.request.prompt = "a red circle";
    t.request.model = "shapes-32";
    t.request.steps = 20;
    t.request_fingerprint = t.id;
    ASSERT_TRUE(gateway_a.Submit(t).ok());

    std::mutex mu;
    std::condition_variable cv;
    std::optional<Task> ended;
    auto waiter = gateway_a.WhenTerminal("acme", t.id, [&](const Task& task) {
      std::lock_guard lock(mu);
      ended = task;
      cv.notify_all();
    });
    ASSERT_TRUE(waiter.ok());
    EventCollector events;
    auto sub = gateway_a.Subscribe("acme", t.id, 0, events.Callback());
    ASSERT_TRUE(sub.ok());

    auto leased = gateway_b.Lease({.worker_id = "w-b", .models = {"shapes-32"}, .max_tasks = 1});
    ASSERT_TRUE(leased.ok() && leased->size() == 1);
    const Task& running = leased->front().task;
    ASSERT_TRUE(gateway_b.Progress(t.id, running.fencing, {10, 20}, "preview").ok());
    // The preview reported to B is served by A (GET /v1/tasks/{id}/preview on any gateway).
    bool previewed = false;
    for (int i = 0; i < 1000 && !previewed; ++i) {
      auto p = gateway_a.Preview("acme", t.id);
      previewed = p.ok() && *p == "preview";
      if (!previewed) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(previewed) << "gateway A never served the preview reported to B";
    ASSERT_TRUE(gateway_b.Complete(t.id, running.fencing, {OutputImage{"png", 32, 32, 1}}).ok());

    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return ended.has_value(); }));
    EXPECT_EQ(ended->state, TaskState::kSucceeded);
    lock.unlock();
    auto got = events.Wait(4);
    EXPECT_EQ(WaitSeqs(events, 4),
              (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kProgress, 3}, {T::kSucceeded, 4}}));
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[2].preview_png, "preview");
    EXPECT_EQ(got[1].worker_id, "w-b");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stipple
