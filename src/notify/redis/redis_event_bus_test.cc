#include "notify/redis/redis_event_bus.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "common/id.h"
#include "notify/event_collector.h"
#include "notify/testing/event_bus_contract.h"
#include "results/fs_result_store.h"
#include "service/service_stack.h"
#include "store/redis/redis_task_store.h"
#include "store/redis/testing/redis_test_server.h"

namespace stipple {
namespace {

using namespace std::chrono_literals;
using T = TaskEventType;
using Seqs = std::vector<std::pair<TaskEventType, int64_t>>;

// The (type, seq) pairs of the first `n` events `c` collects (waiting for them).
Seqs WaitSeqs(EventCollector& c, size_t n) { return TypesAndSeqs(c.Wait(n)); }

// Two gateways' buses on one real redis-server: events published on one reach the other's
// subscribers. Interrupting kills and restarts the server, or cuts every client connection.
class RedisHarness : public EventBusHarness {
 public:
  explicit RedisHarness(const EventBusHarnessOptions& options) {
    auto server = redis::RedisTestServer::Start({.appendfsync = "always"});
    if (!server.ok()) {
      ADD_FAILURE() << server.status().ToString();
      return;
    }
    server_ = std::move(*server);
    for (auto* bus : {&a_, &b_}) {
      *bus = std::make_unique<RedisEventBus>(
          redis::RedisClientOptions{.url = *redis::ParseRedisUrl(server_->url())},
          RedisEventBusOptions{.progress_kept = options.progress_kept,
                               .progress_interval = Millis{0}});
    }
    if (!WaitConnected()) ADD_FAILURE() << "the buses did not connect to " << server_->url();
  }
  EventBus& publisher() override { return *b_; }
  EventBus& subscriber() override { return *a_; }
  Status Interrupt(BusInterruption how) override {
    if (how == BusInterruption::kRestart) return server_->Stop(/*kill=*/true);
    redis::RedisClient admin({.url = *redis::ParseRedisUrl(server_->url())});
    Result<redis::Reply> listeners = admin.Command({"CLIENT", "KILL", "TYPE", "pubsub"});
    if (!listeners.ok()) return listeners.status();
    Result<redis::Reply> others =
        admin.Command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    return others.ok() ? Status::Ok() : others.status();
  }
  Status Resume() override { return server_->running() ? Status::Ok() : server_->Restart(); }
  bool WaitConnected() override { return a_->WaitConnected(20s) && b_->WaitConnected(20s); }

 private:
  std::unique_ptr<redis::RedisTestServer> server_;  // declared first: outlives the buses
  std::unique_ptr<RedisEventBus> a_, b_;
};

std::unique_ptr<EventBusHarness> MakeRedisHarness(const EventBusHarnessOptions& options) {
  return std::make_unique<RedisHarness>(options);
}

INSTANTIATE_EVENT_BUS_CONTRACT(Redis, &MakeRedisHarness);

// ---- what only the Redis bus promises ----

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

TEST_F(RedisEventBusTest, AWaitingTaskCostsNoStreamAndAnEndedOneKeepsItsStateChangesInItsHash) {
  const std::string id = NewId("tsk");
  redis::RedisClient redis({.url = *redis::ParseRedisUrl(server_->url())});
  auto exists = [&](const std::string& key) {
    return redis::ReplyInt(**redis.Command({"EXISTS", "stipple:" + key + id}));
  };
  b_->Publish("acme", ContractEvent(id, T::kQueued));
  EXPECT_EQ(exists("ev:"), 0);
  EventCollector early;
  auto s1 = a_->Subscribe(id, 0, early.Callback());  // queued, rebuilt from the hash
  EXPECT_EQ(WaitSeqs(early, 1), (Seqs{{T::kQueued, 1}}));
  b_->Publish("acme", ContractEvent(id, T::kStarted, 5, 1));
  b_->Publish("acme", ContractEvent(id, T::kProgress, 5));
  EXPECT_EQ(exists("ev:"), 1);
  b_->Publish("acme", ContractEvent(id, T::kSucceeded, 5, 1));
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
  EXPECT_EQ(a_->Publish("acme", ContractEvent(id, T::kQueued)).seq, 1);
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kQueued)).seq, 0);  // only as the first event
  EXPECT_EQ(a_->Publish("acme", ContractEvent(id, T::kStarted, 10, 1)).seq, 2);
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kStarted, 10, 1)).seq, 0);  // the same lease
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kProgress, 9)).seq, 0);     // an older lease
  // Lease 10 was reaped by one process and lease 20 given out by another, whose `started`
  // comes first: the `retrying` of lease 10 goes before it, and the late one is dropped.
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kStarted, 20, 2)).seq, 4);
  EXPECT_EQ(a_->Publish("acme", ContractEvent(id, T::kRetrying, 10, 1)).seq, 0);
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kProgress, 10)).seq, 0);
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kProgress, 20)).seq, 5);
  EXPECT_EQ(a_->Publish("acme", ContractEvent(id, T::kRetrying, 20, 2)).seq, 6);
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kProgress, 20)).seq, 0);  // back in the queue
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kFailed, 20, 2)).seq, 7);
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

