// Loading a Stable Diffusion model — a diffusers folder (model_index.json and its parts) or a
// single-file LDM checkpoint (.safetensors) — into an SdPipeline. Both go through the same
// steps: each part's config.json text (read from the folder, or inferred from a single file's
// keys and shapes) through that part's one parser, each part's tensors (under diffusers names)
// into its module by name, the modules to the device and dtype.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "core/generation_request.h"
#include "engine/model_files.h"
#include "engine/torch/sd_pipeline.h"
#include "engine/torch_engine.h"

namespace stipple::torch_engine {

// Loads `model` (a diffusers folder or a single file) onto `device` in `dtype` (the VAE stays in
// fp32 when its config says force_upcast); `options.preview_every` as TorchEngineOptions says.
// Errors name the file at fault: kNotFound (a missing part or file), kInvalidArgument (a config or
// weights the engine cannot run, a pickle checkpoint, a tensor missing or misshapen), kDataLoss (a
// truncated or corrupt weights file), kFailedPrecondition (CUDA not available). May throw
// c10::Error. On the CPU it also sets the process's malloc to keep freed memory for reuse
// (KeepFreedMemoryForReuse in sd_loader.cc; once per process).
Result<std::unique_ptr<SdPipeline>> LoadSdPipeline(const ModelPath& model,
                                                   const TorchEngineOptions& options,
                                                   torch::Device device, torch::ScalarType dtype);

}  // namespace stipple::torch_engine
