// The service's events (EventSequencer::CompleteHistory) when the process that ended a task died
// between the store's commit and the publish of its end (found by the chaos tests, tests/chaos: a
// gateway killed there, in the distributed mode): the bus holds the task's history without its end,
// the store the end.
#include <gtest/gtest.h>

#include "notify/event_collector.h"
#include "service/testing/service_test_fixture.h"

namespace stipple {
namespace {

using Collector = EventCollector;
using T = TaskEventType;
using Seqs = std::vector<std::pair<TaskEventType, int64_t>>;

class ServiceEventsTest : public ServiceStackTest {
 protected:
  // A task queued and started through the service, then completed in the store alone.
  Task EndedBehindTheBusBack() {
    Task t = Submit();
    Task leased = LeaseOne();
    std::vector<Completion> done = {{.task_id = t.id, .fencing = leased.fencing}};
    EXPECT_TRUE(store_->Complete(done).front().ok());
    return leased;
  }
};

TEST_F(ServiceEventsTest, AStreamOpenedAfterALostEndGetsTheEndAfterTheHeldHistory) {
  Task t = EndedBehindTheBusBack();
  Collector events;
  auto sub = service_->tasks().Subscribe("acme", t.id, 0, events.Callback());
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(TypesAndSeqs(events.Wait(3)),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
  // A resumed stream gets the same end, with the same number.
  Collector resumed;
  auto again = service_->tasks().Subscribe("acme", t.id, 2, resumed.Callback());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(TypesAndSeqs(resumed.Wait(1)), (Seqs{{T::kSucceeded, 3}}));
}

TEST_F(ServiceEventsTest, ACompletionSentAgainPublishesALostEndToLiveSubscribers) {
  Task t = Submit();
  Collector live;
  auto sub = service_->tasks().Subscribe("acme", t.id, 0, live.Callback());
  ASSERT_TRUE(sub.ok());
  Task leased = LeaseOne();
  std::vector<Completion> done = {{.task_id = t.id, .fencing = leased.fencing}};
  ASSERT_TRUE(store_->Complete(done).front().ok());
  // The worker got no answer from the process that died, and sends its completion again.
  ASSERT_TRUE(CompleteWith(leased, "png bytes").ok());
  EXPECT_EQ(TypesAndSeqs(live.Wait(3)),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
}

}  // namespace
}  // namespace stipple
