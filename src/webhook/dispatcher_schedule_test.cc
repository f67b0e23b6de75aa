// The webhook retry schedule's timing: the delay before each retry and its jitter, first as the
// pure function the dispatcher uses, then through a running dispatcher whose clock is a
// ManualClock — a retry happens when that clock reaches the recorded time and never before, so
// the test does not depend on how fast the machine runs.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "webhook/dispatcher.h"
#include "webhook/testing/webhook_test_fixture.h"
#include "webhook/webhook_receiver.h"

namespace stipple::webhook {
namespace {

using std::chrono::seconds;
using testing::RequestWithWebhook;

TEST(RetryDelay, ScalesEachStepOfTheScheduleByTheJitterFactor) {
  const std::vector<Millis> schedule = {seconds(5), seconds(300), seconds(1800)};
  EXPECT_EQ(RetryDelay(schedule, 0.2, 0, 0.0), Millis(4000));
  EXPECT_EQ(RetryDelay(schedule, 0.2, 0, 0.5), Millis(5000));
  EXPECT_EQ(RetryDelay(schedule, 0.2, 1, 0.5), seconds(300));
  EXPECT_EQ(RetryDelay(schedule, 0.2, 2, 0.25), seconds(1620));  // 1800 × 0.9
  EXPECT_LT(*RetryDelay(schedule, 0.2, 0, 0.999999), Millis(6000));
  EXPECT_GE(*RetryDelay(schedule, 0.2, 0, 0.999999), Millis(5999));
  // No jitter: the schedule as written, whatever u.
  EXPECT_EQ(RetryDelay(schedule, 0.0, 1, 0.9), seconds(300));
  // Past the end: give up.
  EXPECT_EQ(RetryDelay(schedule, 0.2, 3, 0.5), std::nullopt);
  EXPECT_EQ(RetryDelay({}, 0.2, 0, 0.5), std::nullopt);
}

TEST(RetryDelay, TheDefaultScheduleRetriesSevenTimesOverAboutADay) {
  const std::vector<Millis> schedule = DefaultRetrySchedule();
  ASSERT_EQ(schedule.size(), 7u);
  Millis least{0}, most{0};
  for (size_t i = 0; i < schedule.size(); ++i) {
    if (i > 0) {
      EXPECT_GE(schedule[i], schedule[i - 1]) << "the delays never shrink";
    }
    least += *RetryDelay(schedule, 0.2, i, 0.0);
    most += *RetryDelay(schedule, 0.2, i, 0.999999);
  }
  EXPECT_GT(least, std::chrono::hours(18));
  EXPECT_LT(most, std::chrono::hours(36));
}

// The dispatcher on a ManualClock (the fixture's default) against a receiver on loopback.
class WebhookScheduleTest : public testing::OutboxFixture {
 protected:
  WebhookDispatcherOptions Options() {
    WebhookDispatcherOptions o;
    o.secrets = {GenerateSecret()};
    o.allow_private = true;
    o.retry_schedule = {seconds(5), seconds(300), seconds(1800)};
    o.jitter = 0.2;
    o.timeout = Millis(30'000);
    o.clock = &clock_;
    return o;
  }
  std::string SubmitAndComplete(int port) {
    const std::string id = Submit(
        RequestWithWebhook("http://127.0.0.1:" + std::to_string(port) + "/hook", {"completed"}));
    Complete(id, Lease());
    return id;
  }
  // The task's one delivery once it has `attempts` attempts recorded and is no longer in flight
  // (waits in real time, up to a minute: only the dispatcher's own work is awaited).
  DeliveryRecord AfterAttempts(const std::string& id, size_t attempts) {
    for (int i = 0; i < 1200; ++i) {
      auto records = outbox_->ForTask(id);
      if (records.ok() && records->size() == 1 && records->front().attempts.size() >= attempts &&
          (records->front().state != DeliveryState::kPending || records->front().next_attempt_at)) {
        return records->front();
      }
      std::this_thread::sleep_for(Millis(50));
    }
    ADD_FAILURE() << id << " never had " << attempts << " attempts recorded";
    return {};
  }
};

TEST_F(WebhookScheduleTest, EachRetryWaitsForItsJitteredDelayOnTheInjectedClock) {
  WebhookReceiver receiver([](int, const ReceivedRequest&) { return 500; });
  WebhookDispatcher dispatcher(*outbox_, Options());
  ASSERT_TRUE(dispatcher.Start().ok());
  const std::string id = SubmitAndComplete(receiver.port());
  const std::vector<Millis> schedule = Options().retry_schedule;
  for (size_t retry = 0; retry < schedule.size(); ++retry) {
    DeliveryRecord r = AfterAttempts(id, retry + 1);
    ASSERT_EQ(r.attempts.size(), retry + 1);
    ASSERT_EQ(r.state, DeliveryState::kPending) << "retry " << retry;
    ASSERT_TRUE(r.next_attempt_at);
    EXPECT_EQ(r.attempts.back().at, clock_.Now()) << "attempted at the clock's now";
    const Millis delay = std::chrono::duration_cast<Millis>(*r.next_attempt_at - clock_.Now());
    EXPECT_GE(delay, schedule[retry] * 8 / 10) << "retry " << retry;
    EXPECT_LT(delay, schedule[retry] * 12 / 10) << "retry " << retry;
    // Not due yet: one millisecond before the recorded time nothing is sent, however long the
    // dispatcher runs (it polls at least every second of real time).
    clock_.Set(*r.next_attempt_at - Millis(1));
    std::this_thread::sleep_for(Millis(1100));
    EXPECT_EQ(receiver.count(), static_cast<int>(retry + 1)) << "retried early, retry " << retry;
    // Due: the retry is sent.
    clock_.Set(*r.next_attempt_at);
    ASSERT_TRUE(receiver.WaitFor(static_cast<int>(retry + 2))) << "retry " << retry;
  }
  DeliveryRecord last = AfterAttempts(id, schedule.size() + 1);
  EXPECT_EQ(last.state, DeliveryState::kFailed) << "the schedule is exhausted";
  EXPECT_EQ(last.attempts.size(), schedule.size() + 1);
  clock_.Advance(std::chrono::hours(48));
  std::this_thread::sleep_for(Millis(1100));
  EXPECT_EQ(receiver.count(), static_cast<int>(schedule.size() + 1)) << "no retry after giving up";
}

// Many deliveries failing at the same moment do not all come back at the same moment: their
// first retries spread over the jitter window.
TEST_F(WebhookScheduleTest, JitterSpreadsTheRetriesOfDeliveriesThatFailedTogether) {
  WebhookReceiver receiver([](int, const ReceivedRequest&) { return 503; });
  WebhookDispatcher dispatcher(*outbox_, Options());
  ASSERT_TRUE(dispatcher.Start().ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 16; ++i) ids.push_back(SubmitAndComplete(receiver.port()));
  std::set<Timestamp> due;
  for (const std::string& id : ids) {
    DeliveryRecord r = AfterAttempts(id, 1);
    ASSERT_TRUE(r.next_attempt_at) << id;
    const Millis delay = std::chrono::duration_cast<Millis>(*r.next_attempt_at - clock_.Now());
    EXPECT_GE(delay, Millis(4000)) << id;
    EXPECT_LT(delay, Millis(6000)) << id;
    due.insert(*r.next_attempt_at);
  }
  // 16 uniform draws over 2,000 ms: fewer than 8 distinct times would mean no jitter at all
  // (one time) or a broken draw; the chance of it by luck is negligible.
  EXPECT_GE(due.size(), 8u);
}

}  // namespace
}  // namespace stipple::webhook
