// TorchEngine: the Engine implementation on libtorch — Stable Diffusion models (diffusers folders,
// latent or pixel-space, and single-file checkpoints).
// This header is torch-free; the implementation lives in src/engine/torch/.
#pragma once

#include <cstdint>
#include <map>
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
  // The compute dtype: "auto" (fp16 on CUDA, fp32 on the CPU), "fp32", "fp16" or "bf16". A VAE
  // whose config says force_upcast stays in fp32 whatever this says.
  std::string dtype = "auto";
  // A progress event carries a preview PNG every this many steps (step % k == 0, the last step
  // included when it falls on k). 0: no previews.
  int preview_every = 5;
  // The LoRA files requests may name (GenerationRequest::loras): name → .safetensors path
  // (engine/lora_file.h: FindLoraFiles(LoraDirFor(model_dir))). A batch's LoRA set is merged
  // into the weights and stays merged until a batch asks for another set (torch/lora_apply.h).
  std::map<std::string, std::string> lora_files;
  // Loaded LoRA files are kept for reuse up to this many bytes (least recently used dropped first).
  int64_t lora_cache_bytes = int64_t{1} << 30;
};

class TorchEngine {
 public:
  // Loads the model at `path`:
  //   - a folder with model_index.json: a Stable Diffusion model in the diffusers layout
  //     (SD 1.x, SD 2.x, SDXL);
  //   - a .safetensors file: a single-file Stable Diffusion checkpoint (LDM/A1111 key layout).
  // Errors: kNotFound (nothing loadable there, or a file the model needs is missing),
  // kInvalidArgument (a config, tokenizer or weights the engine cannot run — each names the
  // file and the field or tensor —, a pickle checkpoint (.ckpt, .pt, .pth, .bin), a bad device or
  // dtype), kDataLoss (a corrupt or truncated weights file), kFailedPrecondition (CUDA asked for
  // but not available).
  static Result<std::unique_ptr<Engine>> Load(const std::string& path,
                                              const TorchEngineOptions& options = {});
};

}  // namespace stipple
