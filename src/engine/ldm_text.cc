// The text encoders of a single-file checkpoint: OpenAI CLIP in Hugging Face's layout (SD 1.x,
// SDXL's first) and OpenCLIP's text tower (SD 2.x, SDXL's second), both as CLIPTextModel names.
#include "engine/ldm_internal.h"

namespace stipple::ldm {
namespace {

constexpr int kHeadChannels = 64;  // every SD text encoder's attention heads

// The sizes a CLIPTextModel's shapes are made of: vocabulary, width, MLP width, positions.
struct ClipShapes {
  int64_t v, h, i, p;
};

ClipShapes ShapesOf(const LdmTextEncoderConfig& c) {
  return {c.vocab_size, c.hidden_size, c.intermediate_size, c.max_position_embeddings};
}

Status CheckHeads(const SourceKeys& keys, const std::string& prefix, LdmTextEncoderConfig& c) {
  if (c.hidden_size % kHeadChannels != 0) {
    return keys.Error("text encoder " + prefix + "* is " + std::to_string(c.hidden_size) +
                      " wide, not a multiple of the 64-channel heads Stable Diffusion text "
                      "encoders use");
  }
  c.num_attention_heads = c.hidden_size / kHeadChannels;
  return Status::Ok();
}

}  // namespace

Result<LdmTextEncoderConfig> PlanClipText(const SourceKeys& keys, const std::string& prefix,
                                          Plan& plan, Drops& drops) {
  // Files saved with transformers before 4.x have no "text_model." level.
  const std::string inner = keys.Has(prefix + "text_model.embeddings.token_embedding.weight")
                                ? prefix + "text_model."
                                : prefix;
  LdmTextEncoderConfig c;
  c.hidden_act = "quick_gelu";  // OpenAI CLIP ViT-L/14
  ASSIGN_OR_RETURN(Shape tok, keys.ShapeOf(inner + "embeddings.token_embedding.weight", 2));
  ASSIGN_OR_RETURN(Shape pos, keys.ShapeOf(inner + "embeddings.position_embedding.weight", 2));
  ASSIGN_OR_RETURN(c.num_hidden_layers, keys.Count(inner + "encoder.layers."));
  if (c.num_hidden_layers == 0) return keys.Error("no layers under " + inner + "encoder.layers.");
  ASSIGN_OR_RETURN(Shape fc1, keys.ShapeOf(inner + "encoder.layers.0.mlp.fc1.weight", 2));
  c.vocab_size = static_cast<int>(tok[0]);
  c.hidden_size = static_cast<int>(tok[1]);
  c.max_position_embeddings = static_cast<int>(pos[0]);
  c.intermediate_size = static_cast<int>(fc1[0]);
  c.projection_dim = c.hidden_size;
  RETURN_IF_ERROR(CheckHeads(keys, prefix, c));

  const auto [v, h, i, p] = ShapesOf(c);
  const std::string t = "text_model.";
  plan.Add(inner + "embeddings.token_embedding.weight", t + "embeddings.token_embedding.weight",
           {v, h});
  plan.Add(inner + "embeddings.position_embedding.weight",
           t + "embeddings.position_embedding.weight", {p, h});
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string layer = "encoder.layers." + std::to_string(l) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      plan.AddLayer(inner + layer + "self_attn." + proj, t + layer + "self_attn." + proj, {h, h});
    }
    plan.AddNorm(inner + layer + "layer_norm1", t + layer + "layer_norm1", h);
    plan.AddLayer(inner + layer + "mlp.fc1", t + layer + "mlp.fc1", {i, h});
    plan.AddLayer(inner + layer + "mlp.fc2", t + layer + "mlp.fc2", {h, i});
    plan.AddNorm(inner + layer + "layer_norm2", t + layer + "layer_norm2", h);
  }
  plan.AddNorm(inner + "final_layer_norm", t + "final_layer_norm", h);
  drops.names.push_back(inner + "embeddings.position_ids");
  return c;
}

