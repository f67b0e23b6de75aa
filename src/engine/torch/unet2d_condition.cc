#include "engine/torch/unet2d_condition.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>
#include <utility>

#include "engine/torch/weights.h"

namespace stipple::torch_engine {
namespace {

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding((kernel - 1) / 2));
}

torch::nn::Linear Linear(int64_t in, int64_t out, bool bias = true) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

UNetBlockOptions BlockOptions(const UNet2DConditionConfig& c) {
  UNetBlockOptions o;
  o.time_embed_dim = c.time_embed_dim;
  o.groups = c.norm_num_groups;
  o.eps = c.norm_eps;
  o.act = c.act_fn;
  o.scale_shift = c.resnet_scale_shift;
  o.linear_projection = c.use_linear_projection;
  o.upcast_attention = c.upcast_attention;
  return o;
}

}  // namespace

UNetDownBlock2DImpl::UNetDownBlock2DImpl(const UNet2DConditionConfig& c, int i,
                                         const UNetBlockOptions& o) {
  const int64_t out = c.block_out_channels[i];
  int64_t in = i == 0 ? c.block_out_channels[0] : c.block_out_channels[i - 1];
  for (int k = 0; k < c.layers_per_block[i]; ++k, in = out) {
    resnet_list.emplace_back(in, out, o);
    resnets->push_back(resnet_list.back());
    if (c.down_has_attention(i)) {
      attention_list.emplace_back(out, c.attention_heads[i], c.down_transformer_layers[i][k],
                                  c.cross_attention_dim[i], c.only_cross_attention[i], o);
      attentions->push_back(attention_list.back());
    }
  }
  register_module("resnets", resnets);
  if (!attention_list.empty()) register_module("attentions", attentions);
  if (i + 1 < c.num_blocks()) {
    downsampler = Downsample2D(out, c.downsample_padding);
    downsamplers->push_back(downsampler);
    register_module("downsamplers", downsamplers);
  }
}

torch::Tensor UNetDownBlock2DImpl::forward(torch::Tensor x, const torch::Tensor& temb_act,
                                           const CrossContext& context,
                                           std::vector<torch::Tensor>& skips) {
  for (size_t k = 0; k < resnet_list.size(); ++k) {
    x = resnet_list[k](x, temb_act);
    if (!attention_list.empty()) x = attention_list[k](x, context);
    skips.push_back(x);
  }
  if (downsampler) {
    x = downsampler(x);
    skips.push_back(x);
  }
  return x;
}

UNetMidBlock2DImpl::UNetMidBlock2DImpl(const UNet2DConditionConfig& c,
                                       const UNetBlockOptions& options) {
  const int64_t ch = c.block_out_channels.back();
  UNetBlockOptions o = options;
  o.output_scale_factor = c.mid_block_scale_factor;
  resnet0 = ResnetBlock2D(ch, ch, o);
  attention = Transformer2D(ch, c.attention_heads.back(), c.mid_transformer_layers,
                            c.cross_attention_dim.back(), /*only_cross_attention=*/false, o);
  resnet1 = ResnetBlock2D(ch, ch, o);
  resnets->push_back(resnet0);
  resnets->push_back(resnet1);
  attentions->push_back(attention);
  register_module("resnets", resnets);
  register_module("attentions", attentions);
}

torch::Tensor UNetMidBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb_act,
                                          const CrossContext& context) {
  return resnet1(attention(resnet0(x, temb_act), context), temb_act);
}

