// The transition table: one list of cases — where a task starts (its state and the lease, retry
// and ttl conditions around it), one call a gateway or a worker makes on it, and the fencing
// number that call presents — each with its outcome: allowed, and the state the task ends in, or
// refused, and with which error. Every TaskStore runs the whole table, and every outcome is also
// checked against the rules of store/transitions.h applied to the very record the store held
// before the call. So the SQL of the SQLite store and the Lua of the Redis store (whose lease
// script restates IsLeasable and Lease) cannot drift from transitions.cc, nor from each other.
//
// A store runs it by adding one line to its test file, with the harness factory of its contract
// suite (task_store_contract.h):
//
//   INSTANTIATE_TRANSITION_TABLE(Redis, &MakeRedisHarness);
//
// Each case gets a fresh store; its starting point is reached through the store's own calls
// (enqueue, lease, fail, cancel, reap and the harness's clock), and checked before the call.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "store/testing/task_store_contract.h"

namespace stipple {

// Where a case's task starts (max_attempts 3 unless named otherwise).
enum class TableFrom {
  kQueued,                    // never leased
  kQueuedInBackoff,           // a transient failure's retry_after still running (attempts 1)
  kQueuedBackoffOver,         // ... and ended
  kQueuedTtlPassed,           // never started, its ttl passed, not reaped yet
  kQueuedStartedTtlPassed,    // started once (then released), its ttl passed
  kRunning,                   // leased, attempt 1 of 3
  kRunningLastAttempt,        // leased, attempt 1 of 1
  kRunningCancelRequested,    // leased, then Cancel
  kRunningLapsed,             // leased, its lease expired, not reaped yet
  kRunningLastAttemptLapsed,  // attempt 1 of 1, its lease expired
  kRunningCancelRequestedLapsed,
  kSucceeded,
  kFailed,
  kCanceled,
  kExpired,
};

// The call made on the task.
enum class TableCall {
  kLease,  // a Lease of the task's model
  kHeartbeat,
  kComplete,
  kFailPermanent,
  kFailTransient,  // retry_after 10 s
  kRelease,
  kMarkCanceled,
  kCancel,
  kReap,
};

// The fencing number the call presents: the task's latest one, or one it never had.
enum class TableFencing { kCurrent, kStale };

struct TransitionCase {
  TableFrom from;
  TableCall call;
  TableFencing fencing = TableFencing::kCurrent;
  // The outcome: OK, or the error the call is refused with (the task then unchanged).
  StatusCode code = StatusCode::kOk;
  // After the call (also when refused: then it is the starting state).
  TaskState state = TaskState::kQueued;
  int attempts = 0;
  // For kLease: whether the task was handed out. For kCancel: already_terminal.
  bool flag = false;
  // The task's error code afterwards ("" for none).
  const char* error = "";
};

const std::vector<TransitionCase>& TransitionCases();
std::string TransitionCaseName(const TransitionCase& c);  // e.g. "Running_Complete_StaleFencing"

class TransitionTable
    : public ::testing::TestWithParam<std::tuple<TaskStoreHarnessFactory, size_t>> {
 protected:
  void SetUp() override { harness_ = std::get<0>(GetParam())(); }
  void TearDown() override { harness_.reset(); }
  TaskStore& store() { return harness_->store(); }
  ManualClock& clock() { return harness_->clock; }
  // Brings a new task to `from` through the store's calls; the task as the store holds it.
  std::optional<Task> Reach(TableFrom from);

  std::unique_ptr<TaskStoreHarness> harness_;
};

}  // namespace stipple

// Runs every case of the table against the stores that `factory` makes; the tests are named
// NAME/TransitionTable.Case/<start>_<call>[_StaleFencing].
#define INSTANTIATE_TRANSITION_TABLE(NAME, factory)                                         \
  INSTANTIATE_TEST_SUITE_P(                                                                 \
      NAME, TransitionTable,                                                                \
      ::testing::Combine(::testing::Values(factory),                                        \
                         ::testing::Range<size_t>(0, ::stipple::TransitionCases().size())), \
      [](const auto& info) {                                                                \
        return ::stipple::TransitionCaseName(                                               \
            ::stipple::TransitionCases()[std::get<1>(info.param)]);                         \
      })
