// Client against a real gateway on a loopback port, with FakeTaskService (a test double of the
// task service) behind it, driven by the test as a worker would drive a real one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "api/api_keys.h"
#include "api/testing/http_test_support.h"
#include "client/client.h"

namespace stipple::client {
namespace {

using http::testing::TestServer;

class ClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<Client> Make(std::string api_key = "") {
    ClientOptions options;
    options.server_url = "http://127.0.0.1:" + std::to_string(server_.port());
    options.api_key = std::move(api_key);
    options.initial_backoff = Millis(10);
    auto client = Client::Create(options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(client).value();
  }

  // The id of the n-th task the service was given, once it has been given it.
  // Until the gateway has subscribed to the service on behalf of an event stream.
  void AwaitSubscription() {
    for (int i = 0; i < 3000 && server_.service.active_subscriptions() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  std::string SubmittedId(size_t n = 0) {
    for (int i = 0; i < 3000; ++i) {
      auto submitted = server_.service.submitted();
      if (submitted.size() > n) return submitted[n].id;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return "";
  }

  TestServer server_;
};

TEST_F(ClientTest, SubmitCreatesAQueuedTaskUnderAGeneratedIdempotencyKey) {
  auto client = Make();
  Result<SubmitResult> submitted = client->Submit(R"({"prompt":"a red circle"})");
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  EXPECT_EQ(submitted->task.task.state, TaskState::kQueued);
  EXPECT_FALSE(submitted->finished);
  EXPECT_TRUE(submitted->idempotency_key.starts_with("idem_"));
  ASSERT_EQ(server_.service.submitted().size(), 1u);
  EXPECT_EQ(server_.service.submitted()[0].idempotency_key, submitted->idempotency_key);
}

TEST_F(ClientTest, ASubmitRepeatedWithItsKeyAnswersTheSameTask) {
  auto client = Make();
  SubmitOptions options;
  options.idempotency_key = "my-key-1";
  auto first = client->Submit(R"({"prompt":"a red circle"})", options);
  auto second = client->Submit(R"({"prompt":"a red circle"})", options);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->task.task.id, second->task.task.id);
  EXPECT_EQ(server_.service.submitted().size(), 1u);
}

TEST_F(ClientTest, SyncSubmitAnswersTheFinishedTask) {
  auto client = Make();
  std::thread worker([&] {
    const std::string id = SubmittedId();
    server_.service.Start(id);
    server_.service.Succeed(id);
  });
  SubmitOptions options;
  options.wait_s = 60;
  Result<SubmitResult> submitted = client->Submit(R"({"prompt":"a red circle"})", options);
  worker.join();
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  EXPECT_TRUE(submitted->finished);
  EXPECT_EQ(submitted->task.task.state, TaskState::kSucceeded);
  EXPECT_EQ(submitted->task.task.outputs.size(), 1u);
}

TEST_F(ClientTest, BadRequestIsInvalidArgumentNamingTheFieldAndCreatesNothing) {
  auto client = Make();
  Result<SubmitResult> submitted = client->Submit(R"({"prompt":"a red circle","steps":0})");
  ASSERT_FALSE(submitted.ok());
  EXPECT_EQ(submitted.status().code(), StatusCode::kInvalidArgument);
  ASSERT_FALSE(submitted.status().field_errors().empty());
  EXPECT_EQ(submitted.status().field_errors()[0].field, "steps");
  EXPECT_EQ(server_.service.submit_calls(), 0u);
}

TEST_F(ClientTest, UnknownTaskIsNotFound) {
  auto client = Make();
  EXPECT_EQ(client->Get(http::testing::kUnknownTaskId).status().code(), StatusCode::kNotFound);
}

TEST_F(ClientTest, WaitAnswersWhenTheTaskEnds) {
  auto client = Make();
  const std::string id = server_.CreateTask();
  auto waited = std::async(std::launch::async, [&] { return client->Wait(id); });
  server_.service.Start(id);
  server_.service.Succeed(id);
  Result<TaskSnapshot> task = waited.get();
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  EXPECT_EQ(task->task.state, TaskState::kSucceeded);
}

TEST_F(ClientTest, WaitWithATimeoutAnswersTheTaskStillRunning) {
  auto client = Make();
  const std::string id = server_.CreateTask();
  server_.service.Start(id);
  Result<TaskSnapshot> task = client->Wait(id, Millis(1200));
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  EXPECT_EQ(task->task.state, TaskState::kRunning);
}

TEST_F(ClientTest, StopTokenInterruptsAWait) {
  auto client = Make();
  const std::string id = server_.CreateTask();
  std::stop_source stop;
  auto waited = std::async(std::launch::async,
                           [&] { return client->Wait(id, std::nullopt, stop.get_token()); });
  stop.request_stop();
  EXPECT_EQ(waited.get().status().code(), StatusCode::kCancelled);
}

TEST_F(ClientTest, StreamEventsDeliversEveryEventInOrderUntilTheTerminalOne) {
  auto client = Make();
  const std::string id = server_.CreateTask();
  std::vector<EventSnapshot> events;
  auto streamed = std::async(std::launch::async, [&] {
    return client->StreamEvents(id, 0, [&](const EventSnapshot& e) {
      events.push_back(e);
      return true;
    });
  });
  AwaitSubscription();
  server_.service.Start(id);
  server_.service.Progress(id, 1, 2);
  server_.service.Progress(id, 2, 2);
  server_.service.Succeed(id);
  Status status = streamed.get();
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events.front().event.type, TaskEventType::kQueued);
  EXPECT_EQ(events[2].event.progress, (TaskProgress{1, 2}));
  EXPECT_EQ(events.back().event.type, TaskEventType::kSucceeded);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].event.seq, int64_t(i + 1));
}

TEST_F(ClientTest, StreamEventsStartsAfterTheGivenEvent) {
  auto client = Make();
  const std::string id = server_.CreateTask();
  server_.service.Start(id);
  server_.service.Progress(id, 1, 2);
  std::vector<int64_t> seqs;
  auto streamed = std::async(std::launch::async, [&] {
    return client->StreamEvents(id, 1, [&](const EventSnapshot& e) {
      seqs.push_back(e.event.seq);
      return true;
    });
  });
  AwaitSubscription();
  server_.service.Fail(id);
  Status status = streamed.get();
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(seqs, (std::vector<int64_t>{2, 3, 4}));
}

TEST_F(ClientTest, StreamOfATaskThatHadEndedIsItsTerminalEvent) {
  auto client = Make();
  const std::string id = server_.CreateTask();
  server_.service.Start(id);
  server_.service.Succeed(id);
  std::vector<TaskEventType> types;
  Status status = client->StreamEvents(id, 0, [&](const EventSnapshot& e) {
    types.push_back(e.event.type);
    return true;
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(types, (std::vector<TaskEventType>{TaskEventType::kSucceeded}));
}

TEST_F(ClientTest, CancelCancelsAQueuedTaskAndReportsOneThatHadEnded) {
  auto client = Make();
  const std::string queued = server_.CreateTask();
  Result<CancelResult> canceled = client->Cancel(queued);
  ASSERT_TRUE(canceled.ok()) << canceled.status().ToString();
  EXPECT_EQ(canceled->task.task.state, TaskState::kCanceled);
  EXPECT_FALSE(canceled->already_ended);

  const std::string done = server_.CreateTask();
  server_.service.Start(done);
  server_.service.Succeed(done);
  canceled = client->Cancel(done);
  ASSERT_TRUE(canceled.ok()) << canceled.status().ToString();
  EXPECT_TRUE(canceled->already_ended);
  EXPECT_EQ(canceled->task.task.state, TaskState::kSucceeded);
}

TEST_F(ClientTest, ListModelsAndQueueAreRead) {
  auto client = Make();
  const std::string first = server_.CreateTask();
  const std::string second = server_.CreateTask();
  Result<TaskPage> page = client->List({.limit = 10});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->tasks.size(), 2u);
  EXPECT_EQ(page->tasks[0].task.id, second);  // newest first

  Result<ModelList> models = client->Models();
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->models.size(), 1u);
  EXPECT_EQ(models->models[0].id, "shapes-32");
  EXPECT_TRUE(models->models[0].is_default);

  Result<QueueFigures> queue = client->Queue();
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  EXPECT_FALSE(queue->json.empty());

  QueueSnapshot snap;
  snap.workers = {WorkerStatus{.info = {.id = "wkr_a",
                                        .host = "gpu-1",
                                        .device = "cuda:0",
                                        .models = {"sd15", "shapes-32"}},
                               .state = WorkerState::kBusy,
                               .current_tasks = {first}},
                  WorkerStatus{.info = {.id = "wkr_b", .models = {"sd15"}}}};
  server_.service.set_queue(snap);
  Result<WorkerList> workers = client->Workers();
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  ASSERT_EQ(workers->workers.size(), 2u);
  EXPECT_EQ(workers->workers[0].id, "wkr_a");
  EXPECT_EQ(workers->workers[0].host, "gpu-1");
  EXPECT_EQ(workers->workers[0].models, (std::vector<std::string>{"sd15", "shapes-32"}));
  EXPECT_EQ(workers->workers[0].state, "busy");
  EXPECT_EQ(workers->workers[0].current_tasks, std::vector<std::string>{first});
  EXPECT_EQ(workers->workers[1].state, "idle");
  EXPECT_TRUE(workers->workers[1].last_seen.empty());
}

TEST_F(ClientTest, DownloadsAnOutputToMemoryAndToAFile) {
  auto client = Make();
  const std::string id = server_.CreateTask();
  server_.service.Start(id);
  server_.service.Succeed(id);
  Result<std::string> bytes = client->DownloadOutput(id, 0);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, "png:" + id + ":0");