UNetUpBlock2DImpl::UNetUpBlock2DImpl(const UNet2DConditionConfig& c, int j,
                                     const UNetBlockOptions& o) {
  const int n = c.num_blocks(), b = n - 1 - j;  // b: the down block this one mirrors
  const std::vector<int>& ch = c.block_out_channels;
  const int64_t out = ch[b], last_skip = ch[std::max(b - 1, 0)];
  const int layers = c.layers_per_block[b] + 1;
  int64_t in = j == 0 ? ch[n - 1] : ch[b + 1];
  for (int k = 0; k < layers; ++k, in = out) {
    const int64_t skip = k == layers - 1 ? last_skip : out;
    resnet_list.emplace_back(in + skip, out, o);
    resnets->push_back(resnet_list.back());
    if (c.up_has_attention(j)) {
      attention_list.emplace_back(out, c.attention_heads[b], c.up_transformer_layers[j][k],
                                  c.cross_attention_dim[b], c.only_cross_attention[b], o);
      attentions->push_back(attention_list.back());
    }
  }
  register_module("resnets", resnets);
  if (!attention_list.empty()) register_module("attentions", attentions);
  if (j + 1 < n) {
    upsampler = Upsample2D(out);
    upsamplers->push_back(upsampler);
    register_module("upsamplers", upsamplers);
  }
}

torch::Tensor UNetUpBlock2DImpl::forward(torch::Tensor x, const torch::Tensor& temb_act,
                                         const CrossContext& context,
                                         std::vector<torch::Tensor>& skips,
                                         const std::vector<int64_t>& upsample_size) {
  for (size_t k = 0; k < resnet_list.size(); ++k) {
    x = resnet_list[k](torch::cat({x, skips.back()}, 1), temb_act);
    skips.pop_back();
    if (!attention_list.empty()) x = attention_list[k](x, context);
  }
  if (upsampler) {
    x = upsample_size.empty() ? upsampler(x) : upsampler(x, upsample_size);
  }
  return x;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_dim, int64_t dim, UNetActivation act,
                                             UNetActivation post_act, int64_t cond_proj_dim)
    : act(act), post_act(post_act) {
  linear_1 = register_module("linear_1", Linear(in_dim, dim));
  if (cond_proj_dim > 0)
    cond_proj = register_module("cond_proj", Linear(cond_proj_dim, in_dim, false));
  linear_2 = register_module("linear_2", Linear(dim, dim));
}

torch::Tensor TimestepEmbeddingImpl::forward(torch::Tensor x, const torch::Tensor& condition) {
  if (condition.defined()) {
    TORCH_CHECK(cond_proj, "timestep_cond given to a UNet without time_cond_proj_dim");
    x = x + cond_proj(condition.to(x.dtype()));
  }
  return Activate(post_act, linear_2(Activate(act, linear_1(x))));
}

AttentionPoolingImpl::AttentionPoolingImpl(int64_t dim, int64_t heads) : heads(heads) {
  positional_embedding = register_parameter("positional_embedding", torch::zeros({1, dim}));
  k_proj = register_module("k_proj", torch::nn::Linear(dim, dim));
  q_proj = register_module("q_proj", torch::nn::Linear(dim, dim));
  v_proj = register_module("v_proj", torch::nn::Linear(dim, dim));
}

torch::Tensor AttentionPoolingImpl::forward(const torch::Tensor& x) {
  const int64_t batch = x.size(0), dim = x.size(2), width = dim / heads;
  // One query: the mean state plus a learned position, attending over itself and every state.
  const torch::Tensor query = x.mean(1, /*keepdim=*/true) + positional_embedding.to(x.dtype());
  const torch::Tensor all = torch::cat({query, x}, 1);
  auto split = [&](const torch::Tensor& t) {  // (B, L, dim) → (B, heads, L, width)
    return t.view({batch, -1, heads, width}).transpose(1, 2);
  };
  // The scale split over both factors, as diffusers does (steadier in half precision).
  const double scale = 1 / std::sqrt(std::sqrt(static_cast<double>(width)));
  const torch::Tensor scores =
      torch::matmul(split(q_proj(query)) * scale, split(k_proj(all)).transpose(-1, -2) * scale);
  const torch::Tensor weights = torch::softmax(scores.to(torch::kFloat), -1).to(scores.dtype());
  return torch::matmul(weights, split(v_proj(all))).transpose(1, 2).reshape({batch, dim});
}

