#include "webhook/redis/redis_outbox.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/id.h"
#include "store/redis/redis_task_store.h"
#include "store/redis/testing/redis_test_server.h"
#include "webhook/dispatcher.h"
#include "webhook/testing/outbox_contract.h"
#include "webhook/testing/webhook_test_fixture.h"
#include "webhook/webhook_receiver.h"

namespace stipple::webhook {
namespace {

using redis::RedisTestServer;
using testing::RequestWithWebhook;

std::unique_ptr<RedisTestServer> StartServer(std::string appendfsync = "everysec") {
  auto server = RedisTestServer::Start({.appendfsync = std::move(appendfsync)});
  if (!server.ok()) {
    ADD_FAILURE() << server.status().ToString();
    return nullptr;
  }
  return std::move(*server);
}

std::unique_ptr<RedisTaskStore> OpenStore(const RedisTestServer& server, const Clock* clock) {
  auto store = RedisTaskStore::Open({.url = server.url(), .clock = clock});
  if (!store.ok()) {
    ADD_FAILURE() << store.status().ToString();
    return nullptr;
  }
  return std::move(*store);
}

std::unique_ptr<RedisWebhookOutbox> OpenOutbox(const RedisTestServer& server, const Clock* clock,
                                               Millis claim_lease = Millis(30'000)) {
  auto outbox =
      RedisWebhookOutbox::Open({.url = server.url(), .clock = clock, .claim_lease = claim_lease});
  if (!outbox.ok()) {
    ADD_FAILURE() << outbox.status().ToString();
    return nullptr;
  }
  return std::move(*outbox);
}

class RedisOutboxHarness : public WebhookOutboxHarness {
 public:
  RedisOutboxHarness() : server_(StartServer()) {
    if (!server_) return;
    store_ = OpenStore(*server_, &clock);
    outbox_ = OpenOutbox(*server_, &clock);
  }
  TaskStore& store() override { return *store_; }
  WebhookOutbox& outbox() override { return *outbox_; }
  void Reopen() override {
    outbox_.reset();
    outbox_ = OpenOutbox(*server_, &clock);
  }

 private:
  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<RedisTaskStore> store_;
  std::unique_ptr<RedisWebhookOutbox> outbox_;
};

std::unique_ptr<WebhookOutboxHarness> MakeRedisHarness() {
  return std::make_unique<RedisOutboxHarness>();
}

INSTANTIATE_WEBHOOK_OUTBOX_CONTRACT(Redis, &MakeRedisHarness);

// ---- what only the Redis outbox promises ----

constexpr char kUrl[] = "http://receiver.example:8080/hook";

// Submits a task with a webhook, leases and completes it through `store`.
std::string CompleteOne(TaskStore& store, const Clock& clock, const std::string& url,
                        std::vector<std::string> events = {"completed"}) {
  NewTask nt{NewId("tsk"), "t1", RequestWithWebhook(url, std::move(events))};
  EXPECT_TRUE(store.Enqueue(nt).ok());
  auto leased = store.Lease({.worker_id = "w1", .models = {"shapes-32"}});
  EXPECT_TRUE(leased.ok() && leased->size() == 1);
  if (!leased.ok() || leased->empty()) return nt.id;
  auto done = store.Complete(Completion{nt.id, leased->front().task.fencing, {}, clock.Now()});
  EXPECT_TRUE(done.ok()) << done.status().ToString();
  return nt.id;
}

// Waits (real time) until every delivery of `id` has ended.
std::vector<DeliveryRecord> Settled(WebhookOutbox& outbox, const std::string& id) {
  for (int i = 0; i < 1200; ++i) {
    auto records = outbox.ForTask(id);
    bool done = records.ok() && !records->empty();
    for (const auto& r : *records) done = done && r.state != DeliveryState::kPending;
    if (done) return *records;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "deliveries of " << id << " did not settle";
  return {};
}

WebhookDispatcherOptions QuickDispatch() {
  WebhookDispatcherOptions o;
  o.secrets = {GenerateSecret()};
  o.allow_private = true;  // the receiver is on loopback
  o.retry_schedule = {Millis(50), Millis(50), Millis(50)};
  o.timeout = Millis(5000);
  return o;
}

TEST(RedisWebhookOutbox, ACompletionsDeliverySurvivesRedisKilledRightAfterAndIsDelivered) {
  auto server = StartServer("always");
  ASSERT_TRUE(server);
  auto store = OpenStore(*server, SystemClock::Get());
  WebhookReceiver receiver;
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  // No outbox runs yet: the completion alone (one script) must have recorded the delivery.
  const std::string id = CompleteOne(*store, *SystemClock::Get(), url);
  ASSERT_TRUE(server->Stop(/*kill=*/true).ok());
  ASSERT_TRUE(server->Restart().ok());
  auto outbox = OpenOutbox(*server, SystemClock::Get());
  ASSERT_TRUE(outbox);
  WebhookDispatcher dispatcher(*outbox, QuickDispatch());
  ASSERT_TRUE(dispatcher.Start().ok());
  ASSERT_TRUE(receiver.WaitFor(1));
  auto records = Settled(*outbox, id);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].state, DeliveryState::kDelivered);
  EXPECT_EQ(receiver.requests().front().headers["webhook-id"], records[0].delivery.id);
  EXPECT_NE(receiver.requests().front().body.find("\"task.succeeded\""), std::string::npos);
}

TEST(RedisWebhookOutbox, TwoOutboxesOnOneRedisNeverHandOutTheSameDeliveryAtOnce) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  constexpr int kTasks = 60;
  constexpr size_t kDeliveries = 2 * static_cast<size_t>(kTasks);  // started, succeeded
  for (int i = 0; i < kTasks; ++i) CompleteOne(*store, clock, kUrl, {"started", "completed"});
  auto a = OpenOutbox(*server, &clock);
  auto b = OpenOutbox(*server, &clock);
  ASSERT_TRUE(a && b);
  Mutex mu;
  std::set<std::string> in_flight GUARDED_BY(mu);
  std::map<std::string, int> recorded GUARDED_BY(mu);                    // delivery id → times
  std::map<std::string, std::vector<std::string>> order GUARDED_BY(mu);  // task → events
  std::atomic<int> overlaps{0};
  auto run = [&](RedisWebhookOutbox& outbox) {
    for (int round = 0; round < 2000; ++round) {
      auto claimed = outbox.Claim(clock.Now(), 7, {});
      ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
      {
        MutexLock lock(mu);
        if (claimed->empty() && recorded.size() == kDeliveries) return;
        for (const WebhookDelivery& d : *claimed) {
          if (!in_flight.insert(d.id).second) ++overlaps;
          order[d.task_id].push_back(d.event);
        }
      }
      std::vector<DeliveryOutcome> outcomes;
      for (const WebhookDelivery& d : *claimed) {
        outcomes.push_back(
            {d.id, d.task_id, d.event, {d.attempts + 1, clock.Now(), 204, "", Millis(1)}});
      }
      ASSERT_TRUE(outbox.Record(outcomes).ok());
      MutexLock lock(mu);
      for (const WebhookDelivery& d : *claimed) {
        in_flight.erase(d.id);
        ++recorded[d.id];
      }
    }
  };
  std::thread ta([&] { run(*a); });
  std::thread tb([&] { run(*b); });
  ta.join();
  tb.join();
  EXPECT_EQ(overlaps.load(), 0);
  ASSERT_EQ(recorded.size(), kDeliveries);
  for (const auto& [id, times] : recorded) EXPECT_EQ(times, 1) << id;
  for (const auto& [task, events] : order) {
    EXPECT_EQ(events, (std::vector<std::string>{"task.started", "task.succeeded"})) << task;
  }
}

TEST(RedisWebhookOutbox, AClaimOfAProcessKilledMidDeliveryIsDueAgainWhenItsLeaseLapses) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  const std::string id = CompleteOne(*store, clock, kUrl);
  const Timestamp t0 = clock.Now();
  const Millis lease(30'000);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  if (child == 0) {  // another gateway: claims, then dies by SIGKILL while "delivering"
    close(fds[0]);
    auto outbox = RedisWebhookOutbox::Open({.url = server->url(), .claim_lease = lease});
    if (outbox.ok()) {
      auto claimed = (*outbox)->Claim(t0, 10, {});
      const char got = claimed.ok() && claimed->size() == 1 ? '1' : '0';
      if (write(fds[1], &got, 1) != 1) _exit(2);
    }
    kill(getpid(), SIGKILL);
    _exit(3);
  }
  close(fds[1]);
  char got = 0;
  ASSERT_EQ(read(fds[0], &got, 1), 1);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_EQ(got, '1') << "the other process claimed nothing";

