// The autoencoder of a single-file checkpoint (first_stage_model.*): LDM's Encoder/Decoder names
// as AutoencoderKL's.
#include "engine/ldm_internal.h"

namespace stipple::ldm {
namespace {

const std::string kPrefix = "first_stage_model.";

// A ResnetBlock2D without time embedding (LDM's ResnetBlock, temb_channels 0).
void AddResnet(Plan& plan, const std::string& src, const std::string& dst, int64_t in,
               int64_t out) {
  plan.AddNorm(src + "norm1", dst + "norm1", in);
  plan.AddLayer(src + "conv1", dst + "conv1", {out, in, 3, 3});
  plan.AddNorm(src + "norm2", dst + "norm2", out);
  plan.AddLayer(src + "conv2", dst + "conv2", {out, out, 3, 3});
  if (in != out) plan.AddLayer(src + "nin_shortcut", dst + "conv_shortcut", {out, in, 1, 1});
}

// The mid block: resnet, single-head self-attention (1×1 convolutions in LDM), resnet.
void AddMid(Plan& plan, const std::string& src, const std::string& dst, int64_t c) {
  AddResnet(plan, src + "mid.block_1.", dst + "mid_block.resnets.0.", c, c);
  const std::string attn = dst + "mid_block.attentions.0.";
  plan.AddNorm(src + "mid.attn_1.norm", attn + "group_norm", c);
  plan.AddLayer(src + "mid.attn_1.q", attn + "to_q", {c, c}, Take::kSqueeze);
  plan.AddLayer(src + "mid.attn_1.k", attn + "to_k", {c, c}, Take::kSqueeze);
  plan.AddLayer(src + "mid.attn_1.v", attn + "to_v", {c, c}, Take::kSqueeze);
  plan.AddLayer(src + "mid.attn_1.proj_out", attn + "to_out.0", {c, c}, Take::kSqueeze);
  AddResnet(plan, src + "mid.block_2.", dst + "mid_block.resnets.1.", c, c);
}

}  // namespace

Result<LdmVaeConfig> PlanVae(const SourceKeys& keys, Plan& plan) {
  const std::string enc = kPrefix + "encoder.";
  const std::string dec = kPrefix + "decoder.";
  LdmVaeConfig c;
  ASSIGN_OR_RETURN(Shape conv_in, keys.ShapeOf(enc + "conv_in.weight", 4));
  c.in_channels = static_cast<int>(conv_in[1]);
  ASSIGN_OR_RETURN(const int levels, keys.Count(enc + "down."));
  if (levels == 0) return keys.Error("no VAE encoder levels under " + enc + "down.");
  ASSIGN_OR_RETURN(c.layers_per_block, keys.Count(enc + "down.0.block."));
  if (c.layers_per_block == 0) return keys.Error("no tensors under " + enc + "down.0.block.");
  for (int i = 0; i < levels; ++i) {
    const std::string level = enc + "down." + std::to_string(i) + ".block.";
    ASSIGN_OR_RETURN(int blocks, keys.Count(level));
    if (blocks != c.layers_per_block) {
      return keys.Error(level + "* has " + std::to_string(blocks) + " blocks where " + enc +
                        "down.0 has " + std::to_string(c.layers_per_block));
    }
    ASSIGN_OR_RETURN(Shape conv1, keys.ShapeOf(level + "0.conv1.weight", 4));
    c.block_out_channels.push_back(static_cast<int>(conv1[0]));
  }
  ASSIGN_OR_RETURN(int up_levels, keys.Count(dec + "up."));
  if (up_levels != levels) {
    return keys.Error("the VAE decoder has " + std::to_string(up_levels) + " levels (" + dec +
                      "up.*) and the encoder " + std::to_string(levels));
  }
  for (int i = 0; i < levels; ++i) {
    const std::string level = dec + "up." + std::to_string(i) + ".block.";
    ASSIGN_OR_RETURN(int blocks, keys.Count(level));
    if (blocks != c.layers_per_block + 1) {
      return keys.Error(level + "* has " + std::to_string(blocks) + " blocks, expected " +
                        std::to_string(c.layers_per_block + 1) + " (one more than the encoder)");
    }
  }
  ASSIGN_OR_RETURN(Shape post_quant, keys.ShapeOf(kPrefix + "post_quant_conv.weight", 4));
  c.latent_channels = static_cast<int>(post_quant[0]);
  ASSIGN_OR_RETURN(Shape conv_out, keys.ShapeOf(dec + "conv_out.weight", 4));
  c.out_channels = static_cast<int>(conv_out[0]);

  const std::vector<int>& ch = c.block_out_channels;
  const int64_t z = c.latent_channels;
  const int64_t last = ch.back();
  // Encoder.
  plan.AddLayer(enc + "conv_in", "encoder.conv_in", {ch[0], c.in_channels, 3, 3});
  int64_t prev = ch[0];
  for (int i = 0; i < levels; ++i) {
    const std::string src = enc + "down." + std::to_string(i) + ".";
    const std::string dst = "encoder.down_blocks." + std::to_string(i) + ".";
    for (int j = 0; j < c.layers_per_block; ++j) {
      AddResnet(plan, src + "block." + std::to_string(j) + ".",
                dst + "resnets." + std::to_string(j) + ".", j == 0 ? prev : ch[i], ch[i]);
    }
    if (i != levels - 1) {
      plan.AddLayer(src + "downsample.conv", dst + "downsamplers.0.conv", {ch[i], ch[i], 3, 3});
    }
    prev = ch[i];
  }
  AddMid(plan, enc, "encoder.", last);
  plan.AddNorm(enc + "norm_out", "encoder.conv_norm_out", last);
  plan.AddLayer(enc + "conv_out", "encoder.conv_out", {2 * z, last, 3, 3});
  plan.AddLayer(kPrefix + "quant_conv", "quant_conv", {2 * z, 2 * z, 1, 1});
  plan.AddLayer(kPrefix + "post_quant_conv", "post_quant_conv", {z, z, 1, 1});
  // Decoder: diffusers' up_blocks run deepest first; LDM numbers decoder.up by level.
  plan.AddLayer(dec + "conv_in", "decoder.conv_in", {last, z, 3, 3});
  AddMid(plan, dec, "decoder.", last);
  prev = last;
  for (int k = 0; k < levels; ++k) {
    const int level = levels - 1 - k;
    const std::string src = dec + "up." + std::to_string(level) + ".";
    const std::string dst = "decoder.up_blocks." + std::to_string(k) + ".";
    for (int j = 0; j <= c.layers_per_block; ++j) {
      AddResnet(plan, src + "block." + std::to_string(j) + ".",
                dst + "resnets." + std::to_string(j) + ".", j == 0 ? prev : ch[level], ch[level]);
    }
    if (k != levels - 1) {
      plan.AddLayer(src + "upsample.conv", dst + "upsamplers.0.conv", {ch[level], ch[level], 3, 3});
    }
    prev = ch[level];
  }
  plan.AddNorm(dec + "norm_out", "decoder.conv_norm_out", ch[0]);
  plan.AddLayer(dec + "conv_out", "decoder.conv_out", {c.out_channels, ch[0], 3, 3});
  return c;
}

}  // namespace stipple::ldm
