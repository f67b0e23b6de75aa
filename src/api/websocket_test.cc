// GET /v1/ws over a real WebSocket (TestWebSocket on loopback) against FakeTaskService.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <optional>
#include <thread>

#include "api/api_keys.h"
#include "api/testing/http_test_support.h"
#include "common/testing/eventually.h"

namespace stipple::http::testing {
namespace {

using stipple::testing::Eventually;

namespace json = boost::json;

// The test socket on /v1/ws, its frames read as JSON objects.
class WsClient : public TestWebSocket {
 public:
  explicit WsClient(uint16_t port, std::vector<std::pair<std::string, std::string>> headers = {},
                    std::vector<std::string> protocols = {})
      : TestWebSocket(port, "/v1/ws", std::move(headers), std::move(protocols)) {}

  // The next frame as an object; an empty object when the read failed (closed, timed out).
  json::object Read() {
    std::optional<std::string> text = TestWebSocket::Read();
    return text ? json::parse(*text).as_object() : json::object();
  }
};

// A JSON string as std::string ("<...>" for anything else), for comparisons.
std::string Str(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : "<" + json::serialize(v) + ">";
}

TEST(WebSocket, SubmitThenReceiveTheTasksEventsInOrder) {
  TestServer s;
  WsClient ws(s.port());
  ASSERT_TRUE(ws.open());
  ws.Send(R"({"op":"subscribe","all":true,"ref":1})");
  json::object ack = ws.Read();
  EXPECT_EQ(ack["type"], "subscribed");
  EXPECT_EQ(ack["all"], true);
  EXPECT_EQ(ack["ref"], 1);

  ws.Send(R"({"op":"submit","ref":"r2","request":{"prompt":"a red circle","steps":20}})");
  json::object submitted = ws.Read();
  ASSERT_EQ(submitted["type"], "submitted") << json::serialize(submitted);
  EXPECT_EQ(submitted["ref"], "r2");
  std::string id(submitted["task"].as_object()["id"].as_string());
  ASSERT_EQ(s.service.submitted().size(), 1u);

  json::object queued = ws.Read();
  EXPECT_EQ(queued["type"], "queued");
  EXPECT_EQ(Str(queued["task_id"]), id);
  EXPECT_EQ(queued["seq"], 1);
  s.service.Start(id);
  s.service.Progress(id, 1, 20);
  s.service.Progress(id, 2, 20);
  s.service.Succeed(id);
  // The feed and the task's own subscription both carry these: each goes out once, in order.
  std::vector<std::string> types;
  for (int64_t seq = 2; seq <= 5; ++seq) {
    json::object event = ws.Read();
    ASSERT_FALSE(event.empty()) << ws.read_error();
    EXPECT_EQ(Str(event["task_id"]), id);
    EXPECT_EQ(event["seq"], seq);
    types.emplace_back(event["type"].as_string());
  }
  EXPECT_THAT(types, ::testing::ElementsAre("started", "progress", "progress", "succeeded"));
}

TEST(WebSocket, ProgressAndTerminalEventsCarryTheirFields) {
  TestServer s;
  std::string id = s.CreateTask();
  WsClient ws(s.port());
  ws.Send(R"({"op":"subscribe","task_ids":[")" + id + R"("]})");
  EXPECT_EQ(ws.Read()["type"], "subscribed");
  EXPECT_EQ(ws.Read()["type"], "queued");  // replayed: the task's held events come first
  s.service.Start(id);
  s.service.Progress(id, 3, 20);
  s.service.Succeed(id);
  EXPECT_EQ(ws.Read()["type"], "started");
  json::object progress = ws.Read();
  EXPECT_EQ(progress["step"], 3);
  EXPECT_EQ(progress["steps"], 20);
  json::object done = ws.Read();
  EXPECT_EQ(done["type"], "succeeded");
  EXPECT_EQ(done["task"].as_object()["status"], "succeeded");
  EXPECT_TRUE(Eventually([&] { return s.service.active_subscriptions() == 0; }));
}

TEST(WebSocket, BadMessagesAnswerAnErrorFrameAndTheSocketStaysOpen) {
  TestServer s;
  WsClient ws(s.port());
  ws.Send("this is not json");
  json::object error = ws.Read();
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["code"], "invalid_request");
  EXPECT_EQ(error["status"], 400);
  EXPECT_EQ(error["errors"].as_array()[0].as_object()["field"], "message");

  ws.Send(R"({"op":"dance","ref":7})");
  error = ws.Read();
  EXPECT_EQ(error["errors"].as_array()[0].as_object()["field"], "op");
  EXPECT_EQ(error["ref"], 7);

  ws.Send(R"({"op":"submit","request":{"prompt":"a","steps":0}})");
  error = ws.Read();
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["op"], "submit");
  EXPECT_EQ(error["errors"].as_array()[0].as_object()["field"], "request.steps");
  EXPECT_TRUE(s.service.submitted().empty());

