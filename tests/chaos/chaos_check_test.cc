// The chaos invariants on hand-made records: a clean run passes, and each kind of defect is
// reported under its name.
#include "chaos_check.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace stipple::chaos {
namespace {

using loadgen::RequestKind;

Task Ended(const std::string& id, TaskState state, uint64_t fencing) {
  Task t;
  t.id = id;
  t.state = state;
  t.fencing = fencing;
  if (state == TaskState::kSucceeded) t.outputs.push_back(TaskOutput{});
  return t;
}

std::vector<TaskEvent> History(const std::string& id, TaskEventType end) {
  return {TaskEvent{.task_id = id, .seq = 1, .type = TaskEventType::kQueued},
          TaskEvent{.task_id = id, .seq = 2, .type = TaskEventType::kStarted},
          TaskEvent{.task_id = id, .seq = 3, .type = end}};
}

struct Fixture {
  loadgen::LoadRun run;
  StoreView store;
  EventsView events;

  // A clean run: one polled task that succeeded, one webhook task that was canceled, a sync
  // submit refused with a connection error.
  Fixture() {
    run.requests.resize(3);
    run.requests[0] = {.kind = RequestKind::kAsync, .acknowledged = true, .task_id = "tsk_a"};
    run.requests[0].final_state = "succeeded";
    run.requests[1] = {.kind = RequestKind::kWebhook, .acknowledged = true, .task_id = "tsk_b"};
    run.requests[1].final_state = "canceled";
    run.requests[2] = {.kind = RequestKind::kSync, .error = "unavailable"};
    run.requests[2].error_code = StatusCode::kUnavailable;
    run.webhooks.push_back(
        {.task_id = "tsk_b", .webhook_id = "msg_1", .event = "task.canceled", .state = "canceled"});
    run.webhooks.push_back(run.webhooks.back());  // delivered twice: at least once is fine
    store.tasks["tsk_a"] = Ended("tsk_a", TaskState::kSucceeded, 7);
    store.tasks["tsk_b"] = Ended("tsk_b", TaskState::kCanceled, 3);
    store.tasks["tsk_c"] = Ended("tsk_c", TaskState::kFailed, 1);  // its submit's answer was lost
    store.leases = std::vector<StoredLease>{{"tsk_a", 7}};
    events.events["tsk_a"] = History("tsk_a", TaskEventType::kSucceeded);
    events.events["tsk_b"] = History("tsk_b", TaskEventType::kCanceled);
  }

  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const Violation& v : CheckInvariants(run, store, events)) names.push_back(v.invariant);
    return names;
  }
};

bool Has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST(ChaosCheck, ACleanRunHasNoViolations) { EXPECT_TRUE(Fixture().Names().empty()); }

TEST(ChaosCheck, AnAcknowledgedTaskTheStoreLacks) {
  Fixture f;
  f.store.tasks.erase("tsk_a");
  f.store.leases->clear();
  EXPECT_EQ(f.Names(), std::vector<std::string>{"acknowledged-task-missing"});
}

TEST(ChaosCheck, ATaskNotEndedOrStillRunning) {
  Fixture f;
  f.store.tasks["tsk_c"].state = TaskState::kRunning;
  f.store.running_after_settle = {"tsk_c"};
  EXPECT_TRUE(Has(f.Names(), "not-ended"));
  EXPECT_TRUE(Has(f.Names(), "stuck-running"));
}

TEST(ChaosCheck, AnEndTheClientSawThatTheStoreChanged) {
  Fixture f;
  f.run.requests[0].final_state = "failed";
  EXPECT_EQ(f.Names(), std::vector<std::string>{"end-changed"});
}

TEST(ChaosCheck, EventsWithTwoEndsOrAWrongEndOrOutOfOrder) {
  Fixture f;
  f.events.events["tsk_a"].push_back(
      TaskEvent{.task_id = "tsk_a", .seq = 4, .type = TaskEventType::kFailed});
  EXPECT_TRUE(Has(f.Names(), "events"));
  Fixture g;
  g.events.events["tsk_a"].back().type = TaskEventType::kFailed;
  EXPECT_EQ(g.Names(), std::vector<std::string>{"events"});
  Fixture h;
  h.events.events["tsk_a"][1].seq = 1;
  EXPECT_EQ(h.Names(), std::vector<std::string>{"events"});
  Fixture none;
  none.events.events["tsk_a"].pop_back();
  EXPECT_EQ(none.Names(), std::vector<std::string>{"events"});
}

TEST(ChaosCheck, OutputsOfALostLeaseOrMissingOnes) {
  Fixture f;
  f.store.leases->push_back({"tsk_a", 5});  // an earlier lease of a succeeded task
  f.store.leases->push_back({"tsk_c", 1});  // a failed task
  f.store.leases->push_back({"tsk_z", 1});  // a task the store does not know
  std::vector<std::string> names = f.Names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "output-without-lease"), 3);
  Fixture g;
  g.store.unreadable_outputs.push_back("tsk_a output 0: DATA_LOSS");
  g.store.tasks["tsk_c"] = Ended("tsk_c", TaskState::kSucceeded, 1);
  g.store.tasks["tsk_c"].outputs.clear();
  names = g.Names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "outputs-missing"), 2);
}

TEST(ChaosCheck, WebhooksNeverDeliveredOrWithAnotherIdOrState) {
  Fixture f;
  f.run.webhooks.clear();
  EXPECT_EQ(f.Names(), std::vector<std::string>{"webhook-not-delivered"});
  Fixture g;
  g.run.webhooks[1].webhook_id = "msg_2";
  EXPECT_EQ(g.Names(), std::vector<std::string>{"webhook-id-changed"});
  Fixture h;
  h.run.webhooks[1].state = "succeeded";
  h.run.webhooks[1].event = "task.succeeded";
  EXPECT_EQ(h.Names(), std::vector<std::string>{"webhook-state"});
}

TEST(ChaosCheck, ASyncWaiterCutOffOrTimedOutIsAHang) {
  Fixture f;
  f.run.requests[2].cut_off = true;
  EXPECT_EQ(f.Names(), std::vector<std::string>{"sync-unanswered"});
  Fixture g;
  g.run.requests[2].error_code = StatusCode::kDeadlineExceeded;
  EXPECT_EQ(g.Names(), std::vector<std::string>{"sync-unanswered"});
}

}  // namespace
}  // namespace stipple::chaos
