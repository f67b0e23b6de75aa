// The WebhookOutbox contract suite: what outbox.h promises, as value-parameterized tests that
// every implementation runs together with the task store whose state changes feed it:
//
//   INSTANTIATE_WEBHOOK_OUTBOX_CONTRACT(Sqlite, &MakeSqliteOutboxHarness);
//
// Time is the harness's ManualClock (both the store and the outbox read it).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "store/task_store.h"
#include "webhook/outbox.h"

namespace stipple::webhook {

// Owns a fresh, empty task store and the outbox its state changes feed, both on `clock`.
class WebhookOutboxHarness {
 public:
  virtual ~WebhookOutboxHarness() = default;
  virtual TaskStore& store() = 0;
  virtual WebhookOutbox& outbox() = 0;
  // Closes the outbox (and the store, if it must) and opens new ones over the same data, as a
  // restart of the process does.
  virtual void Reopen() = 0;
  ManualClock clock;
};

using WebhookOutboxHarnessFactory = std::unique_ptr<WebhookOutboxHarness> (*)();

class WebhookOutboxContract : public ::testing::TestWithParam<WebhookOutboxHarnessFactory> {
 protected:
  void SetUp() override { harness_ = GetParam()(); }
  void TearDown() override { harness_.reset(); }

  TaskStore& store() { return harness_->store(); }
  WebhookOutbox& outbox() { return harness_->outbox(); }
  ManualClock& clock() { return harness_->clock; }

  std::string Submit(const GenerationRequest& request);
  // Leases the oldest queued task and returns its fencing number.
  uint64_t Lease();
  void Complete(const std::string& id, uint64_t fencing);

  std::unique_ptr<WebhookOutboxHarness> harness_;
};

}  // namespace stipple::webhook

#define INSTANTIATE_WEBHOOK_OUTBOX_CONTRACT(NAME, factory)                          \
  INSTANTIATE_TEST_SUITE_P(NAME, WebhookOutboxContract, ::testing::Values(factory), \
                           [](const auto&) { return std::string("outbox"); })
