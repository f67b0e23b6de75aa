#include "engine/engine.h"

#include <algorithm>
#include <string>
#include <utility>

namespace stipple {
namespace {

Status CheckOne(const GenerationRequest& r, const ModelLimits& limits) {
  if (!r.model.empty() && r.model != limits.name) {
    return InvalidArgumentError("model '" + r.model + "' is not loaded (this engine runs '" +
                                limits.name + "')");
  }
  if (!limits.AllowsSize(r.width, r.height)) {
    return InvalidArgumentError("size " + std::to_string(r.width) + "x" + std::to_string(r.height) +
                                " is not allowed by model '" + limits.name + "'");
  }
  if (r.steps < 1 || r.steps > limits.max_steps) {
    return InvalidArgumentError("steps must be 1.." + std::to_string(limits.max_steps));
  }
  if (std::find(limits.schedulers.begin(), limits.schedulers.end(), r.scheduler) ==
      limits.schedulers.end()) {
    return InvalidArgumentError("unknown scheduler '" + r.scheduler + "'");
  }
  if (r.clip_skip != 0 && limits.max_clip_skip == 0) {
    return InvalidArgumentError("clip_skip " + std::to_string(r.clip_skip) + ": model '" +
                                limits.name + "' has no text encoder layers to skip");
  }
  if (r.clip_skip < 0 || r.clip_skip > limits.max_clip_skip) {
    return InvalidArgumentError("clip_skip must be 0.." + std::to_string(limits.max_clip_skip) +
                                " for model '" + limits.name + "'");
  }
  if (r.num_images < 1 || r.num_images > RequestLimits::kMaxNumImages) {
    return InvalidArgumentError("num_images must be 1.." +
                                std::to_string(RequestLimits::kMaxNumImages));
  }
  return Status::Ok();
}

}  // namespace

std::vector<Status> CheckEngineJobs(std::span<const EngineJob> jobs, const ModelLimits& limits) {
  std::vector<Status> out;
  out.reserve(jobs.size());
  const GenerationRequest* first = nullptr;
  for (const EngineJob& job : jobs) {
    Status status = CheckOne(job.request, limits);
    if (status.ok() && first != nullptr) {
      const GenerationRequest& r = job.request;
      if (r.width != first->width || r.height != first->height || r.steps != first->steps ||
          r.scheduler != first->scheduler) {
        status = InvalidArgumentError(
            "job is not compatible with the batch (width, height, steps and scheduler must match "
            "the first job)");
      }
    }
    if (status.ok() && first == nullptr) first = &job.request;
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace stipple