TEST_F(RedisEventBusTest, ProgressIsCoalescedPerTaskButPreviewsAndStateEventsAlwaysGo) {
  RedisEventBus coalescing(redis::RedisClientOptions{.url = *redis::ParseRedisUrl(server_->url())},
                           RedisEventBusOptions{.progress_interval = Millis{60'000}});
  const std::string id = NewId("tsk");
  coalescing.Publish("acme", ContractEvent(id, T::kQueued));
  coalescing.Publish("acme", ContractEvent(id, T::kStarted, 5, 1));
  EXPECT_EQ(coalescing.Publish("acme", ContractEvent(id, T::kProgress, 5)).seq,
            3);  // the first goes
  EXPECT_EQ(coalescing.Publish("acme", ContractEvent(id, T::kProgress, 5)).seq,
            0);  // within the interval
  TaskEvent preview = ContractEvent(id, T::kProgress, 5);
  preview.preview_png = "png";
  EXPECT_EQ(coalescing.Publish("acme", preview).seq, 4);  // a preview always goes
  EXPECT_EQ(coalescing.Publish("acme", ContractEvent(id, T::kProgress, 5)).seq, 0);
  EXPECT_EQ(coalescing.Publish("acme", ContractEvent(id, T::kSucceeded, 5, 1)).seq, 5);
  const std::string other = NewId("tsk");  // per task
  coalescing.Publish("acme", ContractEvent(other, T::kQueued));
  coalescing.Publish("acme", ContractEvent(other, T::kStarted, 6, 1));
  EXPECT_EQ(coalescing.Publish("acme", ContractEvent(other, T::kProgress, 6)).seq, 3);
}

// Beyond the contract's Seed: the seeded history counts for the ordering rules of the script.
TEST_F(RedisEventBusTest, SeededLeaseIsNotStartedTwice) {
  const std::string id = NewId("tsk");
  TaskEvent queued = ContractEvent(id, T::kQueued);
  queued.seq = 1;
  TaskEvent started = ContractEvent(id, T::kStarted, 5, 1);
  started.seq = 2;
  ASSERT_TRUE(a_->Seed("acme", {queued, started}));
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kStarted, 5, 1)).seq, 0);  // the seeded lease
  EXPECT_EQ(b_->Publish("acme", ContractEvent(id, T::kStarted, 6, 2)).seq, 4);  // a newer one
}

TEST_F(RedisEventBusTest, SubscribePublishedSeesOnlyThisProcesssPublications) {
  EventCollector mine;
  auto sub = a_->SubscribePublished(mine.Callback());
  const std::string id = NewId("tsk");
  b_->Publish("acme", ContractEvent(id, T::kQueued));
  a_->Publish("acme", ContractEvent(id, T::kStarted, 5, 1));
  a_->Publish("acme",
              ContractEvent(id, T::kStarted, 5, 1));  // dropped by the script: not delivered
  b_->Publish("acme", ContractEvent(id, T::kProgress, 5));
  a_->Publish("acme", ContractEvent(id, T::kSucceeded, 5, 1));
  EXPECT_EQ(WaitSeqs(mine, 2), (Seqs{{T::kStarted, 2}, {T::kSucceeded, 4}}));
}

NewTask ShapesTask() {
  NewTask t;
  t.id = NewId("tsk");
  t.tenant = "acme";
  t.request.prompt = "a red circle";
  t.request.model = "shapes-32";
  t.request.steps = 20;
  t.request_fingerprint = t.id;
  return t;
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
    NewTask t = ShapesTask();
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
    ASSERT_TRUE(gateway_b.Complete(t.id, running.fencing, {GeneratedImage{"png", 32, 32, 1}}).ok());

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

// Two gateways over one Redis: B's task ends in the store, and B dies before publishing the end
// (here: the store alone completes it). The stream and the wait open on A get the end at A's
// next housekeeping pass (its first: the lost-end check is due), numbered after the held events.
TEST_F(RedisEventBusTest, StreamsOnOneGatewayGetAnEndAnotherCommittedButNeverPublished) {
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
    ServiceStack stack_b(**store_b, *b_, **results, options);
    NewTask t = ShapesTask();
    ASSERT_TRUE(stack_a.tasks().Submit(t).ok());
    std::promise<Task> ended;
    auto waiter = stack_a.tasks().WhenTerminal("acme", t.id,
                                               [&](const Task& task) { ended.set_value(task); });
    ASSERT_TRUE(waiter.ok());
    EventCollector events;
    auto sub = stack_a.tasks().Subscribe("acme", t.id, 0, events.Callback());
    ASSERT_TRUE(sub.ok());
    auto leased =
        stack_b.work().Lease({.worker_id = "w-b", .models = {"shapes-32"}, .max_tasks = 1});
    ASSERT_TRUE(leased.ok() && leased->size() == 1);
    EXPECT_EQ(WaitSeqs(events, 2), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}}));
    const Task& running = leased->front().task;
    ASSERT_TRUE((*store_b)->Complete({.task_id = t.id, .fencing = running.fencing}).ok());

    ASSERT_TRUE(stack_a.Housekeep().ok());
    EXPECT_EQ(WaitSeqs(events, 3), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
    std::future<Task> end = ended.get_future();
    ASSERT_EQ(end.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(end.get().state, TaskState::kSucceeded);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stipple
