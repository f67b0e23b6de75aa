// Every endpoint against bad input: each case gets its status and a problem document naming the
// field, and nothing is submitted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "api/testing/http_test_support.h"

namespace stipple::http::testing {
namespace {

namespace json = boost::json;

struct BadInput {
  std::string name;
  std::string method;
  std::string target;  // "{id}" is replaced by an existing task's id
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int status;
  std::string field;  // "" when the problem names no field
};

const std::pair<std::string, std::string> kJson{"Content-Type", "application/json"};

std::vector<BadInput> Cases() {
  std::string long_key(256, 'k');
  return {
      {"MalformedJson", "POST", "/v1/tasks", {kJson}, R"({"prompt":)", 400, "body"},
      {"NotAnObject", "POST", "/v1/tasks", {kJson}, "[1,2]", 400, "body"},
      {"EmptyBody", "POST", "/v1/tasks", {kJson}, "", 400, "body"},
      {"UnknownField",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","colour":"red"})",
       400,
       "colour"},
      {"UnknownWebhookField",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","webhook":{"url":"https://x.example/h","secret":"s"}})",
       400,
       "webhook.secret"},
      {"MissingPrompt", "POST", "/v1/tasks", {kJson}, R"({"steps":20})", 400, "prompt"},
      {"EmptyPrompt", "POST", "/v1/tasks", {kJson}, R"({"prompt":""})", 400, "prompt"},
      {"StepsAsString",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","steps":"20"})",
       400,
       "steps"},
      {"StepsZero", "POST", "/v1/tasks", {kJson}, R"({"prompt":"a","steps":0})", 400, "steps"},
      {"GuidanceTooHigh",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","guidance_scale":31})",
       400,
       "guidance_scale"},
      {"TooManyImages",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","num_images":9})",
       400,
       "num_images"},
      {"NegativeSeed", "POST", "/v1/tasks", {kJson}, R"({"prompt":"a","seed":-1})", 400, "seed"},
      {"ClipSkipOnAModelWithoutTextLayers",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","clip_skip":1})",
       400,
       "clip_skip"},
      // The test catalog has LoRAs "ink" (sd1, the model's family) and "neon" (sdxl).
      {"UnknownLora",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","loras":[{"name":"ink","scale":0.5},{"name":"nope"}]})",
       400,
       "loras[1].name"},
      {"LoraOfAnotherFamily",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","loras":[{"name":"neon","scale":1}]})",
       400,
       "loras[0].name"},
      {"UnknownPriority",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","priority":"urgent"})",
       400,
       "priority"},
      {"UnknownModel",
       "POST",
       "/v1/tasks",
       {kJson},
       R"({"prompt":"a","model":"nope"})",
       400,
       "model"},
      {"TextContentType",
       "POST",
       "/v1/tasks",
       {{"Content-Type", "text/plain"}},
       R"({"prompt":"a"})",
       415,
       "Content-Type"},
      {"NoContentType", "POST", "/v1/tasks", {}, R"({"prompt":"a"})", 415, "Content-Type"},
      {"PreferWaitZero",
       "POST",
       "/v1/tasks",
       {kJson, {"Prefer", "wait=0"}},
       R"({"prompt":"a"})",
       400,
       "Prefer"},
      {"PreferWaitTooLong",
       "POST",
       "/v1/tasks",
       {kJson, {"Prefer", "wait=301"}},
       R"({"prompt":"a"})",
       400,
       "Prefer"},
      {"PreferWaitNotANumber",
       "POST",
       "/v1/tasks",
       {kJson, {"Prefer", "wait=soon"}},
       R"({"prompt":"a"})",
       400,
       "Prefer"},
      {"LongPollBadPrefer", "GET", "/v1/tasks/{id}", {{"Prefer", "wait=-3"}}, "", 400, "Prefer"},
      {"IdempotencyKeyTooLong",
       "POST",
       "/v1/tasks",
       {kJson, {"Idempotency-Key", long_key}},
       R"({"prompt":"a"})",
       400,
       "Idempotency-Key"},
      {"IdempotencyKeyNotAscii",
       "POST",
       "/v1/tasks",
       {kJson, {"Idempotency-Key", "cl\xc3\xa9"}},
       R"({"prompt":"a"})",
       400,
       "Idempotency-Key"},
      {"RequestIdTooLong",
       "GET",
       "/healthz",
       {{"X-Request-Id", std::string(129, 'r')}},
       "",
       400,
       "X-Request-Id"},
      {"ListBadStatus", "GET", "/v1/tasks?status=done", {}, "", 400, "status"},
      {"ListLimitZero", "GET", "/v1/tasks?limit=0", {}, "", 400, "limit"},
      {"ListLimitTooBig", "GET", "/v1/tasks?limit=101", {}, "", 400, "limit"},
      {"ListLimitNotANumber", "GET", "/v1/tasks?limit=ten", {}, "", 400, "limit"},
      {"ListBadCursor", "GET", "/v1/tasks?cursor=bad", {}, "", 400, "cursor"},
      {"ListUnknownParameter", "GET", "/v1/tasks?colour=red", {}, "", 400, "colour"},
      {"BrokenPercentEncoding", "GET", "/v1/tasks?status=%zz", {}, "", 400, "query"},
      {"EventsBadLastEventId",
       "GET",
       "/v1/tasks/{id}/events",
       {{"Last-Event-ID", "abc"}},
       "",
       400,
       "Last-Event-ID"},
      {"EventsNegativeLastEventId",
       "GET",
       "/v1/tasks/{id}/events",
       {{"Last-Event-ID", "-1"}},
       "",
       400,
       "Last-Event-ID"},
      {"GetMalformedId", "GET", "/v1/tasks/xyz", {}, "", 404, ""},
      {"GetUnknownId", "GET", std::string("/v1/tasks/") + kUnknownTaskId, {}, "", 404, ""},
      {"CancelMalformedId", "POST", "/v1/tasks/xyz/cancel", {}, "", 404, ""},
      {"CancelUnknownId",
       "POST",
       std::string("/v1/tasks/") + kUnknownTaskId + "/cancel",
       {},
       "",
       404,
       ""},
      {"OutputMalformedId", "GET", "/v1/tasks/xyz/outputs/0", {}, "", 404, ""},
      {"OutputBadIndex", "GET", "/v1/tasks/{id}/outputs/-1", {}, "", 404, ""},
      {"PreviewMalformedId", "GET", "/v1/tasks/xyz/preview", {}, "", 404, ""},
      {"EventsUnknownId",
       "GET",
       std::string("/v1/tasks/") + kUnknownTaskId + "/events",
       {},
       "",
       404,
       ""},
      {"UnknownPath", "GET", "/v2/tasks", {}, "", 404, ""},
      {"DeleteTasks", "DELETE", "/v1/tasks", {}, "", 405, ""},
      {"PutTask", "PUT", "/v1/tasks/{id}", {}, "", 405, ""},
      {"GetCancel", "GET", "/v1/tasks/{id}/cancel", {}, "", 405, ""},
      {"PostHealthz", "POST", "/healthz", {}, "", 405, ""},
  };
}

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, AnswersAProblemNamingTheFieldAndSubmitsNothing) {
  const BadInput& c = GetParam();
  TestServer s;
  std::string id = s.CreateTask();
  ASSERT_FALSE(id.empty());
  size_t submitted = s.service.submitted().size();
  std::string target = c.target;
  if (size_t at = target.find("{id}"); at != std::string::npos) target.replace(at, 4, id);
  TestResponse r = s.Send(c.method, target, c.headers, c.body);
  EXPECT_EQ(r.status, c.status) << r.body;
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/problem+json");
  json::object problem = json::parse(r.body).as_object();
  EXPECT_EQ(problem["status"], c.status);
  EXPECT_TRUE(problem["type"].is_string());
  EXPECT_TRUE(problem["title"].is_string());
  if (!c.field.empty()) {
    bool named = false;
    for (const json::value& e : problem["errors"].as_array()) {
      named = named || e.as_object().at("field").as_string() == c.field;
    }
    EXPECT_TRUE(named) << r.body;
  }
  if (c.status == 405) {
    EXPECT_TRUE(r.headers.Has("Allow"));
  }
  EXPECT_EQ(s.service.submitted().size(), submitted);
}

INSTANTIATE_TEST_SUITE_P(EveryEndpoint, BadInputTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(BadInput, MethodNotAllowedListsTheAllowedMethods) {
  TestServer s;
  TestResponse r = s.Send("DELETE", "/v1/tasks");
  EXPECT_EQ(r.headers.Get("Allow").value_or(""), "POST, GET, HEAD");  // HEAD: GET without a body
}

TEST(BadInput, OversizeBodyIs413NamingTheBody) {
  TestServer s;  // max_body_bytes and max_submit_body_bytes are 64 KiB
  std::string raw =
      RawExchange(s.port(),
                  "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n");
  EXPECT_THAT(raw, ::testing::StartsWith("HTTP/1.1 413"));
  EXPECT_THAT(raw, ::testing::HasSubstr("application/problem+json"));
  EXPECT_THAT(raw, ::testing::HasSubstr(R"("field":"body")"));
  EXPECT_EQ(s.service.submit_calls(), 0u);
}

TEST(BadInput, OversizeHeaderIs431NamingTheHeaders) {
  TestServer s;  // max_header_bytes is 8 KiB
  std::string raw = RawExchange(s.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                              std::string(10000, 'b') + "\r\n\r\n");
  EXPECT_THAT(raw, ::testing::StartsWith("HTTP/1.1 431"));
  EXPECT_THAT(raw, ::testing::HasSubstr(R"("field":"headers")"));
}

TEST(BadInput, SlowClientIsDisconnectedAfterTheReadTimeout) {
  TestServer s;  // read_timeout is 1 s
  auto start = std::chrono::steady_clock::now();
  std::string raw =
      RawExchange(s.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n", std::chrono::seconds(30));
  EXPECT_EQ(raw, "");
  // Closed by the server after its read timeout, long before the client's own 30 s (a generous
  // bound, so a loaded machine does not fail it).
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(20));
}

}  // namespace
}  // namespace stipple::http::testing
