#include "core/task_json.h"

#include <gtest/gtest.h>

#include "core/generation_request_codec.h"

namespace stipple {
namespace {

namespace json = boost::json;

Task QueuedTask() {
  Task t;
  t.id = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";
  t.tenant = "acme";
  t.state = TaskState::kQueued;
  t.request.prompt = "a red circle";
  t.request.model = "shapes-32";
  t.request.width = 32;
  t.request.height = 32;
  t.request.steps = 20;
  t.request.guidance_scale = 4.0;
  t.request.scheduler = "ddim";
  t.request.clip_skip = 1;
  t.request.seed = 42;
  t.request.metadata_json = R"({"user":"u1","tags":["a","b"]})";
  t.created_at = FromUnixMillis(1'800'000'000'123);
  t.queue_position = 3;
  return t;
}

Task SucceededTask() {
  Task t = QueuedTask();
  t.state = TaskState::kSucceeded;
  t.queue_position.reset();
  t.started_at = FromUnixMillis(1'800'000'001'000);
  t.completed_at = FromUnixMillis(1'800'000'002'500);
  t.outputs_expire_at = FromUnixMillis(1'800'086'402'500);
  t.attempts = 1;
  t.progress = TaskProgress{20, 20};
  t.request.num_images = 2;
  t.outputs = {TaskOutput{0, "image/png", 32, 32, 42, 100, "\"e0\""},
               TaskOutput{1, "image/png", 32, 32, 43, 100, "\"e1\""}};
  return t;
}

TEST(TaskJson, QueuedTaskShowsQueuePositionAndEtaAndNullTimes) {
  json::object o = TaskToJson(QueuedTask(), 4.5);
  EXPECT_EQ(o.at("id"), "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V");
  EXPECT_EQ(o.at("status"), "queued");
  EXPECT_EQ(o.at("created_at"), "2027-01-15T08:00:00.123Z");
  EXPECT_TRUE(o.at("started_at").is_null());
  EXPECT_TRUE(o.at("completed_at").is_null());
  EXPECT_EQ(o.at("queue_position"), 3);
  EXPECT_EQ(o.at("eta_s"), 4.5);
  EXPECT_TRUE(o.at("progress").is_null());
  EXPECT_EQ(o.at("attempts"), 0);
  EXPECT_EQ(o.at("cancel_requested"), false);
  EXPECT_TRUE(o.at("error").is_null());
  EXPECT_TRUE(o.at("outputs").as_array().empty());
  EXPECT_TRUE(o.at("outputs_expire_at").is_null());
}

TEST(TaskJson, EtaIsNullWhenNotGiven) {
  EXPECT_TRUE(TaskToJson(QueuedTask()).at("eta_s").is_null());
}

TEST(TaskJson, RunningTaskHasNoQueuePositionButShowsProgress) {
  Task t = QueuedTask();
  t.state = TaskState::kRunning;
  t.started_at = FromUnixMillis(1'800'000'001'000);
  t.progress = TaskProgress{12, 20};
  json::object o = TaskToJson(t, 2.0);
  EXPECT_TRUE(o.at("queue_position").is_null());
  EXPECT_EQ(o.at("started_at"), "2027-01-15T08:00:01.000Z");
  EXPECT_EQ(o.at("progress"), (json::object{{"step", 12}, {"steps", 20}}));
  EXPECT_EQ(o.at("eta_s"), 2.0);
}

TEST(TaskJson, TerminalTaskHasNoEtaEvenWhenGiven) {
  EXPECT_TRUE(TaskToJson(SucceededTask(), 3.0).at("eta_s").is_null());
}

TEST(TaskJson, SucceededTaskListsOutputsWithUrlsAndSeeds) {
  json::object o = TaskToJson(SucceededTask());
  EXPECT_EQ(o.at("status"), "succeeded");
  EXPECT_EQ(o.at("completed_at"), "2027-01-15T08:00:02.500Z");
  EXPECT_EQ(o.at("outputs_expire_at"), "2027-01-16T08:00:02.500Z");
  const json::array& outputs = o.at("outputs").as_array();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[1], (json::object{{"index", 1},
                                      {"url", "/v1/tasks/tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V/outputs/1"},
                                      {"content_type", "image/png"},
                                      {"width", 32},
                                      {"height", 32},
                                      {"seed", 43}}));
}

TEST(TaskJson, FailedTaskCarriesTheError) {
  Task t = SucceededTask();
  t.state = TaskState::kFailed;
  t.outputs.clear();
  t.error = TaskError{"worker_lost", "the worker stopped answering 3 times"};
  json::object o = TaskToJson(t);
  EXPECT_EQ(o.at("error"), (json::object{{"code", "worker_lost"},
                                         {"message", "the worker stopped answering 3 times"}}));
}

TEST(TaskJson, RequestIsTheNormalizedRequestObject) {
  Task t = QueuedTask();
  json::object o = TaskToJson(t);
  EXPECT_EQ(o.at("request"), GenerationRequestToJson(t.request));
  EXPECT_EQ(o.at("request").as_object().at("seed"), 42);
  EXPECT_EQ(o.at("request").as_object().at("clip_skip"), 1);
}

TEST(TaskJson, MetadataIsEchoedAsAnObject) {
  json::object o = TaskToJson(QueuedTask());
  EXPECT_EQ(o.at("metadata"), (json::object{{"user", "u1"}, {"tags", json::array{"a", "b"}}}));
}

TEST(TaskJson, UrlsPointAtTheTaskRoutes) {
  json::object o = TaskToJson(QueuedTask());
  EXPECT_EQ(o.at("urls"),
            (json::object{{"self", "/v1/tasks/tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V"},
                          {"events", "/v1/tasks/tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V/events"},
                          {"cancel", "/v1/tasks/tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V/cancel"}}));
}

TEST(TaskJson, InternalFieldsAreNotShown) {
  Task t = SucceededTask();
  t.outputs_expired = true;
  t.worker_id = "wrk_1";
  json::object o = TaskToJson(t);
  for (const char* key : {"tenant", "outputs_expired", "worker_id", "fencing", "idempotency_key"}) {
    EXPECT_FALSE(o.contains(key)) << key;
  }
}

TEST(TaskJson, KeysAreInTheDocumentedOrder) {
  json::object o = TaskToJson(QueuedTask());
  std::vector<std::string> keys;
  for (const auto& member : o) keys.emplace_back(member.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "status", "created_at", "started_at",
                                            "completed_at", "request", "queue_position", "eta_s",
                                            "progress", "attempts", "cancel_requested", "error",
                                            "outputs", "outputs_expire_at", "metadata", "urls"}));
}

TEST(TaskFromJson, ReadsBackWhatTaskToJsonShows) {
  Task shown = SucceededTask();
  Result<Task> read = TaskFromJson(TaskToJson(shown, 1.5));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  // What the API does not show stays empty.
  shown.tenant.clear();
  for (TaskOutput& output : shown.outputs) {
    output.size_bytes = 0;
    output.etag.clear();
  }
  EXPECT_EQ(*read, shown);
  Task queued = QueuedTask();
  queued.tenant.clear();
  EXPECT_EQ(TaskFromJson(TaskToJson(queued)).value(), queued);
}

TEST(TaskFromJson, AMissingIdOrStatusIsDataLossNamingIt) {
  Result<Task> read = TaskFromJson(json::object{{"id", "tsk_x"}});
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(read.status().message().find("status"), std::string::npos);
  read = TaskFromJson(json::object{{"status", "queued"}});
  EXPECT_NE(read.status().message().find("id"), std::string::npos);
}

}  // namespace
}  // namespace stipple
