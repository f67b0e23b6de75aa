#include "webhook/sqlite_outbox.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "webhook/webhook_test_fixture.h"

namespace stipple::webhook {
namespace {

using testing::OutboxFixture;
using testing::RequestWithWebhook;

constexpr char kUrl[] = "http://receiver.example:8080/hook";

std::vector<std::string> Events(const std::vector<DeliveryRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.delivery.event);
  return out;
}

class SqliteWebhookOutboxTest : public OutboxFixture {};

TEST_F(SqliteWebhookOutboxTest, EachStateChangeTheFilterAsksForBecomesADeliveryWithItsPayload) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "completed"}));
  Complete(id, Lease());
  auto records = outbox_->ForTask(id);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(Events(*records), (std::vector<std::string>{"task.started", "task.succeeded"}));
  const WebhookDelivery& done = (*records)[1].delivery;
  EXPECT_EQ(done.host, "receiver.example:8080");
  EXPECT_EQ(done.id.substr(0, 4), "msg_");
  auto body = boost::json::parse(done.payload).as_object();
  EXPECT_EQ(body.at("type").as_string(), "task.succeeded");
  EXPECT_EQ(body.at("data").as_object().at("id").as_string(), id);
  EXPECT_EQ(body.at("data").as_object().at("status").as_string(), "succeeded");
  EXPECT_EQ((*records)[1].state, DeliveryState::kPending);
}

TEST_F(SqliteWebhookOutboxTest, TheDefaultFilterAsksForTerminalEventsOnly) {
  const std::string id = Submit(RequestWithWebhook(kUrl));
  const std::string quiet = Submit(RequestWithWebhook(""));
  Complete(id, Lease());
  Complete(quiet, Lease());
  EXPECT_EQ(Events(*outbox_->ForTask(id)), std::vector<std::string>{"task.succeeded"});
  EXPECT_TRUE(outbox_->ForTask(quiet)->empty());
}

TEST_F(SqliteWebhookOutboxTest, ClaimHandsOutATasksDeliveriesOneAtATimeInOrder) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "completed"}));
  Complete(id, Lease());
  auto first = outbox_->Claim(clock_.Now(), 10, {});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(first->front().event, "task.started");
  EXPECT_TRUE(outbox_->Claim(clock_.Now(), 10, {})->empty());  // in flight: the next waits
  DeliveryOutcome ok{first->front().id, id, "task.started", {1, clock_.Now(), 204, "", Millis(1)}};
  ASSERT_TRUE(outbox_->Record({&ok, 1}).ok());
  auto second = outbox_->Claim(clock_.Now(), 10, {});
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ(second->front().event, "task.succeeded");
}

TEST_F(SqliteWebhookOutboxTest, ABusyHostIsSkipped) {
  const std::string id = Submit(RequestWithWebhook(kUrl));
  Complete(id, Lease());
  EXPECT_TRUE(outbox_->Claim(clock_.Now(), 10, {"receiver.example:8080"})->empty());
  EXPECT_EQ(outbox_->Claim(clock_.Now(), 10, {"other:80"})->size(), 1u);
}

TEST_F(SqliteWebhookOutboxTest, ARetryIsDueAtItsTimeWithTheSameId) {
  const std::string id = Submit(RequestWithWebhook(kUrl));
  Complete(id, Lease());
  auto claimed = outbox_->Claim(clock_.Now(), 10, {});
  DeliveryOutcome retry{claimed->front().id,     id,
                        "task.succeeded",        {1, clock_.Now(), 500, "HTTP 500", Millis(1)},
                        DeliveryState::kPending, clock_.Now() + Millis(5000)};
  ASSERT_TRUE(outbox_->Record({&retry, 1}).ok());
  EXPECT_TRUE(outbox_->Claim(clock_.Now(), 10, {})->empty());
  EXPECT_EQ(**outbox_->NextDue(), clock_.Now() + Millis(5000));
  clock_.Advance(Millis(5000));
  auto again = outbox_->Claim(clock_.Now(), 10, {});
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().id, claimed->front().id);
  EXPECT_EQ(again->front().attempts, 1);
  auto records = outbox_->ForTask(id);
  ASSERT_EQ(records->front().attempts.size(), 1u);
  EXPECT_EQ(records->front().attempts[0].response_status, 500);
}

TEST_F(SqliteWebhookOutboxTest, WhatWasInFlightIsDueAgainAfterAReopen) {
  const std::string id = Submit(RequestWithWebhook(kUrl));
  Complete(id, Lease());
  auto claimed = outbox_->Claim(clock_.Now(), 10, {});
  ASSERT_EQ(claimed->size(), 1u);
  Open();
  auto again = outbox_->Claim(clock_.Now(), 10, {});
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().id, claimed->front().id);
}

TEST_F(SqliteWebhookOutboxTest, GoneFailsTheTasksPendingDeliveriesAndAcceptsNoMore) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"started", "progress", "completed"}));
  const uint64_t fencing = Lease();
  auto claimed = outbox_->Claim(clock_.Now(), 10, {});
  DeliveryOutcome gone{claimed->front().id,
                       id,
                       "task.started",
                       {1, clock_.Now(), 410, "HTTP 410", Millis(1)},
                       DeliveryState::kFailed};
  gone.gone = true;
  ASSERT_TRUE(outbox_->Record({&gone, 1}).ok());
  Complete(id, fencing);
  auto records = outbox_->ForTask(id);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().state, DeliveryState::kFailed);
}

TEST_F(SqliteWebhookOutboxTest, AProgressRetryIsDroppedOnceALaterEventExists) {
  const std::string id = Submit(RequestWithWebhook(kUrl, {"progress", "completed"}));
  const uint64_t fencing = Lease();
  auto task = store_->Get(id);
  task->progress = TaskProgress{1, 4};
  ASSERT_TRUE(outbox_->AddProgress(*DeliveryForProgress(*task, clock_.Now())).ok());
  auto claimed = outbox_->Claim(clock_.Now(), 10, {});
  ASSERT_EQ(claimed->front().event, "task.progress");
  Complete(id, fencing);
  DeliveryOutcome retry{claimed->front().id,     id,
                        "task.progress",         {1, clock_.Now(), 500, "HTTP 500", Millis(1)},
                        DeliveryState::kPending, clock_.Now()};
  ASSERT_TRUE(outbox_->Record({&retry, 1}).ok());
  auto records = outbox_->ForTask(id);
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].state, DeliveryState::kDropped);
  EXPECT_EQ(outbox_->Claim(clock_.Now(), 10, {})->front().event, "task.succeeded");
  // A progress after the terminal event is not queued.
  ASSERT_TRUE(outbox_->AddProgress(*DeliveryForProgress(*task, clock_.Now())).ok());
  EXPECT_EQ(outbox_->ForTask(id)->size(), 2u);
}

}  // namespace
}  // namespace stipple::webhook
