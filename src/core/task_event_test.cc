#include "core/task_event.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "common/base64.h"
#include "core/task_json.h"

namespace stipple {
namespace {

namespace json = boost::json;

constexpr TaskEventType kAllTypes[] = {TaskEventType::kQueued,    TaskEventType::kStarted,
                                       TaskEventType::kProgress,  TaskEventType::kRetrying,
                                       TaskEventType::kSucceeded, TaskEventType::kFailed,
                                       TaskEventType::kCanceled,  TaskEventType::kExpired};

TaskEvent Event(TaskEventType type) {
  TaskEvent e;
  e.task_id = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";
  e.seq = 5;
  e.type = type;
  e.time = FromUnixMillis(1'800'000'000'123);
  return e;
}

json::object Parsed(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.get_object() : json::object{};
}

TEST(TaskEventType, NamesRoundTrip) {
  for (TaskEventType type : kAllTypes) EXPECT_EQ(ParseTaskEventType(TaskEventTypeName(type)), type);
  EXPECT_EQ(TaskEventTypeName(TaskEventType::kRetrying), "retrying");
  EXPECT_EQ(ParseTaskEventType("completed"), std::nullopt);
}

TEST(TaskEventType, ExactlyTheFourEndingsAreTerminal) {
  for (TaskEventType type : kAllTypes) {
    bool expected = type == TaskEventType::kSucceeded || type == TaskEventType::kFailed ||
                    type == TaskEventType::kCanceled || type == TaskEventType::kExpired;
    EXPECT_EQ(IsTerminalEvent(type), expected) << TaskEventTypeName(type);
  }
}

TEST(TaskEventType, TerminalStatesMapToTheirEventOfTheSameName) {
  for (TaskState state :
       {TaskState::kSucceeded, TaskState::kFailed, TaskState::kCanceled, TaskState::kExpired}) {
    TaskEventType type = TerminalEventType(state);
    EXPECT_TRUE(IsTerminalEvent(type));
    EXPECT_EQ(TaskEventTypeName(type), TaskStateName(state));
  }
}

TEST(TaskEventJson, EveryEventHasTypeTaskIdSeqAndTime) {
  json::object o = Parsed(TaskEventToJson(Event(TaskEventType::kQueued)));
  EXPECT_EQ(o, (json::object{{"type", "queued"},
                             {"task_id", "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V"},
                             {"seq", 5},
                             {"time", "2027-01-15T08:00:00.123Z"}}));
}

TEST(TaskEventJson, StartedCarriesAttemptAndWorker) {
  TaskEvent e = Event(TaskEventType::kStarted);
  e.attempt = 2;
  e.worker_id = "wrk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";
  json::object o = Parsed(TaskEventToJson(e));
  EXPECT_EQ(o.at("type"), "started");
  EXPECT_EQ(o.at("attempt"), 2);
  EXPECT_EQ(o.at("worker"), "wrk_01JD5Y6K8Q2V9M3N4P5R6S7T8V");
}

TEST(TaskEventJson, ProgressCarriesStepsAndNoPreviewWhenThereIsNone) {
  TaskEvent e = Event(TaskEventType::kProgress);
  e.progress = TaskProgress{12, 20};
  json::object o = Parsed(TaskEventToJson(e));
  EXPECT_EQ(o.at("step"), 12);
  EXPECT_EQ(o.at("steps"), 20);
  EXPECT_FALSE(o.contains("preview"));
}

TEST(TaskEventJson, ProgressPreviewIsBase64OfThePngBytes) {
  TaskEvent e = Event(TaskEventType::kProgress);
  e.progress = TaskProgress{4, 20};
  e.preview_png = std::string("\x89PNG\r\n\x1a\n\0\xff", 10);
  json::object o = Parsed(TaskEventToJson(e));
  ASSERT_TRUE(o.at("preview").is_string());
  EXPECT_EQ(*Base64Decode(std::string(o.at("preview").get_string())), e.preview_png);
}

TEST(TaskEventJson, RetryingCarriesTheAttempt) {
  TaskEvent e = Event(TaskEventType::kRetrying);
  e.attempt = 1;
  json::object o = Parsed(TaskEventToJson(e));
  EXPECT_EQ(o.at("type"), "retrying");
  EXPECT_EQ(o.at("attempt"), 1);
  EXPECT_FALSE(o.contains("task"));
}

TEST(TaskEventJson, TerminalEventCarriesTheTask) {
  Task task;
  task.id = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";
  task.state = TaskState::kCanceled;
  task.request.prompt = "a red circle";
  task.created_at = FromUnixMillis(1'800'000'000'000);
  task.completed_at = FromUnixMillis(1'800'000'001'000);
  TaskEvent e = Event(TaskEventType::kCanceled);
  e.task = task;
  json::object o = Parsed(TaskEventToJson(e));
  EXPECT_EQ(o.at("type"), "canceled");
  EXPECT_EQ(o.at("task"), Parsed(TaskToJson(task)));
  EXPECT_EQ(o.at("task").as_object().at("status"), "canceled");
}

TEST(TaskEventJson, TerminalEventWithoutTheTaskHasNullTask) {
  EXPECT_TRUE(Parsed(TaskEventToJson(Event(TaskEventType::kExpired))).at("task").is_null());
}

}  // namespace
}  // namespace stipple