  ws.Send(R"({"op":"subscribe","task_ids":[")" + std::string(kUnknownTaskId) + R"("]})");
  error = ws.Read();
  EXPECT_EQ(error["code"], "not_found");
  EXPECT_EQ(error["task_id"], kUnknownTaskId);
  EXPECT_EQ(ws.Read()["type"], "subscribed");  // the ack lists the ids that worked: none

  // Still open: a good message works.
  ws.Send(R"({"op":"subscribe","all":true})");
  EXPECT_EQ(ws.Read()["type"], "subscribed");
}

TEST(WebSocket, UnsubscribeStopsTheTasksEvents) {
  TestServer s;
  std::string a = s.CreateTask();
  std::string b = s.CreateTask();
  WsClient ws(s.port());
  ws.Send(R"({"op":"subscribe","task_ids":[")" + a + R"("]})");
  EXPECT_EQ(ws.Read()["type"], "subscribed");
  EXPECT_EQ(ws.Read()["type"], "queued");
  EXPECT_EQ(s.service.active_subscriptions(), 1u);
  EXPECT_EQ(s.server->gateway().metrics().ws_subscriptions.load(), 1);
  ws.Send(R"({"op":"unsubscribe","task_ids":[")" + a + R"("]})");
  json::object ack = ws.Read();
  EXPECT_EQ(ack["type"], "unsubscribed");
  EXPECT_EQ(Str(ack["task_ids"].as_array()[0]), a);
  EXPECT_EQ(s.service.active_subscriptions(), 0u);
  s.service.Start(a);
  // The next frames are b's, never a's.
  ws.Send(R"({"op":"subscribe","task_ids":[")" + b + R"("]})");
  EXPECT_EQ(ws.Read()["type"], "subscribed");
  json::object next = ws.Read();
  EXPECT_EQ(Str(next["task_id"]), b);
  EXPECT_EQ(next["type"], "queued");
}

TEST(WebSocket, AuthenticatesByHeaderOrBearerSubprotocolAndKeepsTenantsApart) {
  TestServer s;
  s.server->gateway().SetApiKeys(ApiKeys::Parse("alice key-a\nbob key-b\n").value());
  WsClient anonymous(s.port());
  EXPECT_FALSE(anonymous.open());
  EXPECT_EQ(anonymous.status(), 401);

  TestResponse created =
      s.Send("POST", "/v1/tasks",
             {{"Content-Type", "application/json"}, {"Authorization", "Bearer key-b"}},
             R"({"prompt":"x"})");
  ASSERT_EQ(created.status, 202);
  std::string bobs(json::parse(created.body).as_object()["id"].as_string());
  WsClient browser(s.port(), {}, {"stipple.v1", "bearer.key-a"});
  ASSERT_TRUE(browser.open());
  EXPECT_EQ(browser.ResponseHeader("Sec-WebSocket-Protocol"), "stipple.v1");
  browser.Send(R"({"op":"subscribe","task_ids":[")" + bobs + R"("]})");
  EXPECT_EQ(browser.Read()["code"], "not_found");  // another tenant's task does not exist

  WsClient header(s.port(), {{"Authorization", "Bearer key-b"}});
  ASSERT_TRUE(header.open());
  header.Send(R"({"op":"subscribe","task_ids":[")" + bobs + R"("]})");
  EXPECT_EQ(header.Read()["type"], "subscribed");
  EXPECT_EQ(header.Read()["type"], "queued");
}

TEST(WebSocket, SubmitsTakeTokensOfTheKeysRateLimit) {
  ApiServerOptions options = TestOptions();
  options.gateway.rate_limit_per_s = 0.001;
  options.gateway.rate_limit_burst = 2;  // the upgrade request takes one
  TestServer s(options);
  s.server->gateway().SetApiKeys(ApiKeys::Parse("alice key-a\n").value());
  WsClient ws(s.port(), {{"Authorization", "Bearer key-a"}});
  ASSERT_TRUE(ws.open());
  ws.Send(R"({"op":"submit","request":{"prompt":"a"}})");
  EXPECT_EQ(ws.Read()["type"], "submitted");
  EXPECT_EQ(ws.Read()["type"], "queued");
  ws.Send(R"({"op":"submit","request":{"prompt":"a"}})");
  json::object refused = ws.Read();
  EXPECT_EQ(refused["code"], "too_many_requests");
  EXPECT_EQ(refused["status"], 429);
  EXPECT_GE(refused["retry_after_s"].to_number<int>(), 1);
  EXPECT_EQ(s.service.submitted().size(), 1u);
}

TEST(WebSocket, APlainRequestAnswers426) {
  TestServer s;
  TestResponse r = s.Send("GET", "/v1/ws");
  EXPECT_EQ(r.status, 426);
  EXPECT_EQ(r.headers.Get("Upgrade").value_or(""), "websocket");
}

