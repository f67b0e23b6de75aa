#include "store/transitions.h"

#include <gtest/gtest.h>

namespace stipple {
namespace {

Task Running(int attempts = 1, int max_attempts = 3) {
  Task t;
  t.id = "tsk_1";
  t.state = TaskState::kRunning;
  t.attempts = attempts;
  t.max_attempts = max_attempts;
  t.fencing = 7;
  t.worker_id = "w";
  t.lease_expires_at = FromUnixMillis(5000);
  return t;
}

TEST(Transitions, CheckLeaseAcceptsOnlyTheCurrentFencingOfARunningTask) {
  Task t = Running();
  EXPECT_TRUE(transitions::CheckLease(t, 7).ok());
  EXPECT_EQ(transitions::CheckLease(t, 6).code(), StatusCode::kAborted);
  t.state = TaskState::kQueued;
  EXPECT_EQ(transitions::CheckLease(t, 7).code(), StatusCode::kAborted);
}

TEST(Transitions, LapseWithAttemptsLeftRequeuesAndClearsTheLease) {
  Task t = Running(1, 3);
  ASSERT_TRUE(transitions::LapseLease(t, FromUnixMillis(6000)).ok());
  EXPECT_EQ(t.state, TaskState::kQueued);
  EXPECT_EQ(t.attempts, 1);
  EXPECT_TRUE(t.worker_id.empty());
  EXPECT_FALSE(t.lease_expires_at.has_value());
}

TEST(Transitions, LapseOnTheLastAttemptFailsWithWorkerLost) {
  Task t = Running(3, 3);
  ASSERT_TRUE(transitions::LapseLease(t, FromUnixMillis(6000)).ok());
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.error->code, "worker_lost");
  EXPECT_EQ(t.completed_at, FromUnixMillis(6000));
}

TEST(Transitions, ReleaseGivesTheAttemptBack) {
  Task t = Running(2, 3);
  ASSERT_TRUE(transitions::Release(t, FromUnixMillis(6000)).ok());
  EXPECT_EQ(t.state, TaskState::kQueued);
  EXPECT_EQ(t.attempts, 1);
}

TEST(Transitions, ReleaseOfACancelRequestedTaskCancelsIt) {
  Task t = Running();
  t.cancel_requested = true;
  ASSERT_TRUE(transitions::Release(t, FromUnixMillis(6000)).ok());
  EXPECT_EQ(t.state, TaskState::kCanceled);
}

TEST(Transitions, CancelOfATerminalTaskChangesNothing) {
  Task t = Running();
  t.state = TaskState::kSucceeded;
  Task before = t;
  EXPECT_FALSE(transitions::Cancel(t, FromUnixMillis(6000)));
  EXPECT_EQ(t, before);
}

TEST(Transitions, LeasableOnlyWhenQueuedPastNotBeforeAndWithinTtl) {
  Task t;
  t.state = TaskState::kQueued;
  EXPECT_TRUE(transitions::IsLeasable(t, FromUnixMillis(100)));
  t.not_before = FromUnixMillis(200);
  EXPECT_FALSE(transitions::IsLeasable(t, FromUnixMillis(100)));
  EXPECT_TRUE(transitions::IsLeasable(t, FromUnixMillis(200)));
  t.expires_at = FromUnixMillis(300);
  EXPECT_FALSE(transitions::IsLeasable(t, FromUnixMillis(300)));
}

TEST(Transitions, CompleteReportsEveryStepDoneEvenWithoutAHeartbeat) {
  Task t = Running();
  t.request.steps = 20;
  ASSERT_TRUE(transitions::Complete(t, Completion{"tsk_1", 7, {}, FromUnixMillis(9000)},
                                    FromUnixMillis(400))
                  .ok());
  ASSERT_TRUE(t.progress.has_value());
  EXPECT_EQ(*t.progress, (TaskProgress{20, 20}));
}

// The rules hold in every build: this binary is built with -DNDEBUG in release configurations,
// where an assert() would check nothing.
TEST(Transitions, ATransitionFromAStateThatDoesNotAllowItLeavesTheTaskUnchanged) {
  const Timestamp now = FromUnixMillis(6000);
  Task queued = Running();
  queued.state = TaskState::kQueued;
  queued.worker_id.clear();
  queued.lease_expires_at.reset();
  Task succeeded = Running();
  succeeded.state = TaskState::kSucceeded;
  succeeded.worker_id.clear();
  succeeded.lease_expires_at.reset();
  succeeded.completed_at = FromUnixMillis(5500);

  Task t = queued;
  EXPECT_EQ(transitions::Complete(t, Completion{"tsk_1", 7, {}, FromUnixMillis(9000)}, now).code(),
            StatusCode::kInternal);
  EXPECT_EQ(t, queued);
  t = queued;
  EXPECT_EQ(transitions::LapseLease(t, now).code(), StatusCode::kInternal);
  EXPECT_EQ(t, queued);
  t = succeeded;
  EXPECT_EQ(transitions::Lease(t, "w2", 8, now, Millis(1000)).code(), StatusCode::kInternal);
  EXPECT_EQ(t, succeeded);
  t = succeeded;
  EXPECT_EQ(
      transitions::Fail(t, Failure{"tsk_1", 7, {}, FailureKind::kPermanent, Millis(0)}, now).code(),
      StatusCode::kInternal);
  EXPECT_EQ(t, succeeded);
  t = succeeded;
  EXPECT_EQ(transitions::Release(t, now).code(), StatusCode::kInternal);
  EXPECT_EQ(t, succeeded);
  t = succeeded;
  EXPECT_EQ(transitions::MarkCanceled(t, now).code(), StatusCode::kInternal);
  EXPECT_EQ(t, succeeded);
  Task running = Running();
  t = running;
  EXPECT_EQ(transitions::Expire(t, now).code(), StatusCode::kInternal);
  EXPECT_EQ(t, running);
}

}  // namespace
}  // namespace stipple
