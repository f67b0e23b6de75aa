#include "engine/torch/attention.h"

#include <cmath>

namespace stipple::torch_engine {

AttentionImpl::AttentionImpl(int64_t dim, int64_t context_dim, int64_t heads) : heads(heads) {
  using torch::nn::LinearOptions;
  to_q = register_module("to_q", torch::nn::Linear(LinearOptions(dim, dim).bias(false)));
  to_k = register_module("to_k", torch::nn::Linear(LinearOptions(context_dim, dim).bias(false)));
  to_v = register_module("to_v", torch::nn::Linear(LinearOptions(context_dim, dim).bias(false)));
  to_out = register_module("to_out", torch::nn::Linear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  const torch::Tensor& ctx = context.defined() ? context : x;
  const int64_t b = x.size(0), n = x.size(1), m = ctx.size(1);
  const int64_t dim = to_q->options.out_features(), head_dim = dim / heads;
  auto split = [&](const torch::Tensor& t, int64_t len) {
    return t.view({b, len, heads, head_dim}).transpose(1, 2);  // (B, heads, len, head_dim)
  };
  torch::Tensor q = split(to_q(x), n), k = split(to_k(ctx), m), v = split(to_v(ctx), m);
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(head_dim));
  torch::Tensor out = torch::matmul(scores.softmax(-1), v);
  return to_out(out.transpose(1, 2).reshape({b, n, dim}));
}

FeedForwardImpl::FeedForwardImpl(int64_t dim) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, 4 * dim));
  fc2 = register_module("fc2", torch::nn::Linear(4 * dim, dim));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }

}  // namespace stipple::torch_engine