TextTimeEmbeddingImpl::TextTimeEmbeddingImpl(int64_t encoder_dim, int64_t time_embed_dim,
                                             int64_t heads) {
  norm1 =
      register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({encoder_dim})));
  pool = register_module("pool", AttentionPooling(encoder_dim, heads));
  proj = register_module("proj", torch::nn::Linear(encoder_dim, time_embed_dim));
  norm2 =
      register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({time_embed_dim})));
}

torch::Tensor TextTimeEmbeddingImpl::forward(const torch::Tensor& states) {
  return norm2(proj(pool(norm1(states))));
}

UNet2DConditionImpl::UNet2DConditionImpl(UNet2DConditionConfig c) : config(std::move(c)) {
  const UNetBlockOptions options = BlockOptions(config);
  const int n = config.num_blocks();
  const int64_t ch0 = config.block_out_channels[0];
  conv_in = register_module("conv_in", Conv(config.in_channels, ch0, config.conv_in_kernel));
  time_embedding = register_module(
      "time_embedding", TimestepEmbedding(ch0, config.time_embed_dim, config.act_fn,
                                          config.timestep_post_act, config.time_cond_proj_dim));
  if (config.addition_text_time) {
    add_embedding = register_module(
        "add_embedding",
        TimestepEmbedding(config.projection_class_embeddings_input_dim, config.time_embed_dim,
                          UNetActivation::kSilu, UNetActivation::kNone, 0));
  }
  if (config.addition_text) {
    text_add_embedding = register_module(
        "add_embedding", TextTimeEmbedding(config.cross_attention_dim[0], config.time_embed_dim,
                                           config.addition_text_heads));
  }
  for (int i = 0; i < n; ++i) {
    down_list.emplace_back(config, i, options);
    down_blocks->push_back(down_list.back());
  }
  register_module("down_blocks", down_blocks);
  if (config.has_mid_block)
    mid_block = register_module("mid_block", UNetMidBlock2D(config, options));
  for (int j = 0; j < n; ++j) {
    up_list.emplace_back(config, j, options);
    up_blocks->push_back(up_list.back());
  }
  register_module("up_blocks", up_blocks);
  conv_norm_out = register_module(
      "conv_norm_out",
      torch::nn::GroupNorm(
          torch::nn::GroupNormOptions(config.norm_num_groups, ch0).eps(config.norm_eps)));
  conv_out = register_module("conv_out", Conv(ch0, config.out_channels, config.conv_out_kernel));
  auto number = [&](std::vector<Transformer2D> transformers) {
    for (Transformer2D& transformer : transformers) {
      for (BasicTransformerBlock& block : transformer->blocks) {
        block->cross_index = static_cast<int64_t>(cross_blocks.size());
        cross_blocks.push_back(block);
      }
    }
  };
  for (UNetDownBlock2D& block : down_list) number(block->attention_list);
  if (mid_block) number({mid_block->attention});
  for (UNetUpBlock2D& block : up_list) number(block->attention_list);
}

CrossKeysValues UNet2DConditionImpl::ProjectText(const torch::Tensor& encoder_hidden_states) {
  CrossKeysValues out;
  out.keys.reserve(cross_blocks.size());
  out.values.reserve(cross_blocks.size());
  for (BasicTransformerBlock& block : cross_blocks) {
    out.keys.push_back(block->attn2->to_k(encoder_hidden_states));
    out.values.push_back(block->attn2->to_v(encoder_hidden_states));
  }
  return out;
}

