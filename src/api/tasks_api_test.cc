// The task endpoints over real HTTP against FakeTaskService.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <thread>

#include "api/testing/http_test_support.h"

namespace stipple::http::testing {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

const std::pair<std::string, std::string> kJson{"Content-Type", "application/json"};

json::object Body(const TestResponse& r) { return json::parse(r.body).as_object(); }

TEST(TasksApi, CreateAnswers202WithLocationAndTheNormalizedTask) {
  TestServer s;
  TestResponse r = s.Send("POST", "/v1/tasks", {kJson}, R"({"prompt":"a red circle"})");
  ASSERT_EQ(r.status, 202) << r.body;
  json::object task = Body(r);
  std::string id(task["id"].as_string());
  EXPECT_EQ(r.headers.Get("Location").value_or(""), "/v1/tasks/" + id);
  EXPECT_EQ(task["status"], "queued");
  EXPECT_EQ(task["request"].as_object()["steps"], 20);
  EXPECT_EQ(task["request"].as_object()["seed"], 42);
  ASSERT_EQ(s.service.submitted().size(), 1u);
  EXPECT_EQ(s.service.submitted()[0].tenant, "default");
}

TEST(TasksApi, ALoraOfTheModelsFamilyIsAcceptedAndShownInTheTask) {
  TestServer s;
  TestResponse r = s.Send("POST", "/v1/tasks", {kJson},
                          R"({"prompt":"a red circle","loras":[{"name":"ink","scale":0.5}]})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(Body(r)["request"].as_object()["loras"],
            (json::array{json::object{{"name", "ink"}, {"scale", 0.5}}}));
  ASSERT_EQ(s.service.submitted().size(), 1u);
  ASSERT_EQ(s.service.submitted()[0].request.loras.size(), 1u);
  EXPECT_EQ(s.service.submitted()[0].request.loras[0].name, "ink");
}

TEST(TasksApi, RequestIdIsEchoedOrGenerated) {
  TestServer s;
  TestResponse given = s.Send("GET", "/healthz", {{"X-Request-Id", "abc-123"}});
  EXPECT_EQ(given.headers.Get("X-Request-Id").value_or(""), "abc-123");
  TestResponse made = s.Send("GET", "/healthz");
  EXPECT_THAT(std::string(made.headers.Get("X-Request-Id").value_or("")), HasSubstr("req_"));
}

TEST(TasksApi, SyncCreateAnswers200WithTheFinalTaskWhenItEndsInTime) {
  TestServer s;
  std::thread worker([&] {
    // Finish the task as soon as it is submitted.
    for (int i = 0; i < 200 && s.service.submitted().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s.service.Succeed(s.service.submitted().at(0).id);
  });
  TestResponse r =
      s.Send("POST", "/v1/tasks", {kJson, {"Prefer", "wait=5"}}, R"({"prompt":"a red circle"})");
  worker.join();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["status"], "succeeded");
  EXPECT_EQ(Body(r)["outputs"].as_array().size(), 1u);
  EXPECT_EQ(r.headers.Get("Preference-Applied").value_or(""), "wait=5");
}

TEST(TasksApi, SyncCreateAnswers202WithLocationWhenTheWaitEnds) {
  TestServer s;
  auto start = std::chrono::steady_clock::now();
  TestResponse r =
      s.Send("POST", "/v1/tasks", {kJson, {"Prefer", "wait=1"}}, R"({"prompt":"a red circle"})");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_TRUE(r.headers.Has("Location"));
  EXPECT_EQ(r.headers.Get("Preference-Applied").value_or(""), "wait=1");
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_EQ(s.service.active_subscriptions(), 0u);  // the waiter let go
}

TEST(TasksApi, IdempotencyKeyReplaysTheTaskAndRefusesAnotherBody) {
  TestServer s;
  std::vector<std::pair<std::string, std::string>> h{kJson, {"Idempotency-Key", "k-1"}};
  TestResponse first = s.Send("POST", "/v1/tasks", h, R"({"prompt":"a"})");
  TestResponse again = s.Send("POST", "/v1/tasks", h, R"({ "prompt" : "a" })");
  ASSERT_EQ(first.status, 202);
  ASSERT_EQ(again.status, 202);
  EXPECT_EQ(Body(first)["id"], Body(again)["id"]);
  TestResponse other = s.Send("POST", "/v1/tasks", h, R"({"prompt":"b"})");
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(Body(other)["type"], "idempotency_conflict");
  EXPECT_EQ(s.service.submitted().size(), 1u);
}

TEST(TasksApi, GetAnswersTheTaskAnd404ForUnknownOrMalformedIds) {
  TestServer s;
  std::string id = s.CreateTask();
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id).status, 200);
  TestResponse unknown = s.Send("GET", std::string("/v1/tasks/") + kUnknownTaskId);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.headers.Get("Content-Type").value_or(""), "application/problem+json");
  EXPECT_EQ(s.Send("GET", "/v1/tasks/not-an-id").status, 404);
}

