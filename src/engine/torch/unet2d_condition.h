// diffusers' UNet2DConditionModel (as of diffusers 0.27.2) in libtorch, built from its
// UNet2DConditionConfig (engine/unet2d_config.h): the UNet of SD 1.x, SD 2.x and SDXL.
//
// Parameter names are diffusers' state-dict names ("conv_in.weight",
// "time_embedding.linear_1.weight", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.
// weight", "down_blocks.0.downsamplers.0.conv.weight", "mid_block.resnets.1.conv2.bias",
// "up_blocks.0.upsamplers.0.conv.weight", "add_embedding.linear_1.weight" (text_time), ...), so
// a `unet/diffusion_pytorch_model.safetensors` loads by name with LoadUNet2DConditionWeights.
//
// Forward: the time embedding is the sinusoid of the (float) timesteps through time_embedding
// (plus cond_proj(timestep_cond) first, with time_cond_proj_dim), plus add_embedding of
// [text_embeds, sinusoid(time_ids) flattened per row] for SDXL's text_time, or the pooled encoder
// states for addition_embed_type "text" (TextTimeEmbedding below); conv_in; the down
// blocks, each ResNet/transformer output and each downsampler output kept as a skip; the mid
// block; the up blocks, each ResNet fed its input concatenated with the latest skip, the
// upsampler interpolating to the next skip's size when the sample's size is not a multiple of
// 2^(blocks - 1); conv_norm_out → act → conv_out. Attention is plain matmul/softmax (no fused
// kernel in libtorch 1.13), unchunked; with upcast_attention its scores and softmax are computed
// in fp32 when the model runs in half precision.
#pragma once

#include <torch/torch.h>

#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/safetensors.h"
#include "engine/torch/unet2d_blocks.h"
#include "engine/unet2d_config.h"

namespace stipple::torch_engine {

// A down block: `layers` ResNets, each followed by a Transformer2D in CrossAttnDownBlock2D,
// then the downsampler (all but the last block).
struct UNetDownBlock2DImpl : torch::nn::Module {
  UNetDownBlock2DImpl(const UNet2DConditionConfig& config, int block,
                      const UNetBlockOptions& options);
  // Appends this block's skips (one per layer, one for the downsampler) to `skips`.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb_act, const CrossContext& context,
                        std::vector<torch::Tensor>& skips);

  torch::nn::ModuleList resnets, attentions, downsamplers;
  std::vector<ResnetBlock2D> resnet_list;
  std::vector<Transformer2D> attention_list;  // empty in DownBlock2D
  Downsample2D downsampler{nullptr};
};
TORCH_MODULE(UNetDownBlock2D);

// UNetMidBlock2DCrossAttn: ResNet, Transformer2D, ResNet.
struct UNetMidBlock2DImpl : torch::nn::Module {
  UNetMidBlock2DImpl(const UNet2DConditionConfig& config, const UNetBlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb_act,
                        const CrossContext& context);

  torch::nn::ModuleList resnets, attentions;
  ResnetBlock2D resnet0{nullptr}, resnet1{nullptr};
  Transformer2D attention{nullptr};
};
TORCH_MODULE(UNetMidBlock2D);

// An up block (index `block` of up_block_types): layers_per_block + 1 ResNets over the input
// concatenated with a skip, each followed by a Transformer2D in CrossAttnUpBlock2D, then the
// upsampler (all but the last block).
struct UNetUpBlock2DImpl : torch::nn::Module {
  UNetUpBlock2DImpl(const UNet2DConditionConfig& config, int block,
                    const UNetBlockOptions& options);
  // Takes its skips from the back of `skips`; upsamples to `upsample_size` when not empty.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb_act, const CrossContext& context,
                        std::vector<torch::Tensor>& skips,
                        const std::vector<int64_t>& upsample_size);

  torch::nn::ModuleList resnets, attentions, upsamplers;
  std::vector<ResnetBlock2D> resnet_list;
  std::vector<Transformer2D> attention_list;  // empty in UpBlock2D
  Upsample2D upsampler{nullptr};
};
TORCH_MODULE(UNetUpBlock2D);