torch::Tensor UNet2DConditionImpl::forward(torch::Tensor sample, torch::Tensor timesteps,
                                           const torch::Tensor& encoder_hidden_states,
                                           const UNetAddedConditions& added) {
  TORCH_CHECK(sample.dim() == 4, "UNet: sample must be (B, C, H, W), got ", sample.sizes());
  const int64_t batch = sample.size(0);
  if (config.center_input_sample) sample = sample * 2 - 1;

  timesteps = timesteps.reshape({-1}).to(sample.device());
  if (timesteps.numel() == 1) timesteps = timesteps.expand({batch});
  TORCH_CHECK(timesteps.numel() == batch, "UNet: ", timesteps.numel(), " timesteps for a batch of ",
              batch);
  const int64_t ch0 = config.block_out_channels[0];
  torch::Tensor t_emb = TimestepSinusoid(timesteps, ch0, config.flip_sin_to_cos, config.freq_shift)
                            .to(sample.scalar_type());
  torch::Tensor emb = time_embedding(t_emb, added.timestep_cond);
  if (add_embedding) {
    TORCH_CHECK(added.text_embeds.defined() && added.time_ids.defined(),
                "UNet: addition_embed_type 'text_time' needs text_embeds and time_ids");
    TORCH_CHECK(added.text_embeds.dim() == 2 && added.time_ids.dim() == 2 &&
                    added.text_embeds.size(0) == batch && added.time_ids.size(0) == batch,
                "UNet: text_embeds and time_ids must be (B, n) for a batch of ", batch);
    TORCH_CHECK(
        added.text_embeds.size(1) + added.time_ids.size(1) * config.addition_time_embed_dim ==
            config.projection_class_embeddings_input_dim,
        "UNet: text_embeds (", added.text_embeds.size(1), " values) and ", added.time_ids.size(1),
        " time_ids × ", config.addition_time_embed_dim,
        " do not make projection_class_embeddings_input_dim ",
        config.projection_class_embeddings_input_dim);
    torch::Tensor time_embeds =
        TimestepSinusoid(added.time_ids.flatten(), config.addition_time_embed_dim,
                         config.flip_sin_to_cos, config.freq_shift)
            .reshape({batch, -1});
    torch::Tensor add_embeds =
        torch::cat({added.text_embeds.to(torch::kFloat), time_embeds}, -1).to(emb.scalar_type());
    emb = emb + add_embedding(add_embeds);
  }
  if (text_add_embedding) {
    TORCH_CHECK(encoder_hidden_states.dim() == 3 && encoder_hidden_states.size(0) == batch,
                "UNet: encoder_hidden_states must be (B, T, D) for a batch of ", batch);
    emb = emb + text_add_embedding(encoder_hidden_states.to(emb.scalar_type()));
  }
  emb = Activate(config.time_embedding_act_fn, emb);
  const torch::Tensor temb_act = Activate(config.act_fn, emb);  // what every ResNet projects

  const CrossContext context{encoder_hidden_states, added.text_keys_values};
  if (context.precomputed != nullptr) {
    TORCH_CHECK(context.precomputed->keys.size() == cross_blocks.size() &&
                    context.precomputed->values.size() == cross_blocks.size(),
                "UNet: text_keys_values has ", context.precomputed->keys.size(),
                " layers' keys, the UNet ", cross_blocks.size(), " cross-attention layers");
  }
  torch::Tensor h = conv_in(sample);
  std::vector<torch::Tensor> skips = {h};
  for (UNetDownBlock2D& block : down_list) h = block(h, temb_act, context, skips);
  if (mid_block) h = mid_block(h, temb_act, context);

  // When the size does not halve evenly down the blocks, each upsampler aims at its skip's size.
  const int64_t factor = int64_t{1} << (up_list.size() - 1);
  const bool upsample_to_skip = sample.size(2) % factor != 0 || sample.size(3) % factor != 0;
  for (size_t j = 0; j < up_list.size(); ++j) {
    std::vector<int64_t> size;
    const size_t taken = up_list[j]->resnet_list.size();
    if (upsample_to_skip && j + 1 < up_list.size()) {
      const torch::Tensor& next = skips[skips.size() - taken - 1];
      size = {next.size(2), next.size(3)};
    }
    h = up_list[j](h, temb_act, context, skips, size);
  }
  return conv_out(Activate(config.act_fn, conv_norm_out(h)));
}

Status LoadUNet2DConditionWeights(UNet2DCondition& model, SafetensorsFile weights,
                                  std::string_view source) {
  try {
    return LoadWeights(*model, weights, source);
  } catch (const std::exception& e) {
    return InternalError("weights " + std::string(source) + ": " + e.what());
  }
}

}  // namespace stipple::torch_engine
