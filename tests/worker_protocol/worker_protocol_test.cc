// The worker protocol in one process: a Worker on a RemoteWorkSource talking HTTP over loopback
// to a gateway's /v1/worker/exchange on a real ServiceStack. Covers what the protocol must
// get right apart from process deaths (worker_process_test.cc): serving and the registry,
// tokens, garbage and out-of-order messages, stale completions, reconnects within a lease, a
// held ask answered by an enqueue, and failover between gateways over one store.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>

#include "api/testing/http_test_support.h"
#include "gateway_stack.h"
#include "worker/remote_work_source.h"

namespace stipple::testing {
namespace {

using http::testing::TestClient;
using http::testing::TestResponse;

WorkerOptions RemoteWorkerOptions(const std::string& id) {
  WorkerOptions o;
  o.worker_id = id;
  o.host = "test-host";
  o.max_batch = 2;
  o.batch_window = Millis(0);
  o.lease_duration = Millis(3'000);
  o.heartbeat_interval = Millis(100);
  o.lease_wait = Millis(500);
  o.retry_backoff_base = Millis(10);
  o.preview_every = 1;
  return o;
}

std::unique_ptr<RemoteWorkSource> Remote(const GatewayStack& gateway,
                                         const std::string& token = kWorkerToken,
                                         std::vector<std::string> other_gateways = {}) {
  RemoteWorkSourceOptions o;
  o.gateway_url = gateway.url();
  o.other_gateways = std::move(other_gateways);
  o.token = token;
  o.reconnect_min = Millis(20);
  o.reconnect_max = Millis(200);
  return RemoteWorkSource::Create(o).value();
}

TestResponse Exchange(TestClient& client, const std::string& body,
                      const std::string& token = kWorkerToken) {
  return client.Send("POST", "/v1/worker/exchange",
                     {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}},
                     body);
}

boost::json::object Json(const TestResponse& r) { return boost::json::parse(r.body).as_object(); }

// The first reply of an exchange's answer.
boost::json::object FirstReply(const TestResponse& r) {
  return Json(r).at("replies").as_array().at(0).as_object();
}

const char* kHello = R"("hello":{"host":"h","device":"cpu","models":["test-model"],"max_batch":1})";

TEST(WorkerProtocol, ARemoteWorkerServesTasksAndAppearsInTheRegistry) {
  GatewayStack gateway("wp-serve");
  auto source = Remote(gateway);
  TestDoubleEngine engine;
  Worker worker(source.get(), {&engine}, RemoteWorkerOptions("wkr_remote1"));
  ASSERT_TRUE(worker.Start().ok());

  QueueSnapshot queue = gateway.service().Queue().value();
  ASSERT_EQ(queue.workers.size(), 1u);
  EXPECT_EQ(queue.workers[0].info.id, "wkr_remote1");
  EXPECT_EQ(queue.workers[0].info.host, "test-host");
  EXPECT_EQ(queue.workers[0].info.device, "cpu");
  EXPECT_EQ(queue.workers[0].info.models, std::vector<std::string>{"test-model"});

  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(gateway.Submit("a red circle " + std::to_string(i)));
  for (const std::string& id : ids) {
    ASSERT_TRUE(gateway.WaitState(id, TaskState::kSucceeded)) << id;
    Task task = gateway.Get(id);
    EXPECT_EQ(task.attempts, 1);
    ASSERT_EQ(task.outputs.size(), 1u);
    OutputBlob blob = gateway.service().Output("", id, 0).value();
    EXPECT_EQ(blob.bytes.substr(0, 4), "png:");
  }
  worker.Drain(Millis(1'000));
  EXPECT_TRUE(gateway.service().Queue().value().workers.empty()) << "goodbye unregisters";
}

TEST(WorkerProtocol, ABadWorkerTokenIsRefused) {
  GatewayStack gateway("wp-token");
  auto source = Remote(gateway, "not-a-token");
  WorkerInfo info{"wkr_bad", "h", "cpu", {"test-model"}, 1};
  Status registered = source->Register(info);
  EXPECT_EQ(registered.code(), StatusCode::kUnauthenticated) << registered.ToString();

  TestClient client(gateway.port());
  std::string body = std::string(R"({"worker_id":"w1",)") + kHello + "}";
  EXPECT_EQ(Exchange(client, body, "wrong").status, 401);
  TestResponse none = client.Send("POST", "/v1/worker/exchange", {}, body);
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(gateway.service().Queue().value().workers.empty());
}

TEST(WorkerProtocol, GarbageAndOutOfOrderMessagesGetAnErrorNotACrash) {
  GatewayStack gateway("wp-garbage");
  TestClient client(gateway.port());
  EXPECT_EQ(Exchange(client, "not json at all").status, 400);
  TestResponse no_id = Exchange(client, "{}");
  EXPECT_EQ(no_id.status, 400);
  EXPECT_NE(no_id.body.find("worker_id"), std::string::npos) << no_id.body;
  TestResponse bad_type = Exchange(
      client,
      R"({"worker_id":"w1","messages":[{"seq":1,"type":"explode","task_id":"t","fencing":1}]})");
  EXPECT_EQ(bad_type.status, 400);
  EXPECT_NE(bad_type.body.find("messages[0].type"), std::string::npos) << bad_type.body;
  TestResponse bad_fencing = Exchange(
      client,
      R"({"worker_id":"w1","messages":[{"seq":1,"type":"release","task_id":"t","fencing":"x"}]})");
  EXPECT_EQ(bad_fencing.status, 400);
  EXPECT_NE(bad_fencing.body.find("messages[0].fencing"), std::string::npos) << bad_fencing.body;

  // Reports before a hello: 409 hello_required, nothing applied.
  TestResponse early = Exchange(client, R"({"worker_id":"w1","messages":[]})");
  EXPECT_EQ(early.status, 409);
  EXPECT_NE(early.body.find("hello_required"), std::string::npos);
  ASSERT_EQ(Exchange(client, std::string(R"({"worker_id":"w1",)") + kHello + "}").status, 200);

  // A report on a task this worker never leased: an error reply.
  const std::string id = gateway.Submit("a blue square");
  TestResponse stray =
      Exchange(client, R"({"worker_id":"w1","messages":[{"seq":5,"type":"release","task_id":")" +
                           id + R"(","fencing":77}]})");
  ASSERT_EQ(stray.status, 200) << stray.body;
  EXPECT_EQ(FirstReply(stray).at("ok").as_bool(), false);
  EXPECT_EQ(FirstReply(stray).at("error").at("code").as_string(), "ABORTED");
  // Out of order: seq 3 after 5.
  TestResponse late =
      Exchange(client, R"({"worker_id":"w1","messages":[{"seq":3,"type":"release","task_id":")" +
                           id + R"(","fencing":77}]})");
  ASSERT_EQ(late.status, 200);
  EXPECT_EQ(FirstReply(late).at("error").at("code").as_string(), "FAILED_PRECONDITION");
  EXPECT_NE(late.body.find("out of order"), std::string::npos) << late.body;
  // A lease ask for a model nobody serves: an error, not a lease.
  TestResponse bad_model = Exchange(
      client, R"({"worker_id":"w1","lease":{"models":[""],"max_tasks":1,"lease_ms":1000}})");
  EXPECT_EQ(bad_model.status, 200);

  EXPECT_EQ(client.Send("GET", "/healthz").status, 200) << "the gateway still serves";
  EXPECT_EQ(gateway.Get(id).state, TaskState::kQueued) << "garbage changed nothing";
}

