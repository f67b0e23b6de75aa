#include "store/redis/redis_task_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "common/id.h"
#include "store/redis/testing/redis_test_server.h"
#include "store/testing/task_store_contract.h"
#include "store/testing/transition_table.h"

namespace stipple {
namespace {

using redis::RedisTestServer;

std::unique_ptr<RedisTestServer> StartServer(std::string appendfsync = "everysec") {
  auto server = RedisTestServer::Start({.appendfsync = std::move(appendfsync)});
  if (!server.ok()) {
    ADD_FAILURE() << server.status().ToString();
    return nullptr;
  }
  return std::move(*server);
}

std::unique_ptr<RedisTaskStore> OpenStore(const RedisTestServer& server, const Clock* clock,
                                          std::string prefix = "stipple:") {
  auto store =
      RedisTaskStore::Open({.url = server.url(), .key_prefix = std::move(prefix), .clock = clock});
  if (!store.ok()) {
    ADD_FAILURE() << store.status().ToString();
    return nullptr;
  }
  return std::move(*store);
}

class RedisHarness : public TaskStoreHarness {
 public:
  RedisHarness() : server_(StartServer()) {
    if (server_) store_ = OpenStore(*server_, &clock);
  }
  TaskStore& store() override { return *store_; }

 private:
  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<RedisTaskStore> store_;
};

std::unique_ptr<TaskStoreHarness> MakeRedisHarness() { return std::make_unique<RedisHarness>(); }

INSTANTIATE_TASK_STORE_CONTRACT(Redis, &MakeRedisHarness);
INSTANTIATE_TRANSITION_TABLE(Redis, &MakeRedisHarness);

// ---- what only the Redis store promises ----

TEST(RedisUrl, ParsesCredentialsHostPortAndDatabase) {
  auto u = redis::ParseRedisUrl("redis://app:s3cret@cache.internal:6380/2");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->user, "app");
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 2);
  EXPECT_EQ(u->Redacted(), "redis://cache.internal:6380/2");
}

TEST(RedisUrl, DefaultsThePortAndDatabase) {
  auto u = redis::ParseRedisUrl("redis://localhost");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
  auto v6 = redis::ParseRedisUrl("redis://:pw@[::1]:7000/1");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  EXPECT_EQ(v6->password, "pw");
  EXPECT_EQ(v6->user, "");
}

TEST(RedisUrl, RejectsOtherSchemesAndBadPorts) {
  EXPECT_EQ(redis::ParseRedisUrl("http://localhost:6379").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(redis::ParseRedisUrl("redis://localhost:99999").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(redis::ParseRedisUrl("redis://:6379").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(redis::ParseRedisUrl("redis://h:1/x").status().code(), StatusCode::kInvalidArgument);
}

TEST(RedisTaskStore, OpenOfAnUnreachableServerIsUnavailable) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  std::string url = server->url();
  ASSERT_TRUE(server->Stop(/*kill=*/true).ok());
  auto store = RedisTaskStore::Open({.url = url});
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
}

TEST(RedisTaskStore, TwoStoresOnOneRedisShareTasksAndQueue) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto gateway_a = OpenStore(*server, &clock);
  auto gateway_b = OpenStore(*server, &clock);
  std::thread producer([&] {
    std::this_thread::sleep_for(Millis(50));
    ASSERT_TRUE(gateway_a->Enqueue(TestNewTask("acme", TestRequest())).ok());
  });
  auto got = gateway_b->Lease({.worker_id = "w", .models = {"shapes-32"}, .wait = Millis(10'000)});
  producer.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(gateway_a->Get(got->front().task.id)->state, TaskState::kRunning);
}

// Gateways reap the same Redis at the same time: each lapsed lease is changed, and reported, by
// exactly one of them.
TEST(RedisTaskStore, ConcurrentReapsOnSeveralGatewaysReportEachLapsedLeaseOnce) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  std::vector<std::unique_ptr<RedisTaskStore>> gateways;
  for (int i = 0; i < 3; ++i) gateways.push_back(OpenStore(*server, &clock));
  constexpr int kTasks = 60;
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(gateways[0]->Enqueue(TestNewTask("acme", TestRequest())).ok());
  }
  auto leased = gateways[1]->Lease({.worker_id = "w",
                                    .models = {"shapes-32"},
                                    .max_tasks = kTasks,
                                    .lease_duration = Millis(1000)});
  ASSERT_EQ(leased->size(), static_cast<size_t>(kTasks));
  clock.Advance(Millis(1001));
  std::atomic<int> requeued{0};
  std::vector<std::thread> reapers;
  for (auto& g : gateways) {
    reapers.emplace_back([&, store = g.get()] {
      auto report = store->Reap();
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      requeued += static_cast<int>(report->requeued.size());
    });
  }
  for (auto& t : reapers) t.join();
  EXPECT_EQ(requeued.load(), kTasks);
  auto again = gateways[2]->Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = 100});
  ASSERT_EQ(again->size(), static_cast<size_t>(kTasks));
  for (const LeasedTask& l : *again) EXPECT_EQ(l.task.attempts, 2);
}

