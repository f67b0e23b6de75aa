#include "notify/testing/event_bus_contract.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "common/id.h"
#include "notify/event_collector.h"

namespace stipple {

TaskEvent ContractEvent(const std::string& task_id, TaskEventType type, uint64_t fencing,
                        int attempt) {
  TaskEvent e;
  e.task_id = task_id;
  e.type = type;
  e.time = FromUnixMillis(1'800'000'000'000);
  e.fencing = fencing;
  e.attempt = attempt;
  if (type == TaskEventType::kProgress) e.progress = TaskProgress{3, 20};
  if (IsTerminalEvent(type)) {
    Task task;
    task.id = task_id;
    task.tenant = "acme";
    task.state = TaskState::kSucceeded;
    task.created_at = e.time;
    task.request.model = "shapes-32";
    task.request.prompt = "a red circle";
    task.attempts = attempt;
    task.fencing = fencing;
    e.task = task;
  }
  return e;
}

namespace {

using namespace std::chrono_literals;
using T = TaskEventType;
using Seqs = std::vector<std::pair<TaskEventType, int64_t>>;

Seqs WaitSeqs(EventCollector& c, size_t n) { return TypesAndSeqs(c.Wait(n)); }

// ---- numbering and order ----

TEST_P(EventBusContract, NumbersEachTasksEventsFromOneInPublishOrder) {
  const std::string a = NewId("tsk"), b = NewId("tsk");
  EXPECT_EQ(pub().Publish("acme", ContractEvent(a, T::kQueued)).seq, 1);
  EXPECT_EQ(pub().Publish("acme", ContractEvent(b, T::kQueued)).seq, 1);
  EXPECT_EQ(pub().Publish("acme", ContractEvent(a, T::kStarted, 5, 1)).seq, 2);
  EXPECT_EQ(sub().Publish("acme", ContractEvent(a, T::kProgress, 5)).seq,
            3);  // either side numbers
  EXPECT_EQ(pub().Publish("acme", ContractEvent(b, T::kStarted, 6, 1)).seq, 2);
}

TEST_P(EventBusContract, EachSubscriberGetsItsTasksEventsInOrderEachOnce) {
  const std::string x = NewId("tsk"), y = NewId("tsk");
  EventCollector got_x, got_y;
  auto sx = sub().Subscribe(x, 0, got_x.Callback());
  auto sy = sub().Subscribe(y, 0, got_y.Callback());
  pub().Publish("acme", ContractEvent(x, T::kQueued));
  pub().Publish("acme", ContractEvent(y, T::kQueued));
  pub().Publish("acme", ContractEvent(x, T::kStarted, 5, 1));
  pub().Publish("acme", ContractEvent(y, T::kStarted, 6, 1));
  constexpr int kSteps = 20;
  for (int i = 0; i < kSteps; ++i) {
    pub().Publish("acme", ContractEvent(x, T::kProgress, 5));
    pub().Publish("acme", ContractEvent(y, T::kProgress, 6));
  }
  pub().Publish("acme", ContractEvent(x, T::kSucceeded, 5, 1));
  pub().Publish("acme", ContractEvent(y, T::kFailed, 6, 1));
  const size_t n = 3 + kSteps;
  for (EventCollector* got : {&got_x, &got_y}) {
    std::vector<TaskEvent> events = got->Wait(n);
    ASSERT_EQ(events.size(), n);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(events[i].seq, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(events.front().type, T::kQueued);
    EXPECT_EQ(events[1].attempt, 1);  // what crossed is the event as published
    EXPECT_EQ(events[2].progress, (std::optional<TaskProgress>{TaskProgress{3, 20}}));
    ASSERT_TRUE(events.back().task.has_value());
    EXPECT_EQ(events.back().task->request.prompt, "a red circle");
    EXPECT_EQ(events.back().task_id, got == &got_x ? x : y);
    EXPECT_EQ(events.back().type, got == &got_x ? T::kSucceeded : T::kFailed);
  }
}

TEST_P(EventBusContract, PublishBatchNumbersEachEventAsPublishWouldInOrder) {
  const std::string x = NewId("tsk"), y = NewId("tsk"), ended = NewId("tsk");
  pub().Publish("acme", ContractEvent(ended, T::kQueued));
  pub().Publish("acme", ContractEvent(ended, T::kFailed));
  EventCollector got;
  auto s = sub().Subscribe(y, 0, got.Callback());
  EXPECT_EQ(pub().Publish("acme", ContractEvent(x, T::kQueued)).seq, 1);
  std::vector<TaskEvent> out =
      pub().PublishBatch({{"acme", ContractEvent(x, T::kStarted, 7, 1)},
                          {"acme", ContractEvent(y, T::kQueued)},
                          {"acme", ContractEvent(x, T::kProgress, 7)},
                          {"acme", ContractEvent(y, T::kStarted, 8, 1)},
                          {"acme", ContractEvent(ended, T::kProgress, 9)}});
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].seq, 2);
  EXPECT_EQ(out[1].seq, 1);
  EXPECT_EQ(out[2].seq, 3);
  EXPECT_EQ(out[3].seq, 2);
  EXPECT_EQ(out[4].seq, 0);  // after its task's terminal event: dropped
  EXPECT_EQ(out[2].progress, (std::optional<TaskProgress>{TaskProgress{3, 20}}));
  EXPECT_EQ(WaitSeqs(got, 2), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}}));
}

