// The layers of diffusers' UNet2DConditionModel (see unet2d_condition.h), each with diffusers'
// parameter names so that a diffusers state dict loads by name: the ResNet block with its
// time-embedding injection, the stride-2 conv downsampler, the nearest-neighbour upsampler, the
// attention layer, the GEGLU feed-forward, the transformer block and the spatial transformer
// (Transformer2DModel) that wraps them over an image's positions.
//
// All forwards are for inference (call them under torch::NoGradGuard or torch::InferenceMode:
// some write into their intermediate results) and work in the parameters' dtype; inputs of the
// wrong shape throw c10::Error.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "engine/unet2d_config.h"

namespace stipple::torch_engine {

// act(x); x itself for kNone. GELU is the exact (erf) one.
torch::Tensor Activate(UNetActivation activation, const torch::Tensor& x);

// diffusers' get_timestep_embedding: timesteps t (N), any dtype → (N, dim) float:
// [sin(t f_k), cos(t f_k)] with f_k = exp(-ln(10000) k / (dim/2 - freq_shift)), k < dim/2, halves
// swapped when flip_sin_to_cos, a zero column appended when dim is odd.
torch::Tensor TimestepSinusoid(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                               double freq_shift);

// The keys and values of the text states for each cross-attention layer of one UNet, indexed by
// BasicTransformerBlockImpl::cross_index (UNet2DConditionImpl::ProjectText computes them). In a
// sampling loop the text states are the same at every step, so their projections are computed
// once per call instead of once per step.
struct CrossKeysValues {
  std::vector<torch::Tensor> keys, values;  // (B, T, inner) each
};

// What the cross-attention layers attend to: the text states (B, T, context_dim) and, when
// `precomputed` is given (not null), their keys and values taken from it instead of projected
// again. `precomputed` must have been computed from these `states` by the same UNet.
struct CrossContext {
  torch::Tensor states;
  const CrossKeysValues* precomputed = nullptr;
};

// What every block of one UNet shares.
struct UNetBlockOptions {
  int64_t time_embed_dim = 1280;
  int64_t groups = 32;
  double eps = 1e-5;
  UNetActivation act = UNetActivation::kSilu;
  bool scale_shift = false;        // resnet_time_scale_shift "scale_shift"
  bool linear_projection = false;  // transformers' proj_in/proj_out are Linear (else 1x1 conv)
  bool upcast_attention = false;   // attention scores and softmax in fp32
  double output_scale_factor = 1;  // ResNet outputs are divided by this
};

// norm1 → act → conv1 → (+ time_emb_proj(act(temb)) | scale-shift after norm2) → norm2 → act →
// conv2, plus the input (through the 1x1 conv_shortcut when the channel count changes).
struct ResnetBlock2DImpl : torch::nn::Module {
  ResnetBlock2DImpl(int64_t in_channels, int64_t out_channels, const UNetBlockOptions& options);
  // `temb_act`: the activated time embedding (B, time_embed_dim), shared by all ResNets.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb_act);

  UNetBlockOptions options;
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};
};
TORCH_MODULE(ResnetBlock2D);

// 3x3 conv with stride 2 ("conv"); padding 0 pads the right and bottom edges by one first.
struct Downsample2DImpl : torch::nn::Module {
  Downsample2DImpl(int64_t channels, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);

  int64_t padding;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Downsample2D);

// Nearest-neighbour ×2 (or to `size` when given), then a 3x3 conv ("conv").
struct Upsample2DImpl : torch::nn::Module {
  explicit Upsample2DImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x, std::optional<std::vector<int64_t>> size = {});

  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample2D);

// diffusers' Attention with the plain processor: to_q/to_k/to_v without bias, heads of
// `head_dim` channels, softmax(q kᵀ / sqrt(head_dim)) v, to_out.0 (with bias). Self-attention
// when `context` is undefined.
struct CrossAttentionImpl : torch::nn::Module {
  CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t head_dim,
                     bool upcast);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});
  // The same with the keys and values (B, M, inner) given: to_k(context), to_v(context).
  torch::Tensor Attend(const torch::Tensor& x, const torch::Tensor& keys,
                       const torch::Tensor& values);

  int64_t heads, head_dim;
  bool upcast;
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, out{nullptr};
  torch::nn::ModuleList to_out;  // [out, dropout]
};
TORCH_MODULE(CrossAttention);

// GEGLU: proj to 2·inner, the first half times GELU of the second.
struct GegluImpl : torch::nn::Module {
  GegluImpl(int64_t dim, int64_t inner);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(Geglu);

// ff: net.0 (GEGLU dim → 4·dim), net.1 (dropout), net.2 (Linear 4·dim → dim).
struct FeedForwardGegluImpl : torch::nn::Module {
  explicit FeedForwardGegluImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);

  Geglu geglu{nullptr};
  torch::nn::Linear project_out{nullptr};
  torch::nn::ModuleList net;
};
TORCH_MODULE(FeedForwardGeglu);

// x + attn1(norm1 x) [over the context too with only_cross_attention], x + attn2(norm2 x,
// context), x + ff(norm3 x); LayerNorms with eps 1e-5.
struct BasicTransformerBlockImpl : torch::nn::Module {
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim, int64_t context_dim,
                            bool only_cross_attention, bool upcast);
  torch::Tensor forward(const torch::Tensor& x, const CrossContext& context);

  bool only_cross_attention;
  int64_t cross_index = -1;  // this block's entry in CrossKeysValues (set by its UNet)
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  CrossAttention attn1{nullptr}, attn2{nullptr};
  FeedForwardGeglu ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

// Transformer2DModel over continuous input: GroupNorm (eps 1e-6) → proj_in → `layers`
// transformer blocks over the H·W positions → proj_out, plus the input. The inner width is
// heads · (channels / heads).
struct Transformer2DImpl : torch::nn::Module {
  Transformer2DImpl(int64_t channels, int64_t heads, int64_t layers, int64_t context_dim,
                    bool only_cross_attention, const UNetBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const CrossContext& context);

  torch::nn::GroupNorm norm{nullptr};
  // proj_in / proj_out: Linear, or 1x1 conv (applied as the same matrix product).
  torch::nn::Linear proj_in_linear{nullptr}, proj_out_linear{nullptr};
  torch::nn::Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  torch::nn::ModuleList transformer_blocks;
  std::vector<BasicTransformerBlock> blocks;
};
TORCH_MODULE(Transformer2D);

}  // namespace stipple::torch_engine