// Workers of two gateways lease one queue at the same time: no task is handed out twice.
TEST(RedisTaskStore, TwoGatewaysLeasingOneQueueNeverHandOutATaskTwice) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  std::vector<std::unique_ptr<RedisTaskStore>> gateways;
  for (int i = 0; i < 2; ++i) gateways.push_back(OpenStore(*server, &clock));
  constexpr int kTasks = 300;
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(gateways[i % 2]->Enqueue(TestNewTask("acme", TestRequest())).ok());
  }
  std::mutex mu;
  std::multiset<std::string> leased;
  std::vector<int> per_gateway(2, 0);
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w) {
    workers.emplace_back([&, w] {
      RedisTaskStore& gateway = *gateways[w % 2];
      while (true) {
        auto got = gateway.Lease(
            {.worker_id = "w" + std::to_string(w), .models = {"shapes-32"}, .max_tasks = 2});
        if (!got.ok() || got->empty()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (const LeasedTask& l : *got) leased.insert(l.task.id);
        per_gateway[w % 2] += static_cast<int>(got->size());
      }
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(leased.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<std::string>(leased.begin(), leased.end()).size(), static_cast<size_t>(kTasks))
      << "a task was leased twice";
  EXPECT_GT(per_gateway[0], 0);
  EXPECT_GT(per_gateway[1], 0);
}

// Clients submit one Idempotency-Key through two gateways at once: one task, every answer names it.
TEST(RedisTaskStore, OneIdempotencyKeyThroughTwoGatewaysAtOnceMakesOneTask) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  std::vector<std::unique_ptr<RedisTaskStore>> gateways;
  for (int i = 0; i < 2; ++i) gateways.push_back(OpenStore(*server, &clock));
  for (int round = 0; round < 20; ++round) {
    constexpr int kClients = 8;
    std::vector<Result<EnqueueResult>> answers(kClients, InternalError("not run"));
    std::barrier start(kClients);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        NewTask nt = TestNewTask("acme", TestRequest());
        nt.idempotency_key = "key-" + std::to_string(round);
        start.arrive_and_wait();
        answers[c] = gateways[c % 2]->Enqueue(nt);
      });
    }
    for (std::thread& t : clients) t.join();
    std::set<std::string> named;
    int created = 0;
    for (const auto& a : answers) {
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      named.insert(a->task.id);
      created += a->created;
    }
    EXPECT_EQ(named.size(), 1u) << "round " << round;
    EXPECT_EQ(created, 1) << "round " << round;
  }
}

// A heartbeat and a cancel racing from two gateways: neither is lost.
TEST(RedisTaskStore, ConcurrentTransitionsOfOneTaskFromTwoGatewaysAreBothApplied) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto a = OpenStore(*server, &clock);
  auto b = OpenStore(*server, &clock);
  ASSERT_TRUE(a->Enqueue(TestNewTask("acme", TestRequest())).ok());
  Task t = a->Lease({.worker_id = "w", .models = {"shapes-32"}})->front().task;
  std::thread heartbeats([&] {
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(a->Heartbeat(t.id, t.fencing, Millis(30'000), TaskProgress{i, 50}).ok());
    }
  });
  ASSERT_TRUE(b->Cancel(t.id).ok());
  heartbeats.join();
  auto got = a->Get(t.id);
  EXPECT_TRUE(got->cancel_requested);
  EXPECT_EQ(got->progress, (TaskProgress{49, 50}));
}

// The gateway that leased a task remembers its record; a change made through another gateway
// since then must still be seen there.
TEST(RedisTaskStore, HeartbeatOnTheLeasingGatewaySeesACancelMadeOnAnother) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto a = OpenStore(*server, &clock);
  auto b = OpenStore(*server, &clock);
  ASSERT_TRUE(a->Enqueue(TestNewTask("acme", TestRequest())).ok());
  Task t = a->Lease({.worker_id = "w", .models = {"shapes-32"}})->front().task;
  ASSERT_TRUE(b->Cancel(t.id).ok());
  auto reply = a->Heartbeat(t.id, t.fencing, Millis(30'000), std::nullopt);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_TRUE(reply->cancel_requested);
}

// The leasing gateway remembers the first lease; a worker that holds the task's newer lease
// (taken through another gateway) and reports to it is accepted, and the old lease is refused.
TEST(RedisTaskStore, NewerLeaseTakenOnAnotherGatewayCompletesOnTheOneThatLeasedFirst) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto a = OpenStore(*server, &clock);
  auto b = OpenStore(*server, &clock);
  ASSERT_TRUE(a->Enqueue(TestNewTask("acme", TestRequest())).ok());
  Task first =
      a->Lease({.worker_id = "w1", .models = {"shapes-32"}, .lease_duration = Millis(1000)})
          ->front()
          .task;
  clock.Advance(Millis(1001));
  ASSERT_EQ(b->Reap()->requeued.size(), 1u);
  Task second = b->Lease({.worker_id = "w2", .models = {"shapes-32"}})->front().task;
  ASSERT_GT(second.fencing, first.fencing);

  Completion stale{first.id, first.fencing, {}, clock.Now()};
  EXPECT_EQ(a->Complete(stale).status().code(), StatusCode::kAborted);
  Completion current{second.id, second.fencing, {}, clock.Now()};
  auto done = a->Complete(current);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  EXPECT_EQ(b->Get(second.id)->state, TaskState::kSucceeded);
}

TEST(RedisTaskStore, KeyPrefixesKeepStoresApart) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto blue = OpenStore(*server, &clock, "blue:");
  auto green = OpenStore(*server, &clock, "green:");
  ASSERT_TRUE(blue->Enqueue(TestNewTask("acme", TestRequest())).ok());
  EXPECT_TRUE(green->List({})->tasks.empty());
  EXPECT_TRUE(green->Lease({.worker_id = "w", .models = {"shapes-32"}})->empty());
  EXPECT_EQ(blue->List({})->tasks.size(), 1u);
}

