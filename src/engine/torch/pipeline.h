// The text-to-image pipeline: tokenize, encode the prompts and negative prompts, draw each
// image's noise from its own seed, run the scheduler loop with classifier-free guidance (the
// conditional and unconditional halves of the whole batch in one UNet call), report progress and
// previews, honour cancellation between steps, and encode the results as PNG.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <span>
#include <vector>

#include "engine/engine.h"
#include "engine/model_config.h"
#include "engine/schedulers.h"
#include "engine/tokenizer.h"
#include "engine/torch/diffusion_model.h"

namespace stipple::torch_engine {

struct PipelineOptions {
  torch::Device device = torch::kCPU;
  int preview_every = 5;  // 0: no previews
};

class DiffusionPipeline {
 public:
  DiffusionPipeline(ModelConfig config, DiffusionModel model, std::unique_ptr<Tokenizer> tokenizer,
                    NoiseSchedule schedule, PipelineOptions options);

  const ModelConfig& config() const { return config_; }

  // Runs the jobs whose `admitted` status is OK (see Engine::Generate); the others get that
  // status. May throw c10::Error or std::exception (the caller turns them into a Status).
  std::vector<Result<std::vector<GeneratedImage>>> Run(std::span<const EngineJob> jobs,
                                                       const std::vector<Status>& admitted,
                                                       const ProgressSink& progress);

 private:
  struct Batch;  // the running images and their per-image state (pipeline.cc)

  torch::Tensor EncodeText(const std::vector<std::string>& texts);
  void DropCancelled(std::span<const EngineJob> jobs, int step, int steps, Batch& batch,
                     std::vector<Result<std::vector<GeneratedImage>>>& results);
  void ReportProgress(int step, int steps, const Batch& batch, const torch::Tensor& x0,
                      const ProgressSink& progress);

  ModelConfig config_;
  DiffusionModel model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  NoiseSchedule schedule_;
  PipelineOptions options_;
};

// Images in [-1, 1], (B, C, H, W) → one RGB8 PNG each (values clamped; NaN as 0). Throws
// std::runtime_error if encoding fails.
std::vector<std::string> ImagesToPng(const torch::Tensor& images);

}  // namespace stipple::torch_engine
