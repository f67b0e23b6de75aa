// The service calls that may wait on a store commit (Submit, Cancel, the worker protocol's
// reports) run on the blocking-call pool: while one is held, a server with a single I/O thread
// still answers other connections (blocking_calls.h).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

#include "api/testing/http_test_support.h"
#include "service/worker_wire.h"

namespace stipple::http {
namespace {

using testing::FakeTaskService;
using testing::TestCatalog;
using testing::TestClient;
using testing::TestOptions;
using testing::TestResponse;

// Generous: a held I/O thread never answers at all; a free one answers in milliseconds.
constexpr std::chrono::seconds kBound{10};

// Holds the service calls that enter it until the test opens it.
class Gate {
 public:
  void Enter() {
    MutexLock lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock.native(), [this]() REQUIRES(mu_) { return open_; });
  }
  bool WaitEntered() {
    MutexLock lock(mu_);
    return cv_.wait_for(lock.native(), kBound, [this]() REQUIRES(mu_) { return entered_; });
  }
  void Open() {
    MutexLock lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  bool entered_ GUARDED_BY(mu_) = false;
  bool open_ GUARDED_BY(mu_) = false;
};

// Test double: FakeTaskService whose Cancel waits at the gate, as a durable commit would.
class GatedCancelTestDouble : public FakeTaskService {
 public:
  explicit GatedCancelTestDouble(Gate& gate) : gate_(gate) {}
  Result<CancelResult> Cancel(const std::string& tenant, const std::string& task_id) override {
    gate_.Enter();
    return FakeTaskService::Cancel(tenant, task_id);
  }

 private:
  Gate& gate_;
};

// Test double: a WorkSource that leases nothing and whose Complete waits at the gate, as the
// image write and the durable commit would.
class GatedCompleteWorkSourceTestDouble : public WorkSource {
 public:
  explicit GatedCompleteWorkSourceTestDouble(Gate& gate) : gate_(gate) {}
  Status Register(const WorkerInfo&) override { return Status::Ok(); }
  void Unregister(const std::string&) override {}
  Result<std::vector<LeasedTask>> Lease(const LeaseRequest&) override {
    return std::vector<LeasedTask>{};
  }
  Result<HeartbeatReply> Heartbeat(const std::string&, uint64_t, Millis,
                                   std::optional<TaskProgress>) override {
    return HeartbeatReply{};
  }
  Status Progress(const std::string&, uint64_t, TaskProgress, std::string) override {
    return Status::Ok();
  }
  Result<Task> Complete(const std::string& task_id, uint64_t,
                        std::vector<GeneratedImage>) override {
    gate_.Enter();
    return Ended(task_id, TaskState::kSucceeded);
  }
  Result<Task> Fail(const Failure& failure) override {
    return Ended(failure.task_id, TaskState::kFailed);
  }
  Result<Task> Release(const std::string& task_id, uint64_t) override {
    return Ended(task_id, TaskState::kQueued);
  }
  Result<Task> MarkCanceled(const std::string& task_id, uint64_t) override {
    return Ended(task_id, TaskState::kCanceled);
  }

 private:
  static Task Ended(const std::string& task_id, TaskState state) {
    Task task;
    task.id = task_id;
    task.state = state;
    return task;
  }
  Gate& gate_;
};

ApiServerOptions OneIoThread() {
  ApiServerOptions o = TestOptions();
  o.io_threads = 1;
  return o;
}

// With a call held at `gate`, GET /healthz on another connection is answered; then the gate
// opens (whatever happened, so that nothing stays held).
void ExpectHealthzAnsweredWhileHeld(uint16_t port, Gate& gate) {
  ASSERT_TRUE(gate.WaitEntered()) << "the call never reached the service";
  auto health = std::async(std::launch::async, [port] {
    TestClient client(port);
    return client.Send("GET", "/healthz").status;
  });
  bool answered = health.wait_for(kBound) == std::future_status::ready;
  gate.Open();
  EXPECT_TRUE(answered) << "GET /healthz waited for a held service call: it ran on the I/O thread";
  EXPECT_EQ(health.get(), 200);
}

TEST(BlockingCalls, CancelWaitsOffTheIoThreadAndAnswersAsBefore) {
  Gate gate;
  GatedCancelTestDouble service(gate);
  ApiServer server(service, TestCatalog(), OneIoThread());
  ASSERT_TRUE(server.Start().ok());
  TestResponse created = TestClient(server.port())
                             .Send("POST", "/v1/tasks", {{"Content-Type", "application/json"}},
                                   R"({"prompt":"a red circle"})");
  ASSERT_EQ(created.status, 202);
  size_t at = created.body.find("\"id\":\"") + 6;
  std::string id = created.body.substr(at, created.body.find('"', at) - at);

  auto cancel = std::async(std::launch::async, [port = server.port(), id] {
    return TestClient(port).Send("POST", "/v1/tasks/" + id + "/cancel");
  });
  ExpectHealthzAnsweredWhileHeld(server.port(), gate);
  TestResponse canceled = cancel.get();
  EXPECT_EQ(canceled.status, 200);
  EXPECT_NE(canceled.body.find("\"status\":\"canceled\""), std::string::npos) << canceled.body;
  // Errors map as before: an unknown task is 404.
  EXPECT_EQ(TestClient(server.port())
                .Send("POST", "/v1/tasks/" + std::string(testing::kUnknownTaskId) + "/cancel")
                .status,
            404);
}

TEST(BlockingCalls, WorkerCompletionWaitsOffTheIoThreadAndIsReplied) {
  Gate gate;
  FakeTaskService service;
  GatedCompleteWorkSourceTestDouble source(gate);
  ApiServer server(service, TestCatalog(), OneIoThread());
  server.gateway().EnableWorkerProtocol(source, {.tokens = {"worker-token"}});
  ASSERT_TRUE(server.Start().ok());

  wire::ExchangeRequest request;
  request.worker_id = "worker-1";
  request.hello = WorkerInfo{"worker-1", "host", "cpu", {"shapes-32"}, 1};
  wire::WorkerMessage complete;
  complete.seq = 1;
  complete.type = wire::MessageType::kComplete;
  complete.task_id = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";
  complete.fencing = 1;
  complete.images.push_back(GeneratedImage{"png-bytes", 32, 32, 7});
  request.messages.push_back(complete);
  auto exchange = std::async(std::launch::async, [port = server.port(), &request] {
    return TestClient(port).Send(
        "POST", std::string(wire::kExchangePath),
        {{"Content-Type", "application/json"}, {"Authorization", "Bearer worker-token"}},
        wire::EncodeRequest(request));
  });
  ExpectHealthzAnsweredWhileHeld(server.port(), gate);
  TestResponse answered = exchange.get();
  ASSERT_EQ(answered.status, 200) << answered.body;
  Result<wire::ExchangeResponse> response = wire::DecodeResponse(answered.body);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  ASSERT_EQ(response->replies.size(), 1u);
  EXPECT_EQ(response->replies[0].seq, 1);
  EXPECT_TRUE(response->replies[0].status.ok()) << response->replies[0].status.ToString();
  EXPECT_EQ(response->replies[0].state, TaskState::kSucceeded);
}

}  // namespace
}  // namespace stipple::http
