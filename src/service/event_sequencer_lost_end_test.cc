// The service's events (EventSequencer::CompleteHistory, RepairLostEnds) when the process that
// ended a task died between the store's commit and the publish of its end (found by the chaos
// tests, tests/chaos: a gateway killed there, in the distributed mode): the bus holds the task's
// history without its end, the store the end.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

#include "common/testing/eventually.h"
#include "notify/event_collector.h"
#include "service/testing/counting_decorators.h"
#include "service/testing/service_test_fixture.h"

namespace stipple {
namespace {

using namespace std::chrono_literals;
using Collector = EventCollector;
using T = TaskEventType;
using Seqs = std::vector<std::pair<TaskEventType, int64_t>>;

class ServiceEventsTest : public ServiceStackTest {
 protected:
  // A task queued and started through the service, then completed in the store alone.
  Task EndedBehindTheBusBack() {
    Submit();
    Task leased = LeaseOne();
    EndBehindTheBusBack(leased);
    return leased;
  }
  // Completes a leased task in the store alone: its process died before publishing the end.
  void EndBehindTheBusBack(const Task& leased) {
    std::vector<Completion> done = {{.task_id = leased.id, .fencing = leased.fencing}};
    EXPECT_TRUE(store_->Complete(done).front().ok());
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
  EndBehindTheBusBack(leased);
  // The worker got no answer from the process that died, and sends its completion again.
  ASSERT_TRUE(CompleteWith(leased, "png bytes").ok());
  EXPECT_EQ(TypesAndSeqs(live.Wait(3)),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
}

// Two gateways on one store and one bus: the first's housekeeper fails a lapsed lease (its last
// attempt) and dies before publishing; the streams and the wait open on the second get the end
// at the second's next check.
TEST_F(ServiceEventsTest, StreamsOnAnotherGatewayGetTheEndOfATaskReapedByOneThatDied) {
  ServiceStack second(*store_, *bus_, *results_, {.clock = &clock_, .housekeeping_thread = false});
  NewTask task = MakeTask();
  task.max_attempts = 1;
  auto submitted = service_->tasks().Submit(task);
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  Collector live;
  auto sub = second.tasks().Subscribe("acme", task.id, 0, live.Callback());
  ASSERT_TRUE(sub.ok());
  std::promise<Task> ended;
  auto wait =
      second.tasks().WhenTerminal("acme", task.id, [&](const Task& t) { ended.set_value(t); });
  ASSERT_TRUE(wait.ok());
  LeaseOne("worker-1", Millis(1'000));
  EXPECT_EQ(TypesAndSeqs(live.Wait(2)), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}}));
  clock_.Advance(Millis(1'001));
  Result<ReapReport> reaped = store_->Reap();  // the first gateway's pass, never published
  ASSERT_TRUE(reaped.ok());
  ASSERT_EQ(reaped->failed.size(), 1u);

  clock_.Advance(ServiceOptions{}.lost_end_check_interval);
  ASSERT_TRUE(second.Housekeep().ok());
  EXPECT_EQ(TypesAndSeqs(live.Wait(3)), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kFailed, 3}}));
  std::future<Task> end = ended.get_future();
  ASSERT_EQ(end.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(end.get().state, TaskState::kFailed);
}

TEST_F(ServiceEventsTest, ALedgerGoesWhenAnotherGatewayPublishesTheEnd) {
  // This process queued and started the task; another on the same bus completed it.
  ServiceStack second(*store_, *bus_, *results_, {.clock = &clock_, .housekeeping_thread = false});
  Task t = Submit();
  Task leased = LeaseOne();
  EXPECT_EQ(service_->events().LiveTasks(), 1u);
  std::promise<Task> ended;
  auto wait =
      service_->tasks().WhenTerminal("acme", t.id, [&](const Task& end) { ended.set_value(end); });
  ASSERT_TRUE(wait.ok());
  ASSERT_TRUE(second.work()
                  .Complete(leased.id, leased.fencing, {GeneratedImage{"png bytes", 32, 32, 42}})
                  .ok());
  std::future<Task> end = ended.get_future();
  ASSERT_EQ(end.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(end.get().state, TaskState::kSucceeded);
  EXPECT_TRUE(stipple::testing::Eventually([&] { return service_->events().LiveTasks() == 0; }))
      << "the ledger kept a task another gateway ended";
  EXPECT_EQ(second.events().LiveTasks(), 0u);
}

// The check itself, over a store and a bus that count what it reads and publishes.
class LostEndCheckTest : public ServiceEventsTest {
 protected:
  void SetUp() override {
    ServiceEventsTest::SetUp();
    service_.reset();
    counting_store_ = std::make_unique<CountingTaskStore>(*store_);
    counting_bus_ = std::make_unique<CountingEventBus>(*bus_);
    service_ = std::make_unique<ServiceStack>(
        *counting_store_, *counting_bus_, *results_,
        ServiceOptions{.clock = &clock_, .housekeeping_thread = false});
    // The first pass, whose output sweep (which reads tasks too) is not due again in a test.
    ASSERT_TRUE(service_->Housekeep().ok());
  }
  // A housekeeping pass with the next check due.
  void NextCheck() {
    clock_.Advance(ServiceOptions{}.lost_end_check_interval);
    ASSERT_TRUE(service_->Housekeep().ok());
  }

  std::unique_ptr<CountingTaskStore> counting_store_;
  std::unique_ptr<CountingEventBus> counting_bus_;
};

TEST_F(LostEndCheckTest, AnOpenStreamGetsALostEndAtTheNextCheckOnce) {
  Task t = Submit();
  Collector live;
  auto sub = service_->tasks().Subscribe("acme", t.id, 0, live.Callback());
  ASSERT_TRUE(sub.ok());
  Task leased = LeaseOne();
  EXPECT_EQ(TypesAndSeqs(live.Wait(2)), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}}));
  EndBehindTheBusBack(leased);
  NextCheck();
  EXPECT_EQ(TypesAndSeqs(live.Wait(3)),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
  NextCheck();
  EXPECT_EQ(counting_bus_->EndsOffered(t.id), 1);
  EXPECT_EQ(live.Now().size(), 3u);
}

TEST_F(LostEndCheckTest, AWhenTerminalWaitGetsALostEndAtTheNextCheckOnce) {
  Task t = Submit();
  Task leased = LeaseOne();
  std::atomic<int> calls{0};
  std::promise<Task> ended;
  std::future<Task> end = ended.get_future();
  auto wait = service_->tasks().WhenTerminal("acme", t.id, [&](const Task& task) {
    if (calls.fetch_add(1) == 0) ended.set_value(task);
  });
  ASSERT_TRUE(wait.ok());
  EndBehindTheBusBack(leased);
  NextCheck();
  ASSERT_EQ(end.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(end.get().state, TaskState::kSucceeded);
  NextCheck();
  EXPECT_EQ(counting_bus_->EndsOffered(t.id), 1);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(LostEndCheckTest, TheCheckRunsOncePerInterval) {
  Task t = Submit();
  Collector live;
  auto sub = service_->tasks().Subscribe("acme", t.id, 0, live.Callback());
  ASSERT_TRUE(sub.ok());
  NextCheck();
  const int reads = counting_store_->Gets(t.id);
  ASSERT_TRUE(service_->Housekeep().ok());
  clock_.Advance(ServiceOptions{}.lost_end_check_interval - Millis(1));
  ASSERT_TRUE(service_->Housekeep().ok());
  EXPECT_EQ(counting_store_->Gets(t.id), reads);
  clock_.Advance(Millis(1));
  ASSERT_TRUE(service_->Housekeep().ok());
  EXPECT_EQ(counting_store_->Gets(t.id), reads + 1);
}

TEST_F(LostEndCheckTest, ACheckReadsOnlyTheTasksOfLiveSubscriptions) {
  Task gone = Submit();
  Task kept = Submit();
  Collector gone_live, kept_live;
  auto gone_sub = service_->tasks().Subscribe("acme", gone.id, 0, gone_live.Callback());
  auto gone_wait = service_->tasks().WhenTerminal("acme", gone.id, [](const Task&) {});
  auto kept_sub = service_->tasks().Subscribe("acme", kept.id, 0, kept_live.Callback());
  ASSERT_TRUE(gone_sub.ok() && gone_wait.ok() && kept_sub.ok());
  Task gone_lease = LeaseOne();
  Task kept_lease = LeaseOne();
  ASSERT_EQ(gone_lease.id, gone.id);
  gone_sub->reset();
  gone_wait->reset();
  EndBehindTheBusBack(gone_lease);
  EndBehindTheBusBack(kept_lease);
  const int gone_reads = counting_store_->Gets(gone.id);
  const int kept_reads = counting_store_->Gets(kept.id);
  NextCheck();
  EXPECT_EQ(counting_store_->Gets(gone.id), gone_reads);
  EXPECT_EQ(counting_store_->Gets(kept.id), kept_reads + 1);
  EXPECT_EQ(TypesAndSeqs(kept_live.Wait(3)),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
  // Nobody follows `gone` here: its end waits for a stream opened again.
  EXPECT_FALSE(bus_->TerminalEvent(gone.id).has_value());
}

// Holds the bus's one delivery thread until Open() (or destruction), so that what is published
// meanwhile stays undelivered.
class DeliveryGate {
 public:
  explicit DeliveryGate(EventBus& bus) {
    std::promise<void> entered;
    std::shared_future<void> open = open_.get_future().share();
    held_ = bus.Deliver({TaskEvent{}}, [&entered, open](const TaskEvent&) {
      entered.set_value();
      open.wait();
    });
    entered.get_future().wait();
  }
  ~DeliveryGate() {
    Open();
    held_.reset();
  }
  void Open() {
    if (!opened_.exchange(true)) open_.set_value();
  }

 private:
  std::promise<void> open_;
  std::atomic<bool> opened_{false};
  std::unique_ptr<Subscription> held_;
};

TEST_F(LostEndCheckTest, ACheckLeavesAnEndTheBusHoldsAlone) {
  Task held = Submit();
  Task lost = Submit();
  Collector held_live, lost_live;
  auto held_sub = service_->tasks().Subscribe("acme", held.id, 0, held_live.Callback());
  auto lost_sub = service_->tasks().Subscribe("acme", lost.id, 0, lost_live.Callback());
  ASSERT_TRUE(held_sub.ok() && lost_sub.ok());
  Task held_lease = LeaseOne();
  Task lost_lease = LeaseOne();
  ASSERT_EQ(held_lease.id, held.id);
  held_live.Wait(2);
  lost_live.Wait(2);
  {
    // `held` ends as usual, but its stream has not seen the end yet when the check reads it.
    DeliveryGate gate(*bus_);
    ASSERT_TRUE(CompleteWith(held_lease, "png").ok());
    EndBehindTheBusBack(lost_lease);
    const int reads = counting_store_->Gets(held.id);
    NextCheck();
    EXPECT_EQ(counting_store_->Gets(held.id), reads + 1);
  }
  EXPECT_EQ(TypesAndSeqs(held_live.Wait(3)),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
  EXPECT_EQ(TypesAndSeqs(lost_live.Wait(3)),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kSucceeded, 3}}));
  EXPECT_EQ(counting_bus_->EndsOffered(held.id), 1);
  EXPECT_EQ(counting_bus_->EndsOffered(lost.id), 1);
}

}  // namespace
}  // namespace stipple
