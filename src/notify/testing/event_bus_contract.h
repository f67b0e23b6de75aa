// The EventBus contract suite: what event_bus.h promises of every bus, as value-parameterized
// tests — numbering and ordering per task, PublishBatch, replay from a sequence number, the gaps
// a subscriber sees where the history was thinned or the task ended, the tenant filter of
// all-task subscriptions, Seed, Deliver, and delivery across an interruption of the bus's
// backing store. A bus runs the same cases by providing a harness factory and one line in its
// test file:
//
//   INSTANTIATE_EVENT_BUS_CONTRACT(InMemory, &MakeInMemoryHarness);
//
// A harness holds two buses that share one history: the publisher's and the subscriber's (two
// gateways over one Redis; the same object for a bus of one process), so every case also checks
// that events cross from one to the other.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "notify/event_bus.h"

namespace stipple {

struct EventBusHarnessOptions {
  int progress_kept = 32;  // progress events held per task
};

// How a case interrupts the bus's backing store.
enum class BusInterruption {
  kRestart,          // the store is killed and started again (no acknowledged event is lost)
  kDropConnections,  // every connection to it is cut, the store keeps running
};

class EventBusHarness {
 public:
  virtual ~EventBusHarness() = default;
  virtual EventBus& publisher() = 0;
  virtual EventBus& subscriber() = 0;
  // Interrupts the backing store (nothing to interrupt for a bus of one process: OK).
  virtual Status Interrupt(BusInterruption how) = 0;
  // Brings it back (after kRestart), without waiting for the buses to notice.
  virtual Status Resume() = 0;
  // Waits until both buses are connected and caught up again.
  virtual bool WaitConnected() = 0;
};

using EventBusHarnessFactory = std::unique_ptr<EventBusHarness> (*)(const EventBusHarnessOptions&);

class EventBusContract : public ::testing::TestWithParam<EventBusHarnessFactory> {
 protected:
  void SetUp() override { harness_ = Make({}); }
  void TearDown() override { harness_.reset(); }
  std::unique_ptr<EventBusHarness> Make(const EventBusHarnessOptions& options) {
    return GetParam()(options);
  }
  EventBus& pub() { return harness_->publisher(); }
  EventBus& sub() { return harness_->subscriber(); }

  std::unique_ptr<EventBusHarness> harness_;
};

// An event of `task_id` as a task service publishes it: `started`, `progress` and `retrying`
// carry the lease's fencing number and attempt; a terminal event carries the ended task.
TaskEvent ContractEvent(const std::string& task_id, TaskEventType type, uint64_t fencing = 0,
                        int attempt = 0);

}  // namespace stipple

#define INSTANTIATE_EVENT_BUS_CONTRACT(NAME, factory)                          \
  INSTANTIATE_TEST_SUITE_P(NAME, EventBusContract, ::testing::Values(factory), \
                           [](const auto&) { return std::string("bus"); })