TEST(TasksApi, LongPollAnswersWhenTheTaskEnds) {
  TestServer s;
  std::string id = s.CreateTask();
  std::thread worker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    s.service.Fail(id);
  });
  TestResponse r = s.Send("GET", "/v1/tasks/" + id, {{"Prefer", "wait=5"}});
  worker.join();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["status"], "failed");
}

TEST(TasksApi, LongPollAnswers200WithTheLiveTaskWhenTheWaitEnds) {
  TestServer s;
  std::string id = s.CreateTask();
  TestResponse r = s.Send("GET", "/v1/tasks/" + id, {{"Prefer", "wait=1"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["status"], "queued");
}

TEST(TasksApi, CancelAnswers200ThenConflictWithTheTask) {
  TestServer s;
  std::string id = s.CreateTask();
  TestResponse first = s.Send("POST", "/v1/tasks/" + id + "/cancel");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(Body(first)["status"], "canceled");
  TestResponse second = s.Send("POST", "/v1/tasks/" + id + "/cancel");
  ASSERT_EQ(second.status, 409);
  EXPECT_EQ(second.headers.Get("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(Body(second)["status"], "canceled");
}

TEST(TasksApi, ListPagesNewestFirst) {
  TestServer s;
  std::string a = s.CreateTask();
  s.CreateTask();
  std::string c = s.CreateTask();
  TestResponse page = s.Send("GET", "/v1/tasks?limit=2");
  ASSERT_EQ(page.status, 200);
  json::object body = Body(page);
  ASSERT_EQ(body["data"].as_array().size(), 2u);
  EXPECT_EQ(body["data"].as_array()[0].as_object()["id"].as_string(), c);
  std::string cursor(body["next_cursor"].as_string());
  TestResponse next = s.Send("GET", "/v1/tasks?limit=2&cursor=" + cursor);
  ASSERT_EQ(Body(next)["data"].as_array().size(), 1u);
  EXPECT_EQ(Body(next)["data"].as_array()[0].as_object()["id"].as_string(), a);
  EXPECT_TRUE(Body(next)["next_cursor"].is_null());
}

TEST(TasksApi, OutputHasETagAndHonoursIfNoneMatch) {
  TestServer s;
  std::string id = s.CreateTask();
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id + "/outputs/0").status, 409);
  s.service.Succeed(id);
  TestResponse r = s.Send("GET", "/v1/tasks/" + id + "/outputs/0");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "image/png");
  EXPECT_EQ(r.body, "png:" + id + ":0");
  EXPECT_EQ(r.headers.Get("Content-Length").value_or(""), std::to_string(r.body.size()));
  std::string etag(r.headers.Get("ETag").value_or(""));
  ASSERT_FALSE(etag.empty());
  TestResponse cached = s.Send("GET", "/v1/tasks/" + id + "/outputs/0", {{"If-None-Match", etag}});
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.body.empty());
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id + "/outputs/1").status, 404);
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id + "/outputs/x").status, 404);
  s.service.ExpireOutputs(id);
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id + "/outputs/0").status, 410);
}

TEST(TasksApi, PreviewIs404UntilThereIsOne) {
  TestServer s;
  std::string id = s.CreateTask();
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id + "/preview").status, 404);
  s.service.Start(id);
  s.service.Progress(id, 5, 20, "preview-bytes");
  TestResponse r = s.Send("GET", "/v1/tasks/" + id + "/preview");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "preview-bytes");
}

TEST(TasksApi, KeepAliveServesSeveralRequestsOnOneConnection) {
  TestServer s;
  TestClient client(s.port());
  EXPECT_EQ(client.Send("GET", "/healthz").status, 200);
  EXPECT_EQ(client.Send("GET", "/v1/models").status, 200);
  EXPECT_EQ(client.Send("GET", "/healthz").status, 200);
}

