// The worker protocol's messages and their JSON (docs/worker-protocol.md): what a remote worker
// sends to a gateway's POST /v1/worker/exchange and what it gets back. Shared by the gateway's
// endpoint (src/api) and the worker's client (src/worker), so the two cannot drift apart.
//
// One exchange carries, from the worker: its id, optionally its hello (the WorkerInfo it
// registers with), the messages it has to report (heartbeat, progress, complete, fail, release,
// canceled), each numbered by a per-process sequence, the highest sequence whose reply it has
// received (ack), and optionally a lease ask (models, how many, how long to wait). Back: one
// reply per message, in order, and the tasks leased for the ask.
//
// Decoding never throws: malformed input is kInvalidArgument naming the offending field
// ("messages[2].fencing").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "service/task_service.h"

namespace stipple::wire {

// The path of the exchange endpoint.
inline constexpr std::string_view kExchangePath = "/v1/worker/exchange";
// The path that answers a leased task's image input by its SHA-256: the body is
// {"sha256": "<64 hex>"}, the answer the bytes (application/octet-stream), 404 when the result
// store has none.
inline constexpr std::string_view kInputPath = "/v1/worker/input";
// problem+json type of a 409 answer to an exchange from a worker this gateway has no hello of:
// the worker sends its hello again with the same messages (none of them was applied).
inline constexpr std::string_view kHelloRequired = "hello_required";

enum class MessageType { kHeartbeat, kProgress, kComplete, kFail, kRelease, kCanceled };
std::string_view MessageTypeName(MessageType type);

struct WorkerMessage {
  int64_t seq = 0;  // > 0, increasing per worker process
  MessageType type = MessageType::kHeartbeat;
  std::string task_id;
  uint64_t fencing = 0;
  // kHeartbeat: the renewal; kHeartbeat and kProgress: the step.
  Millis lease_duration{0};
  std::optional<TaskProgress> progress;
  std::string preview_png;             // kProgress; empty: none
  std::vector<GeneratedImage> images;  // kComplete
  // kFail.
  TaskError error;
  FailureKind failure_kind = FailureKind::kPermanent;
  Millis retry_after{0};
};

struct LeaseAsk {
  std::vector<std::string> models;
  int max_tasks = 1;
  Millis lease_duration{30'000};
  Millis wait{0};  // how long the gateway may hold the answer when nothing is queued
};

struct ExchangeRequest {
  std::string worker_id;
  std::optional<WorkerInfo> hello;  // its id is worker_id
  int64_t ack = 0;                  // replies up to this seq arrived: the gateway may forget them
  std::vector<WorkerMessage> messages;
  std::optional<LeaseAsk> lease;
  bool goodbye = false;  // the worker is leaving: unregister it (after the messages)
};

struct MessageReply {
  int64_t seq = 0;
  Status status;
  std::optional<HeartbeatReply> heartbeat;  // an OK heartbeat's reply
  std::optional<TaskState> state;           // an OK complete/fail/release/canceled: the new state
};

struct ExchangeResponse {
  std::vector<MessageReply> replies;
  std::vector<LeasedTask> leases;
  Status lease_status;  // why the ask leased nothing, when it failed (a bad model, ...)
};

std::string EncodeRequest(const ExchangeRequest& request);
Result<ExchangeRequest> DecodeRequest(std::string_view body);
std::string EncodeResponse(const ExchangeResponse& response);
Result<ExchangeResponse> DecodeResponse(std::string_view body);

}  // namespace stipple::wire
