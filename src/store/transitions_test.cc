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

TEST(Transitions, CheckLeaseRequestNamesTheBadFieldAndAnswersEachModelOnce) {
  LeaseRequest ok{.worker_id = "w", .models = {"b", "a", "b"}};
  auto models = transitions::CheckLeaseRequest(ok);
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  EXPECT_EQ(*models, (std::vector<std::string>{"a", "b"}));
  auto refused = [&](LeaseRequest r, const std::string& says) {
    Result<std::vector<std::string>> got = transitions::CheckLeaseRequest(r);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << says;
    EXPECT_NE(got.status().ToString().find(says), std::string::npos) << got.status().ToString();
  };
  LeaseRequest r = ok;
  r.worker_id.clear();
  refused(r, "worker id");
  r = ok;
  r.models.clear();
  refused(r, "model");
  r = ok;
  r.max_tasks = 0;
  refused(r, "max_tasks");
  r = ok;
  r.lease_duration = kMaxLeaseDuration + Millis(1);
  refused(r, "lease duration");
  r = ok;
  r.wait = Millis(-1);
  refused(r, "wait");
  EXPECT_TRUE(transitions::CheckLeaseDuration(kMaxLeaseDuration).ok());
  EXPECT_EQ(transitions::CheckLeaseDuration(Millis(0)).code(), StatusCode::kInvalidArgument);
}

TEST(Transitions, ReapConditionsAreALapsedLeaseAndAPassedTtlOfANeverStartedTask) {
  Task t = Running();  // lease expires at 5000
  EXPECT_FALSE(transitions::IsLapsed(t, FromUnixMillis(4999)));
  EXPECT_TRUE(transitions::IsLapsed(t, FromUnixMillis(5000)));
  Task q;
  q.state = TaskState::kQueued;
  q.expires_at = FromUnixMillis(5000);
  EXPECT_FALSE(transitions::IsPastTtl(q, FromUnixMillis(4999)));
  EXPECT_TRUE(transitions::IsPastTtl(q, FromUnixMillis(5000)));
  q.started_at = FromUnixMillis(1000);  // ttl bounds the wait for a first start only
  EXPECT_FALSE(transitions::IsPastTtl(q, FromUnixMillis(5000)));
  EXPECT_FALSE(transitions::IsLapsed(q, FromUnixMillis(9000)));
}

TEST(Transitions, HeartbeatUnderLeaseExtendsTheLeaseOfTheCurrentFencingOnly) {
  Task t = Running();
  const std::optional<TaskProgress> progress = TaskProgress{4, 20};
  ASSERT_TRUE(
      transitions::HeartbeatUnderLease(t, 7, Millis(1000), progress, FromUnixMillis(6000)).ok());
  EXPECT_EQ(t.lease_expires_at, FromUnixMillis(7000));
  EXPECT_EQ(t.progress, progress);
  const Task before = t;
  EXPECT_EQ(transitions::HeartbeatUnderLease(t, 6, Millis(1000), {}, FromUnixMillis(6500)).code(),
            StatusCode::kAborted);
  EXPECT_EQ(t, before);
}

}  // namespace
}  // namespace stipple
