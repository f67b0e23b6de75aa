#include "engine/torch/clip_text_model.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "engine/torch/weights.h"

namespace stipple::torch_engine {
namespace {

torch::nn::LayerNorm MakeLayerNorm(int64_t dim, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

}  // namespace

ClipAttentionImpl::ClipAttentionImpl(int64_t hidden, int64_t heads) : heads(heads) {
  q_proj = register_module("q_proj", torch::nn::Linear(hidden, hidden));
  k_proj = register_module("k_proj", torch::nn::Linear(hidden, hidden));
  v_proj = register_module("v_proj", torch::nn::Linear(hidden, hidden));
  out_proj = register_module("out_proj", torch::nn::Linear(hidden, hidden));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t b = x.size(0), n = x.size(1), hidden = x.size(2), head_dim = hidden / heads;
  auto split = [&](const torch::Tensor& t) {
    return t.view({b, n, heads, head_dim}).transpose(1, 2);  // (B, heads, L, head_dim)
  };
  const torch::Tensor q = split(q_proj(x) * (1.0 / std::sqrt(static_cast<double>(head_dim))));
  const torch::Tensor k = split(k_proj(x)), v = split(v_proj(x));
  const torch::Tensor probs = (torch::matmul(q, k.transpose(-2, -1)) + mask).softmax(-1);
  return out_proj(torch::matmul(probs, v).transpose(1, 2).reshape({b, n, hidden}));
}

ClipMlpImpl::ClipMlpImpl(int64_t hidden, int64_t intermediate, bool quick_gelu)
    : quick_gelu(quick_gelu) {
  fc1 = register_module("fc1", torch::nn::Linear(hidden, intermediate));
  fc2 = register_module("fc2", torch::nn::Linear(intermediate, hidden));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = fc1(x);
  h = quick_gelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const ClipTextConfig& config) {
  const int64_t hidden = config.hidden_size;
  self_attn = register_module("self_attn", ClipAttention(hidden, config.num_attention_heads));
  layer_norm1 = register_module("layer_norm1", MakeLayerNorm(hidden, config.layer_norm_eps));
  mlp = register_module(
      "mlp", ClipMlp(hidden, config.intermediate_size, config.hidden_act == "quick_gelu"));
  layer_norm2 = register_module("layer_norm2", MakeLayerNorm(hidden, config.layer_norm_eps));
}

torch::Tensor ClipEncoderLayerImpl::forward(torch::Tensor x, const torch::Tensor& mask) {
  x = x + self_attn(layer_norm1(x), mask);
  return x + mlp(layer_norm2(x));
}

ClipTextModelImpl::ClipTextModelImpl(const ClipTextConfig& config) : config_(config) {
  const int64_t hidden = config.hidden_size;
  // Plain modules for the levels of the Hugging Face names that hold no computation.
  auto text_model = register_module("text_model", std::make_shared<torch::nn::Module>());
  auto embeddings =
      text_model->register_module("embeddings", std::make_shared<torch::nn::Module>());
  token_embedding = embeddings->register_module("token_embedding",
                                                torch::nn::Embedding(config.vocab_size, hidden));
  position_embedding = embeddings->register_module(
      "position_embedding", torch::nn::Embedding(config.max_position_embeddings, hidden));
  auto encoder = text_model->register_module("encoder", std::make_shared<torch::nn::Module>());
  auto layers = encoder->register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    layers_.emplace_back(config);
    layers->push_back(layers_.back());
  }
  final_layer_norm =
      text_model->register_module("final_layer_norm", MakeLayerNorm(hidden, config.layer_norm_eps));
  if (config.with_projection) {
    text_projection = register_module(
        "text_projection",
        torch::nn::Linear(torch::nn::LinearOptions(hidden, config.projection_dim).bias(false)));
  }
}

ClipTextOutput ClipTextModelImpl::forward(const torch::Tensor& input_ids) {
  TORCH_CHECK(input_ids.dim() == 2, "CLIP text model: input_ids must be (batch, length)");
  const int64_t b = input_ids.size(0), length = input_ids.size(1);
  TORCH_CHECK(length >= 1 && length <= config_.max_position_embeddings, "CLIP text model: ", length,
              " tokens, the model takes 1..", config_.max_position_embeddings);
  ClipTextOutput out;
  torch::Tensor x =
      token_embedding(input_ids) + position_embedding->weight.slice(0, 0, length).unsqueeze(0);
  const torch::Tensor mask =
      torch::full({length, length}, -std::numeric_limits<float>::infinity(), x.options()).triu(1);
  out.hidden_states.reserve(layers_.size() + 1);
  out.hidden_states.push_back(x);
  for (ClipEncoderLayer& layer : layers_) {
    x = layer(x, mask);
    out.hidden_states.push_back(x);
  }
  out.last_hidden_state = final_layer_norm(x);
  const torch::Tensor rows = torch::arange(b, input_ids.options().dtype(torch::kLong));
  out.pooled = out.last_hidden_state.index({rows, input_ids.argmax(-1)});
  if (text_projection) out.text_embeds = text_projection(out.pooled);
  return out;
}

Status LoadClipTextWeights(ClipTextModel& model, SafetensorsFile weights, std::string_view source) {
  weights.tensors.erase("text_model.embeddings.position_ids");
  return LoadWeights(*model, weights, source);
}

}  // namespace stipple::torch_engine