// ---- replay ----

TEST_P(EventBusContract, LateSubscriberGetsHeldEventsAfterItsSeqThenLiveOnes) {
  const std::string id = NewId("tsk");
  pub().Publish("acme", ContractEvent(id, T::kQueued));
  pub().Publish("acme", ContractEvent(id, T::kStarted, 7, 1));
  pub().Publish("acme", ContractEvent(id, T::kProgress, 7));
  EventCollector got;
  auto s = sub().Subscribe(id, 2, got.Callback());  // Last-Event-ID: 2
  pub().Publish("acme", ContractEvent(id, T::kProgress, 7));
  pub().Publish("acme", ContractEvent(id, T::kSucceeded, 7, 1));
  EXPECT_EQ(WaitSeqs(got, 3), (Seqs{{T::kProgress, 3}, {T::kProgress, 4}, {T::kSucceeded, 5}}));
}

TEST_P(EventBusContract, TerminalEventIsReplayedEvenWhenAfterSeqIsPastIt) {
  const std::string id = NewId("tsk");
  pub().Publish("acme", ContractEvent(id, T::kQueued));
  pub().Publish("acme", ContractEvent(id, T::kCanceled));
  auto end = sub().TerminalEvent(id);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->seq, 2);
  EXPECT_EQ(end->type, T::kCanceled);
  EventCollector got;
  auto s = sub().Subscribe(id, 99, got.Callback());
  EXPECT_EQ(WaitSeqs(got, 1), (Seqs{{T::kCanceled, 2}}));
  EXPECT_FALSE(sub().TerminalEvent(NewId("tsk")).has_value());
}

TEST_P(EventBusContract, NothingIsPublishedAfterTheTerminalEvent) {
  const std::string id = NewId("tsk");
  EventCollector got;
  auto s = sub().Subscribe(id, 0, got.Callback());
  pub().Publish("acme", ContractEvent(id, T::kQueued));
  pub().Publish("acme", ContractEvent(id, T::kFailed));
  EXPECT_EQ(pub().Publish("acme", ContractEvent(id, T::kProgress, 3)).seq, 0);
  EXPECT_EQ(sub().Publish("acme", ContractEvent(id, T::kSucceeded)).seq, 0);
  EXPECT_EQ(WaitSeqs(got, 2), (Seqs{{T::kQueued, 1}, {T::kFailed, 2}}));
  EXPECT_EQ(sub().TerminalEvent(id)->type, T::kFailed);
  EventCollector late;
  auto l = sub().Subscribe(id, 0, late.Callback());
  EXPECT_EQ(WaitSeqs(late, 2), (Seqs{{T::kQueued, 1}, {T::kFailed, 2}}));
}

