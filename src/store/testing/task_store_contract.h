// The TaskStore contract suite: every behaviour task_store.h promises, as value-parameterized
// tests. An implementation runs the very same cases by providing a harness factory and adding one
// line to its test file:
//
//   INSTANTIATE_TASK_STORE_CONTRACT(Sqlite, &MakeSqliteHarness);
//
// Time is the harness's ManualClock, so lease expiry and ttl are tested without sleeping.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/task_store.h"

namespace stipple {

// Owns one fresh, empty store that reads time from `clock`.
class TaskStoreHarness {
 public:
  virtual ~TaskStoreHarness() = default;
  virtual TaskStore& store() = 0;
  ManualClock clock;
};

using TaskStoreHarnessFactory = std::unique_ptr<TaskStoreHarness> (*)();

class TaskStoreContract : public ::testing::TestWithParam<TaskStoreHarnessFactory> {
 protected:
  void SetUp() override { harness_ = GetParam()(); }
  void TearDown() override { harness_.reset(); }

  TaskStore& store() { return harness_->store(); }
  ManualClock& clock() { return harness_->clock; }

  // Enqueues a task and returns it (fails the test on error).
  Task Enqueue(const std::string& tenant = "acme", const std::string& model = "shapes-32",
               Priority priority = Priority::kNormal, std::optional<int> ttl_s = std::nullopt);
  // Leases exactly one task of `model`, failing the test if there is none.
  Task LeaseOne(const std::string& model = "shapes-32", Millis lease = Millis(30'000),
                const std::string& worker = "worker-1");

  std::unique_ptr<TaskStoreHarness> harness_;
};

// A normalized request for tests of the store (the store does not validate requests).
GenerationRequest TestRequest(const std::string& model = "shapes-32",
                              Priority priority = Priority::kNormal,
                              std::string prompt = "a red circle");
NewTask TestNewTask(const std::string& tenant, const GenerationRequest& request);
// A completion of `t`'s current lease with one 32×32 output kept until `expire`.
Completion CompletionFor(const Task& t, Timestamp expire);
// A failure of `t`'s current lease with code engine_error.
Failure FailureFor(const Task& t, FailureKind kind, Millis retry_after = Millis(0));

}  // namespace stipple

// Runs the whole contract suite against the stores that `factory` makes; the tests are named
// NAME/TaskStoreContract.Behaviour/store.
#define INSTANTIATE_TASK_STORE_CONTRACT(NAME, factory)                          \
  INSTANTIATE_TEST_SUITE_P(NAME, TaskStoreContract, ::testing::Values(factory), \
                           [](const auto&) { return std::string("store"); })