TEST(WorkerProtocol, ACompletionFromAStaleLeaseIsRefused) {
  GatewayStack gateway("wp-stale");
  TestClient a(gateway.port());
  TestClient b(gateway.port());
  ASSERT_EQ(Exchange(a, std::string(R"({"worker_id":"wa",)") + kHello + "}").status, 200);
  ASSERT_EQ(Exchange(b, std::string(R"({"worker_id":"wb",)") + kHello + "}").status, 200);
  const std::string id = gateway.Submit("a green triangle");
  const std::string ask = R"("lease":{"models":["test-model"],"max_tasks":1,"lease_ms":300})";
  TestResponse first = Exchange(a, R"({"worker_id":"wa",)" + ask + "}");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(Json(first).at("leases").as_array().size(), 1u);
  const int64_t stale = Json(first).at("leases").at(0).at("fencing").to_number<int64_t>();
  // wa goes silent; its lease lapses and the task is queued again.
  ASSERT_TRUE(gateway.WaitTask(
      id, [](const Task& t) { return t.state == TaskState::kQueued && t.attempts == 1; }));
  TestResponse second = Exchange(
      b, R"({"worker_id":"wb","lease":{"models":["test-model"],"max_tasks":1,"lease_ms":30000}})");
  ASSERT_EQ(Json(second).at("leases").as_array().size(), 1u);
  const int64_t current = Json(second).at("leases").at(0).at("fencing").to_number<int64_t>();
  ASSERT_GT(current, stale);

  auto complete = [&](TestClient& c, const char* worker, int64_t fencing, const char* png) {
    return Exchange(c, std::string(R"({"worker_id":")") + worker +
                           R"(","messages":[{"seq":1,"type":"complete","task_id":")" + id +
                           R"(","fencing":)" + std::to_string(fencing) + R"(,"images":[{"png":")" +
                           png + R"(","width":8,"height":8,"seed":1}]}]})");
  };
  TestResponse late = complete(a, "wa", stale, "c3RhbGU=");  // "stale"
  ASSERT_EQ(late.status, 200) << late.body;
  EXPECT_EQ(FirstReply(late).at("ok").as_bool(), false);
  EXPECT_EQ(FirstReply(late).at("error").at("code").as_string(), "ABORTED");
  TestResponse done = complete(b, "wb", current, "Y3VycmVudA==");  // "current"
  ASSERT_EQ(FirstReply(done).at("ok").as_bool(), true) << done.body;
  EXPECT_EQ(FirstReply(done).at("state").as_string(), "succeeded");
  // Sent again (as after a lost reply): the first answer, not a second completion.
  TestResponse again = complete(b, "wb", current, "Y3VycmVudA==");
  EXPECT_EQ(FirstReply(again).at("ok").as_bool(), true) << again.body;

  Task task = gateway.Get(id);
  EXPECT_EQ(task.state, TaskState::kSucceeded);
  EXPECT_EQ(task.fencing, static_cast<uint64_t>(current));
  ASSERT_EQ(task.outputs.size(), 1u);
  EXPECT_EQ(gateway.service().Output("", id, 0).value().bytes, "current");
}

