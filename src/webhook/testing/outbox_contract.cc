#include "webhook/testing/outbox_contract.h"

#include <boost/json.hpp>

#include "common/id.h"
#include "webhook/testing/webhook_test_fixture.h"

namespace stipple::webhook {
namespace {

using testing::RequestWithWebhook;

constexpr char kUrl[] = "http://receiver.example:8080/hook";

std::vector<std::string> Events(const std::vector<DeliveryRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.delivery.event);
  return out;
}

}  // namespace

std::string WebhookOutboxContract::Submit(const GenerationRequest& request) {
  NewTask nt{NewId("tsk"), "t1", request};
  auto r = store().Enqueue(nt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return nt.id;
}

uint64_t WebhookOutboxContract::Lease() {
  auto leased = store().Lease({.worker_id = "w1", .models = {"shapes-32"}});
  EXPECT_TRUE(leased.ok() && leased->size() == 1);
  return leased.ok() && !leased->empty() ? leased->front().task.fencing : 0;
}

void WebhookOutboxContract::Complete(const std::string& id, uint64_t fencing) {
  auto done = store().Complete(Completion{id, fencing, {}, clock().Now()});
  EXPECT_TRUE(done.ok()) << done.status().ToString();
}

TEST_P(WebhookOutboxContract, EachStateChangeTheFilterAsksForBecomesADeliveryWithItsPayload) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "completed"}));
  Complete(id, Lease());
  auto records = outbox().ForTask(id);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(Events(*records), (std::vector<std::string>{"task.started", "task.succeeded"}));
  const WebhookDelivery& done = (*records)[1].delivery;
  EXPECT_EQ(done.host, "receiver.example:8080");
  EXPECT_EQ(done.url, kUrl);
  EXPECT_EQ(done.id.substr(0, 4), "msg_");
  EXPECT_EQ(done.created_at, clock().Now());
  auto body = boost::json::parse(done.payload).as_object();
  EXPECT_EQ(body.at("type").as_string(), "task.succeeded");
  EXPECT_EQ(body.at("data").as_object().at("id").as_string(), id);
  EXPECT_EQ(body.at("data").as_object().at("status").as_string(), "succeeded");
  EXPECT_EQ((*records)[1].state, DeliveryState::kPending);
}

TEST_P(WebhookOutboxContract, TheGatewaysReadGivesEachDeliveryItsStateByNameAndItsAttempts) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "completed"}));
  Complete(id, Lease());
  auto first = outbox().Claim(clock().Now(), 10, {});
  ASSERT_TRUE(first.ok() && first->size() == 1);
  DeliveryOutcome ok{first->front().id, id, "task.started", {1, clock().Now(), 204, "", Millis(7)}};
  ASSERT_TRUE(outbox().Record({&ok, 1}).ok());
  OutboxDeliveries deliveries(outbox());
  auto records = deliveries.ForTask(id);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 2u);
  const WebhookDeliveryRecord& started = (*records)[0];
  EXPECT_EQ(started.id, first->front().id);
  EXPECT_EQ(started.event, "task.started");
  EXPECT_EQ(started.url, kUrl);
  EXPECT_EQ(started.status, "delivered");
  ASSERT_EQ(started.attempts.size(), 1u);
  EXPECT_EQ(started.attempts[0].number, 1);
  EXPECT_EQ(started.attempts[0].response_status, 204);
  EXPECT_EQ(started.attempts[0].duration, Millis(7));
  EXPECT_EQ((*records)[1].event, "task.succeeded");
  EXPECT_EQ((*records)[1].status, "pending");
  EXPECT_TRUE((*records)[1].next_attempt_at.has_value());
  EXPECT_TRUE((*records)[1].attempts.empty());
  EXPECT_TRUE(deliveries.ForTask("tsk_none")->empty());
}

TEST_P(WebhookOutboxContract, TheDefaultFilterAsksForTerminalEventsOnly) {
  const std::string id = Submit(RequestWithWebhook(kUrl));
  const std::string quiet = Submit(RequestWithWebhook(""));
  Complete(id, Lease());
  Complete(quiet, Lease());
  EXPECT_EQ(Events(*outbox().ForTask(id)), std::vector<std::string>{"task.succeeded"});
  EXPECT_TRUE(outbox().ForTask(quiet)->empty());
}

TEST_P(WebhookOutboxContract, AQueuedTaskCanceledGetsItsTerminalDelivery) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "completed"}));
  ASSERT_TRUE(store().Cancel(id).ok());
  auto records = outbox().ForTask(id);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(Events(*records), std::vector<std::string>{"task.canceled"});
}

TEST_P(WebhookOutboxContract, ClaimHandsOutATasksDeliveriesOneAtATimeInOrder) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "completed"}));
  Complete(id, Lease());
  auto first = outbox().Claim(clock().Now(), 10, {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(first->front().event, "task.started");
  EXPECT_TRUE(outbox().Claim(clock().Now(), 10, {})->empty());  // in flight: the next waits
  DeliveryOutcome ok{first->front().id, id, "task.started", {1, clock().Now(), 204, "", Millis(1)}};
  ASSERT_TRUE(outbox().Record({&ok, 1}).ok());
  auto second = outbox().Claim(clock().Now(), 10, {});
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ(second->front().event, "task.succeeded");
  EXPECT_EQ(outbox().ForTask(id)->front().state, DeliveryState::kDelivered);
}

TEST_P(WebhookOutboxContract, ClaimHandsOutTheEarliestFirstUpToTheLimit) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(Submit(RequestWithWebhook(kUrl)));
    Complete(ids.back(), Lease());
    clock().Advance(Millis(10));
  }
  auto claimed = outbox().Claim(clock().Now(), 2, {});
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ((*claimed)[0].task_id, ids[0]);
  EXPECT_EQ((*claimed)[1].task_id, ids[1]);
  auto rest = outbox().Claim(clock().Now(), 2, {});
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ(rest->front().task_id, ids[2]);
}

