// The Stable Diffusion VAE (diffusers' AutoencoderKL), built from its vae/config.json, with the
// parameter names of diffusers' state dict, so a `vae/diffusion_pytorch_model.safetensors` loads
// by name:
//   encoder.conv_in
//   encoder.down_blocks.{i}.resnets.{j}.{norm1,conv1,norm2,conv2,conv_shortcut}
//   encoder.down_blocks.{i}.downsamplers.0.conv          (every level but the last)
//   encoder.mid_block.resnets.{0,1}, encoder.mid_block.attentions.0.{group_norm,to_q,to_k,to_v,
//                                                                    to_out.0}
//   encoder.conv_norm_out, encoder.conv_out, quant_conv
//   post_quant_conv, decoder.conv_in, decoder.mid_block.*
//   decoder.up_blocks.{i}.resnets.{j}.*, decoder.up_blocks.{i}.upsamplers.0.conv
//   decoder.conv_norm_out, decoder.conv_out
// conv_shortcut exists where a ResNet block changes the channel count; attentions only with
// mid_block_add_attention; quant_conv / post_quant_conv only with use_quant_conv /
// use_post_quant_conv.
//
// The computation (diffusers 0.27.2's): GroupNorm eps 1e-6 everywhere, SiLU; a ResNet block is
// x + conv2(silu(norm2(conv1(silu(norm1 x))))) (x through the 1x1 conv_shortcut when the channels
// change); downsampling pads right and bottom by one zero and applies a 3x3 stride-2 conv;
// upsampling repeats each pixel 2x2 (nearest) and applies a 3x3 conv; the mid-block attention is
// one head over all positions (channels = head size) with a residual, softmax in fp32.
//
// Works on any device and dtype the module is moved to (inputs are moved and converted to them).
// force_upcast in the config says this VAE overflows in fp16 and should be kept in fp32 (the
// caller's choice: see force_upcast()).
#pragma once

#include <torch/torch.h>

#include <string_view>

#include "common/status.h"
#include "engine/safetensors.h"
#include "engine/vae_config.h"

namespace stipple::torch_engine {

// GroupNorm → SiLU → conv3x3 → GroupNorm → SiLU → conv3x3, plus the (projected) input.
struct VaeResnetBlockImpl : torch::nn::Module {
  VaeResnetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
};
TORCH_MODULE(VaeResnetBlock);

// GroupNorm, then single-head self-attention over the h*w positions, plus the input.
struct VaeAttentionImpl : torch::nn::Module {
  VaeAttentionImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, out{nullptr};
  torch::nn::ModuleList to_out{nullptr};  // holds `out` as "0", diffusers' name
};
TORCH_MODULE(VaeAttention);

// Holds one conv named "conv" (diffusers' downsamplers.0 / upsamplers.0).
struct VaeResampleImpl : torch::nn::Module {
  VaeResampleImpl(int64_t channels, bool down);
  torch::Tensor forward(const torch::Tensor& x);

  bool down;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(VaeResample);

// ResNet blocks, then an optional down- or upsampler.
struct VaeLevelImpl : torch::nn::Module {
  VaeLevelImpl(int64_t in_channels, int64_t out_channels, int64_t layers, int64_t groups, bool down,
               bool resample);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::ModuleList resnets{torch::nn::ModuleList()};
  std::vector<VaeResnetBlock> resnet_list;
  torch::nn::ModuleList samplers{nullptr};  // "downsamplers" or "upsamplers", when resampling
  VaeResample sampler{nullptr};
};
TORCH_MODULE(VaeLevel);

// ResNet, (attention), ResNet.
struct VaeMidBlockImpl : torch::nn::Module {
  VaeMidBlockImpl(int64_t channels, int64_t groups, bool attention);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::ModuleList resnets{torch::nn::ModuleList()};
  torch::nn::ModuleList attentions{torch::nn::ModuleList()};
  VaeResnetBlock resnet0{nullptr}, resnet1{nullptr};
  VaeAttention attention{nullptr};
};
TORCH_MODULE(VaeMidBlock);

// Image (B, in_channels, H, W) → moments (B, 2 * latent_channels, H/f, W/f).
struct VaeEncoderImpl : torch::nn::Module {
  explicit VaeEncoderImpl(const AutoencoderKLConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks{torch::nn::ModuleList()};
  std::vector<VaeLevel> levels;
  VaeMidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeEncoder);

// Latent (B, latent_channels, h, w) → image (B, out_channels, h*f, w*f).
struct VaeDecoderImpl : torch::nn::Module {
  explicit VaeDecoderImpl(const AutoencoderKLConfig& config);
  torch::Tensor forward(const torch::Tensor& z);

  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  VaeMidBlock mid_block{nullptr};
  torch::nn::ModuleList up_blocks{torch::nn::ModuleList()};
  std::vector<VaeLevel> levels;
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(VaeDecoder);

// The posterior q(z | x), a diagonal Gaussian. To draw a latent as diffusers'
// DiagonalGaussianDistribution.sample does: z = mean + exp(0.5 * logvar) * eps, eps ~ N(0, 1) of
// mean's shape (drawn by the caller from its own generator); its mode is `mean`. Diffusion
// models then see z * scaling_factor.
struct VaePosterior {
  torch::Tensor mean;    // (B, latent_channels, h, w)
  torch::Tensor logvar;  // same shape, already clamped to [-30, 20] as diffusers does
};

struct AutoencoderKLImpl : torch::nn::Module {
  explicit AutoencoderKLImpl(const AutoencoderKLConfig& config);

  // z (B, latent_channels, h, w), already divided by scaling_factor by the caller → the image
  // (B, out_channels, h*f, w*f), roughly in [-1, 1] (not clamped). f = config().DownscaleFactor().
  // Runs on the module's device in its dtype (z is moved and converted to them); the result is
  // on that device in that dtype.
  torch::Tensor Decode(const torch::Tensor& z);
  // x (B, in_channels, H, W) in [-1, 1], H and W multiples of f → the posterior's mean and
  // clamped logvar (see VaePosterior).
  VaePosterior Encode(const torch::Tensor& x);

  const AutoencoderKLConfig& config() const { return config_; }
  // The config's force_upcast: keep this VAE in fp32 even when the pipeline computes in fp16.
  bool force_upcast() const { return config_.force_upcast; }

  VaeEncoder encoder{nullptr};
  VaeDecoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};  // null when not used

 private:
  AutoencoderKLConfig config_;
};
TORCH_MODULE(AutoencoderKL);

// Copies `weights` (a diffusers VAE state dict) into `model` by name, after diffusers' own
// load-time renames: the legacy attention names older folders carry (query, key, value,
// proj_attn under *.mid_block.attentions.0) become to_q, to_k, to_v, to_out.0, and attention
// weights stored as 1x1 convs ([C, C, 1, 1]) are taken as the linear [C, C] they are. Otherwise
// strict (torch_engine::LoadWeights): a missing, unexpected or misshapen tensor is
// kInvalidArgument naming `source` and the tensor; so is a tensor present under both names.
Status LoadAutoencoderKLWeights(AutoencoderKL& model, SafetensorsFile weights,
                                std::string_view source);

}  // namespace stipple::torch_engine
