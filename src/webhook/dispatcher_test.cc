#include "webhook/dispatcher.h"

#include <gtest/gtest.h>

#include <thread>

#include "webhook/testing/webhook_test_fixture.h"
#include "webhook/webhook_receiver.h"

namespace stipple::webhook {
namespace {

using testing::RequestWithWebhook;

// The dispatcher on the real system clock (it waits for real answers), with a quick schedule.
class WebhookDispatcherTest : public testing::OutboxFixture {
 protected:
  WebhookDispatcherTest() : OutboxFixture(/*real_clock=*/true) {}
  WebhookDispatcherOptions Options() {
    WebhookDispatcherOptions o;
    o.secrets = {secret_};
    o.allow_private = true;  // the receiver is on loopback
    o.retry_schedule = {Millis(50), Millis(50), Millis(50)};
    o.timeout = Millis(2000);
    return o;
  }
  std::string SubmitAndComplete(int port, std::vector<std::string> events = {"completed"}) {
    const std::string id = Submit(RequestWithWebhook(
        "http://127.0.0.1:" + std::to_string(port) + "/hook", std::move(events)));
    Complete(id, Lease());
    return id;
  }
  // Waits (real time) until the task's deliveries are all finished.
  std::vector<DeliveryRecord> Settled(const std::string& id) {
    for (int i = 0; i < 600; ++i) {
      auto records = outbox_->ForTask(id);
      bool done = records.ok() && !records->empty();
      for (const auto& r : *records) done = done && r.state != DeliveryState::kPending;
      if (done) return *records;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "deliveries of " << id << " did not settle";
    return {};
  }

  SigningSecret secret_ = GenerateSecret();
};

TEST_F(WebhookDispatcherTest, DeliversASignedPostWithTheStandardHeaders) {
  WebhookReceiver receiver;
  WebhookDispatcher dispatcher(*outbox_, Options());
  ASSERT_TRUE(dispatcher.Start().ok());
  const std::string id = SubmitAndComplete(receiver.port());
  ASSERT_TRUE(receiver.WaitFor(1));
  ReceivedRequest r = receiver.requests().front();
  EXPECT_EQ(r.target, "/hook");
  EXPECT_EQ(r.headers["content-type"], "application/json");
  const std::string& msg_id = r.headers["webhook-id"];
  const int64_t ts = std::stoll(r.headers["webhook-timestamp"]);
  EXPECT_EQ(r.headers["webhook-signature"], Sign({secret_}, msg_id, ts, r.body));
  EXPECT_NE(r.body.find("\"type\":\"task.succeeded\""), std::string::npos);
  auto records = Settled(id);
  EXPECT_EQ(records.front().state, DeliveryState::kDelivered);
  EXPECT_EQ(records.front().delivery.id, msg_id);
}

TEST_F(WebhookDispatcherTest, RetriesA500WithTheSameIdUntilA2xx) {
  WebhookReceiver receiver([](int n, const ReceivedRequest&) { return n < 2 ? 500 : 200; });
  WebhookDispatcher dispatcher(*outbox_, Options());
  ASSERT_TRUE(dispatcher.Start().ok());
  const std::string id = SubmitAndComplete(receiver.port());
  auto records = Settled(id);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].state, DeliveryState::kDelivered);
  ASSERT_EQ(records[0].attempts.size(), 3u);
  EXPECT_EQ(records[0].attempts[0].response_status, 500);
  EXPECT_EQ(records[0].attempts[2].response_status, 200);
  auto got = receiver.requests();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].headers["webhook-id"], got[2].headers["webhook-id"]);
}

TEST_F(WebhookDispatcherTest, AHangingReceiverTimesOutAndIsRetried) {
  WebhookReceiver receiver([](int n, const ReceivedRequest&) { return n == 0 ? 0 : 204; });
  WebhookDispatcherOptions o = Options();
  o.timeout = Millis(500);
  WebhookDispatcher dispatcher(*outbox_, o);
  ASSERT_TRUE(dispatcher.Start().ok());
  auto records = Settled(SubmitAndComplete(receiver.port()));
  ASSERT_EQ(records[0].attempts.size(), 2u);
  EXPECT_NE(records[0].attempts[0].error.find("timeout"), std::string::npos);
  EXPECT_EQ(records[0].state, DeliveryState::kDelivered);
}

