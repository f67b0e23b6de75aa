// The UNet of a single-file checkpoint (model.diffusion_model.*): LDM's openaimodel layout
// (input_blocks / middle_block / output_blocks, each block a list of ResBlock, SpatialTransformer,
// Downsample / Upsample) as UNet2DConditionModel's down_blocks / mid_block / up_blocks.
#include <algorithm>

#include "engine/ldm_internal.h"

namespace stipple::ldm {
namespace {

const std::string kPrefix = "model.diffusion_model.";

std::string In(int i) { return kPrefix + "input_blocks." + std::to_string(i) + "."; }
std::string Out(int i) { return kPrefix + "output_blocks." + std::to_string(i) + "."; }

// LDM ResBlock → ResnetBlock2D.
void AddResnet(Plan& plan, const std::string& src, const std::string& dst, int64_t in, int64_t out,
               int64_t temb) {
  plan.AddNorm(src + "in_layers.0", dst + "norm1", in);
  plan.AddLayer(src + "in_layers.2", dst + "conv1", {out, in, 3, 3});
  plan.AddLayer(src + "emb_layers.1", dst + "time_emb_proj", {out, temb});
  plan.AddNorm(src + "out_layers.0", dst + "norm2", out);
  plan.AddLayer(src + "out_layers.3", dst + "conv2", {out, out, 3, 3});
  if (in != out) plan.AddLayer(src + "skip_connection", dst + "conv_shortcut", {out, in, 1, 1});
}

// SpatialTransformer → Transformer2DModel: the same names inside.
void AddTransformer(Plan& plan, const std::string& src, const std::string& dst, int64_t c,
                    int depth, int64_t context, bool linear) {
  const Shape proj = linear ? Shape{c, c} : Shape{c, c, 1, 1};
  plan.AddNorm(src + "norm", dst + "norm", c);
  plan.AddLayer(src + "proj_in", dst + "proj_in", proj);
  for (int b = 0; b < depth; ++b) {
    const std::string block = "transformer_blocks." + std::to_string(b) + ".";
    const std::string s = src + block, d = dst + block;
    for (const char* attn : {"attn1.", "attn2."}) {
      const int64_t kv = attn[4] == '1' ? c : context;
      plan.Add(s + attn + "to_q.weight", d + attn + "to_q.weight", {c, c});
      plan.Add(s + attn + "to_k.weight", d + attn + "to_k.weight", {c, kv});
      plan.Add(s + attn + "to_v.weight", d + attn + "to_v.weight", {c, kv});
      plan.AddLayer(s + attn + "to_out.0", d + attn + "to_out.0", {c, c});
    }
    for (const char* norm : {"norm1", "norm2", "norm3"}) plan.AddNorm(s + norm, d + norm, c);
    plan.AddLayer(s + "ff.net.0.proj", d + "ff.net.0.proj", {8 * c, c});  // GEGLU: 2 × 4c
    plan.AddLayer(s + "ff.net.2", d + "ff.net.2", {c, 4 * c});
  }
  plan.AddLayer(src + "proj_out", dst + "proj_out", proj);
}

// The number of transformer blocks of the SpatialTransformer at `src` (0: none there).
Result<int> Depth(const SourceKeys& keys, const std::string& src) {
  if (!keys.Has(src + "proj_in.weight")) return 0;
  ASSIGN_OR_RETURN(int depth, keys.Count(src + "transformer_blocks."));
  if (depth == 0) return keys.Error("no tensors under " + src + "transformer_blocks.");
  return depth;
}

// Every block of a level must agree: all with attention of the same depth, or none.
Result<int> LevelDepth(const SourceKeys& keys, const std::vector<std::string>& blocks) {
  ASSIGN_OR_RETURN(int depth, Depth(keys, blocks[0]));
  for (size_t j = 1; j < blocks.size(); ++j) {
    ASSIGN_OR_RETURN(int other, Depth(keys, blocks[j]));
    if (other != depth) {
      return keys.Error(blocks[j] + " has " + std::to_string(other) + " transformer blocks and " +
                        blocks[0] + " " + std::to_string(depth) +
                        ": a level whose blocks differ is not supported");
    }
  }
  return depth;
}

// Heads per attention: LDM's num_head_channels (channels per head) wins over num_heads.
Status InferHeads(const SourceKeys& keys, const UNetInputs& inputs, LdmUNetConfig& c,
                  const std::vector<int>& attention_channels) {
  const LdmOverrides& o = *inputs.overrides;
  int head_channels = inputs.family == SdFamily::kSd1 ? 0 : 64;
  int heads = inputs.family == SdFamily::kSd1 ? 8 : 0;
  if (o.num_heads && *o.num_heads > 0) {
    heads = *o.num_heads;
    head_channels = 0;
  }
  if (o.num_head_channels && *o.num_head_channels > 0) head_channels = *o.num_head_channels;
  c.attention_heads.clear();
  c.attention_heads_per_level = head_channels > 0;
  if (head_channels > 0) {
    // Levels without attention get a value too (diffusers lists one per level, unused there).
    for (int ch : c.block_out_channels)
      c.attention_heads.push_back(std::max(1, ch / head_channels));
  } else {
    c.attention_heads.push_back(heads);
  }
  for (int ch : attention_channels) {
    const bool fits = head_channels > 0 ? ch % head_channels == 0 : ch % heads == 0;
    if (!fits) {
      return keys.Error(
          "UNet attention of " + std::to_string(ch) + " channels does not split into " +
          (head_channels > 0 ? "heads of " + std::to_string(head_channels) + " channels"
                             : std::to_string(heads) + " heads") +
          " (the family's convention or the overrides; a NAME.yaml beside the file can say "
          "num_heads or num_head_channels)");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<LdmUNetConfig> PlanUNet(const SourceKeys& keys, const UNetInputs& inputs, Plan& plan) {
  LdmUNetConfig c;
  c.sample_size = inputs.sample_size;
  ASSIGN_OR_RETURN(Shape conv_in, keys.ShapeOf(In(0) + "0.weight", 4));
  c.in_channels = static_cast<int>(conv_in[1]);
  c.conv_in_kernel = static_cast<int>(conv_in[2]);
  const int64_t c0 = conv_in[0];
  ASSIGN_OR_RETURN(Shape time_embed, keys.ShapeOf(kPrefix + "time_embed.0.weight", 2));
  const int64_t temb = time_embed[0];
  if (temb != 4 * c0) c.time_embedding_dim = static_cast<int>(temb);
  ASSIGN_OR_RETURN(Shape conv_out, keys.ShapeOf(kPrefix + "out.2.weight", 4));
  c.out_channels = static_cast<int>(conv_out[0]);
  c.conv_out_kernel = static_cast<int>(conv_out[2]);

  // input_blocks: 0 is conv_in, then per level layers_per_block blocks (a ResBlock, maybe a
  // SpatialTransformer), and a Downsample block between levels.
  ASSIGN_OR_RETURN(const int n_in, keys.Count(kPrefix + "input_blocks."));
  int downsamplers = 0;
  for (int i = 1; i < n_in; ++i) downsamplers += keys.Has(In(i) + "0.op.weight") ? 1 : 0;
  const int levels = downsamplers + 1;
  const int resblocks = n_in - 1 - downsamplers;
  if (n_in < 2 || resblocks % levels != 0) {
    return keys.Error("input_blocks: " + std::to_string(n_in) + " blocks with " +
                      std::to_string(downsamplers) +
                      " downsamplers do not make levels of equal "
                      "depth");
  }
  c.layers_per_block = resblocks / levels;
  const int lpb = c.layers_per_block;
  std::vector<int> attention_channels;
  for (int level = 0; level < levels; ++level) {
    const int first = 1 + level * (lpb + 1);
    std::vector<std::string> blocks;
    for (int j = 0; j < lpb; ++j) {
      if (keys.Has(In(first + j) + "0.op.weight")) {
        return keys.Error(In(first + j) + "0.op is a downsampler where level " +
                          std::to_string(level) + " needs a ResBlock");
      }
      blocks.push_back(In(first + j) + "1.");
    }
    ASSIGN_OR_RETURN(Shape conv2, keys.ShapeOf(In(first) + "0.out_layers.3.weight", 4));
    c.block_out_channels.push_back(static_cast<int>(conv2[0]));
    ASSIGN_OR_RETURN(int depth, LevelDepth(keys, blocks));
    c.down_cross_attention.push_back(depth > 0);
    c.transformer_layers_per_block.push_back(depth);
    if (depth > 0) attention_channels.push_back(c.block_out_channels.back());
  }
  ASSIGN_OR_RETURN(const int mid_depth, Depth(keys, kPrefix + "middle_block.1."));
  if (mid_depth == 0) {
    return keys.Error("middle_block.1 is not a SpatialTransformer (missing " + kPrefix +
                      "middle_block.1.proj_in.weight): a mid block without attention is not "
                      "supported");
  }
  attention_channels.push_back(c.block_out_channels.back());
  // Levels without attention: diffusers' list still holds a value, which only the mid block
  // reads (the last one).
  for (int level = 0; level < levels; ++level) {
    int& depth = c.transformer_layers_per_block[level];
    if (depth == 0) depth = level == levels - 1 ? mid_depth : 1;
  }
  if (c.transformer_layers_per_block.back() != mid_depth) {
    return keys.Error("middle_block.1 has " + std::to_string(mid_depth) +
                      " transformer blocks and the deepest level " +
                      std::to_string(c.transformer_layers_per_block.back()) +
                      ": diffusers' UNet2DConditionModel cannot hold that");
  }
  ASSIGN_OR_RETURN(const int n_out, keys.Count(kPrefix + "output_blocks."));
  if (n_out != levels * (lpb + 1)) {
    return keys.Error("output_blocks: " + std::to_string(n_out) + " blocks, expected " +
                      std::to_string(levels * (lpb + 1)) + " for " + std::to_string(levels) +
                      " levels of " + std::to_string(lpb) + " (+1 on the way up)");
  }
  for (int k = 0; k < levels; ++k) {
    std::vector<std::string> blocks;
    for (int j = 0; j <= lpb; ++j) blocks.push_back(Out(k * (lpb + 1) + j) + "1.");
    ASSIGN_OR_RETURN(int depth, LevelDepth(keys, blocks));
    c.up_cross_attention.push_back(depth > 0);
    const int level = levels - 1 - k;
    if (depth > 0 && depth != c.transformer_layers_per_block[level]) {
      return keys.Error(blocks[0] + " has " + std::to_string(depth) +
                        " transformer blocks where its level on the way down has " +
                        std::to_string(c.transformer_layers_per_block[level]) +
                        ": diffusers' UNet2DConditionModel cannot hold that");
    }
    if (depth > 0) attention_channels.push_back(c.block_out_channels[level]);
  }

  ASSIGN_OR_RETURN(Shape proj_in, keys.ShapeOf(kPrefix + "middle_block.1.proj_in.weight"));
  c.use_linear_projection = proj_in.size() == 2;
  ASSIGN_OR_RETURN(
      Shape to_k,
      keys.ShapeOf(kPrefix + "middle_block.1.transformer_blocks.0.attn2.to_k.weight", 2));
  c.cross_attention_dim = static_cast<int>(to_k[1]);
  const LdmOverrides& o = *inputs.overrides;
  if (o.use_linear_projection && *o.use_linear_projection != c.use_linear_projection) {
    return keys.Error(std::string("the yaml says use_linear_in_transformer ") +
                      (*o.use_linear_projection ? "true" : "false") + " but " + kPrefix +
                      "middle_block.1.proj_in.weight has shape " + ShapeString(proj_in));
  }
  if (o.context_dim && *o.context_dim != c.cross_attention_dim) {
    return keys.Error("the yaml says context_dim " + std::to_string(*o.context_dim) +
                      " but cross-attention takes " + std::to_string(c.cross_attention_dim));
  }
  if (c.cross_attention_dim != inputs.context_dim) {
    return keys.Error("the UNet's cross-attention takes " + std::to_string(c.cross_attention_dim) +
                      " channels (" + kPrefix +
                      "middle_block.1.transformer_blocks.0.attn2.to_k.weight) but the " +
                      std::string(SdFamilyName(inputs.family)) + " text encoders give " +
                      std::to_string(inputs.context_dim));
  }
  RETURN_IF_ERROR(InferHeads(keys, inputs, c, attention_channels));

  const bool has_label_emb = keys.HasPrefix(kPrefix + "label_emb.");
  if (inputs.family == SdFamily::kSdxl) {
    ASSIGN_OR_RETURN(Shape adm, keys.ShapeOf(kPrefix + "label_emb.0.0.weight", 2));
    const int64_t time_ids = adm[1] - inputs.pooled_dim;
    if (time_ids <= 0 || time_ids % 6 != 0) {
      return keys.Error(kPrefix + "label_emb.0.0.weight takes " + std::to_string(adm[1]) +
                        " inputs: not the pooled text (" + std::to_string(inputs.pooled_dim) +
                        ") plus 6 embedded time ids");
    }
    c.projection_class_embeddings_input_dim = static_cast<int>(adm[1]);
    c.addition_time_embed_dim = static_cast<int>(time_ids / 6);
  } else if (has_label_emb) {
    return keys.Error(kPrefix + "label_emb.* in a " + std::string(SdFamilyName(inputs.family)) +
                      " UNet: class-conditioned models (unCLIP, upscalers) are not supported");
  }

  // The plan.
  const std::vector<int>& ch = c.block_out_channels;
  const int64_t ctx = c.cross_attention_dim;
  const bool linear = c.use_linear_projection;
  plan.AddLayer(In(0) + "0", "conv_in", {c0, c.in_channels, c.conv_in_kernel, c.conv_in_kernel});
  plan.AddLayer(kPrefix + "time_embed.0", "time_embedding.linear_1", {temb, c0});
  plan.AddLayer(kPrefix + "time_embed.2", "time_embedding.linear_2", {temb, temb});
  if (c.addition_time_embed_dim > 0) {
    plan.AddLayer(kPrefix + "label_emb.0.0", "add_embedding.linear_1",
                  {temb, c.projection_class_embeddings_input_dim});
    plan.AddLayer(kPrefix + "label_emb.0.2", "add_embedding.linear_2", {temb, temb});
  }
  int64_t prev = c0;
  int index = 1;
  for (int level = 0; level < levels; ++level) {
    const std::string dst = "down_blocks." + std::to_string(level) + ".";
    for (int j = 0; j < lpb; ++j, ++index) {
      AddResnet(plan, In(index) + "0.", dst + "resnets." + std::to_string(j) + ".", prev, ch[level],
                temb);
      prev = ch[level];
      if (c.down_cross_attention[level]) {
        AddTransformer(plan, In(index) + "1.", dst + "attentions." + std::to_string(j) + ".",
                       ch[level], c.transformer_layers_per_block[level], ctx, linear);
      }
    }
    if (level != levels - 1) {
      plan.AddLayer(In(index++) + "0.op", dst + "downsamplers.0.conv",
                    {ch[level], ch[level], 3, 3});
    }
  }
  const int64_t last = ch.back();
  AddResnet(plan, kPrefix + "middle_block.0.", "mid_block.resnets.0.", last, last, temb);
  AddTransformer(plan, kPrefix + "middle_block.1.", "mid_block.attentions.0.", last, mid_depth, ctx,
                 linear);
  AddResnet(plan, kPrefix + "middle_block.2.", "mid_block.resnets.1.", last, last, temb);
  // Each up block concatenates the skip of one down block per resnet: its level's outputs, and
  // for the last resnet the output of the level below (the down path's previous level).
  prev = last;
  index = 0;
  for (int k = 0; k < levels; ++k) {
    const int level = levels - 1 - k;
    const int64_t out = ch[level];
    const int64_t skip_last = ch[std::max(level - 1, 0)];
    const std::string dst = "up_blocks." + std::to_string(k) + ".";
    for (int j = 0; j <= lpb; ++j, ++index) {
      const int64_t skip = j == lpb ? skip_last : out;
      AddResnet(plan, Out(index) + "0.", dst + "resnets." + std::to_string(j) + ".",
                (j == 0 ? prev : out) + skip, out, temb);
      if (c.up_cross_attention[k]) {
        AddTransformer(plan, Out(index) + "1.", dst + "attentions." + std::to_string(j) + ".", out,
                       c.transformer_layers_per_block[level], ctx, linear);
      }
      if (j == lpb && k != levels - 1) {
        const std::string slot = c.up_cross_attention[k] ? "2.conv" : "1.conv";
        plan.AddLayer(Out(index) + slot, dst + "upsamplers.0.conv", {out, out, 3, 3});
      }
    }
    prev = out;
  }
  plan.AddNorm(kPrefix + "out.0", "conv_norm_out", c0);
  plan.AddLayer(kPrefix + "out.2", "conv_out",
                {c.out_channels, c0, c.conv_out_kernel, c.conv_out_kernel});
  return c;
}

}  // namespace stipple::ldm
