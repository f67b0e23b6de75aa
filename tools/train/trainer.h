// The shapes-32 trainer: trains the text encoder (CLIPTextModel) and UNet (UNet2DConditionModel)
// of a pixel-space diffusers folder (shapes_model_files.h; a new directory gets its files) on the
// procedural shapes dataset with libtorch on the CPU (or a GPU), the standard epsilon-prediction
// objective, caption dropout for classifier-free guidance and an exponential moving average of
// the weights, which is what gets exported.
//
// Resumable: every `checkpoint_every` steps it writes <model_dir>/checkpoint/ (the raw and the
// averaged weights, the optimizer state, the step) and the averaged weights to the folder's
// text_encoder/model.safetensors and unet/diffusion_pytorch_model.safetensors (Hugging Face's and
// diffusers' tensor names), so the model is usable while it trains; a new run on the same
// directory goes on from the last checkpoint. Every log report appends "step,loss" to
// <model_dir>/loss.csv; every checkpoint (and the end of a run) redraws <model_dir>/loss.png
// from it. Torch-free header: the app links it without torch's headers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace stipple::shapes {

struct TrainProgress {
  int64_t step = 0;  // steps done
  int64_t total_steps = 0;
  double loss = 0;          // mean loss over the steps since the last report
  double images_per_s = 0;  // over the steps since the last report
  double elapsed_s = 0;     // this run
};

struct TrainOptions {
  std::string model_dir = "shapes-32-sd";  // new: InitializeShapesModelDir writes its files
  int64_t steps = 20000;                   // total, across resumed runs
  int batch_size = 32;
  double learning_rate = 5e-4;
  int warmup_steps = 200;
  double ema_decay = 0.999;  // reached after a warm-up: min(ema_decay, (1 + step) / (10 + step))
  double uncond_probability = 0.1;  // captions replaced by "" so guidance has an unconditional
  uint64_t seed = 1;                // the dataset's and the noise's
  int threads = 0;                  // 0: every core
  std::string device = "cpu";
  int log_every = 50;
  int checkpoint_every = 500;
  std::function<void(const TrainProgress&)> on_progress;  // every log_every steps
};

Status Train(const TrainOptions& options);

}  // namespace stipple::shapes
