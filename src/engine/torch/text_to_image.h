// TextToImagePipeline: what the torch Engine runs — one loaded model's text-to-image pipeline
// (SdPipeline, from a Stable Diffusion folder or single file). TorchEngine::Load builds it from
// the files it finds and wraps it in an Engine that serializes calls and turns exceptions into a
// Status.
#pragma once

#include <span>
#include <vector>

#include "common/status.h"
#include "core/generation_request.h"
#include "engine/engine.h"

namespace stipple::torch_engine {

class TextToImagePipeline {
 public:
  virtual ~TextToImagePipeline() = default;

  // What the model allows and defaults to (Engine::limits()).
  virtual const ModelLimits& limits() const = 0;

  // Runs the jobs whose `admitted` status is OK (Engine::Generate's contract); the others get
  // that status. One call at a time. May throw c10::Error or std::exception (the Engine turns
  // them into a Status).
  virtual std::vector<Result<std::vector<GeneratedImage>>> Run(std::span<const EngineJob> jobs,
                                                               const std::vector<Status>& admitted,
                                                               const ProgressSink& progress) = 0;
};

}  // namespace stipple::torch_engine
