// NullEngine: the built-in `null` model — no weights, no numerics. It answers every job with
// small PNGs of the requested size after a configurable delay per denoising step, so that a
// deployment's control plane (admission, queue, workers, storage, notifications) can be measured
// without a GPU, as model servers ship identity models for the purpose. Torch-free.
//
// Contract: the Engine contract (engine.h) with a fake network —
// - Each image is one flat colour (a hash of its seed: image i of a job uses seed + i), so the
//   bytes are the same for the same request, batch or not.
// - A batch takes `step_delay` per step (one sleep per step for the whole batch, as a real model
//   runs a batch's step at once); after each step every running job gets a progress event. No
//   previews.
// - Each job's CancelToken is read before every step; a cancelled job returns kCancelled and the
//   others go on.
// - Generate calls on one NullEngine are serialized, like a model that runs one batch at a time:
//   any thread may call it, and a second caller waits on run_mu_.
//
// Enabling it: a folder holding `null_model.json` in --model-dir is a null model named after the
// folder (model_files.h), and `--model null` selects the built-in one with the defaults below when
// --model-dir has no model of that name (apps/stipple/model_loading.h). null_model.json's keys,
// all optional (unknown keys are errors):
//   {"step_delay_ms": 0, "width": 64, "height": 64, "default_steps": 1}
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "core/generation_request.h"
#include "engine/engine.h"

namespace stipple {

// The name of the built-in null model, and the file that makes a folder one.
inline constexpr std::string_view kNullModelName = "null";
inline constexpr std::string_view kNullModelFile = "null_model.json";

struct NullModelOptions {
  std::string name = std::string(kNullModelName);
  std::chrono::microseconds step_delay{0};
  int width = 64;  // the default size; any multiple of 8 from 8 to 1024 is allowed
  int height = 64;
  int default_steps = 1;
};

// Reads null_model.json's text (see the file comment) over `name`'s defaults; kInvalidArgument
// naming `path` and the key for bad JSON, an unknown key or a value out of range.
Result<NullModelOptions> ParseNullModelJson(std::string_view text, const std::string& path,
                                            std::string name);

// The limits a null model offers: its size, multiples of 8 from 8 to 1024, 1..150 steps, every
// scheduler name (they all mean the same here), family "null".
ModelLimits NullModelLimits(const NullModelOptions& options);

class NullEngine : public Engine {
 public:
  explicit NullEngine(NullModelOptions options);

  ModelLimits limits() const override { return limits_; }
  std::vector<Result<std::vector<GeneratedImage>>> Generate(std::span<const EngineJob> jobs,
                                                            const ProgressSink& progress) override;

 private:
  NullModelOptions options_;
  ModelLimits limits_;
  Mutex run_mu_;  // one batch at a time
};

// The PNG a null model draws for `seed` at width x height (one flat colour from the seed).
Result<std::string> NullModelImage(uint32_t seed, int width, int height);

}  // namespace stipple
