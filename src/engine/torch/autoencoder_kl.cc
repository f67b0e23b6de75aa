#include "engine/torch/autoencoder_kl.h"

#include <torch/version.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/torch/weights.h"

namespace stipple::torch_engine {
namespace {

namespace F = torch::nn::functional;

constexpr double kNormEps = 1e-6;  // every GroupNorm of diffusers' VAE

torch::nn::GroupNorm Norm(int64_t groups, int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(kNormEps));
}

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                       int64_t padding = -1) {
  if (padding < 0) padding = kernel / 2;
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

// softmax(q kᵀ / sqrt(d)) v over (B, N, d) tensors, the softmax in fp32.
torch::Tensor SingleHeadAttention(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels where libtorch has them (no N x N score matrix on CUDA); its default scale is
  // 1 / sqrt(d). The head axis is made explicit, as the fused kernels want (B, heads, N, d).
  return at::scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1))
      .squeeze(1);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  // The N x N scores of a large image are big (16k positions at SDXL's 1024x1024: 1 GiB per
  // image in fp32): compute them for a slice of the queries at a time. Each row's softmax only
  // needs its own scores, so the result is the same.
  const int64_t n = q.size(1), m = k.size(1);
  constexpr int64_t kMaxScores = int64_t{1} << 22;  // 16 MiB of fp32 scores per slice
  const int64_t rows = std::max<int64_t>(1, kMaxScores / std::max<int64_t>(1, q.size(0) * m));
  torch::Tensor kt = k.transpose(1, 2);
  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < n; start += rows) {
    torch::Tensor qs = q.slice(1, start, std::min(n, start + rows));
    torch::Tensor probs = (torch::matmul(qs, kt).to(torch::kFloat) * scale).softmax(-1);
    outputs.push_back(torch::matmul(probs.to(v.scalar_type()), v));
  }
  return outputs.size() == 1 ? outputs[0] : torch::cat(outputs, 1);
#endif
}

}  // namespace

VaeResnetBlockImpl::VaeResnetBlockImpl(int64_t in_channels, int64_t out_channels, int64_t groups) {
  norm1 = register_module("norm1", Norm(groups, in_channels));
  conv1 = register_module("conv1", Conv(in_channels, out_channels, 3));
  norm2 = register_module("norm2", Norm(groups, out_channels));
  conv2 = register_module("conv2", Conv(out_channels, out_channels, 3));
  if (in_channels != out_channels) {
    conv_shortcut = register_module("conv_shortcut", Conv(in_channels, out_channels, 1));
  }
}

torch::Tensor VaeResnetBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = conv1(torch::silu(norm1(x)));
  h = conv2(torch::silu(norm2(h)));
  return (conv_shortcut ? conv_shortcut(x) : x) + h;
}

VaeAttentionImpl::VaeAttentionImpl(int64_t channels, int64_t groups) {
  group_norm = register_module("group_norm", Norm(groups, channels));
  to_q = register_module("to_q", torch::nn::Linear(channels, channels));
  to_k = register_module("to_k", torch::nn::Linear(channels, channels));
  to_v = register_module("to_v", torch::nn::Linear(channels, channels));
  out = torch::nn::Linear(channels, channels);
  to_out = register_module("to_out", torch::nn::ModuleList(out));
}

torch::Tensor VaeAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  torch::Tensor t = group_norm(x).view({b, c, h * w}).transpose(1, 2);  // (B, HW, C)
  torch::Tensor attended = SingleHeadAttention(to_q(t), to_k(t), to_v(t));
  torch::Tensor y = out(attended).transpose(1, 2).reshape({b, c, h, w});
  return y + x;
}

VaeResampleImpl::VaeResampleImpl(int64_t channels, bool down) : down(down) {
  // Down: no padding in the conv; forward pads right and bottom by one instead.
  conv = register_module("conv", Conv(channels, channels, 3, down ? 2 : 1, down ? 0 : 1));
}

torch::Tensor VaeResampleImpl::forward(const torch::Tensor& x) {
  if (down) return conv(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));
  torch::Tensor up = F::interpolate(x, F::InterpolateFuncOptions()
                                           .scale_factor(std::vector<double>{2.0, 2.0})
                                           .mode(torch::kNearest));
  return conv(up);
}

VaeLevelImpl::VaeLevelImpl(int64_t in_channels, int64_t out_channels, int64_t layers,
                           int64_t groups, bool down, bool resample) {
  register_module("resnets", resnets);
  for (int64_t i = 0; i < layers; ++i) {
    resnet_list.push_back(
        VaeResnetBlock(i == 0 ? in_channels : out_channels, out_channels, groups));
    resnets->push_back(resnet_list.back());
  }
  if (resample) {
    sampler = VaeResample(out_channels, down);
    samplers =
        register_module(down ? "downsamplers" : "upsamplers", torch::nn::ModuleList(sampler));
  }
}

torch::Tensor VaeLevelImpl::forward(torch::Tensor x) {
  for (VaeResnetBlock& block : resnet_list) x = block(x);
  return sampler ? sampler(x) : x;
}

VaeMidBlockImpl::VaeMidBlockImpl(int64_t channels, int64_t groups, bool with_attention) {
  resnet0 = VaeResnetBlock(channels, channels, groups);
  resnet1 = VaeResnetBlock(channels, channels, groups);
  resnets->push_back(resnet0);
  resnets->push_back(resnet1);
  register_module("resnets", resnets);
  if (with_attention) {
    attention = VaeAttention(channels, groups);
    attentions->push_back(attention);
    register_module("attentions", attentions);
  }
}

torch::Tensor VaeMidBlockImpl::forward(torch::Tensor x) {
  x = resnet0(x);
  if (attention) x = attention(x);
  return resnet1(x);
}

