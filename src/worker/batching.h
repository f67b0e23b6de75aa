// Pure rules of the worker, kept apart from its threads so they are tested directly: which leased
// tasks may share one Engine::Generate call, how an engine error is classified, and how long a
// transient failure waits before its retry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "core/generation_request.h"
#include "store/task_store.h"

namespace stipple {

// Splits `items` (in lease order: highest priority first, FIFO within a level) into groups of
// mutually compatible requests (BatchCompatible, core) of at most `max_batch` each. Groups keep
// lease order inside and are ordered by their first member, so the highest-priority task is always
// in the first group and no task is overtaken by a later-leased compatible one. `request_of(item)`
// gives the request.
template <typename T, typename RequestOf>
std::vector<std::vector<T>> GroupCompatible(std::vector<T> items, int max_batch,
                                            RequestOf request_of) {
  std::vector<std::vector<T>> groups;
  for (T& item : items) {
    std::vector<T>* target = nullptr;
    for (std::vector<T>& group : groups) {
      if (static_cast<int>(group.size()) < max_batch &&
          BatchCompatible(request_of(group.front()), request_of(item))) {
        target = &group;
        break;
      }
    }
    if (target == nullptr) target = &groups.emplace_back();
    target->push_back(std::move(item));
  }
  return groups;
}

// How a failed engine job is reported to the WorkSource.
struct EngineFailure {
  FailureKind kind = FailureKind::kPermanent;
  TaskError error;
};

// kInvalidArgument (a request this model cannot run: size, steps, scheduler, another model) is
// permanent, code "invalid_model" — running it again gives the same answer. Everything else the
// engine reports (kInternal, kResourceExhausted such as out of memory, ...) is transient, code
// "engine_error": another attempt, perhaps on another worker, may succeed. kCancelled is not a
// failure and is handled by the caller; classifying it is a bug reported as transient.
EngineFailure ClassifyEngineError(const Status& status);

// The wait before a transient failure's retry: base × 2^(attempt − 1), capped at `max`
// (attempt counts from 1, as Task::attempts does after a lease).
Millis RetryBackoff(int attempt, Millis base, Millis max);

}  // namespace stipple