// ---- gaps: what a subscriber sees where the history was thinned ----

TEST_P(EventBusContract, ThinnedHistoryLeavesGapsInProgressButKeepsEveryStateEvent) {
  harness_.reset();
  harness_ = Make({.progress_kept = 2});
  const std::string id = NewId("tsk");
  pub().Publish("acme", ContractEvent(id, T::kQueued));
  pub().Publish("acme", ContractEvent(id, T::kStarted, 5, 1));
  for (int i = 0; i < 5; ++i)
    pub().Publish("acme", ContractEvent(id, T::kProgress, 5));  // seq 3..7
  EventCollector from_start, from_trimmed;
  auto s1 = sub().Subscribe(id, 0, from_start.Callback());
  auto s2 = sub().Subscribe(id, 3, from_trimmed.Callback());  // 3 itself is no longer held
  EXPECT_EQ(WaitSeqs(from_start, 4),
            (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kProgress, 6}, {T::kProgress, 7}}));
  EXPECT_EQ(WaitSeqs(from_trimmed, 2), (Seqs{{T::kProgress, 6}, {T::kProgress, 7}}));
  // Live events continue the numbering for those already subscribed.
  pub().Publish("acme", ContractEvent(id, T::kRetrying, 5, 1));
  pub().Publish("acme", ContractEvent(id, T::kStarted, 9, 2));
  pub().Publish("acme", ContractEvent(id, T::kProgress, 9));
  pub().Publish("acme", ContractEvent(id, T::kSucceeded, 9, 2));
  EXPECT_EQ(WaitSeqs(from_trimmed, 6), (Seqs{{T::kProgress, 6},
                                             {T::kProgress, 7},
                                             {T::kRetrying, 8},
                                             {T::kStarted, 9},
                                             {T::kProgress, 10},
                                             {T::kSucceeded, 11}}));
  // Once the task ended its progress goes; every state change stays for a replay.
  EventCollector ended, ended_mid;
  auto s3 = sub().Subscribe(id, 0, ended.Callback());
  auto s4 = sub().Subscribe(id, 8, ended_mid.Callback());
  EXPECT_EQ(WaitSeqs(ended, 5), (Seqs{{T::kQueued, 1},
                                      {T::kStarted, 2},
                                      {T::kRetrying, 8},
                                      {T::kStarted, 9},
                                      {T::kSucceeded, 11}}));
  EXPECT_EQ(WaitSeqs(ended_mid, 2), (Seqs{{T::kStarted, 9}, {T::kSucceeded, 11}}));
}

// ---- all-task subscriptions, Seed, Deliver ----

TEST_P(EventBusContract, AllTaskSubscriberSeesOnlyItsTenantAndEmptyTenantSeesAll) {
  EventCollector acme, everyone;
  auto s1 = sub().SubscribeAll("acme", acme.Callback());
  auto s2 = sub().SubscribeAll("", everyone.Callback());
  const std::string a1 = NewId("tsk"), g = NewId("tsk"), a2 = NewId("tsk");
  pub().Publish("acme", ContractEvent(a1, T::kQueued));
  pub().Publish("globex", ContractEvent(g, T::kQueued));
  pub().Publish("acme", ContractEvent(a2, T::kQueued));
  std::vector<TaskEvent> all = everyone.Wait(3);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].task_id, g);
  std::vector<TaskEvent> mine = acme.Wait(2);  // globex's came between them, and is not here
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].task_id, a1);
  EXPECT_EQ(mine[1].task_id, a2);
}

