// Moving weights between a module tree and the safetensors format, by parameter name.
#pragma once

#include <torch/torch.h>

#include <string_view>

#include "common/status.h"
#include "engine/safetensors.h"

namespace stipple::torch_engine {

// Copies every parameter of `module` from `file` (on the module's device, as float). Every
// parameter must be present with its exact shape and every tensor in the file must be a
// parameter: otherwise kInvalidArgument naming the first offending tensors (and how many there
// are). `file_name` is used in messages.
Status LoadWeights(torch::nn::Module& module, const SafetensorsFile& file,
                   std::string_view file_name);

// Every parameter of `module` as F32 tensors (for writing a weights file).
SafetensorsFile ExportWeights(const torch::nn::Module& module);

}  // namespace stipple::torch_engine
