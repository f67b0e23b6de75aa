// The fixture of the service's tests: a ServiceStack over a SQLite store, file results (both
// without fsync) and the in-memory event bus, on a manual clock, with no housekeeping thread.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/id.h"
#include "notify/in_memory_event_bus.h"
#include "results/fs_result_store.h"
#include "service/service_stack.h"
#include "store/sqlite/sqlite_task_store.h"

namespace stipple {

class ServiceStackTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(ServiceOptions options) {
    std::filesystem::create_directories(dir_);
    auto store = SqliteTaskStore::Open(
        {.path = (dir_ / "tasks.db").string(), .clock = &clock_, .sync_full = false});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    auto results = FsResultStore::Open({.dir = (dir_ / "outputs").string(), .sync = false});
    ASSERT_TRUE(results.ok()) << results.status().ToString();
    results_ = std::move(*results);
    bus_ = std::make_unique<InMemoryEventBus>(InMemoryEventBusOptions{.clock = &clock_});
    options.clock = &clock_;
    options.housekeeping_thread = false;
    service_ = std::make_unique<ServiceStack>(*store_, *bus_, *results_, options);
  }
  void TearDown() override {
    service_.reset();
    bus_.reset();
    results_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  NewTask MakeTask(const std::string& tenant = "acme") {
    NewTask t;
    t.id = NewId("tsk");
    t.tenant = tenant;
    t.request.prompt = "a red circle";
    t.request.model = "shapes-32";
    t.request.width = 32;
    t.request.height = 32;
    t.request.steps = 20;
    t.request.scheduler = "ddim";
    t.request.seed = 42;
    t.request_fingerprint = t.id;
    return t;
  }
  Task Submit(const std::string& tenant = "acme") {
    auto r = service_->tasks().Submit(MakeTask(tenant));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->task : Task{};
  }
  Task LeaseOne(const std::string& worker = "worker-1", Millis lease = Millis(30'000)) {
    auto r = service_->work().Lease(
        {.worker_id = worker, .models = {"shapes-32"}, .max_tasks = 1, .lease_duration = lease});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->size() != 1) {
      ADD_FAILURE() << "expected one leased task";
      return Task{};
    }
    return r->front().task;
  }
  Result<Task> CompleteWith(const Task& leased, std::string png) {
    return service_->work().Complete(leased.id, leased.fencing,
                                     {GeneratedImage{std::move(png), 32, 32, 42}});
  }

  std::filesystem::path dir_ =
      std::filesystem::path(::testing::TempDir()) / ("stipple-service-" + NewId("tmp"));
  ManualClock clock_;
  std::unique_ptr<SqliteTaskStore> store_;
  std::unique_ptr<FsResultStore> results_;
  std::unique_ptr<InMemoryEventBus> bus_;
  std::unique_ptr<ServiceStack> service_;
};

}  // namespace stipple
