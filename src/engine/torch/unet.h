// The UNet of the Stable Diffusion family, sized from model.json: a timestep embedding (sinusoid
// + MLP), conv in, a down path of levels (ResNet blocks, transformer blocks on attention levels,
// a stride-2 conv between levels) whose outputs are kept as skips, a middle block (ResNet,
// transformer, ResNet), an up path that concatenates the skips (res_blocks + 1 blocks per level,
// nearest upsampling + conv between levels), and GroupNorm → SiLU → conv out. Predicts epsilon.
// With pooled_text, the context's first token state, projected, is added to the time embedding.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "engine/model_config.h"
#include "engine/torch/unet_blocks.h"

namespace stipple::torch_engine {

// One level of the down or up path.
struct UNetLevelImpl : torch::nn::Module {
  UNetLevelImpl();
  void Add(ResBlock block, SpatialTransformer attention_or_null);
  void SetResample(torch::nn::Conv2d conv);

  torch::nn::ModuleList res{torch::nn::ModuleList()}, attention{torch::nn::ModuleList()};
  std::vector<ResBlock> res_list;
  std::vector<SpatialTransformer> attention_list;  // empty, or one per ResNet block
  torch::nn::Conv2d resample{nullptr};             // downsample or upsample conv, if any
};
TORCH_MODULE(UNetLevel);

struct UNetImpl : torch::nn::Module {
  UNetImpl(const UNetConfig& config, int64_t image_channels, int64_t context_dim);
  // x (B, C, H, W), timesteps (B), context (B, L, context_dim) → epsilon (B, C, H, W).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& timesteps,
                        const torch::Tensor& context);

  int64_t base_channels;
  torch::nn::Linear time_fc1{nullptr}, time_fc2{nullptr};
  torch::nn::Linear text_proj{nullptr};  // with pooled_text only
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down{torch::nn::ModuleList()}, up{torch::nn::ModuleList()};
  std::vector<UNetLevel> down_list, up_list;
  ResBlock mid_res1{nullptr}, mid_res2{nullptr};
  SpatialTransformer mid_attention{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
};
TORCH_MODULE(UNet);

}  // namespace stipple::torch_engine
