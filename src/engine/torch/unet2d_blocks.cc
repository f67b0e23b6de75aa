#include "engine/torch/unet2d_blocks.h"

#include <cmath>
#include <utility>

namespace stipple::torch_engine {
namespace {

namespace F = torch::nn::functional;

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                       int64_t padding = -1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(padding < 0 ? (kernel - 1) / 2 : padding));
}

torch::nn::GroupNorm GroupNorm(int64_t groups, int64_t channels, double eps) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(eps));
}

torch::nn::Linear Linear(int64_t in, int64_t out, bool bias = true) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// A Linear's or a 1x1 conv's weights applied to (..., in) rows.
torch::Tensor Project(const torch::Tensor& x, const torch::nn::Linear& linear,
                      const torch::nn::Conv2d& conv) {
  if (linear) return torch::linear(x, linear->weight, linear->bias);
  return torch::linear(x, conv->weight.flatten(1), conv->bias);
}

}  // namespace

torch::Tensor Activate(UNetActivation activation, const torch::Tensor& x) {
  switch (activation) {
    case UNetActivation::kNone: return x;
    case UNetActivation::kSilu: return torch::silu(x);
    case UNetActivation::kMish: return torch::mish(x);
    case UNetActivation::kGelu: return torch::gelu(x);
    case UNetActivation::kRelu: return torch::relu(x);
  }
  return x;
}

torch::Tensor TimestepSinusoid(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                               double freq_shift) {
  const int64_t half = dim / 2;
  torch::Tensor exponent = torch::arange(half, t.options().dtype(torch::kFloat)) *
                           static_cast<float>(-std::log(10000.0));
  exponent = exponent / static_cast<float>(half - freq_shift);
  torch::Tensor angles = t.to(torch::kFloat).unsqueeze(1) * exponent.exp().unsqueeze(0);
  torch::Tensor emb = flip_sin_to_cos ? torch::cat({angles.cos(), angles.sin()}, 1)
                                      : torch::cat({angles.sin(), angles.cos()}, 1);
  if (dim % 2 == 1) emb = F::pad(emb, F::PadFuncOptions({0, 1}));
  return emb;
}

ResnetBlock2DImpl::ResnetBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                     const UNetBlockOptions& o)
    : options(o) {
  norm1 = register_module("norm1", GroupNorm(o.groups, in_channels, o.eps));
  conv1 = register_module("conv1", Conv(in_channels, out_channels, 3));
  time_emb_proj = register_module(
      "time_emb_proj", Linear(o.time_embed_dim, o.scale_shift ? 2 * out_channels : out_channels));
  norm2 = register_module("norm2", GroupNorm(o.groups, out_channels, o.eps));
  conv2 = register_module("conv2", Conv(out_channels, out_channels, 3));
  if (in_channels != out_channels) {
    conv_shortcut = register_module("conv_shortcut", Conv(in_channels, out_channels, 1));
  }
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb_act) {
  torch::Tensor h = conv1(Activate(options.act, norm1(x)));
  torch::Tensor t = time_emb_proj(temb_act).unsqueeze(-1).unsqueeze(-1);
  if (options.scale_shift) {
    std::vector<torch::Tensor> scale_shift = t.chunk(2, 1);
    h = torch::addcmul(scale_shift[1], norm2(h), scale_shift[0] + 1);
  } else {
    h = norm2(h.add_(t));
  }
  h = conv2(Activate(options.act, h));
  h = conv_shortcut ? h.add_(conv_shortcut(x)) : h.add_(x);
  if (options.output_scale_factor != 1) h.div_(options.output_scale_factor);
  return h;
}

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t padding) : padding(padding) {
  conv = register_module("conv", Conv(channels, channels, 3, 2, padding));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  if (padding == 0) return conv(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));
  return conv(x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels) {
  conv = register_module("conv", Conv(channels, channels, 3));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x,
                                      std::optional<std::vector<int64_t>> size) {
  F::InterpolateFuncOptions options = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (size) {
    options.size(std::move(*size));
  } else {
    options.scale_factor(std::vector<double>{2.0, 2.0});
  }
  return conv(F::interpolate(x, options));
}

CrossAttentionImpl::CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads,
                                       int64_t head_dim, bool upcast)
    : heads(heads), head_dim(head_dim), upcast(upcast) {
  const int64_t inner = heads * head_dim;
  to_q = register_module("to_q", Linear(query_dim, inner, false));
  to_k = register_module("to_k", Linear(context_dim, inner, false));
  to_v = register_module("to_v", Linear(context_dim, inner, false));
  out = Linear(inner, query_dim);
  to_out->push_back(out);
  to_out->push_back(torch::nn::Dropout());
  register_module("to_out", to_out);
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const torch::Tensor& ctx = context.defined() ? context : x;
  return Attend(x, to_k(ctx), to_v(ctx));
}

