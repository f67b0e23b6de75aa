// Task: one durable unit of work — a normalized GenerationRequest and everything the system
// knows about running it. Owned by the task store; everything else holds copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "core/generation_request.h"
#include "core/task_state.h"

namespace stipple {

// Why a task failed: a stable machine-readable code and a sentence for people.
// Codes: "worker_lost" (leases lapsed max_attempts times), "timeout", "engine_error",
// "invalid_model", "input_missing" (an image input the result store no longer has, or that does
// not decode), "input_unavailable" (transient: the store holding the inputs cannot be reached),
// "internal".
struct TaskError {
  std::string code;
  std::string message;
  bool operator==(const TaskError&) const = default;
};

// One stored image. The bytes live in the result store, keyed by (task id, index).
struct TaskOutput {
  int index = 0;
  std::string content_type = "image/png";
  int width = 0;
  int height = 0;
  uint32_t seed = 0;
  int64_t size_bytes = 0;
  std::string etag;  // strong validator of the bytes, quoted as HTTP wants it
  bool operator==(const TaskOutput&) const = default;
};

struct TaskProgress {
  int step = 0;
  int steps = 0;
  bool operator==(const TaskProgress&) const = default;
};

struct Task {
  std::string id;      // "tsk_" + ULID
  std::string tenant;  // owner; another tenant never sees it
  TaskState state = TaskState::kQueued;
  GenerationRequest request;    // normalized; request.model and request.priority route it
  std::string idempotency_key;  // empty when none

  Timestamp created_at;
  std::optional<Timestamp> started_at;    // first lease
  std::optional<Timestamp> completed_at;  // entered a terminal state
  std::optional<Timestamp> expires_at;    // created_at + ttl_s: expire if not started by then

  int attempts = 0;  // leases that counted (a drained worker's release does not)
  int max_attempts = 3;
  bool cancel_requested = false;
  std::optional<TaskError> error;   // when failed (also expired/canceled: why)
  std::vector<TaskOutput> outputs;  // when succeeded
  std::optional<Timestamp> outputs_expire_at;
  bool outputs_expired = false;          // retention passed; the bytes are gone
  std::optional<TaskProgress> progress;  // last reported by the worker

  // While queued: tasks ahead of it in its model's queue (higher priority, or same priority and
  // older). Filled by TaskStore::Get; not stored.
  std::optional<int64_t> queue_position;

  // The current lease, while running.
  std::string worker_id;
  uint64_t fencing = 0;  // of the latest lease; never reused for this task
  std::optional<Timestamp> lease_expires_at;
  // Not leased before this time (retry backoff); none: available at once.
  std::optional<Timestamp> not_before;

  bool operator==(const Task&) const = default;
};

}  // namespace stipple
