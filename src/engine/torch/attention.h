// Multi-head attention and the feed-forward block shared by the text encoder and the UNet's
// transformer blocks.
#pragma once

#include <torch/torch.h>

namespace stipple::torch_engine {

// Scaled dot-product attention of `x` (B, N, dim) over `context` (B, M, context_dim), or over x
// itself when context is undefined. to_q/to_k/to_v have no bias, to_out has one.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t dim, int64_t context_dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});

  int64_t heads;
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, to_out{nullptr};
};
TORCH_MODULE(Attention);

// Linear(dim, 4 dim) → GELU → Linear(4 dim, dim).
struct FeedForwardImpl : torch::nn::Module {
  explicit FeedForwardImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FeedForward);

}  // namespace stipple::torch_engine