VaeEncoderImpl::VaeEncoderImpl(const AutoencoderKLConfig& config) {
  const std::vector<int>& channels = config.block_out_channels;
  const int64_t groups = config.norm_num_groups;
  conv_in = register_module("conv_in", Conv(config.in_channels, channels.front(), 3));
  register_module("down_blocks", down_blocks);
  for (size_t i = 0; i < channels.size(); ++i) {
    const bool last = i + 1 == channels.size();
    levels.push_back(VaeLevel(channels[i == 0 ? 0 : i - 1], channels[i], config.layers_per_block,
                              groups, /*down=*/true, /*resample=*/!last));
    down_blocks->push_back(levels.back());
  }
  mid_block = register_module("mid_block",
                              VaeMidBlock(channels.back(), groups, config.mid_block_add_attention));
  conv_norm_out = register_module("conv_norm_out", Norm(groups, channels.back()));
  conv_out = register_module("conv_out", Conv(channels.back(), 2 * config.latent_channels, 3));
}

torch::Tensor VaeEncoderImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = conv_in(x);
  for (VaeLevel& level : levels) h = level(h);
  h = mid_block(h);
  return conv_out(torch::silu(conv_norm_out(h)));
}

VaeDecoderImpl::VaeDecoderImpl(const AutoencoderKLConfig& config) {
  std::vector<int> channels(config.block_out_channels.rbegin(), config.block_out_channels.rend());
  const int64_t groups = config.norm_num_groups;
  conv_in = register_module("conv_in", Conv(config.latent_channels, channels.front(), 3));
  mid_block = register_module(
      "mid_block", VaeMidBlock(channels.front(), groups, config.mid_block_add_attention));
  register_module("up_blocks", up_blocks);
  for (size_t i = 0; i < channels.size(); ++i) {
    const bool last = i + 1 == channels.size();
    levels.push_back(VaeLevel(channels[i == 0 ? 0 : i - 1], channels[i],
                              config.layers_per_block + 1, groups, /*down=*/false,
                              /*resample=*/!last));
    up_blocks->push_back(levels.back());
  }
  conv_norm_out = register_module("conv_norm_out", Norm(groups, channels.back()));
  conv_out = register_module("conv_out", Conv(channels.back(), config.out_channels, 3));
}

torch::Tensor VaeDecoderImpl::forward(const torch::Tensor& z) {
  torch::Tensor h = mid_block(conv_in(z));
  for (VaeLevel& level : levels) h = level(h);
  return conv_out(torch::silu(conv_norm_out(h)));
}

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& config) : config_(config) {
  const int64_t latent = config.latent_channels;
  encoder = register_module("encoder", VaeEncoder(config));
  decoder = register_module("decoder", VaeDecoder(config));
  if (config.use_quant_conv) {
    quant_conv = register_module("quant_conv", Conv(2 * latent, 2 * latent, 1));
  }
  if (config.use_post_quant_conv) {
    post_quant_conv = register_module("post_quant_conv", Conv(latent, latent, 1));
  }
}

torch::Tensor AutoencoderKLImpl::Decode(const torch::Tensor& z) {
  const torch::Tensor& w = decoder->conv_in->weight;
  torch::Tensor h = z.to(w.device(), w.scalar_type());
  if (post_quant_conv) h = post_quant_conv(h);
  return decoder(h);
}

VaePosterior AutoencoderKLImpl::Encode(const torch::Tensor& x) {
  const torch::Tensor& w = encoder->conv_in->weight;
  torch::Tensor moments = encoder(x.to(w.device(), w.scalar_type()));
  if (quant_conv) moments = quant_conv(moments);
  std::vector<torch::Tensor> halves = moments.chunk(2, 1);
  return {halves[0], halves[1].clamp(-30.0, 20.0)};
}

Status LoadAutoencoderKLWeights(AutoencoderKL& model, SafetensorsFile weights,
                                std::string_view source) {
  static constexpr std::array<std::pair<const char*, const char*>, 4> kLegacyNames = {{
      {"query", "to_q"},
      {"key", "to_k"},
      {"value", "to_v"},
      {"proj_attn", "to_out.0"},
  }};
  std::map<std::string, FloatTensor>& tensors = weights.tensors;
  for (const auto& item : model->named_modules("", /*include_self=*/false)) {
    if (dynamic_cast<const VaeAttentionImpl*>(item.value().get()) == nullptr) continue;
    const std::string path = item.key() + ".";
    for (const auto& [legacy, current] : kLegacyNames) {
      for (const char* suffix : {".weight", ".bias"}) {
        auto old_name = tensors.find(path + legacy + suffix);
        if (old_name == tensors.end()) continue;
        const std::string new_name = path + current + suffix;
        if (tensors.count(new_name) != 0) {
          return InvalidArgumentError("weights " + std::string(source) + ": both '" +
                                      old_name->first + "' and '" + new_name +
                                      "' are present (the same tensor under its legacy and "
                                      "current names)");
        }
        FloatTensor moved = std::move(old_name->second);
        tensors.erase(old_name);
        tensors.emplace(new_name, std::move(moved));
      }
    }
    // Older checkpoints keep these projections as 1x1 convs: the same values, another shape.
    for (const auto& [legacy, current] : kLegacyNames) {
      auto it = tensors.find(path + current + ".weight");
      if (it == tensors.end()) continue;
      std::vector<int64_t>& shape = it->second.shape;
      if (shape.size() == 4 && shape[2] == 1 && shape[3] == 1) shape.resize(2);
    }
  }
  return LoadWeights(*model, weights, source);
}

}  // namespace stipple::torch_engine