TEST(WebSocket, OpenSocketsAreCountedAndStopClosesThemWithGoingAway) {
  TestServer s;
  {
    WsClient ws(s.port());
    ASSERT_TRUE(ws.open());
    EXPECT_TRUE(Eventually([&] { return s.server->gateway().metrics().ws_connections == 1; }));
    EXPECT_THAT(s.Send("GET", "/metrics").body,
                ::testing::HasSubstr("stipple_http_ws_connections 1"));
    std::thread stop([&] { s.server->Stop(); });
    json::object frame = ws.Read();
    EXPECT_TRUE(frame.empty());
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_EQ(ws.close_code(), 1001);  // going away
    stop.join();
  }
  EXPECT_EQ(s.server->gateway().metrics().ws_connections, 0);
}

// A WebSocket is an event stream: past the bound of open streams its upgrade answers 429 before
// the handshake (an SSE stream from the same address is refused alike), and its place is free
// again once it closes.
TEST(WebSocket, AnUpgradePastTheStreamBoundAnswers429BeforeTheHandshake) {
  ApiServerOptions options = TestOptions();
  options.gateway.max_streams_per_address = 1;
  TestServer s(options);
  HttpMetrics& metrics = s.server->gateway().metrics();
  const std::string id = s.CreateTask();
  auto first = std::make_unique<WsClient>(s.port());
  ASSERT_TRUE(first->open());

  WsClient second(s.port());
  EXPECT_FALSE(second.open());
  EXPECT_EQ(second.status(), 429);
  EXPECT_NE(second.ResponseHeader("Retry-After"), "");
  TestResponse sse = s.Send("GET", "/v1/tasks/" + id + "/events");
  EXPECT_EQ(sse.status, 429);
  EXPECT_EQ(metrics.streams_refused, 2);
  EXPECT_EQ(metrics.ws_connections, 1);

  first.reset();  // closes the socket
  ASSERT_TRUE(Eventually([&] { return metrics.ws_connections == 0; }));
  WsClient third(s.port());
  EXPECT_TRUE(third.open()) << "a closed socket frees its place";
}

// Subscriptions past max_ws_subscriptions: an error frame naming the bound, none of the message's
// tasks subscribed, the socket open; a submit with no room is refused before the task exists.
TEST(WebSocket, SubscriptionsPastTheBoundAnswerAnErrorAndSubscribeNothing) {
  ApiServerOptions options = TestOptions();
  options.gateway.max_ws_subscriptions = 2;
  TestServer s(options);
  const std::string a = s.CreateTask(), b = s.CreateTask(), c = s.CreateTask();
  WsClient ws(s.port());
  ASSERT_TRUE(ws.open());
  ws.Send(R"({"op":"subscribe","task_ids":[")" + a + R"("]})");
  EXPECT_EQ(ws.Read()["type"], "subscribed");
  EXPECT_EQ(ws.Read()["type"], "queued");

  ws.Send(R"({"op":"subscribe","ref":3,"task_ids":[")" + b + R"(",")" + c + R"(",")" + a +
          R"("]})");
  json::object error = ws.Read();
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["code"], "too_many_requests");
  EXPECT_EQ(error["status"], 429);
  EXPECT_EQ(error["ref"], 3);
  EXPECT_THAT(Str(error["message"]), ::testing::HasSubstr("at most 2 task subscriptions"));
  EXPECT_EQ(s.service.active_subscriptions(), 1u) << "nothing half-subscribed";
  EXPECT_EQ(s.server->gateway().metrics().ws_subscriptions.load(), 1);

  ws.Send(R"({"op":"subscribe","task_ids":[")" + b + R"(",")" + a + R"("]})");
  EXPECT_EQ(ws.Read()["type"], "subscribed");  // b fits; a is already followed
  EXPECT_EQ(ws.Read()["type"], "queued");
  ws.Send(R"({"op":"submit","request":{"prompt":"a"}})");
  error = ws.Read();
  EXPECT_EQ(error["op"], "submit");
  EXPECT_EQ(error["code"], "too_many_requests");
  EXPECT_EQ(s.service.submitted().size(), 3u) << "refused before the task was created";

  ws.Send(R"({"op":"unsubscribe","task_ids":[")" + a + R"("]})");
  EXPECT_EQ(ws.Read()["type"], "unsubscribed");
  ws.Send(R"({"op":"subscribe","task_ids":[")" + c + R"("]})");
  json::object ack = ws.Read();
  EXPECT_EQ(ack["type"], "subscribed");
  EXPECT_EQ(Str(ack["task_ids"].as_array()[0]), c);
  EXPECT_EQ(s.service.active_subscriptions(), 2u);
}

}  // namespace
}  // namespace stipple::http::testing
