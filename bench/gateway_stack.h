// `stipple serve` without its in-process workers, for the gateway benchmarks: the HTTP server
// over a ServiceStack, the SQLite task store (default options: group commit, fsync), the
// in-memory event bus and the file result store, over a fresh data directory. Tasks stay queued
// until the benchmark leases them itself. `max_queue` is the service's queue bound (serve's
// --max-queue; 0: none); a benchmark that changes it from the default says so. For benchmarks
// only.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "api/api_server.h"
#include "api/testing/http_test_support.h"
#include "notify/in_memory_event_bus.h"
#include "results/fs_result_store.h"
#include "service/service_stack.h"
#include "store/sqlite/sqlite_task_store.h"

namespace stipple::bench {

struct GatewayStack {
  explicit GatewayStack(const std::filesystem::path& dir,
                        http::ApiServerOptions options = http::ApiServerOptions{},
                        int64_t max_queue = 0) {
    std::filesystem::create_directories(dir);
    SqliteTaskStoreOptions store_options;
    store_options.path = (dir / "tasks.db").string();
    store = std::move(SqliteTaskStore::Open(store_options)).value();
    results = std::move(FsResultStore::Open({.dir = (dir / "outputs").string()})).value();
    bus = std::make_unique<InMemoryEventBus>();
    ServiceOptions service_options;
    service_options.max_queue = max_queue;
    service = std::make_unique<ServiceStack>(*store, *bus, *results, service_options);
    options.port = 0;
    server =
        std::make_unique<http::ApiServer>(service->tasks(), http::testing::TestCatalog(), options);
    if (!server->Start().ok()) std::abort();
  }
  ~GatewayStack() {
    server.reset();
    service.reset();
  }
  uint16_t port() const { return server->port(); }
  // Tasks queued now (-1 when the store does not answer).
  int64_t Queued() {
    Result<std::vector<QueueCounts>> counts = store->Counts();
    if (!counts.ok()) return -1;
    int64_t n = 0;
    for (const QueueCounts& c : *counts) n += c.queued[0] + c.queued[1] + c.queued[2];
    return n;
  }

  std::unique_ptr<SqliteTaskStore> store;
  std::unique_ptr<FsResultStore> results;
  std::unique_ptr<InMemoryEventBus> bus;
  std::unique_ptr<ServiceStack> service;
  std::unique_ptr<http::ApiServer> server;
};

// POST /v1/tasks with `body`; the new task's id ("" on failure).
inline std::string CreateTaskOver(uint16_t port, const std::string& body) {
  http::testing::TestClient client(port);
  http::testing::TestResponse r =
      client.Send("POST", "/v1/tasks", {{"Content-Type", "application/json"}}, body);
  size_t at = r.body.find("\"id\":\"");
  return at == std::string::npos ? "" : r.body.substr(at + 6, r.body.find('"', at + 6) - at - 6);
}

}  // namespace stipple::bench