// TimestepEmbedding: [x + cond_proj(condition)] → linear_1 → act → linear_2 → [post_act].
struct TimestepEmbeddingImpl : torch::nn::Module {
  TimestepEmbeddingImpl(int64_t in_dim, int64_t dim, UNetActivation act, UNetActivation post_act,
                        int64_t cond_proj_dim);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& condition = {});

  UNetActivation act, post_act;
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr}, cond_proj{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

// addition_embed_type "text" (diffusers' TextTimeEmbedding): see UNet2DConditionConfig. Parameter
// names under add_embedding: norm1, pool.positional_embedding, pool.{q,k,v}_proj, proj, norm2.
struct AttentionPoolingImpl : torch::nn::Module {
  AttentionPoolingImpl(int64_t dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, dim) → (B, dim)

  int64_t heads;
  torch::Tensor positional_embedding;  // (1, dim)
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr};
};
TORCH_MODULE(AttentionPooling);

struct TextTimeEmbeddingImpl : torch::nn::Module {
  TextTimeEmbeddingImpl(int64_t encoder_dim, int64_t time_embed_dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& states);  // (B, T, encoder_dim) → (B, time dim)

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  AttentionPooling pool{nullptr};
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(TextTimeEmbedding);

// The optional inputs of UNet2DConditionImpl::forward (undefined tensors when absent).
struct UNetAddedConditions {
  torch::Tensor text_embeds;    // (B, pooled dim): required by text_time models
  torch::Tensor time_ids;       // (B, k), e.g. SDXL's [h, w, top, left, h, w]: text_time
  torch::Tensor timestep_cond;  // (B, time_cond_proj_dim): optional with time_cond_proj_dim
  // Optional: ProjectText(encoder_hidden_states) of this UNet, computed once for a sampling
  // loop's steps; null: each cross-attention layer projects the states itself.
  const CrossKeysValues* text_keys_values = nullptr;
};

struct UNet2DConditionImpl : torch::nn::Module {
  // `config` as ParseUNet2DConditionConfig returns it (which checks what construction needs).
  explicit UNet2DConditionImpl(UNet2DConditionConfig config);

  // sample (B, in_channels, h, w); timesteps (B) or a single value for the whole batch, any
  // dtype (fractional timesteps are fine); encoder_hidden_states (B, T, cross_attention_dim) →
  // (B, out_channels, h, w), in the parameters' dtype. Inference only (run it under
  // torch::NoGradGuard or torch::InferenceMode). Throws c10::Error on inputs of the wrong shape
  // and when text_time's added conditions are missing.
  torch::Tensor forward(torch::Tensor sample, torch::Tensor timesteps,
                        const torch::Tensor& encoder_hidden_states,
                        const UNetAddedConditions& added = {});

  // Every cross-attention layer's keys and values of `encoder_hidden_states` (B, T,
  // cross_attention_dim), for UNetAddedConditions::text_keys_values: forward gives the same
  // result with them as without, for as many steps as the states stay the same.
  CrossKeysValues ProjectText(const torch::Tensor& encoder_hidden_states);

  const UNet2DConditionConfig config;
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  TimestepEmbedding time_embedding{nullptr}, add_embedding{nullptr};  // add: text_time
  TextTimeEmbedding text_add_embedding{nullptr};  // "add_embedding" of addition_embed_type text
  torch::nn::ModuleList down_blocks, up_blocks;
  std::vector<UNetDownBlock2D> down_list;
  UNetMidBlock2D mid_block{nullptr};
  std::vector<UNetUpBlock2D> up_list;
  torch::nn::GroupNorm conv_norm_out{nullptr};
  std::vector<BasicTransformerBlock> cross_blocks;  // every transformer block, by cross_index
};
TORCH_MODULE(UNet2DCondition);

// Copies `weights` (a diffusers UNet state dict, e.g. unet/diffusion_pytorch_model.safetensors)
// into `model`, on the model's device and in its dtype. Strict: a missing, unexpected or
// misshapen tensor is kInvalidArgument naming `source` and the tensors; the model is then left
// unchanged. Never throws.
Status LoadUNet2DConditionWeights(UNet2DCondition& model, SafetensorsFile weights,
                                  std::string_view source);

}  // namespace stipple::torch_engine