TEST_F(WebhookDispatcherTest, ARefusedConnectionIsRetriedAndTheLastFailureRecorded) {
  int port;
  { port = WebhookReceiver().port(); }  // a port nobody listens on any more
  WebhookDispatcher dispatcher(*outbox_, Options());
  ASSERT_TRUE(dispatcher.Start().ok());
  auto records = Settled(SubmitAndComplete(port));
  EXPECT_EQ(records[0].state, DeliveryState::kFailed);
  EXPECT_EQ(records[0].attempts.size(), 4u);  // the first try and three retries
  EXPECT_EQ(records[0].attempts.back().response_status, 0);
  EXPECT_FALSE(records[0].attempts.back().error.empty());
}

TEST_F(WebhookDispatcherTest, A410StopsTheTasksDeliveries) {
  WebhookReceiver receiver([](int, const ReceivedRequest&) { return 410; });
  WebhookDispatcher dispatcher(*outbox_, Options());
  ASSERT_TRUE(dispatcher.Start().ok());
  auto records = Settled(SubmitAndComplete(receiver.port(), {"started", "completed"}));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].attempts.size(), 1u);
  EXPECT_EQ(records[1].attempts.size(), 0u);
  EXPECT_EQ(records[1].state, DeliveryState::kFailed);
  EXPECT_EQ(receiver.count(), 1);
}

TEST_F(WebhookDispatcherTest, AForbiddenAddressAtConnectTimeIsRecordedAndNotDelivered) {
  WebhookReceiver receiver;
  WebhookDispatcherOptions o = Options();
  o.allow_private = false;
  WebhookDispatcher dispatcher(*outbox_, o);
  ASSERT_TRUE(dispatcher.Start().ok());
  // "localhost" passes no submit check here: this is the connect-time guard alone.
  const std::string id = Submit(RequestWithWebhook(
      "http://localhost:" + std::to_string(receiver.port()) + "/hook", {"completed"}));
  Complete(id, Lease());
  auto records = Settled(id);
  EXPECT_EQ(records[0].state, DeliveryState::kFailed);
  ASSERT_EQ(records[0].attempts.size(), 1u);
  EXPECT_NE(records[0].attempts[0].error.find("refused"), std::string::npos);
  EXPECT_EQ(receiver.count(), 0);
}

TEST_F(WebhookDispatcherTest, ANameThatResolvesToLoopbackIsRefusedAtConnectTime) {
  WebhookReceiver receiver;
  const std::string port = std::to_string(receiver.port());
  const std::string url = "http://hooks.example.test:" + port + "/hook";
  // The test resolver answers 127.0.0.1 for a name no DNS knows: what a rebinding name does.
  WebhookDispatcherOptions o = Options();
  o.allow_private = false;
  o.test_resolve = {"hooks.example.test:" + port + ":127.0.0.1"};
  {
    WebhookDispatcher dispatcher(*outbox_, o);
    ASSERT_TRUE(dispatcher.Start().ok());
    const std::string id = Submit(RequestWithWebhook(url, {"completed"}));
    Complete(id, Lease());
    auto records = Settled(id);
    EXPECT_EQ(records[0].state, DeliveryState::kFailed);
    ASSERT_EQ(records[0].attempts.size(), 1u);
    EXPECT_NE(records[0].attempts[0].error.find("refused: 127.0.0.1"), std::string::npos)
        << records[0].attempts[0].error;
    EXPECT_EQ(receiver.count(), 0);
  }
  // The same name through the same resolver reaches the receiver when private targets are
  // allowed: the refusal above was the guard's, not a failed lookup.
  o.allow_private = true;
  WebhookDispatcher dispatcher(*outbox_, o);
  ASSERT_TRUE(dispatcher.Start().ok());
  const std::string id = Submit(RequestWithWebhook(url, {"completed"}));
  Complete(id, Lease());
  auto records = Settled(id);
  EXPECT_EQ(records[0].state, DeliveryState::kDelivered);
  EXPECT_EQ(receiver.count(), 1);
}

}  // namespace
}  // namespace stipple::webhook
