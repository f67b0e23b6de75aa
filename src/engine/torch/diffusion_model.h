// The network a model directory describes: the text encoder and the UNet under one root, whose
// parameter names ("text_encoder.layers.0.attention.to_q.weight", "unet.conv_in.bias", ...) are
// the tensor names in the weights file.
#pragma once

#include <torch/torch.h>

#include "engine/model_config.h"
#include "engine/torch/text_encoder.h"
#include "engine/torch/unet.h"

namespace stipple::torch_engine {

struct DiffusionModelImpl : torch::nn::Module {
  explicit DiffusionModelImpl(const ModelConfig& config)
      : text_encoder(register_module("text_encoder", TextEncoder(config.text_encoder))),
        unet(register_module("unet", UNet(config.unet, config.channels, config.text_encoder.dim))) {
  }

  TextEncoder text_encoder;
  UNet unet;
};
TORCH_MODULE(DiffusionModel);

}  // namespace stipple::torch_engine
