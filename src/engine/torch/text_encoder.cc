#include "engine/torch/text_encoder.h"

namespace stipple::torch_engine {

namespace {
torch::nn::LayerNorm MakeLayerNorm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}));
}
}  // namespace

TextEncoderLayerImpl::TextEncoderLayerImpl(int64_t dim, int64_t heads) {
  norm1 = register_module("norm1", MakeLayerNorm(dim));
  attention = register_module("attention", Attention(dim, dim, heads));
  norm2 = register_module("norm2", MakeLayerNorm(dim));
  feed_forward = register_module("feed_forward", FeedForward(dim));
}

torch::Tensor TextEncoderLayerImpl::forward(torch::Tensor x) {
  x = x + attention(norm1(x));
  return x + feed_forward(norm2(x));
}

TextEncoderImpl::TextEncoderImpl(const TextEncoderConfig& config) {
  token_embedding =
      register_module("token_embedding", torch::nn::Embedding(config.vocab_size, config.dim));
  position_embedding = register_parameter("position_embedding",
                                          torch::randn({config.max_tokens, config.dim}) * 0.02);
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < config.layers; ++i) {
    layer_list.emplace_back(config.dim, config.heads);
    layers->push_back(layer_list.back());
  }
  final_norm = register_module("final_norm", MakeLayerNorm(config.dim));
}

torch::Tensor TextEncoderImpl::forward(const torch::Tensor& token_ids) {
  torch::Tensor x =
      token_embedding(token_ids) + position_embedding.slice(0, 0, token_ids.size(1)).unsqueeze(0);
  for (TextEncoderLayer& layer : layer_list) x = layer(x);
  return final_norm(x);
}

}  // namespace stipple::torch_engine
