#include "service/worker_wire.h"

#include <gtest/gtest.h>

namespace stipple::wire {
namespace {

TEST(WorkerWire, ARequestReadsBackAsItWasWritten) {
  ExchangeRequest r;
  r.worker_id = "wkr_1";
  r.hello = WorkerInfo{"wkr_1", "gpu-3", "cuda:0", {"shapes-32"}, 4};
  r.ack = 41;
  WorkerMessage hb;
  hb.seq = 42;
  hb.type = MessageType::kHeartbeat;
  hb.task_id = "tsk_a";
  hb.fencing = 7;
  hb.lease_duration = Millis(30'000);
  hb.progress = TaskProgress{3, 20};
  WorkerMessage done;
  done.seq = 43;
  done.type = MessageType::kComplete;
  done.task_id = "tsk_a";
  done.fencing = 7;
  done.images = {GeneratedImage{std::string("\x89PNG\0\1", 6), 32, 32, 9}};
  WorkerMessage fail;
  fail.seq = 44;
  fail.type = MessageType::kFail;
  fail.task_id = "tsk_b";
  fail.fencing = 8;
  fail.error = {"engine_error", "out of memory"};
  fail.failure_kind = FailureKind::kTransient;
  fail.retry_after = Millis(2'000);
  r.messages = {hb, done, fail};
  r.lease = LeaseAsk{{"shapes-32"}, 4, Millis(30'000), Millis(2'000)};

  Result<ExchangeRequest> back = DecodeRequest(EncodeRequest(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->worker_id, "wkr_1");
  ASSERT_TRUE(back->hello.has_value());
  EXPECT_EQ(back->hello->device, "cuda:0");
  EXPECT_EQ(back->hello->max_batch, 4);
  EXPECT_EQ(back->ack, 41);
  ASSERT_EQ(back->messages.size(), 3u);
  EXPECT_EQ(back->messages[0].progress, (TaskProgress{3, 20}));
  EXPECT_EQ(back->messages[0].lease_duration, Millis(30'000));
  EXPECT_EQ(back->messages[1].images.at(0).png, std::string("\x89PNG\0\1", 6));
  EXPECT_EQ(back->messages[1].images.at(0).seed, 9u);
  EXPECT_EQ(back->messages[2].failure_kind, FailureKind::kTransient);
  EXPECT_EQ(back->messages[2].error, (TaskError{"engine_error", "out of memory"}));
  EXPECT_EQ(back->messages[2].retry_after, Millis(2'000));
  ASSERT_TRUE(back->lease.has_value());
  EXPECT_EQ(back->lease->wait, Millis(2'000));
}

TEST(WorkerWire, AResponseCarriesRepliesErrorsAndLeases) {
  ExchangeResponse r;
  MessageReply ok;
  ok.seq = 1;
  ok.heartbeat = HeartbeatReply{FromUnixMillis(1'800'000'000'000), true};
  MessageReply refused;
  refused.seq = 2;
  refused.status = AbortedError("lease lost");
  r.replies = {ok, refused};
  LeasedTask lt;
  lt.task.id = "tsk_c";
  lt.task.fencing = 12;
  lt.task.attempts = 1;
  lt.task.request.prompt = "a red circle";
  lt.task.request.model = "shapes-32";
  lt.task.request.clip_skip = 2;
  r.leases = {lt};
  Result<ExchangeResponse> back = DecodeResponse(EncodeResponse(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->replies.size(), 2u);
  EXPECT_TRUE(back->replies[0].heartbeat->cancel_requested);
  EXPECT_EQ(back->replies[1].status.code(), StatusCode::kAborted);
  ASSERT_EQ(back->leases.size(), 1u);
  EXPECT_EQ(back->leases[0].task.fencing, 12u);
  EXPECT_EQ(back->leases[0].task.request, lt.task.request);  // clip_skip included
  EXPECT_EQ(back->leases[0].task.state, TaskState::kRunning);
}

TEST(WorkerWire, MalformedInputNamesTheField) {
  EXPECT_EQ(DecodeRequest("[1]").status().code(), StatusCode::kInvalidArgument);
  Status bad =
      DecodeRequest(
          R"({"worker_id":"w","messages":[{"seq":0,"type":"release","task_id":"t","fencing":1}]})")
          .status();
  ASSERT_EQ(bad.field_errors().size(), 1u);
  EXPECT_EQ(bad.field_errors()[0].field, "messages[0].seq");
  Status no_png =
      DecodeRequest(
          R"({"worker_id":"w","messages":[{"seq":1,"type":"complete","task_id":"t","fencing":1,"images":[{"png":"!!","width":8,"height":8,"seed":1}]}]})")
          .status();
  ASSERT_EQ(no_png.field_errors().size(), 1u);
  EXPECT_EQ(no_png.field_errors()[0].field, "messages[0].images[0].png");
  Status lease =
      DecodeRequest(R"({"worker_id":"w","lease":{"models":[],"max_tasks":1,"lease_ms":5}})")
          .status();
  EXPECT_EQ(lease.field_errors().at(0).field, "lease.models");
}

}  // namespace
}  // namespace stipple::wire