Result<LdmTextEncoderConfig> PlanOpenClipText(const SourceKeys& keys, const std::string& prefix,
                                              bool sd2, Plan& plan, Drops& drops) {
  LdmTextEncoderConfig c;
  c.hidden_act = "gelu";  // OpenCLIP ViT-H/14 and ViT-bigG/14
  ASSIGN_OR_RETURN(Shape tok, keys.ShapeOf(prefix + "token_embedding.weight", 2));
  ASSIGN_OR_RETURN(Shape pos, keys.ShapeOf(prefix + "positional_embedding", 2));
  const std::string blocks = prefix + "transformer.resblocks.";
  ASSIGN_OR_RETURN(int resblocks, keys.Count(blocks));
  if (resblocks < (sd2 ? 2 : 1)) {
    return keys.Error("text encoder " + prefix + "* has " + std::to_string(resblocks) +
                      " layers under " + blocks);
  }
  ASSIGN_OR_RETURN(Shape fc, keys.ShapeOf(blocks + "0.mlp.c_fc.weight", 2));
  c.vocab_size = static_cast<int>(tok[0]);
  c.hidden_size = static_cast<int>(tok[1]);
  c.max_position_embeddings = static_cast<int>(pos[0]);
  c.intermediate_size = static_cast<int>(fc[0]);
  c.projection_dim = c.hidden_size;
  // SD 2.x conditions on the penultimate layer's output (then the final layer norm): its
  // CLIPTextModel is the tower without its last layer, and without the projection.
  c.num_hidden_layers = sd2 ? resblocks - 1 : resblocks;
  RETURN_IF_ERROR(CheckHeads(keys, prefix, c));
  if (sd2) {
    drops.prefixes.push_back(blocks + std::to_string(resblocks - 1) + ".");
    drops.names.push_back(prefix + "text_projection");
  } else {
    ASSIGN_OR_RETURN(Shape projection, keys.ShapeOf(prefix + "text_projection", 2));
    c.with_projection = true;
    c.projection_dim = static_cast<int>(projection[1]);
  }
  drops.names.push_back(prefix + "logit_scale");
  drops.names.push_back(prefix + "attn_mask");

  const auto [v, h, i, p] = ShapesOf(c);
  const std::string t = "text_model.";
  plan.Add(prefix + "token_embedding.weight", t + "embeddings.token_embedding.weight", {v, h});
  plan.Add(prefix + "positional_embedding", t + "embeddings.position_embedding.weight", {p, h});
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string src = blocks + std::to_string(l) + ".";
    const std::string dst = t + "encoder.layers." + std::to_string(l) + ".";
    const Take splits[] = {Take::kSplit0, Take::kSplit1, Take::kSplit2};
    const char* names[] = {"q_proj", "k_proj", "v_proj"};
    for (int k = 0; k < 3; ++k) {
      plan.Add(src + "attn.in_proj_weight", dst + "self_attn." + names[k] + ".weight", {h, h},
               splits[k]);
      plan.Add(src + "attn.in_proj_bias", dst + "self_attn." + names[k] + ".bias", {h}, splits[k]);
    }
    plan.AddLayer(src + "attn.out_proj", dst + "self_attn.out_proj", {h, h});
    plan.AddNorm(src + "ln_1", dst + "layer_norm1", h);
    plan.AddLayer(src + "mlp.c_fc", dst + "mlp.fc1", {i, h});
    plan.AddLayer(src + "mlp.c_proj", dst + "mlp.fc2", {h, i});
    plan.AddNorm(src + "ln_2", dst + "layer_norm2", h);
  }
  plan.AddNorm(prefix + "ln_final", t + "final_layer_norm", h);
  if (c.with_projection) {
    // OpenCLIP multiplies x @ P ([hidden, projection]); a Linear holds Pᵀ.
    plan.Add(prefix + "text_projection", "text_projection.weight", {c.projection_dim, h},
             Take::kTranspose);
  }
  return c;
}

}  // namespace stipple::ldm