TEST(TasksApi, IdleConnectionIsClosedAfterTheIdleTimeout) {
  TestServer s;  // idle_timeout is 1 s
  // Reads until the server closes (a loaded machine may be late: up to 30 s), rather than
  // checking at a fixed time after which the close must have happened.
  const auto start = std::chrono::steady_clock::now();
  const std::string raw =
      RawExchange(s.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::seconds(30));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(raw, ::testing::StartsWith("HTTP/1.1 200 "));
  EXPECT_GE(took, std::chrono::milliseconds(900)) << "kept open until the idle timeout";
  EXPECT_LT(took, std::chrono::seconds(20)) << "closed by the server, not by the client giving up";
}

TEST(TasksApi, ApiKeysSeparateTenants) {
  TestServer s;
  s.server->gateway().SetApiKeys(*ApiKeys::Parse("alice key-a\nbob key-b\nops key-o admin\n"));
  std::pair<std::string, std::string> alice{"Authorization", "Bearer key-a"};
  std::pair<std::string, std::string> bob{"Authorization", "Bearer key-b"};
  EXPECT_EQ(s.Send("POST", "/v1/tasks", {kJson}, R"({"prompt":"a"})").status, 401);
  EXPECT_EQ(s.Send("GET", "/v1/tasks", {{"Authorization", "Bearer nope"}}).status, 401);
  TestResponse created = s.Send("POST", "/v1/tasks", {kJson, alice}, R"({"prompt":"a"})");
  ASSERT_EQ(created.status, 202);
  std::string id(Body(created)["id"].as_string());
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id, {alice}).status, 200);
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id, {bob}).status, 404);
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id, {{"Authorization", "Bearer key-o"}}).status, 200);
  EXPECT_EQ(s.Send("GET", "/v1/queue", {bob}).status, 403);
  EXPECT_EQ(s.Send("GET", "/v1/queue", {{"Authorization", "Bearer key-o"}}).status, 200);
  EXPECT_EQ(s.Send("GET", "/healthz").status, 200);  // no key needed
}

TEST(TasksApi, RateLimitAnswers429WithRetryAfter) {
  ApiServerOptions o = TestOptions();
  o.gateway.rate_limit_per_s = 0.5;
  o.gateway.rate_limit_burst = 2;
  TestServer s(o);
  s.server->gateway().SetApiKeys(*ApiKeys::Parse("alice key-a\n"));
  std::pair<std::string, std::string> alice{"Authorization", "Bearer key-a"};
  EXPECT_EQ(s.Send("GET", "/v1/models", {alice}).status, 200);
  EXPECT_EQ(s.Send("GET", "/v1/models", {alice}).status, 200);
  TestResponse limited = s.Send("GET", "/v1/models", {alice});
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.Get("Retry-After").value_or(""), "2");
}

TEST(TasksApi, ModelsListsTheCatalogWithTheDefault) {
  TestServer s;
  json::object body = Body(s.Send("GET", "/v1/models"));
  EXPECT_EQ(body["object"], "list");
  json::object model = body["data"].as_array()[0].as_object();
  EXPECT_EQ(model["id"], "shapes-32");
  EXPECT_EQ(model["object"], "model");
  EXPECT_EQ(model["default"], true);
  EXPECT_EQ(model["max_clip_skip"], 0);  // the test catalog's model has no CLIP layers to skip
  // The LoRA files of the model's family only.
  EXPECT_EQ(model["loras"], (json::array{json::object{{"name", "ink"}, {"bytes", 1234}}}));
}

TEST(TasksApi, QueueReportsFiguresAndDesiredWorkers) {
  TestServer s;
  QueueSnapshot snap;
  QueueCounts c;
  c.model = "shapes-32";
  c.queued[0] = 1, c.queued[1] = 5, c.queued[2] = 0;
  c.running = 2;
  snap.per_model = {c};
  snap.workers_online = 2;
  snap.workers_busy = 2;
  snap.mean_run_s = 10;
  s.service.set_queue(snap);
  json::object body = Body(s.Send("GET", "/v1/queue"));
  EXPECT_EQ(body["queued"].as_object()["normal"], 5);
  EXPECT_EQ(body["running"], 2);
  EXPECT_EQ(body["estimated_wait_s"].to_number<double>(), 30.0);  // 6 queued * 10 s / 2 workers
  EXPECT_EQ(body["desired_workers"], 3);                          // ceil(8 * 10 / 30)
}

