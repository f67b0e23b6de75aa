#include "engine/torch/unet.h"

#include <algorithm>

namespace stipple::torch_engine {
namespace {

torch::nn::Conv2d Conv3x3(int64_t in, int64_t out, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}

}  // namespace

UNetLevelImpl::UNetLevelImpl() {
  register_module("res", res);
  register_module("attention", attention);
}

void UNetLevelImpl::Add(ResBlock block, SpatialTransformer attention_or_null) {
  res->push_back(block);
  res_list.push_back(block);
  if (attention_or_null) {
    attention->push_back(attention_or_null);
    attention_list.push_back(attention_or_null);
  }
}

void UNetLevelImpl::SetResample(torch::nn::Conv2d conv) {
  resample = register_module("resample", conv);
}

UNetImpl::UNetImpl(const UNetConfig& c, int64_t image_channels, int64_t context_dim)
    : base_channels(c.base_channels) {
  const int64_t temb = c.time_embed_dim, groups = c.norm_groups, heads = c.heads;
  const int levels = static_cast<int>(c.channel_mult.size());
  auto has_attention = [&](int level) {
    return std::find(c.attention_levels.begin(), c.attention_levels.end(), level) !=
           c.attention_levels.end();
  };
  auto transformer = [&](int level, int64_t ch) {
    return has_attention(level) ? SpatialTransformer(ch, context_dim, heads, groups)
                                : SpatialTransformer(nullptr);
  };
  time_fc1 = register_module("time_fc1", torch::nn::Linear(c.base_channels, temb));
  time_fc2 = register_module("time_fc2", torch::nn::Linear(temb, temb));
  if (c.pooled_text) text_proj = register_module("text_proj", torch::nn::Linear(context_dim, temb));
  conv_in = register_module("conv_in", Conv3x3(image_channels, c.base_channels));
  register_module("down", down);
  register_module("up", up);

  std::vector<int64_t> skip_channels = {c.base_channels};
  int64_t ch = c.base_channels;
  for (int level = 0; level < levels; ++level) {
    UNetLevel l;
    const int64_t out = int64_t{c.base_channels} * c.channel_mult[level];
    for (int i = 0; i < c.res_blocks; ++i) {
      l->Add(ResBlock(ch, out, temb, groups), transformer(level, out));
      ch = out;
      skip_channels.push_back(ch);
    }
    if (level + 1 < levels) {
      l->SetResample(Conv3x3(ch, ch, 2));
      skip_channels.push_back(ch);
    }
    down->push_back(l);
    down_list.push_back(l);
  }
  mid_res1 = register_module("mid_res1", ResBlock(ch, ch, temb, groups));
  mid_attention =
      register_module("mid_attention", SpatialTransformer(ch, context_dim, heads, groups));
  mid_res2 = register_module("mid_res2", ResBlock(ch, ch, temb, groups));
  for (int level = levels - 1; level >= 0; --level) {
    UNetLevel l;
    const int64_t out = int64_t{c.base_channels} * c.channel_mult[level];
    for (int i = 0; i < c.res_blocks + 1; ++i) {
      const int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      l->Add(ResBlock(ch + skip, out, temb, groups), transformer(level, out));
      ch = out;
    }
    if (level > 0) l->SetResample(Conv3x3(ch, ch));
    up->push_back(l);
    up_list.push_back(l);
  }
  norm_out = register_module(
      "norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, c.base_channels)));
  conv_out = register_module("conv_out", Conv3x3(c.base_channels, image_channels));
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& timesteps,
                                const torch::Tensor& context) {
  torch::Tensor temb = SinusoidalTimestepEmbedding(timesteps, base_channels);
  temb = time_fc2(torch::silu(time_fc1(temb)));
  if (text_proj) temb = temb + text_proj(context.select(1, 0));

  torch::Tensor h = conv_in(x);
  std::vector<torch::Tensor> skips = {h};
  for (UNetLevel& level : down_list) {
    for (size_t i = 0; i < level->res_list.size(); ++i) {
      h = level->res_list[i](h, temb);
      if (!level->attention_list.empty()) h = level->attention_list[i](h, context);
      skips.push_back(h);
    }
    if (level->resample) {
      h = level->resample(h);
      skips.push_back(h);
    }
  }
  h = mid_res1(h, temb);
  h = mid_attention(h, context);
  h = mid_res2(h, temb);
  for (UNetLevel& level : up_list) {
    for (size_t i = 0; i < level->res_list.size(); ++i) {
      h = level->res_list[i](torch::cat({h, skips.back()}, 1), temb);
      skips.pop_back();
      if (!level->attention_list.empty()) h = level->attention_list[i](h, context);
    }
    if (level->resample) {
      h = torch::nn::functional::interpolate(h, torch::nn::functional::InterpolateFuncOptions()
                                                    .scale_factor(std::vector<double>{2.0, 2.0})
                                                    .mode(torch::kNearest));
      h = level->resample(h);
    }
  }
  return conv_out(torch::silu(norm_out(h)));
}

}  // namespace stipple::torch_engine
