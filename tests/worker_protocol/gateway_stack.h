// The worker-protocol tests' gateway: a real ServiceStack (SQLite store, file results,
// in-memory events) behind a real ApiServer on a free loopback port, with the worker protocol
// enabled for the token kWorkerToken. Leases lapse in real time (short ones in these tests).
// AddServer starts another gateway over the same service — two gateways sharing one task store,
// as gateways share Redis — for the failover tests.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/api_server.h"
#include "common/id.h"
#include "notify/in_memory_event_bus.h"
#include "results/fs_result_store.h"
#include "service/service_stack.h"
#include "store/sqlite/sqlite_task_store.h"
#include "worker/testing/worker_test_fixture.h"

namespace stipple::testing {

inline constexpr const char* kWorkerToken = "worker-secret-1";

class GatewayStack {
 public:
  explicit GatewayStack(const std::string& name) {
    dir_ = std::filesystem::temp_directory_path() /
           (name + "-" + std::to_string(::getpid()) + "-" + NewId("d"));
    std::filesystem::create_directories(dir_);
    store_ =
        SqliteTaskStore::Open({.path = (dir_ / "tasks.db").string(), .sync_full = false}).value();
    results_ = FsResultStore::Open({.dir = (dir_ / "outputs").string(), .sync = false}).value();
    ServiceOptions options;
    options.reap_interval = Millis(50);
    service_ = std::make_unique<ServiceStack>(*store_, bus_, *results_, options);
    servers_.push_back(StartServer(0));
  }
  ~GatewayStack() {
    servers_.clear();
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Stops the gateway (every connection closes) and starts a fresh one on the same port over
  // the same service: to the workers, a gateway restart.
  void RestartServer(size_t i = 0) {
    StopServer(i);
    servers_[i] = StartServer(ports_[i]);
  }
  // One more gateway over the same service; returns its index.
  size_t AddServer() {
    servers_.push_back(StartServer(0));
    return servers_.size() - 1;
  }
  // Stops gateway `i` for good (until RestartServer(i)): its port refuses connections.
  void StopServer(size_t i) { servers_[i].reset(); }

  std::string Submit(const std::string& prompt, int steps = 2, int max_attempts = 3) {
    NewTask t;
    t.id = NewId("tsk");
    t.tenant = "acme";
    t.request = TestRequest(prompt, steps);
    t.max_attempts = max_attempts;
    Result<EnqueueResult> r = service_->tasks().Submit(t);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return t.id;
  }
  Task Get(const std::string& id) { return service_->tasks().Get("", id).value(); }
  // Polls the task (every 10 ms) until `predicate` holds; false after `timeout`.
  template <typename Predicate>
  bool WaitTask(const std::string& id, Predicate predicate,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000)) {
    return Eventually([&] { return predicate(Get(id)); }, timeout);
  }
  bool WaitState(const std::string& id, TaskState state,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000)) {
    return WaitTask(
        id, [&](const Task& t) { return t.state == state; }, timeout);
  }

  TaskService& service() { return service_->tasks(); }
  uint16_t port(size_t i = 0) const { return ports_[i]; }
  std::string url(size_t i = 0) const { return "http://127.0.0.1:" + std::to_string(port(i)); }

 private:
  std::unique_ptr<http::ApiServer> StartServer(uint16_t port) {
    http::ApiServerOptions options;
    options.port = port;
    options.io_threads = 2;
    options.stop_grace = std::chrono::milliseconds(2'000);
    ModelLimits limits = TestDoubleEngine().limits();
    auto server =
        std::make_unique<http::ApiServer>(service_->tasks(), ModelCatalog{{limits}}, options);
    http::WorkerProtocolOptions protocol;
    protocol.tokens = {kWorkerToken};
    server->gateway().EnableWorkerProtocol(service_->work(), protocol);
    Status started = server->Start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    if (port == 0) ports_.push_back(server->port());
    return server;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteTaskStore> store_;
  std::unique_ptr<FsResultStore> results_;
  InMemoryEventBus bus_;
  std::unique_ptr<ServiceStack> service_;
  std::vector<std::unique_ptr<http::ApiServer>> servers_;  // null: stopped
  std::vector<uint16_t> ports_;
};

}  // namespace stipple::testing