TEST_P(EventBusContract, SeedGivesAnUnknownTaskAHistoryOnceThatLaterEventsContinue) {
  const std::string id = NewId("tsk");
  TaskEvent queued = ContractEvent(id, T::kQueued);
  queued.seq = 1;
  TaskEvent started = ContractEvent(id, T::kStarted, 5, 1);
  started.seq = 2;
  EXPECT_TRUE(pub().Seed("acme", {queued, started}));
  EXPECT_FALSE(sub().Seed("acme", {queued}));
  EXPECT_EQ(pub().Publish("acme", ContractEvent(id, T::kProgress, 5)).seq, 3);
  EventCollector got;
  auto s = sub().Subscribe(id, 0, got.Callback());
  EXPECT_EQ(WaitSeqs(got, 3), (Seqs{{T::kQueued, 1}, {T::kStarted, 2}, {T::kProgress, 3}}));
}

TEST_P(EventBusContract, DeliverHandsOverExactlyTheGivenEvents) {
  TaskEvent made_up = ContractEvent(NewId("tsk"), T::kExpired);
  made_up.seq = 3;
  EventCollector got;
  auto s = sub().Deliver({made_up}, got.Callback());
  std::vector<TaskEvent> events = got.Wait(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], made_up);
  EXPECT_FALSE(sub().TerminalEvent(made_up.task_id).has_value());  // not published
}

// ---- reconnection ----

// Across an interruption of the backing store: Publish may refuse (seq 0) while it lasts; every
// event it numbered reaches a subscriber that was there before, once and in order, except that
// progress may be thinned. The state events and the terminal event always arrive.
void ExpectEveryNumberedEventArrives(EventBusHarness& harness, BusInterruption how) {
  EventBus& pub = harness.publisher();
  const std::string id = NewId("tsk");
  EventCollector got;
  auto s = harness.subscriber().Subscribe(id, 0, got.Callback());
  std::vector<TaskEvent> numbered;
  auto publish = [&](TaskEvent e) {
    TaskEvent out = pub.Publish("acme", std::move(e));
    if (out.seq > 0) numbered.push_back(out);
  };
  publish(ContractEvent(id, T::kQueued));
  publish(ContractEvent(id, T::kStarted, 5, 1));
  ASSERT_EQ(got.Wait(2).size(), 2u);
  ASSERT_TRUE(harness.Interrupt(how).ok());
  publish(ContractEvent(id, T::kProgress, 5));
  ASSERT_TRUE(harness.Resume().ok());
  publish(ContractEvent(id, T::kProgress, 5));  // possibly before the subscriber's side is back
  ASSERT_TRUE(harness.WaitConnected());
  publish(ContractEvent(id, T::kSucceeded, 5, 1));
  ASSERT_EQ(numbered.back().type, T::kSucceeded) << "publishing works again once reconnected";

  std::vector<TaskEvent> events = got.Wait(numbered.size(), 20s);
  ASSERT_FALSE(events.empty());
  if (events.back().type != T::kSucceeded) events = got.Wait(events.size() + 1, 5s);
  EXPECT_EQ(events.back().type, T::kSucceeded);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_LT(events[i - 1].seq, events[i].seq) << "in order, each once";
  }
  for (const TaskEvent& e : events) {
    EXPECT_TRUE(std::any_of(numbered.begin(), numbered.end(),
                            [&](const TaskEvent& n) { return n.seq == e.seq && n.type == e.type; }))
        << "delivered an event that was not numbered: seq " << e.seq;
  }
  for (const TaskEvent& n : numbered) {
    if (n.type == T::kProgress) continue;
    EXPECT_TRUE(std::any_of(events.begin(), events.end(),
                            [&](const TaskEvent& e) { return e.seq == n.seq; }))
        << "state event " << n.seq << " never arrived";
  }
}

TEST_P(EventBusContract, EveryNumberedEventArrivesAcrossARestartOfTheStore) {
  ExpectEveryNumberedEventArrives(*harness_, BusInterruption::kRestart);
}

TEST_P(EventBusContract, EveryNumberedEventArrivesAcrossDroppedConnections) {
  ExpectEveryNumberedEventArrives(*harness_, BusInterruption::kDropConnections);
}

}  // namespace
}  // namespace stipple
