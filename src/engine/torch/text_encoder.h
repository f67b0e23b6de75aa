// The text encoder: token embedding + learned positional embedding, pre-norm transformer layers
// (bidirectional self-attention, feed-forward), a final LayerNorm. Token ids (B, L) → token
// states (B, L, dim) that the UNet's cross-attention reads.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "engine/model_config.h"
#include "engine/torch/attention.h"

namespace stipple::torch_engine {

struct TextEncoderLayerImpl : torch::nn::Module {
  TextEncoderLayerImpl(int64_t dim, int64_t heads);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attention{nullptr};
  FeedForward feed_forward{nullptr};
};
TORCH_MODULE(TextEncoderLayer);

struct TextEncoderImpl : torch::nn::Module {
  explicit TextEncoderImpl(const TextEncoderConfig& config);
  torch::Tensor forward(const torch::Tensor& token_ids);

  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor position_embedding;  // (max_tokens, dim)
  torch::nn::ModuleList layers;
  std::vector<TextEncoderLayer> layer_list;
  torch::nn::LayerNorm final_norm{nullptr};
};
TORCH_MODULE(TextEncoder);

}  // namespace stipple::torch_engine