TEST(WorkerProtocol, AWorkerThatReconnectsWithinItsLeaseKeepsItsTask) {
  GatewayStack gateway("wp-reconnect");
  auto source = Remote(gateway);
  TestDoubleEngine engine({.step_delay = std::chrono::milliseconds(100)});
  Worker worker(source.get(), {&engine}, RemoteWorkerOptions("wkr_reconnect"));
  ASSERT_TRUE(worker.Start().ok());
  const std::string id = gateway.Submit("a slow circle", /*steps=*/20);
  ASSERT_TRUE(
      gateway.WaitTask(id, [](const Task& t) { return t.progress && t.progress->step >= 2; }));
  gateway.RestartServer();  // every connection drops; the new gateway knows no hello
  ASSERT_TRUE(gateway.WaitState(id, TaskState::kSucceeded));
  Task task = gateway.Get(id);
  EXPECT_EQ(task.attempts, 1) << "the lease outlived the disconnect";
  EXPECT_GE(source->reconnects(), 1);
  EXPECT_EQ(gateway.service().Queue().value().workers.size(), 1u) << "hello sent again";
  worker.Drain(Millis(1'000));
}

TEST(WorkerProtocol, AHeldAskIsAnsweredByTheEnqueue) {
  GatewayStack gateway("wp-held");
  TestClient client(gateway.port());
  ASSERT_EQ(Exchange(client, std::string(R"({"worker_id":"w1",)") + kHello + "}").status, 200);
  auto answer = std::async(std::launch::async, [&] {
    return Exchange(
        client,
        R"({"worker_id":"w1","lease":{"models":["test-model"],"max_tasks":1,"lease_ms":30000,"wait_ms":25000}})");
  });
  // Once the ask is held (no task yet), enqueue.
  ASSERT_TRUE(Eventually([&] {
    return gateway.service().Queue().value().workers.size() == 1 &&
           answer.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string id = gateway.Submit("a pushed circle");
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(20)), std::future_status::ready)
      << "the held ask must be answered well before its 25 s wait";
  TestResponse r = answer.get();
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(Json(r).at("leases").as_array().size(), 1u);
  EXPECT_EQ(Json(r).at("leases").at(0).at("id").as_string(), id);
}

TEST(WorkerProtocol, AWorkerFailsOverToTheNextGatewayAndKeepsItsTask) {
  GatewayStack gateways("wp-failover");
  const size_t b = gateways.AddServer();
  auto source = Remote(gateways, kWorkerToken, {gateways.url(b)});
  TestDoubleEngine engine({.step_delay = std::chrono::milliseconds(100)});
  Worker worker(source.get(), {&engine}, RemoteWorkerOptions("wkr_failover"));
  ASSERT_TRUE(worker.Start().ok());
  EXPECT_EQ(source->current_gateway(), gateways.url(0));

  const std::string id = gateways.Submit("a slow circle", /*steps=*/20);
  ASSERT_TRUE(
      gateways.WaitTask(id, [](const Task& t) { return t.progress && t.progress->step >= 2; }));
  gateways.StopServer(0);  // gateway A is gone: the worker moves to B mid-task
  ASSERT_TRUE(gateways.WaitState(id, TaskState::kSucceeded));
  EXPECT_EQ(gateways.Get(id).attempts, 1) << "the lease survived the failover";
  EXPECT_EQ(source->current_gateway(), gateways.url(b));
  EXPECT_GE(source->failovers(), 1);
  const std::string on_b = gateways.Submit("a quick square");
  ASSERT_TRUE(gateways.WaitState(id, TaskState::kSucceeded));
  ASSERT_TRUE(gateways.WaitState(on_b, TaskState::kSucceeded)) << "served through B";

  // B dies too, A is back: round robin brings the worker back to A.
  gateways.RestartServer(0);
  gateways.StopServer(b);
  const std::string on_a = gateways.Submit("a quick triangle");
  ASSERT_TRUE(gateways.WaitState(on_a, TaskState::kSucceeded)) << "served through A again";
  EXPECT_EQ(gateways.Get(on_a).attempts, 1);
  EXPECT_EQ(source->current_gateway(), gateways.url(0));
  worker.Drain(Millis(1'000));
}

TEST(WorkerProtocol, AWorkerWhoseFirstGatewayIsDownStartsOnTheNext) {
  GatewayStack gateways("wp-first-down");
  const size_t b = gateways.AddServer();
  gateways.StopServer(0);
  auto source = Remote(gateways, kWorkerToken, {gateways.url(b)});
  TestDoubleEngine engine;
  Worker worker(source.get(), {&engine}, RemoteWorkerOptions("wkr_first_down"));
  ASSERT_TRUE(worker.Start().ok()) << "registered through the second gateway";
  const std::string id = gateways.Submit("a red circle");
  ASSERT_TRUE(gateways.WaitState(id, TaskState::kSucceeded));
  EXPECT_EQ(source->current_gateway(), gateways.url(b));
  worker.Drain(Millis(1'000));
}

TEST(WorkerProtocol, EveryGatewayUrlIsChecked) {
  RemoteWorkSourceOptions o;
  o.gateway_url = "http://127.0.0.1:1";
  o.other_gateways = {"ftp://elsewhere"};
  o.token = kWorkerToken;
  Result<std::unique_ptr<RemoteWorkSource>> bad = RemoteWorkSource::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("ftp://elsewhere"), std::string::npos);
}

}  // namespace
}  // namespace stipple::testing