  const auto path = std::filesystem::temp_directory_path() /
                    ("stipple_client_test_" + std::to_string(::getpid()) + ".png");
  ASSERT_TRUE(client->DownloadOutputTo(id, 0, path.string()).ok());
  std::ifstream in(path, std::ios::binary);
  std::stringstream read;
  read << in.rdbuf();
  EXPECT_EQ(read.str(), *bytes);
  std::filesystem::remove(path);

  EXPECT_EQ(client->DownloadOutput(id, 5).status().code(), StatusCode::kNotFound);
}

TEST_F(ClientTest, AnUnknownKeyIsUnauthenticatedAndAKnownOneWorks) {
  auto keys = http::ApiKeys::Parse("alice key-of-alice\n");
  ASSERT_TRUE(keys.ok());
  server_.server->gateway().SetApiKeys(std::move(keys).value());
  EXPECT_EQ(Make("wrong")->Models().status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(Make()->Models().status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Make("key-of-alice")->Models().ok());
}

TEST(ClientUnreachable, AServerThatIsNotThereIsUnavailableNamingItsAddress) {
  uint16_t port = 0;
  {
    TestServer closed;  // a port that was free a moment ago and is closed now
    port = closed.port();
  }
  ClientOptions options;
  options.server_url = "http://127.0.0.1:" + std::to_string(port);
  options.max_attempts = 2;
  options.initial_backoff = Millis(10);
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok());
  Status status = (*client)->Models().status();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << status.message();
}

TEST(ClientOptionsCheck, BadServerUrlsAreRefusedNamingTheProblem) {
  EXPECT_EQ(Client::Create({.server_url = "https://x"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Client::Create({.server_url = "ftp://x"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Client::Create({.server_url = "http://:80"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Client::Create({.server_url = "http://h:99999"}).status().code(),
            StatusCode::kInvalidArgument);
  Result<ServerUrl> url = ParseServerUrl("http://example.com:9000/api/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "example.com");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->prefix, "/api");
  EXPECT_EQ(ParseServerUrl("http://h")->port, 80);
}

}  // namespace
}  // namespace stipple::client
