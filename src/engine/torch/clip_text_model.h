// CLIP's text transformer, as Hugging Face's CLIPTextModel / CLIPTextModelWithProjection computes
// it (the text encoders of every Stable Diffusion model): token + learned position embeddings,
// pre-norm layers of causal self-attention (q/k/v/out projections with biases) and an MLP
// (quick_gelu or exact gelu), a final layer norm; the pooled state is the final state at each
// row's largest id (<|endoftext|> in CLIP's vocabulary); the projection model also maps it
// through text_projection (no bias).
//
// Parameter names are exactly the Hugging Face state-dict names, so a diffusers
// text_encoder/model.safetensors loads by name:
//   text_model.embeddings.{token,position}_embedding.weight
//   text_model.encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}
//   text_model.encoder.layers.{i}.layer_norm{1,2}.{weight,bias}
//   text_model.encoder.layers.{i}.mlp.fc{1,2}.{weight,bias}
//   text_model.final_layer_norm.{weight,bias}
//   text_projection.weight                      (with projection only)
// No attention mask besides the causal one (Stable Diffusion pipelines pass none).
#pragma once

#include <torch/torch.h>

#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/clip_text_config.h"
#include "engine/safetensors.h"

namespace stipple::torch_engine {

struct ClipTextOutput {
  // num_hidden_layers + 1 tensors (B, L, hidden): the embeddings, then each layer's output
  // (hidden_states[-2] of diffusers is hidden_states[size() - 2]). Not layer-normed.
  std::vector<torch::Tensor> hidden_states;
  torch::Tensor last_hidden_state;  // (B, L, hidden): final_layer_norm(hidden_states.back())
  torch::Tensor pooled;             // (B, hidden): last_hidden_state at argmax(ids) of each row
  torch::Tensor text_embeds;        // (B, projection_dim); undefined without a projection
};

struct ClipAttentionImpl : torch::nn::Module {
  ClipAttentionImpl(int64_t hidden, int64_t heads);
  // x (B, L, hidden); mask: additive (L, L).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

  int64_t heads;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(ClipAttention);

struct ClipMlpImpl : torch::nn::Module {
  ClipMlpImpl(int64_t hidden, int64_t intermediate, bool quick_gelu);
  torch::Tensor forward(const torch::Tensor& x);

  bool quick_gelu;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ClipMlp);

struct ClipEncoderLayerImpl : torch::nn::Module {
  explicit ClipEncoderLayerImpl(const ClipTextConfig& config);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask);

  ClipAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm1{nullptr}, layer_norm2{nullptr};
  ClipMlp mlp{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

class ClipTextModelImpl : public torch::nn::Module {
 public:
  explicit ClipTextModelImpl(const ClipTextConfig& config);
  // input_ids: (B, L) int64, L ≤ max_position_embeddings. All layers run.
  ClipTextOutput forward(const torch::Tensor& input_ids);
  // The final layer norm alone, for states taken from an earlier layer (clip_skip).
  torch::Tensor FinalLayerNorm(const torch::Tensor& states) { return final_layer_norm(states); }

  const ClipTextConfig& config() const { return config_; }

 private:
  ClipTextConfig config_;
  torch::nn::Embedding token_embedding{nullptr}, position_embedding{nullptr};
  std::vector<ClipEncoderLayer> layers_;
  torch::nn::LayerNorm final_layer_norm{nullptr};
  torch::nn::Linear text_projection{nullptr};
};
TORCH_MODULE(ClipTextModel);

// Loads `weights` (a text_encoder's safetensors, already float) into `model` by name. The
// `text_model.embeddings.position_ids` buffer some files carry is skipped; otherwise strict, as
// LoadWeights: a missing, unexpected or misshapen tensor is kInvalidArgument naming `source`
// and the tensor.
Status LoadClipTextWeights(ClipTextModel& model, SafetensorsFile weights, std::string_view source);

}  // namespace stipple::torch_engine
