// /openapi.json covers the route table; /metrics is valid Prometheus text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <cctype>
#include <regex>
#include <sstream>

#include "api/testing/http_test_support.h"

namespace stipple::http::testing {
namespace {

namespace json = boost::json;

TEST(OpenApi, DescribesEveryRouteOfTheTable) {
  TestServer s;
  TestResponse r = s.Send("GET", "/openapi.json");
  ASSERT_EQ(r.status, 200);
  json::object doc = json::parse(r.body).as_object();
  EXPECT_EQ(doc["openapi"], "3.0.3");
  json::object& paths = doc["paths"].as_object();
  size_t operations = 0;
  for (const auto& entry : paths) operations += entry.value().as_object().size();
  EXPECT_EQ(operations, s.server->gateway().routes().routes().size());
  for (const Route& route : s.server->gateway().routes().routes()) {
    std::string method;
    for (char c : route.method) method += static_cast<char>(std::tolower(c));
    ASSERT_TRUE(paths.contains(route.pattern)) << route.pattern;
    ASSERT_TRUE(paths[route.pattern].as_object().contains(method)) << route.pattern;
    json::object& op = paths[route.pattern].as_object()[method].as_object();
    EXPECT_EQ(op["operationId"].as_string(), route.operation_id);
    EXPECT_EQ(op["responses"].as_object().size(), route.responses.size()) << route.pattern;
  }
}

TEST(OpenApi, EverySchemaReferenceResolves) {
  TestServer s;
  std::string body = s.Send("GET", "/openapi.json").body;
  json::object doc = json::parse(body).as_object();
  json::object& schemas = doc["components"].as_object()["schemas"].as_object();
  std::regex ref(R"re("\$ref":"#/components/schemas/([A-Za-z]+)")re");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), ref); it != std::sregex_iterator();
       ++it) {
    EXPECT_TRUE(schemas.contains((*it)[1].str())) << (*it)[1].str();
  }
}

TEST(Metrics, ParsesLineByLineAsPrometheusText) {
  TestServer s;
  QueueSnapshot snap;
  QueueCounts c;
  c.model = "shapes-32";
  c.queued[1] = 3;
  c.oldest_queued_at = SystemClock::Get()->Now() - Millis(5000);
  snap.per_model = {c};
  snap.workers = {WorkerStatus{.info = {.id = "w1"}, .state = WorkerState::kBusy},
                  WorkerStatus{.info = {.id = "w2"}, .state = WorkerState::kIdle}};
  snap.totals.ended[TaskState::kSucceeded] = 4;
  snap.totals.run.Observe(3.0);
  s.service.set_queue(snap);
  s.server->gateway().metrics().WebhookDeliveryCounter()("delivered");
  s.CreateTask();
  s.Send("GET", "/v1/nope");
  TestResponse r = s.Send("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(std::string(r.headers.Get("Content-Type").value_or("")),
              ::testing::StartsWith("text/plain; version=0.0.4"));
  std::regex help(R"(# HELP stipple_[a-z_]+ .+)");
  std::regex type(R"(# TYPE stipple_[a-z_]+ (counter|gauge|histogram|summary|untyped))");
  std::regex sample(
      R"re(stipple_[a-zA-Z0-9_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf))re");
  std::istringstream lines(r.body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP")) {
      EXPECT_TRUE(std::regex_match(line, help)) << line;
    } else if (line.starts_with("# TYPE")) {
      EXPECT_TRUE(std::regex_match(line, type)) << line;
    } else {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
      ++samples;
    }
  }
  EXPECT_GT(samples, 5);
  EXPECT_THAT(r.body,
              ::testing::HasSubstr(
                  R"(stipple_http_requests_total{route="/v1/tasks",method="POST",code="202"} 1)"));
  EXPECT_THAT(r.body,
              ::testing::HasSubstr(
                  R"(stipple_http_requests_total{route="unmatched",method="GET",code="404"} 1)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(
                          R"(stipple_queue_depth{model="shapes-32",priority="normal"} 3)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("stipple_http_sync_waiters 0"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("stipple_http_sse_subscribers 0"));
  EXPECT_THAT(r.body,
              ::testing::HasSubstr(R"(stipple_queue_oldest_age_seconds{model="shapes-32"} )"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(R"(stipple_workers{state="busy"} 1)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(R"(stipple_workers{state="idle"} 1)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(R"(stipple_workers{state="draining"} 0)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(R"(stipple_tasks_ended_total{status="succeeded"} 4)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(R"(stipple_tasks_ended_total{status="expired"} 0)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(R"(stipple_task_run_seconds_bucket{le="2.5"} 0)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(R"(stipple_task_run_seconds_bucket{le="5"} 1)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr(R"(stipple_task_run_seconds_bucket{le="+Inf"} 1)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("stipple_task_run_seconds_count 1"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("stipple_task_queue_wait_seconds_count 0"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("stipple_http_ws_subscribers 0"));
  EXPECT_THAT(r.body,
              ::testing::HasSubstr(R"(stipple_webhook_deliveries_total{result="delivered"} 1)"));
  EXPECT_THAT(r.body,
              ::testing::HasSubstr(R"(stipple_webhook_deliveries_total{result="gave_up"} 0)"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("stipple_desired_workers "));
}

}  // namespace
}  // namespace stipple::http::testing