  auto outbox = OpenOutbox(*server, &clock, lease);
  EXPECT_TRUE(outbox->Claim(t0 + lease - Millis(1), 10, {})->empty());  // still held
  EXPECT_EQ(**outbox->NextDue(), t0 + lease);
  auto again = outbox->Claim(t0 + lease, 10, {});
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().task_id, id);
  EXPECT_EQ(again->front().attempts, 0);
}

TEST(RedisWebhookOutbox, AnOutcomeAfterTheClaimLapsedAndWasRetakenIsIgnored) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  const std::string id = CompleteOne(*store, clock, kUrl);
  // Leases far longer than the test: neither instance renews while it runs.
  auto a = OpenOutbox(*server, &clock, Millis(3'600'000));
  auto b = OpenOutbox(*server, &clock, Millis(3'600'000));
  auto first = a->Claim(clock.Now(), 10, {});
  ASSERT_EQ(first->size(), 1u);
  clock.Advance(Millis(3'600'000));
  auto second = b->Claim(clock.Now(), 10, {});
  ASSERT_EQ(second->size(), 1u);
  DeliveryOutcome late{
      first->front().id, id, "task.succeeded", {1, clock.Now(), 204, "", Millis(1)}};
  ASSERT_TRUE(a->Record({&late, 1}).ok());
  auto records = b->ForTask(id);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().state, DeliveryState::kPending);  // still b's to finish
  EXPECT_TRUE(records->front().attempts.empty());
  DeliveryOutcome ok{
      second->front().id, id, "task.succeeded", {1, clock.Now(), 204, "", Millis(1)}};
  ASSERT_TRUE(b->Record({&ok, 1}).ok());
  EXPECT_EQ(b->ForTask(id)->front().state, DeliveryState::kDelivered);
}