TEST(TasksApi, WorkersListTheRegistryAndQueueCountsWorkersPerModel) {
  TestServer s;
  QueueSnapshot snap;
  QueueCounts c;
  c.model = "shapes-32";
  c.queued[1] = 3;
  snap.per_model = {c};
  WorkerStatus a{
      .info = {.id = "wkr_a", .host = "gpu-1", .device = "cuda:0", .models = {"shapes-32", "sd15"}},
      .state = WorkerState::kBusy,
      .current_tasks = {"tsk_1"},
      .last_seen = Timestamp(Millis(1'700'000'000'000))};
  WorkerStatus b{.info = {.id = "wkr_b", .host = "gpu-2", .device = "cuda:0", .models = {"sd15"}}};
  snap.workers = {a, b};
  snap.workers_online = 2;
  snap.workers_busy = 1;
  s.service.set_queue(snap);

  json::object workers = Body(s.Send("GET", "/v1/workers"));
  json::array list = workers["workers"].as_array();
  ASSERT_EQ(list.size(), 2u);
  json::object first = list[0].as_object();
  EXPECT_EQ(first["id"], "wkr_a");
  EXPECT_EQ(first["host"], "gpu-1");
  EXPECT_EQ(first["state"], "busy");
  EXPECT_EQ(first["models"], (json::array{"shapes-32", "sd15"}));
  EXPECT_EQ(first["current_tasks"], (json::array{"tsk_1"}));
  EXPECT_EQ(first["last_seen"], "2023-11-14T22:13:20.000Z");
  EXPECT_TRUE(list[1].as_object()["last_seen"].is_null());

  // /v1/queue lists each model a worker takes, with how many take it.
  json::object queue = Body(s.Send("GET", "/v1/queue"));
  json::array models = queue["models"].as_array();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].as_object()["model"], "shapes-32");
  EXPECT_EQ(models[0].as_object()["workers"], 1);
  EXPECT_EQ(models[1].as_object()["model"], "sd15");
  EXPECT_EQ(models[1].as_object()["workers"], 2);
  EXPECT_EQ(models[1].as_object()["running"], 0);
}

TEST(TasksApi, WorkersNeedAnAdminKeyWhenKeysAreConfigured) {
  TestServer s;
  EXPECT_EQ(s.Send("GET", "/v1/workers").status, 200);  // an open server
  s.server->gateway().SetApiKeys(*ApiKeys::Parse("bob key-b\nops key-o admin\n"));
  EXPECT_EQ(s.Send("GET", "/v1/workers").status, 401);
  EXPECT_EQ(s.Send("GET", "/v1/workers", {{"Authorization", "Bearer key-b"}}).status, 403);
  EXPECT_EQ(s.Send("GET", "/v1/workers", {{"Authorization", "Bearer key-o"}}).status, 200);
}

TEST(TasksApi, ReadyzIs503WithRetryAfterWhenTheServiceIsNotReady) {
  TestServer s;
  EXPECT_EQ(s.Send("GET", "/readyz").status, 200);
  s.service.set_ready(UnavailableError("draining"));
  TestResponse r = s.Send("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers.Get("Retry-After").value_or(""), "5");
}

TEST(TasksApi, QueueFullAnswers429) {
  TestServer s;
  s.service.set_submit_error(ResourceExhaustedError("queue full"));
  TestResponse r = s.Send("POST", "/v1/tasks", {kJson}, R"({"prompt":"a"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_TRUE(r.headers.Has("Retry-After"));
}

TEST(TasksApi, StopAnswersAPendingSyncWaitAndClosesIdleConnections) {
  TestServer s;
  TestResponse r;
  std::thread client([&] {
    r = s.Send("POST", "/v1/tasks", {kJson, {"Prefer", "wait=30"}}, R"({"prompt":"a"})");
  });
  // Until the request waits on its task (it subscribed), not a fixed pause after the submit.
  for (int i = 0; i < 3000 && s.service.active_subscriptions() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(s.service.active_subscriptions(), 0u);
  auto start = std::chrono::steady_clock::now();
  s.server->Stop();
  client.join();
  // Answered by the stop, not by the end of its 30 s wait (a generous bound: stop_grace is 2 s).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(r.status, 202);
}

}  // namespace
}  // namespace stipple::http::testing
