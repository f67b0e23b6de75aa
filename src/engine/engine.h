// Engine: turns normalized generation requests into PNG images with one loaded model.
//
// Contract:
// - One Engine holds one model (its weights, tokenizer and configuration), loaded by a factory
//   such as TorchEngine::Load, and owns it for its whole life. limits() describes that model so
//   the server can build its ModelCatalog and validate requests before they reach the engine.
// - Generate runs a batch of compatible jobs: the same model, width, height, steps, scheduler,
//   strength, kind of image input (none, init image, init image and mask) and LoRA set (names and
//   scales, in order); prompt, negative prompt, seed, guidance scale, clip_skip, num_images and
//   the input images themselves may differ per job (BatchCompatible in core). It returns
//   exactly one result per job, in order. A job that is not compatible with the first job, or not
//   allowed by limits(), gets kInvalidArgument and the others still run.
// - Determinism: the same request (prompt, negative prompt, settings, seed) in the same batch on
//   the same model, build and device gives the same bytes run after run. Its initial noise and
//   step noise depend only on its seed, so inside another batch its image is the same picture,
//   within one level (1/255) in a few pixels: the numerics library may pick other kernels for
//   other batch shapes. Image i of a job uses seed + i (mod 2^32) and is reported with that seed.
// - Progress: `progress` (may be empty) is called on the calling thread after every denoising
//   step of every running job, with the job's index in `jobs`; every few steps (an engine option)
//   the event carries a small preview PNG of the job's current estimate of the clean image.
//   The sink must not call back into the engine.
// - Cancellation: each job's CancelToken (may be null) is checked before every step. A cancelled
//   job returns kCancelled and leaves the batch; the others go on and produce the images they
//   would have produced without it (within a level, as above). The engine reads the tokens only
//   during the call.
// - Errors: kInvalidArgument (incompatible or invalid job), kCancelled, kInternal or
//   kResourceExhausted (the numerics library failed, e.g. out of memory). The engine never throws.
// - Thread-safety: Generate may be called from several threads; calls on one Engine are
//   serialized internally (a model runs one batch at a time; batch instead). limits() is const
//   and safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/generated_image.h"
#include "core/generation_request.h"
#include "engine/cancel_token.h"
#include "imaging/png.h"

namespace stipple {

struct EngineJob {
  GenerationRequest request;            // normalized (ParseGenerationRequest), inputs resolved
  const CancelToken* cancel = nullptr;  // optional; owned by the caller
  // The request's init_image and mask_image, decoded (the caller fetches the stored bytes by
  // their sha256 and decodes them): set exactly when the request has them, of its width x height.
  std::shared_ptr<const RgbImage> init_image;
  std::shared_ptr<const RgbImage> mask_image;
};

struct ProgressEvent {
  size_t job_index = 0;     // index into the `jobs` given to Generate
  int step = 0;             // steps done so far, 1..steps
  int steps = 0;            // the job's total: StepsToRun(request) (core)
  std::string preview_png;  // empty except every few steps
};

using ProgressSink = std::function<void(const ProgressEvent&)>;

class Engine {
 public:
  virtual ~Engine() = default;

  // What the loaded model allows and defaults to.
  virtual ModelLimits limits() const = 0;

  // One result per job (see the file comment): the job's num_images images, or its error.
  virtual std::vector<Result<std::vector<GeneratedImage>>> Generate(
      std::span<const EngineJob> jobs, const ProgressSink& progress) = 0;
};

// Checks a batch against the model: returns, per job, OK or the kInvalidArgument that job gets
// (size not allowed, steps out of range, unknown scheduler, clip_skip beyond the model's
// max_clip_skip, other model, image inputs missing or of the wrong size, or incompatible with
// the first valid job). Shared by every Engine implementation.
std::vector<Status> CheckEngineJobs(std::span<const EngineJob> jobs, const ModelLimits& limits);

}  // namespace stipple
