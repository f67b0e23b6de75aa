// TorchEngine: the Engine implementation on libtorch — a text encoder, a UNet and the
// schedulers, loaded from a model directory (model.json, the vocabulary, safetensors weights).
// This header is torch-free; the implementation lives in src/engine/torch/.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "engine/engine.h"

namespace stipple {

struct TorchEngineOptions {
  // "cpu", "cuda" or "cuda:N". CUDA needs a CUDA build of libtorch and a visible GPU.
  std::string device = "cpu";
  // Intra-op threads for libtorch. 0: every core. libtorch's setting is process-wide; the engine
  // applies its own at load and at the start of every Generate call.
  int threads = 0;
  // A progress event carries a preview PNG every this many steps (step % k == 0, the last step
  // included when it falls on k). 0: no previews.
  int preview_every = 5;
};

class TorchEngine {
 public:
  // Loads `model_dir`. Errors: kNotFound (no model.json, vocabulary or weights file),
  // kInvalidArgument (a bad model.json, vocabulary, or weights that do not match the model:
  // missing, unexpected or wrongly shaped tensors; a bad device), kDataLoss (a corrupt or
  // truncated weights file), kFailedPrecondition (CUDA asked for but not available).
  static Result<std::unique_ptr<Engine>> Load(const std::string& model_dir,
                                              const TorchEngineOptions& options = {});
};

}  // namespace stipple