TEST(RedisTaskStore, TerminalTaskIsPurgedAfterItsRetention) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = RedisTaskStore::Open(
      {.url = server->url(), .clock = &clock, .task_retention = Millis(60'000)});
  ASSERT_TRUE(store.ok());
  auto done = (*store)->Enqueue(TestNewTask("acme", TestRequest()));
  ASSERT_TRUE((*store)->Cancel(done->task.id).ok());
  clock.Advance(Millis(59'999));
  ASSERT_TRUE((*store)->Reap().ok());
  EXPECT_TRUE((*store)->Get(done->task.id).ok());
  clock.Advance(Millis(1));
  ASSERT_TRUE((*store)->Reap().ok());
  EXPECT_EQ((*store)->Get(done->task.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE((*store)->List({.tenant = "acme"})->tasks.empty());
}

TEST(RedisTaskStore, RecordWithUnexpiredOutputsIsKeptUntilTheyExpire) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store =
      RedisTaskStore::Open({.url = server->url(), .clock = &clock, .task_retention = Millis(1000)});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Enqueue(TestNewTask("acme", TestRequest())).ok());
  auto leased = (*store)->Lease({.worker_id = "w", .models = {"shapes-32"}});
  const Task& t = leased->front().task;
  ASSERT_TRUE((*store)->Complete(CompletionFor(t, clock.Now() + Millis(10'000))).ok());
  clock.Advance(Millis(5000));
  ASSERT_TRUE((*store)->Reap().ok());
  EXPECT_TRUE((*store)->Get(t.id).ok());
  clock.Advance(Millis(5000));
  EXPECT_EQ((*store)->Reap()->outputs_expired.size(), 1u);
  ASSERT_TRUE((*store)->Reap().ok());
  EXPECT_EQ((*store)->Get(t.id).status().code(), StatusCode::kNotFound);
}

// With appendfsync always, every acknowledged call is in the AOF before its reply: a SIGKILL of
// redis-server loses none of them.
TEST(RedisTaskStore, NothingAcknowledgedIsLostWhenRedisIsKilledAndRestarted) {
  auto server = StartServer("always");
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  std::vector<std::string> queued, succeeded;
  for (int i = 0; i < 20; ++i) {
    auto r = store->Enqueue(TestNewTask("acme", TestRequest()));
    ASSERT_TRUE(r.ok());
    queued.push_back(r->task.id);
  }
  auto leased = store->Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = 5});
  ASSERT_EQ(leased->size(), 5u);
  for (const LeasedTask& l : *leased) {
    ASSERT_TRUE(store->Complete(CompletionFor(l.task, clock.Now() + Millis(60'000))).ok());
    succeeded.push_back(l.task.id);
    queued.erase(std::find(queued.begin(), queued.end(), l.task.id));
  }
  ASSERT_TRUE(server->Stop(/*kill=*/true).ok());
  ASSERT_TRUE(server->Restart().ok());
  for (const std::string& id : succeeded) {
    auto got = store->Get(id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->state, TaskState::kSucceeded);
    EXPECT_EQ(got->outputs.size(), 1u);
  }
  for (const std::string& id : queued) EXPECT_EQ(store->Get(id)->state, TaskState::kQueued);
  auto rest = store->Lease({.worker_id = "w", .models = {"shapes-32"}, .max_tasks = 100});
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->size(), queued.size());
  for (const LeasedTask& l : *rest) {
    for (const LeasedTask& before : *leased) EXPECT_GT(l.task.fencing, before.task.fencing);
  }
}

// Redis down: calls fail with UNAVAILABLE (no hang), and work again by themselves once it is back.
TEST(RedisTaskStore, CallsAreUnavailableWhileRedisIsDownAndRecoverAfterwards) {
  auto server = StartServer("always");
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  auto queued = store->Enqueue(TestNewTask("acme", TestRequest()));
  ASSERT_TRUE(queued.ok());
  ASSERT_TRUE(server->Stop(/*kill=*/true).ok());

  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(store->Get(queued->task.id).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->Enqueue(TestNewTask("acme", TestRequest())).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(store->Lease({.worker_id = "w", .models = {"shapes-32"}, .wait = Millis(1000)})
                .status()
                .code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(store->Reap().status().code(), StatusCode::kUnavailable);
  std::printf(
      "four calls with Redis down answered UNAVAILABLE in %.1f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());

  ASSERT_TRUE(server->Restart().ok());
  auto got = store->Get(queued->task.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->state, TaskState::kQueued);
  EXPECT_TRUE(store->Enqueue(TestNewTask("acme", TestRequest())).ok());
}

// A Lease blocked waiting for work when Redis dies answers UNAVAILABLE instead of hanging.
TEST(RedisTaskStore, WaitingLeaseIsUnavailableWhenRedisDies) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  std::thread killer([&] {
    std::this_thread::sleep_for(Millis(100));
    ASSERT_TRUE(server->Stop(/*kill=*/true).ok());
  });
  auto got = store->Lease({.worker_id = "w", .models = {"shapes-32"}, .wait = Millis(60'000)});
  killer.join();
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
}

// ---- costs that do not grow with the backlog ----

// Commands Redis has run (scripts' redis.call included), from INFO commandstats; INFO itself
// left out.
int64_t CommandsRun(redis::RedisClient& client) {
  auto r = client.Command({"INFO", "commandstats"});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return 0;
  std::string text = redis::ReplyString(**r);
  int64_t total = 0;
  size_t at = 0;
  while ((at = text.find("cmdstat_", at)) != std::string::npos) {
    size_t colon = text.find(':', at);
    size_t calls = text.find("calls=", colon);
    if (colon == std::string::npos || calls == std::string::npos) break;
    if (text.compare(at, colon - at, "cmdstat_info") != 0) {
      total += std::stoll(text.substr(calls + 6));
    }
    at = colon;
  }
  return total;
}

TEST(RedisTaskStore, SubmitAndStatusReadRunAsManyCommandsWhateverTheBacklog) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  redis::RedisClient stats({.url = *redis::ParseRedisUrl(server->url())});
  auto limited = [] {
    NewTask nt = TestNewTask("acme", TestRequest());
    nt.max_queued = 1'000'000'000;  // admission runs but never refuses here
    nt.tenant_max_queued = 1'000'000'000;
    return nt;
  };
  // Commands per Enqueue and per Get of the task at the tail of the queue.
  auto measure = [&](int64_t& submit, int64_t& status) {
    std::string tail;
    int64_t before = CommandsRun(stats);
    for (int i = 0; i < 10; ++i) tail = store->Enqueue(limited())->task.id;
    submit = CommandsRun(stats) - before;
    before = CommandsRun(stats);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Get(tail)->queue_position.has_value());
    status = CommandsRun(stats) - before;
  };
  // Warm up: the scripts are loaded into Redis by their first call.
  ASSERT_TRUE(store->Get(store->Enqueue(limited())->task.id).ok());
  int64_t submit_empty = 0, status_empty = 0;
  measure(submit_empty, status_empty);

  constexpr int kBacklog = 10'000;
  std::atomic<int> next{0};
  std::vector<std::thread> fill;
  for (int t = 0; t < 16; ++t) {
    fill.emplace_back([&] {
      while (next.fetch_add(1) < kBacklog) {
        ASSERT_TRUE(store->Enqueue(TestNewTask("bulk", TestRequest())).ok());
      }
    });
  }
  for (auto& t : fill) t.join();
  int64_t submit_full = 0, status_full = 0;
  measure(submit_full, status_full);
  EXPECT_GT(submit_empty, 0);
  EXPECT_EQ(submit_full, submit_empty);
  EXPECT_EQ(status_full, status_empty);
}

}  // namespace
}  // namespace stipple
