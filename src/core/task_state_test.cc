#include "core/task_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace stipple {
namespace {

constexpr TaskState kAllStates[] = {TaskState::kQueued, TaskState::kRunning,  TaskState::kSucceeded,
                                    TaskState::kFailed, TaskState::kCanceled, TaskState::kExpired};

TEST(TaskState, LifecycleAllowsExactlyTheDocumentedTransitions) {
  const std::vector<std::pair<TaskState, TaskState>> allowed = {
      {TaskState::kQueued, TaskState::kRunning},    {TaskState::kQueued, TaskState::kCanceled},
      {TaskState::kQueued, TaskState::kExpired},    {TaskState::kRunning, TaskState::kQueued},
      {TaskState::kRunning, TaskState::kSucceeded}, {TaskState::kRunning, TaskState::kFailed},
      {TaskState::kRunning, TaskState::kCanceled},
  };
  for (TaskState from : kAllStates) {
    for (TaskState to : kAllStates) {
      bool expected =
          std::find(allowed.begin(), allowed.end(), std::pair(from, to)) != allowed.end();
      EXPECT_EQ(IsAllowedTransition(from, to), expected)
          << TaskStateName(from) << " -> " << TaskStateName(to);
    }
  }
}

TEST(TaskState, TerminalStatesAreNeverLeft) {
  for (TaskState from : kAllStates) {
    if (!IsTerminal(from)) continue;
    for (TaskState to : kAllStates) {
      EXPECT_FALSE(IsAllowedTransition(from, to))
          << TaskStateName(from) << " -> " << TaskStateName(to);
    }
  }
}

TEST(TaskState, OnlyQueuedAndRunningAreLive) {
  EXPECT_FALSE(IsTerminal(TaskState::kQueued));
  EXPECT_FALSE(IsTerminal(TaskState::kRunning));
  EXPECT_TRUE(IsTerminal(TaskState::kSucceeded));
  EXPECT_TRUE(IsTerminal(TaskState::kFailed));
  EXPECT_TRUE(IsTerminal(TaskState::kCanceled));
  EXPECT_TRUE(IsTerminal(TaskState::kExpired));
}

TEST(TaskState, NamesRoundTrip) {
  for (TaskState state : kAllStates) EXPECT_EQ(ParseTaskState(TaskStateName(state)), state);
  EXPECT_EQ(TaskStateName(TaskState::kSucceeded), "succeeded");
  EXPECT_EQ(ParseTaskState("done"), std::nullopt);
  EXPECT_EQ(ParseTaskState("Queued"), std::nullopt);
}

TEST(Priority, NamesRoundTrip) {
  for (Priority p : {Priority::kHigh, Priority::kNormal, Priority::kLow}) {
    EXPECT_EQ(ParsePriority(PriorityName(p)), p);
  }
  EXPECT_EQ(PriorityName(Priority::kNormal), "normal");
  EXPECT_EQ(ParsePriority("urgent"), std::nullopt);
}

}  // namespace
}  // namespace stipple
