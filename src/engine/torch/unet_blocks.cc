#include "engine/torch/unet_blocks.h"

#include <cmath>

namespace stipple::torch_engine {
namespace {

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2));
}

torch::nn::LayerNorm MakeLayerNorm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}));
}

}  // namespace

torch::Tensor SinusoidalTimestepEmbedding(const torch::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  torch::Tensor exponent =
      torch::arange(half, t.options().dtype(torch::kFloat)) * (-std::log(10000.0) / half);
  torch::Tensor angles = t.to(torch::kFloat).unsqueeze(1) * exponent.exp().unsqueeze(0);
  torch::Tensor emb = torch::cat({angles.cos(), angles.sin()}, 1);
  if (dim % 2 == 1)
    emb = torch::nn::functional::pad(emb, torch::nn::functional::PadFuncOptions({0, 1}));
  return emb;
}

ResBlockImpl::ResBlockImpl(int64_t in_channels, int64_t out_channels, int64_t time_dim,
                           int64_t groups) {
  using torch::nn::GroupNormOptions;
  norm1 = register_module("norm1", torch::nn::GroupNorm(GroupNormOptions(groups, in_channels)));
  conv1 = register_module("conv1", Conv(in_channels, out_channels, 3));
  time_proj = register_module("time_proj", torch::nn::Linear(time_dim, out_channels));
  norm2 = register_module("norm2", torch::nn::GroupNorm(GroupNormOptions(groups, out_channels)));
  conv2 = register_module("conv2", Conv(out_channels, out_channels, 3));
  if (in_channels != out_channels) {
    shortcut = register_module("shortcut", Conv(in_channels, out_channels, 1));
  }
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& time_embedding) {
  torch::Tensor h = conv1(torch::silu(norm1(x)));
  h = h + time_proj(torch::silu(time_embedding)).unsqueeze(-1).unsqueeze(-1);
  h = conv2(torch::silu(norm2(h)));
  return (shortcut ? shortcut(x) : x) + h;
}

SpatialTransformerImpl::SpatialTransformerImpl(int64_t channels, int64_t context_dim, int64_t heads,
                                               int64_t groups) {
  norm =
      register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels)));
  proj_in = register_module("proj_in", torch::nn::Linear(channels, channels));
  norm1 = register_module("norm1", MakeLayerNorm(channels));
  self_attention = register_module("self_attention", Attention(channels, channels, heads));
  norm2 = register_module("norm2", MakeLayerNorm(channels));
  cross_attention = register_module("cross_attention", Attention(channels, context_dim, heads));
  norm3 = register_module("norm3", MakeLayerNorm(channels));
  feed_forward = register_module("feed_forward", FeedForward(channels));
  proj_out = register_module("proj_out", torch::nn::Linear(channels, channels));
}

torch::Tensor SpatialTransformerImpl::forward(const torch::Tensor& x,
                                              const torch::Tensor& context) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  torch::Tensor t = norm(x).permute({0, 2, 3, 1}).reshape({b, h * w, c});
  t = proj_in(t);
  t = t + self_attention(norm1(t));
  t = t + cross_attention(norm2(t), context);
  t = t + feed_forward(norm3(t));
  t = proj_out(t);
  return x + t.reshape({b, h, w, c}).permute({0, 3, 1, 2});
}

}  // namespace stipple::torch_engine