TEST_P(WebhookOutboxContract, ABusyHostIsSkipped) {
  const std::string id = Submit(RequestWithWebhook(kUrl));
  Complete(id, Lease());
  EXPECT_TRUE(outbox().Claim(clock().Now(), 10, {"receiver.example:8080"})->empty());
  EXPECT_EQ(outbox().Claim(clock().Now(), 10, {"other:80"})->size(), 1u);
}

TEST_P(WebhookOutboxContract, ARetryIsDueAtItsTimeWithTheSameId) {
  const std::string id = Submit(RequestWithWebhook(kUrl));
  Complete(id, Lease());
  auto claimed = outbox().Claim(clock().Now(), 10, {});
  ASSERT_EQ(claimed->size(), 1u);
  DeliveryOutcome retry{claimed->front().id,     id,
                        "task.succeeded",        {1, clock().Now(), 500, "HTTP 500", Millis(1)},
                        DeliveryState::kPending, clock().Now() + Millis(5000)};
  ASSERT_TRUE(outbox().Record({&retry, 1}).ok());
  EXPECT_TRUE(outbox().Claim(clock().Now(), 10, {})->empty());
  EXPECT_EQ(**outbox().NextDue(), clock().Now() + Millis(5000));
  clock().Advance(Millis(5000));
  auto again = outbox().Claim(clock().Now(), 10, {});
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().id, claimed->front().id);
  EXPECT_EQ(again->front().attempts, 1);
  auto records = outbox().ForTask(id);
  ASSERT_EQ(records->front().attempts.size(), 1u);
  EXPECT_EQ(records->front().attempts[0].response_status, 500);
  EXPECT_EQ(records->front().attempts[0].error, "HTTP 500");
  EXPECT_EQ(records->front().next_attempt_at, clock().Now());
}

TEST_P(WebhookOutboxContract, NothingIsDueWhenNothingWaits) {
  auto due = outbox().NextDue();
  ASSERT_TRUE(due.ok());
  EXPECT_FALSE(due->has_value());
}

TEST_P(WebhookOutboxContract, WhatWasInFlightIsDueAgainAfterAReopen) {
  const std::string id = Submit(RequestWithWebhook(kUrl));
  Complete(id, Lease());
  auto claimed = outbox().Claim(clock().Now(), 10, {});
  ASSERT_EQ(claimed->size(), 1u);
  harness_->Reopen();
  auto again = outbox().Claim(clock().Now(), 10, {});
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().id, claimed->front().id);
}

TEST_P(WebhookOutboxContract, GoneFailsTheTasksPendingDeliveriesAndAcceptsNoMore) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "progress", "completed"}));
  const uint64_t fencing = Lease();
  auto claimed = outbox().Claim(clock().Now(), 10, {});
  ASSERT_EQ(claimed->size(), 1u);
  DeliveryOutcome gone{claimed->front().id,
                       id,
                       "task.started",
                       {1, clock().Now(), 410, "HTTP 410", Millis(1)},
                       DeliveryState::kFailed};
  gone.gone = true;
  ASSERT_TRUE(outbox().Record({&gone, 1}).ok());
  Complete(id, fencing);
  auto records = outbox().ForTask(id);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().state, DeliveryState::kFailed);
}

TEST_P(WebhookOutboxContract, AProgressRetryIsDroppedOnceALaterEventExists) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"progress", "completed"}));
  const uint64_t fencing = Lease();
  auto task = store().Get(id);
  task->progress = TaskProgress{1, 4};
  ASSERT_TRUE(outbox().AddProgress(*DeliveryForProgress(*task, clock().Now())).ok());
  auto claimed = outbox().Claim(clock().Now(), 10, {});
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_EQ(claimed->front().event, "task.progress");
  Complete(id, fencing);
  DeliveryOutcome retry{claimed->front().id,     id,
                        "task.progress",         {1, clock().Now(), 500, "HTTP 500", Millis(1)},
                        DeliveryState::kPending, clock().Now()};
  ASSERT_TRUE(outbox().Record({&retry, 1}).ok());
  auto records = outbox().ForTask(id);
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].state, DeliveryState::kDropped);
  EXPECT_EQ(outbox().Claim(clock().Now(), 10, {})->front().event, "task.succeeded");
  // A progress after the terminal event is not queued.
  ASSERT_TRUE(outbox().AddProgress(*DeliveryForProgress(*task, clock().Now())).ok());
  EXPECT_EQ(outbox().ForTask(id)->size(), 2u);
}

TEST_P(WebhookOutboxContract, AProgressKeepsItsPlaceBetweenStartedAndTheEnd) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "progress", "completed"}));
  const uint64_t fencing = Lease();
  auto task = store().Get(id);
  task->progress = TaskProgress{2, 4};
  ASSERT_TRUE(outbox().AddProgress(*DeliveryForProgress(*task, clock().Now())).ok());
  Complete(id, fencing);
  EXPECT_EQ(Events(*outbox().ForTask(id)),
            (std::vector<std::string>{"task.started", "task.progress", "task.succeeded"}));
}

}  // namespace stipple::webhook
