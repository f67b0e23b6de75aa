// The UNet's building blocks: the ResNet block with time-embedding injection and the transformer
// block (self-attention, cross-attention to the text states, feed-forward) over image positions.
#pragma once

#include <torch/torch.h>

#include "engine/torch/attention.h"

namespace stipple::torch_engine {

// Sinusoidal embedding of (fractional) timesteps t (B) → (B, dim): [cos(t f_i), sin(t f_i)] with
// f_i = 10000^(-i / (dim/2)) (diffusers' flip_sin_to_cos = true, freq_shift = 0).
torch::Tensor SinusoidalTimestepEmbedding(const torch::Tensor& t, int64_t dim);

// GroupNorm → SiLU → conv3x3 → + Linear(SiLU(time embedding)) → GroupNorm → SiLU → conv3x3,
// plus the input (through a 1x1 conv when the channel count changes).
struct ResBlockImpl : torch::nn::Module {
  ResBlockImpl(int64_t in_channels, int64_t out_channels, int64_t time_dim, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& time_embedding);

  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
  torch::nn::Linear time_proj{nullptr};
};
TORCH_MODULE(ResBlock);

// GroupNorm → Linear in → [x + SelfAttn(LN x); x + CrossAttn(LN x, text); x + FF(LN x)] →
// Linear out, plus the input.
struct SpatialTransformerImpl : torch::nn::Module {
  SpatialTransformerImpl(int64_t channels, int64_t context_dim, int64_t heads, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Linear proj_in{nullptr}, proj_out{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention self_attention{nullptr}, cross_attention{nullptr};
  FeedForward feed_forward{nullptr};
};
TORCH_MODULE(SpatialTransformer);

}  // namespace stipple::torch_engine
