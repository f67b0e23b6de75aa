#include "engine/engine.h"

#include <algorithm>
#include <string>
#include <utility>

namespace stipple {
namespace {

Status CheckImage(const RgbImage* image, const std::optional<ImageInput>& input,
                  const GenerationRequest& r, std::string_view field) {
  if (input.has_value() != (image != nullptr)) {
    return InvalidArgumentError(std::string(field) +
                                (image ? ": pixels given for a request without one"
                                       : ": the request has one but its pixels were not given"));
  }
  if (image != nullptr &&
      (image->width != r.width || image->height != r.height ||
       image->rgb.size() != static_cast<size_t>(image->width) * image->height * 3)) {
    return InvalidArgumentError(std::string(field) + " is " + std::to_string(image->width) + "x" +
                                std::to_string(image->height) + ", the request is " +
                                std::to_string(r.width) + "x" + std::to_string(r.height));
  }
  return Status::Ok();
}

Status CheckOne(const EngineJob& job, const ModelLimits& limits) {
  const GenerationRequest& r = job.request;
  if (Status s = CheckImage(job.init_image.get(), r.init_image, r, "init_image"); !s.ok()) return s;
  if (Status s = CheckImage(job.mask_image.get(), r.mask_image, r, "mask_image"); !s.ok()) return s;
  if (r.mask_image && !r.init_image) return InvalidArgumentError("mask_image needs init_image");
  if (r.init_image && (r.strength <= 0 || r.strength > 1 || StepsToRun(r) < 1)) {
    return InvalidArgumentError("strength must be in (0, 1] and leave at least one step");
  }
  if (limits.inpainting && !r.mask_image) {
    return InvalidArgumentError("model '" + limits.name +
                                "' is an inpainting model: init_image and mask_image are required");
  }
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
    Status status = CheckOne(job, limits);
    if (status.ok() && first != nullptr && !BatchCompatible(*first, job.request)) {
      status = InvalidArgumentError(
          "job is not compatible with the batch (width, height, steps, scheduler, strength, image "
          "inputs and LoRA set must match the first job)");
    }
    if (status.ok() && first == nullptr) first = &job.request;
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace stipple
