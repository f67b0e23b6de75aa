// The gateway's pieces without sockets: keys, Prefer, routes, the Status mapping, rate limits,
// queue figures.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/api_keys.h"
#include "api/handlers.h"
#include "api/queue_figures.h"
#include "api/rate_limiter.h"
#include "http/problem.h"
#include "http/route_table.h"

namespace stipple::http {
namespace {

TEST(ApiKeys, PlainAndSha256KeysAuthenticateTheirTenant) {
  // sha256("secret-b")
  Result<ApiKeys> keys = ApiKeys::Parse(
      "# comment\n"
      "alice secret-a\n"
      "\n"
      "bob sha256:ff492ef788c89b555e6f738b33d2422f57dbb6656af2402155672c5f123a90af admin\n");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 2u);
  Result<Principal> alice = keys->Authenticate("Bearer secret-a");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->tenant, "alice");
  EXPECT_FALSE(alice->admin);
  Result<Principal> bob = keys->Authenticate("Bearer secret-b");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob->tenant, "bob");
  EXPECT_TRUE(bob->admin);
  EXPECT_EQ(keys->Authenticate("Bearer secret-x").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(keys->Authenticate(std::nullopt).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(keys->Authenticate("Basic secret-a").status().code(), StatusCode::kUnauthenticated);
}

TEST(ApiKeys, Sha256FormMatchesTheKeyItHashes) {
  // printf 'hello' | sha256sum
  Result<ApiKeys> keys =
      ApiKeys::Parse("t sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->Authenticate("Bearer hello")->tenant, "t");
}

TEST(ApiKeys, BadLinesAreRefusedNamingTheLine) {
  EXPECT_THAT(ApiKeys::Parse("alice\n").status().message(), ::testing::HasSubstr("line 1"));
  EXPECT_THAT(ApiKeys::Parse("a k\nb k root\n").status().message(), ::testing::HasSubstr("line 2"));
  EXPECT_FALSE(ApiKeys::Parse("a sha256:abc\n").ok());
}

TEST(ApiKeys, NoKeysMeansOpenAsDefaultTenant) {
  Result<Principal> p = ApiKeys().Authenticate(std::nullopt);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->tenant, "default");
}

TEST(PreferWait, ParsesWaitForms) {
  EXPECT_FALSE(ParsePreferWait(std::nullopt, 60, 300)->has_value());
  EXPECT_EQ(*ParsePreferWait("wait", 60, 300), 60);
  EXPECT_EQ(*ParsePreferWait("wait=5", 60, 300), 5);
  EXPECT_EQ(*ParsePreferWait("respond-async, wait=7", 60, 300), 7);
  EXPECT_FALSE(ParsePreferWait("return=minimal", 60, 300)->has_value());
  EXPECT_FALSE(ParsePreferWait("wait=0", 60, 300).ok());
  EXPECT_FALSE(ParsePreferWait("wait=301", 60, 300).ok());
  EXPECT_FALSE(ParsePreferWait("wait=", 60, 300).ok());
  EXPECT_EQ(ParsePreferWait("wait=x", 60, 300).status().field_errors().at(0).field, "Prefer");
}

TEST(RouteTable, MatchesPatternsAndReportsAllowedMethods) {
  RouteTable t;
  t.Add({"GET", "/v1/tasks/{id}", "a", "", "", true, {}, {}, "", {}, nullptr});
  t.Add({"POST", "/v1/tasks/{id}/cancel", "b", "", "", true, {}, {}, "", {}, nullptr});
  RouteTable::Match m = t.Find("GET", "/v1/tasks/tsk_1");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params["id"], "tsk_1");
  m = t.Find("DELETE", "/v1/tasks/tsk_1");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allowed, std::vector<std::string>{"GET"});
  EXPECT_TRUE(t.Find("GET", "/v1/tasks/").allowed.empty());
  EXPECT_TRUE(t.Find("GET", "/v1/tasks/a/b").allowed.empty());
}

TEST(ProblemFromStatus, MapsEachCodeToItsHttpStatus) {
  EXPECT_EQ(ProblemFromStatus(InvalidArgumentError("x")).status, 400);
  EXPECT_EQ(ProblemFromStatus(Status(StatusCode::kUnauthenticated, "x")).status, 401);
  EXPECT_EQ(ProblemFromStatus(Status(StatusCode::kPermissionDenied, "x")).status, 403);
  EXPECT_EQ(ProblemFromStatus(NotFoundError("x")).status, 404);
  EXPECT_EQ(ProblemFromStatus(AlreadyExistsError("x")).status, 409);
  EXPECT_EQ(ProblemFromStatus(FailedPreconditionError("x")).status, 409);
  EXPECT_EQ(ProblemFromStatus(Status(StatusCode::kOutOfRange, "x")).status, 410);
  EXPECT_EQ(ProblemFromStatus(ResourceExhaustedError("x"), 7).retry_after_s, 7);
  EXPECT_EQ(ProblemFromStatus(UnavailableError("x")).status, 503);
  EXPECT_EQ(ProblemFromStatus(InternalError("x")).status, 500);
}

TEST(ProblemResponse, IsAProblemDocumentNamingTheFields) {
  HttpResponse r = ErrorResponse(InvalidArgumentError("bad", {{"steps", "must be 1..150"}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/problem+json");
  EXPECT_EQ(r.body,
            R"({"type":"invalid_request","title":"invalid request","status":400,"detail":"bad",)"
            R"("errors":[{"field":"steps","message":"must be 1..150"}]})");
}

TEST(RateLimiter, RefusesPastTheBurstAndRefillsAtTheRate) {
  RateLimiter limiter(2, 2);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(limiter.Take("k", t0), 0);
  EXPECT_EQ(limiter.Take("k", t0), 0);
  EXPECT_EQ(limiter.Take("k", t0), 1);
  EXPECT_EQ(limiter.Take("other", t0), 0);
  EXPECT_EQ(limiter.Take("k", t0 + std::chrono::milliseconds(600)), 0);
}

TEST(QueueFigures, DesiredWorkersClearTheBacklogWithinTheTargetWait) {
  QueueSnapshot snap;
  QueueCounts c;
  c.model = "m";
  c.queued[0] = 10;
  c.running = 2;
  snap.per_model = {c};
  snap.mean_run_s = 6;
  snap.workers_busy = 1;
  EXPECT_EQ(ComputeQueueFigures(snap, Timestamp(), 30).desired_workers, 3);  // ceil(12*6/30)
  snap.mean_run_s = 0;  // no history: one per task
  EXPECT_EQ(ComputeQueueFigures(snap, Timestamp(), 30).desired_workers, 12);
  snap.per_model.clear();
  EXPECT_EQ(ComputeQueueFigures(snap, Timestamp(), 30).desired_workers, 1);  // the busy one
}

}  // namespace
}  // namespace stipple::http