torch::Tensor CrossAttentionImpl::Attend(const torch::Tensor& x, const torch::Tensor& keys,
                                         const torch::Tensor& values) {
  const int64_t b = x.size(0), n = x.size(1), m = keys.size(1);
  // The scale goes into q (N·d values) rather than the scores (N·M).
  torch::Tensor q = to_q(x).mul_(1.0 / std::sqrt(static_cast<double>(head_dim)));
  q = q.view({b, n, heads, head_dim}).transpose(1, 2);                         // (B, h, N, d)
  torch::Tensor k = keys.view({b, m, heads, head_dim}).permute({0, 2, 3, 1});  // (B, h, d, M)
  torch::Tensor v = values.view({b, m, heads, head_dim}).transpose(1, 2);      // (B, h, M, d)
  const bool widen = upcast && q.scalar_type() != torch::kFloat;
  torch::Tensor probs =
      widen ? torch::matmul(q.to(torch::kFloat), k.to(torch::kFloat)).softmax(-1).to(v.dtype())
            : torch::matmul(q, k).softmax(-1);
  torch::Tensor o = torch::matmul(probs, v);  // (B, h, N, d)
  return out(o.transpose(1, 2).reshape({b, n, heads * head_dim}));
}

GegluImpl::GegluImpl(int64_t dim, int64_t inner) {
  proj = register_module("proj", Linear(dim, 2 * inner));
}

torch::Tensor GegluImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> halves = proj(x).chunk(2, -1);
  return halves[0] * torch::gelu(halves[1]);
}

FeedForwardGegluImpl::FeedForwardGegluImpl(int64_t dim) {
  geglu = Geglu(dim, 4 * dim);
  project_out = Linear(4 * dim, dim);
  net->push_back(geglu);
  net->push_back(torch::nn::Dropout());
  net->push_back(project_out);
  register_module("net", net);
}

torch::Tensor FeedForwardGegluImpl::forward(const torch::Tensor& x) {
  return project_out(geglu(x));
}

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim,
                                                     int64_t context_dim, bool only_cross_attention,
                                                     bool upcast)
    : only_cross_attention(only_cross_attention) {
  auto layer_norm = [&] {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5));
  };
  norm1 = register_module("norm1", layer_norm());
  attn1 = register_module("attn1", CrossAttention(dim, only_cross_attention ? context_dim : dim,
                                                  heads, head_dim, upcast));
  norm2 = register_module("norm2", layer_norm());
  attn2 = register_module("attn2", CrossAttention(dim, context_dim, heads, head_dim, upcast));
  norm3 = register_module("norm3", layer_norm());
  ff = register_module("ff", FeedForwardGeglu(dim));
}

torch::Tensor BasicTransformerBlockImpl::forward(const torch::Tensor& x,
                                                 const CrossContext& context) {
  torch::Tensor h =
      attn1(norm1(x), only_cross_attention ? context.states : torch::Tensor()).add_(x);
  if (context.precomputed != nullptr && cross_index >= 0) {
    const auto i = static_cast<size_t>(cross_index);
    h = attn2->Attend(norm2(h), context.precomputed->keys.at(i), context.precomputed->values.at(i))
            .add_(h);
  } else {
    h = attn2(norm2(h), context.states).add_(h);
  }
  return ff(norm3(h)).add_(h);
}

Transformer2DImpl::Transformer2DImpl(int64_t channels, int64_t heads, int64_t layers,
                                     int64_t context_dim, bool only_cross_attention,
                                     const UNetBlockOptions& o) {
  const int64_t head_dim = channels / heads, inner = heads * head_dim;
  norm = register_module("norm", GroupNorm(o.groups, channels, 1e-6));
  if (o.linear_projection) {
    proj_in_linear = register_module("proj_in", Linear(channels, inner));
  } else {
    proj_in_conv = register_module("proj_in", Conv(channels, inner, 1));
  }
  for (int64_t i = 0; i < layers; ++i) {
    blocks.emplace_back(inner, heads, head_dim, context_dim, only_cross_attention,
                        o.upcast_attention);
    transformer_blocks->push_back(blocks.back());
  }
  register_module("transformer_blocks", transformer_blocks);
  if (o.linear_projection) {
    proj_out_linear = register_module("proj_out", Linear(inner, channels));
  } else {
    proj_out_conv = register_module("proj_out", Conv(inner, channels, 1));
  }
}

torch::Tensor Transformer2DImpl::forward(const torch::Tensor& x, const CrossContext& context) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // (B, C, H, W) → (B, H·W, C) rows; 1x1 convs and Linears are the same product on them.
  torch::Tensor t = norm(x).permute({0, 2, 3, 1}).reshape({b, h * w, c});
  t = Project(t, proj_in_linear, proj_in_conv);
  for (BasicTransformerBlock& block : blocks) t = block(t, context);
  t = Project(t, proj_out_linear, proj_out_conv);
  // The input first, so that the sum comes out in its (contiguous NCHW) layout.
  return torch::add(x, t.view({b, h, w, c}).permute({0, 3, 1, 2}));
}

}  // namespace stipple::torch_engine
