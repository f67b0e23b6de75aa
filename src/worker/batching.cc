#include "worker/batching.h"

#include <algorithm>

namespace stipple {

EngineFailure ClassifyEngineError(const Status& status) {
  EngineFailure failure;
  if (status.code() == StatusCode::kInvalidArgument) {
    failure.kind = FailureKind::kPermanent;
    failure.error = {"invalid_model", "the model cannot run this request: " + status.message()};
  } else {
    failure.kind = FailureKind::kTransient;
    failure.error = {"engine_error", "the engine failed: " + status.ToString()};
  }
  return failure;
}

Millis RetryBackoff(int attempt, Millis base, Millis max) {
  if (base <= Millis(0)) return Millis(0);
  Millis wait = base;
  for (int i = 1; i < attempt && wait < max; ++i) wait *= 2;
  return std::min(wait, max);
}

}  // namespace stipple