TEST(RedisWebhookOutbox, TwoDispatchersOnOneRedisDeliverEachEventOnceAndInOrder) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto store = OpenStore(*server, SystemClock::Get());
  WebhookReceiver receiver;
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  auto a = OpenOutbox(*server, SystemClock::Get());
  auto b = OpenOutbox(*server, SystemClock::Get());
  WebhookDispatcher da(*a, QuickDispatch());
  WebhookDispatcher db(*b, QuickDispatch());
  ASSERT_TRUE(da.Start().ok());
  ASSERT_TRUE(db.Start().ok());
  constexpr int kTasks = 40;
  for (int i = 0; i < kTasks; ++i) {
    CompleteOne(*store, *SystemClock::Get(), url, {"started", "completed"});
  }
  ASSERT_TRUE(receiver.WaitFor(2 * kTasks));
  da.Stop();
  db.Stop();
  std::map<std::string, int> times;
  std::map<std::string, std::vector<std::string>> order;
  for (const auto& r : receiver.requests()) {
    ++times[r.headers.at("webhook-id")];
    auto body = boost::json::parse(r.body).as_object();
    order[std::string(body.at("data").as_object().at("id").as_string())].push_back(
        std::string(body.at("type").as_string()));
  }
  EXPECT_EQ(times.size(), 2u * kTasks);
  for (const auto& [id, n] : times) EXPECT_EQ(n, 1) << id;
  ASSERT_EQ(order.size(), static_cast<size_t>(kTasks));
  for (const auto& [task, events] : order) {
    EXPECT_EQ(events, (std::vector<std::string>{"task.started", "task.succeeded"})) << task;
  }
  EXPECT_GT(da.stats().delivered + db.stats().delivered, 0);
}

TEST(RedisWebhookOutbox, ATaskWithoutAWebhookLeavesNoIntent) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  CompleteOne(*store, clock, "");
  redis::RedisClient client({.url = *redis::ParseRedisUrl(server->url())});
  auto len = client.Command({"XLEN", "stipple:wh:intents"});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(redis::ReplyInt(**len), 0);
  CompleteOne(*store, clock, kUrl);  // its start and its end; the filter is applied later
  EXPECT_EQ(redis::ReplyInt(**client.Command({"XLEN", "stipple:wh:intents"})), 2);
}

TEST(RedisWebhookOutbox, AClaimHeldPastItsLeaseIsRenewedWhileItsOutboxLives) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto store = OpenStore(*server, SystemClock::Get());
  const std::string id = CompleteOne(*store, *SystemClock::Get(), kUrl);
  const Millis lease(3000);  // renewed every second
  auto a = OpenOutbox(*server, SystemClock::Get(), lease);
  auto b = OpenOutbox(*server, SystemClock::Get(), lease);
  auto held = a->Claim(SystemClock::Get()->Now(), 10, {});
  ASSERT_EQ(held->size(), 1u);
  const auto until = std::chrono::steady_clock::now() + lease + Millis(1000);
  while (std::chrono::steady_clock::now() < until) {  // past the first lease: renewed meanwhile
    EXPECT_TRUE(b->Claim(SystemClock::Get()->Now(), 10, {})->empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  a.reset();  // gives the claim back
  auto again = b->Claim(SystemClock::Get()->Now(), 10, {});
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().task_id, id);
}

TEST(RedisWebhookOutbox, CallsAreUnavailableWhileRedisIsDownAndWorkAgainAfterwards) {
  auto server = StartServer("always");
  ASSERT_TRUE(server);
  ManualClock clock;
  auto store = OpenStore(*server, &clock);
  auto outbox = OpenOutbox(*server, &clock);
  const std::string id = CompleteOne(*store, clock, kUrl);
  ASSERT_TRUE(server->Stop(/*kill=*/true).ok());
  auto down = outbox->Claim(clock.Now(), 10, {});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(outbox->ForTask(id).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(server->Restart().ok());
  auto claimed = outbox->Claim(clock.Now(), 10, {});
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ(claimed->front().task_id, id);
}

TEST(RedisWebhookOutbox, TheSharedSecretIsCreatedOnceAndSeenByEveryGateway) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto a = OpenOutbox(*server, SystemClock::Get());
  auto b = OpenOutbox(*server, SystemClock::Get());
  bool created_a = false, created_b = true;
  auto sa = a->SharedSecret(&created_a);
  auto sb = b->SharedSecret(&created_b);
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_TRUE(created_a);
  EXPECT_FALSE(created_b);
  EXPECT_EQ(sa->text, sb->text);
  EXPECT_EQ(sa->text.rfind("whsec_", 0), 0u);
}

}  // namespace
}  // namespace stipple::webhook
