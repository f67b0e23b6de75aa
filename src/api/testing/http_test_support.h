// Test support for src/api: FakeTaskService, a test double of TaskService that keeps tasks in
// memory and lets a test drive them (start, progress, finish); TestServer, a FakeTaskService
// behind a started ApiServer; and, from http/testing/test_client.h, a small blocking HTTP client
// over loopback. For tests only (stipple_api_testing).
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/api_server.h"
#include "common/thread_annotations.h"
#include "http/http_message.h"
#include "http/testing/test_client.h"
#include "service/task_service.h"

namespace stipple::http::testing {

// Callbacks run on the fake's own thread, as the contract asks; a Subscription's destructor
// waits for a running callback and stops later ones.
class FakeTaskService : public TaskService {
 public:
  explicit FakeTaskService(const Clock* clock = SystemClock::Get());
  ~FakeTaskService() override;

  Result<EnqueueResult> Submit(const NewTask& task) override;
  Result<Task> Get(const std::string& tenant, const std::string& task_id) override;
  Result<CancelResult> Cancel(const std::string& tenant, const std::string& task_id) override;
  Result<TaskPage> List(const ListQuery& query) override;
  Result<std::unique_ptr<Subscription>> WhenTerminal(
      const std::string& tenant, const std::string& task_id,
      std::function<void(const Task&)> done) override;
  Result<std::unique_ptr<Subscription>> Subscribe(
      const std::string& tenant, const std::string& task_id, int64_t after_seq,
      std::function<void(const TaskEvent&)> on_event) override;
  std::unique_ptr<Subscription> SubscribeAll(
      const std::string& tenant, std::function<void(const TaskEvent&)> on_event) override;
  Result<OutputBlob> Output(const std::string& tenant, const std::string& task_id,
                            int index) override;
  Result<std::string> Preview(const std::string& tenant, const std::string& task_id) override;
  Result<QueueSnapshot> Queue() override;
  Status Ready() override;

  // Driving tasks, as a worker would.
  void Start(const std::string& task_id);
  void Progress(const std::string& task_id, int step, int steps, std::string preview_png = "");
  // Succeeds with one PNG-ish output per image (bytes "png:<id>:<i>", etag "\"<id>-<i>\"").
  void Succeed(const std::string& task_id);
  void Fail(const std::string& task_id);
  void ExpireOutputs(const std::string& task_id);

  // What the gateway did.
  size_t submit_calls() const;
  std::vector<NewTask> submitted() const;
  size_t active_subscriptions() const;

  // Knobs.
  void set_ready(Status status);
  void set_queue(QueueSnapshot snapshot);
  void set_submit_error(Status status);

 private:
  struct Sub;
  void Publish(const std::string& task_id, TaskEvent event) REQUIRES(mu_);
  // Watches `sub` (for Publish) and returns the caller's handle that owns it.
  std::unique_ptr<Subscription> Track(std::shared_ptr<Sub> sub) REQUIRES(mu_);
  void Finish(const std::string& task_id, TaskState state);
  void RunOnCallbackThread(std::function<void()> fn);
  bool Visible(const std::string& tenant, const Task& task) const;

  const Clock* clock_;
  mutable Mutex mu_;
  std::map<std::string, Task> tasks_ GUARDED_BY(mu_);
  std::map<std::string, std::vector<TaskEvent>> events_ GUARDED_BY(mu_);
  std::map<std::string, std::string> previews_ GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, std::string> idempotency_
      GUARDED_BY(mu_);  // → task id
  std::map<std::string, std::string> fingerprints_ GUARDED_BY(mu_);
  std::vector<NewTask> submitted_ GUARDED_BY(mu_);
  size_t submit_calls_ GUARDED_BY(mu_) = 0;
  std::vector<std::weak_ptr<Sub>> subs_ GUARDED_BY(mu_);
  Status ready_ GUARDED_BY(mu_);
  Status submit_error_ GUARDED_BY(mu_);
  QueueSnapshot queue_ GUARDED_BY(mu_);

  Mutex cb_mu_;
  std::condition_variable cb_cv_;
  std::deque<std::function<void()>> callbacks_ GUARDED_BY(cb_mu_);
  bool cb_stop_ GUARDED_BY(cb_mu_) = false;
  std::thread cb_thread_;
};

// Options for tests: any free port, two I/O threads, short timeouts and keep-alives, fixed seeds.
ApiServerOptions TestOptions();

// A FakeTaskService behind a started ApiServer on 127.0.0.1.
struct TestServer {
  explicit TestServer(ApiServerOptions options = TestOptions());
  ~TestServer();
  uint16_t port() const { return server->port(); }
  TestResponse Send(const std::string& method, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers = {},
                    const std::string& body = "");
  // POST /v1/tasks with a JSON body; returns the created task's id ("" on failure).
  std::string CreateTask(const std::string& body = R"({"prompt":"a red circle"})");

  FakeTaskService service;
  std::unique_ptr<ApiServer> server;
};

// "shapes-32" with the defaults of ModelLimits.
ModelCatalog TestCatalog();

// A valid id that names no task.
inline constexpr const char* kUnknownTaskId = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";

}  // namespace stipple::http::testing
