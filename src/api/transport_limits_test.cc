// The transport's limits as a client meets them: the connection cap (503, then close), the
// bounds of requests held by Prefer: wait per tenant and per client address (429 before
// anything is submitted) and of open event streams (429 before the stream starts), with their
// metrics. The WebSocket side of the stream bound is in websocket_test.cc.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api_keys.h"
#include "api/testing/http_test_support.h"
#include "common/testing/eventually.h"

namespace stipple::http::testing {
namespace {

using stipple::testing::Eventually;

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ConnectionCap, OneConnectionPastTheCapIsAnswered503AndCounted) {
  ApiServerOptions options = TestOptions();
  options.max_connections = 2;
  options.idle_timeout = std::chrono::milliseconds(10'000);
  TestServer s(options);
  TestClient a(s.port()), b(s.port());
  ASSERT_EQ(a.Send("GET", "/healthz").status, 200);
  ASSERT_EQ(b.Send("GET", "/healthz").status, 200);
  HttpMetrics& metrics = s.server->gateway().metrics();
  EXPECT_EQ(metrics.connections, 2);
  std::string raw = RawExchange(s.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(raw, StartsWith("HTTP/1.1 503 "));
  EXPECT_THAT(raw, HasSubstr("Content-Type: application/problem+json"));
  EXPECT_THAT(raw, HasSubstr("Retry-After: "));
  EXPECT_THAT(raw, HasSubstr("limit of 2 connections"));
  EXPECT_EQ(metrics.connections_refused, 1);
  EXPECT_THAT(metrics.Render(nullptr, nullptr),
              HasSubstr("stipple_http_connections_refused_total 1\n"));
  EXPECT_EQ(a.Send("GET", "/healthz").status, 200) << "the served connections go on";
}

TEST(ConnectionCap, TheDefaultIsBelowTheDescriptorLimit) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit lowered{1024, saved.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  const size_t cap = DefaultMaxConnections();
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_LT(cap, 1024u - 64u);
  EXPECT_GT(cap, 512u);
}

// A server in a child process started under RLIMIT_NOFILE 256: its default cap (256 - 32 - 64
// = 160) keeps descriptors in hand, so the connections past it are answered 503 — not left to
// fail in accept — and the server goes on answering.
TEST(ConnectionCap, UnderALowDescriptorLimitTheExcessIsAnswered503) {
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit limit{256, 256};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(2);
    ApiServerOptions options = TestOptions();
    options.idle_timeout = std::chrono::milliseconds(30'000);
    options.read_timeout = std::chrono::milliseconds(30'000);
    TestServer server(options);
    const uint16_t port = server.port();
    if (::write(ready[1], &port, sizeof(port)) != sizeof(port)) _exit(2);
    ::pause();
    _exit(0);
  }
  ::close(ready[1]);
  uint16_t port = 0;
  ASSERT_EQ(::read(ready[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  ::close(ready[0]);
  {
    std::vector<std::unique_ptr<TestClient>> held;
    for (int i = 0; i < 160; ++i) {
      held.push_back(std::make_unique<TestClient>(port));
      ASSERT_EQ(held.back()->Send("GET", "/healthz").status, 200) << i;
    }
    std::string raw = RawExchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_THAT(raw, StartsWith("HTTP/1.1 503 "));
    EXPECT_THAT(raw, HasSubstr("limit of 160 connections"));
  }
  // The held connections closed: the server answers again.
  EXPECT_TRUE(Eventually([&] {
    return RawExchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
               .rfind("HTTP/1.1 200 ", 0) == 0;
  }));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

// Opens a held long poll of `id` (Prefer: wait=300) on a connection of its own.
std::unique_ptr<StreamReader> Hold(const TestServer& s, const std::string& id,
                                   const std::string& extra_headers = "") {
  return std::make_unique<StreamReader>(
      s.port(), "GET /v1/tasks/" + id + " HTTP/1.1\r\nHost: x\r\nPrefer: wait=300\r\n" +
                    extra_headers + "\r\n");
}

TEST(HeldRequestBound, PerAddressPastTheBoundAnswers429BeforeSubmitting) {
  ApiServerOptions options = TestOptions();
  options.gateway.max_held_per_address = 2;
  TestServer s(options);
  const std::string id = s.CreateTask();
  HttpMetrics& metrics = s.server->gateway().metrics();
  auto first = Hold(s, id);
  auto second = Hold(s, id);
  ASSERT_TRUE(Eventually([&] { return metrics.sync_waiters == 2; }));

  TestResponse get = s.Send("GET", "/v1/tasks/" + id, {{"Prefer", "wait=300"}});
  EXPECT_EQ(get.status, 429);
  EXPECT_TRUE(get.headers.Has("Retry-After"));
  EXPECT_EQ(get.headers.Get("Content-Type"), "application/problem+json");
  EXPECT_THAT(get.body, HasSubstr("client address 127.0.0.1"));

  const size_t submits = s.service.submit_calls();
  TestResponse post =
      s.Send("POST", "/v1/tasks", {{"Content-Type", "application/json"}, {"Prefer", "wait=300"}},
             R"({"prompt":"a red circle"})");
  EXPECT_EQ(post.status, 429);
  EXPECT_EQ(s.service.submit_calls(), submits) << "refused before anything was submitted";
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id).status, 200) << "a poll without a wait is served";
  EXPECT_EQ(metrics.held_refused, 2);

  first.reset();  // the client goes away: its place is free again
  ASSERT_TRUE(Eventually([&] { return metrics.sync_waiters == 1; }));
  auto third = Hold(s, id);
  EXPECT_TRUE(Eventually([&] { return metrics.sync_waiters == 2; }));
  EXPECT_EQ(metrics.held_refused, 2);
}

TEST(HeldRequestBound, PerTenantPastTheBoundAnswers429) {
  ApiServerOptions options = TestOptions();
  options.gateway.max_held_per_tenant = 1;
  TestServer s(options);
  const std::string id = s.CreateTask();
  auto held = Hold(s, id);
  ASSERT_TRUE(Eventually([&] { return s.server->gateway().metrics().sync_waiters == 1; }));
  TestResponse get = s.Send("GET", "/v1/tasks/" + id, {{"Prefer", "wait=5"}});
  EXPECT_EQ(get.status, 429);
  EXPECT_THAT(get.body, HasSubstr("tenant default"));
  s.service.Succeed(id);
  EXPECT_THAT(held->ReadUntil("succeeded"), StartsWith("HTTP/1.1 200 "));
  EXPECT_TRUE(Eventually([&] { return s.server->gateway().metrics().sync_waiters == 0; }));
  const std::string other = s.CreateTask();
  auto again = Hold(s, other);
  EXPECT_TRUE(Eventually([&] { return s.server->gateway().metrics().sync_waiters == 1; }))
      << "an answered wait frees its place";
}

// Opens an SSE stream of `id`'s events on a connection of its own.
std::unique_ptr<StreamReader> Follow(const TestServer& s, const std::string& id,
                                     const std::string& extra_headers = "") {
  return std::make_unique<StreamReader>(
      s.port(), "GET /v1/tasks/" + id + "/events HTTP/1.1\r\nHost: x\r\n" + extra_headers + "\r\n");
}

TEST(StreamBound, PerAddressPastTheBoundAnswers429BeforeTheStreamStarts) {
  ApiServerOptions options = TestOptions();
  options.gateway.max_streams_per_address = 2;
  TestServer s(options);
  const std::string id = s.CreateTask();
  HttpMetrics& metrics = s.server->gateway().metrics();
  auto first = Follow(s, id);
  auto second = Follow(s, id);
  EXPECT_THAT(first->ReadUntil("event: queued"), StartsWith("HTTP/1.1 200 "));
  EXPECT_THAT(second->ReadUntil("event: queued"), StartsWith("HTTP/1.1 200 "));

  auto third = Follow(s, id);
  std::string refused = third->ReadUntil("\r\n\r\n{");
  EXPECT_THAT(refused, StartsWith("HTTP/1.1 429 "));
  EXPECT_THAT(refused, HasSubstr("Retry-After: "));
  EXPECT_THAT(refused, HasSubstr("application/problem+json"));
  EXPECT_THAT(third->ReadUntil("limit"), HasSubstr("client address 127.0.0.1 already holds 2 "
                                                   "event streams"));
  EXPECT_EQ(metrics.sse_subscribers, 2) << "the refused stream never started";
  EXPECT_EQ(metrics.streams_refused, 1);
  EXPECT_EQ(metrics.held_refused, 0);
  EXPECT_THAT(metrics.Render(nullptr, nullptr),
              HasSubstr("stipple_http_streams_refused_total 1\n"));
  EXPECT_EQ(s.Send("GET", "/v1/tasks/" + id).status, 200) << "other requests are served";

  first.reset();  // the client goes away: its place is free again
  ASSERT_TRUE(Eventually([&] { return metrics.sse_subscribers == 1; }));
  auto fourth = Follow(s, id);
  EXPECT_THAT(fourth->ReadUntil("event: queued"), StartsWith("HTTP/1.1 200 "));
  EXPECT_EQ(metrics.streams_refused, 1);
}

// The tenant bound counts one tenant's streams from every address; another tenant still gets in,
// and a stream that ends (its task finished) frees its place.
TEST(StreamBound, PerTenantPastTheBoundAnswers429AndOtherTenantsGetIn) {
  ApiServerOptions options = TestOptions();
  options.gateway.max_streams_per_tenant = 1;
  TestServer s(options);
  s.server->gateway().SetApiKeys(ApiKeys::Parse("alice key-a\nbob key-b\n").value());
  auto create = [&](const std::string& key) {
    TestResponse r =
        s.Send("POST", "/v1/tasks",
               {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}},
               R"({"prompt":"a red circle"})");
    EXPECT_EQ(r.status, 202);
    const size_t at = r.body.find("\"id\":\"") + 6;
    return r.body.substr(at, r.body.find('"', at) - at);
  };
  const std::string alices = create("key-a"), bobs = create("key-b");
  auto alice = Follow(s, alices, "Authorization: Bearer key-a\r\n");
  EXPECT_THAT(alice->ReadUntil("event: queued"), StartsWith("HTTP/1.1 200 "));

  TestResponse refused =
      s.Send("GET", "/v1/tasks/" + alices + "/events", {{"Authorization", "Bearer key-a"}});
  EXPECT_EQ(refused.status, 429);
  EXPECT_TRUE(refused.headers.Has("Retry-After"));
  EXPECT_THAT(refused.body, HasSubstr("tenant alice already holds 1 event streams"));

  auto bob = Follow(s, bobs, "Authorization: Bearer key-b\r\n");
  EXPECT_THAT(bob->ReadUntil("event: queued"), StartsWith("HTTP/1.1 200 "))
      << "the address is under its bound; bob is under his";

  s.service.Succeed(alices);
  EXPECT_THAT(alice->ReadUntil("event: succeeded"), HasSubstr("event: succeeded"));
  ASSERT_TRUE(Eventually([&] { return s.server->gateway().metrics().sse_subscribers == 1; }));
  auto again = Follow(s, alices, "Authorization: Bearer key-a\r\n");
  EXPECT_THAT(again->ReadUntil("event: succeeded"), StartsWith("HTTP/1.1 200 "))
      << "an ended stream frees its place";
  EXPECT_EQ(s.server->gateway().metrics().streams_refused, 1);
}

}  // namespace
}  // namespace stipple::http::testing
