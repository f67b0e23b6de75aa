#include "core/task_event.h"

#include <gtest/gtest.h>

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
  json::object o = TaskEventToJson(Event(TaskEventType::kQueued));
  EXPECT_EQ(o, (json::object{{"type", "queued"},
                             {"task_id", "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V"},
                             {"seq", 5},
                             {"time", "2027-01-15T08:00:00.123Z"}}));
}

TEST(TaskEventJson, StartedCarriesAttemptAndWorker) {
  TaskEvent e = Event(TaskEventType::kStarted);
  e.attempt = 2;
  e.worker_id = "wrk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";
  json::object o = TaskEventToJson(e);
  EXPECT_EQ(o.at("type"), "started");
  EXPECT_EQ(o.at("attempt"), 2);
  EXPECT_EQ(o.at("worker"), "wrk_01JD5Y6K8Q2V9M3N4P5R6S7T8V");
}

TEST(TaskEventJson, ProgressCarriesStepsAndNoPreviewWhenThereIsNone) {
  TaskEvent e = Event(TaskEventType::kProgress);
  e.progress = TaskProgress{12, 20};
  json::object o = TaskEventToJson(e);
  EXPECT_EQ(o.at("step"), 12);
  EXPECT_EQ(o.at("steps"), 20);
  EXPECT_FALSE(o.contains("preview"));
}

TEST(TaskEventJson, ProgressPreviewIsBase64OfThePngBytes) {
  TaskEvent e = Event(TaskEventType::kProgress);
  e.progress = TaskProgress{4, 20};
  e.preview_png = std::string("\x89PNG\r\n\x1a\n\0\xff", 10);
  json::object o = TaskEventToJson(e);
  ASSERT_TRUE(o.at("preview").is_string());
  EXPECT_EQ(*Base64Decode(std::string(o.at("preview").get_string())), e.preview_png);
}

TEST(TaskEventJson, RetryingCarriesTheAttempt) {
  TaskEvent e = Event(TaskEventType::kRetrying);
  e.attempt = 1;
  json::object o = TaskEventToJson(e);
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
  json::object o = TaskEventToJson(e);
  EXPECT_EQ(o.at("type"), "canceled");
  EXPECT_EQ(o.at("task"), TaskToJson(task));
  EXPECT_EQ(o.at("task").as_object().at("status"), "canceled");
}

TEST(TaskEventJson, TerminalEventWithoutTheTaskHasNullTask) {
  EXPECT_TRUE(TaskEventToJson(Event(TaskEventType::kExpired)).at("task").is_null());
}

TEST(TaskEventFromJson, ReadsBackEveryTypeTaskEventToJsonWrote) {
  Task task;
  task.id = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";
  task.state = TaskState::kFailed;
  task.created_at = FromUnixMillis(1'800'000'000'000);
  task.error = TaskError{"engine_error", "out of memory"};
  for (TaskEventType type : kAllTypes) {
    TaskEvent e = Event(type);
    if (type == TaskEventType::kStarted || type == TaskEventType::kRetrying) e.attempt = 2;
    if (type == TaskEventType::kStarted) e.worker_id = "wkr_1";
    if (type == TaskEventType::kProgress) {
      e.progress = TaskProgress{3, 20};
      e.preview_png = std::string("\x89PNG\0x", 6);
    }
    if (IsTerminalEvent(type)) e.task = task;
    Result<TaskEvent> read = TaskEventFromJson(TaskEventToJson(e));
    ASSERT_TRUE(read.ok()) << TaskEventTypeName(type) << ": " << read.status().ToString();
    EXPECT_EQ(*read, e) << TaskEventTypeName(type);
  }
}

TEST(TaskEventFromJson, ATerminalEventWithoutItsTaskIsDataLoss) {
  Result<TaskEvent> read = TaskEventFromJson(TaskEventToJson(Event(TaskEventType::kSucceeded)));
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(read.status().message().find("task"), std::string::npos);
  EXPECT_EQ(TaskEventFromJson(json::object{{"type", "queued"}}).status().code(),
            StatusCode::kDataLoss);  // no seq
}

}  // namespace
}  // namespace stipple
