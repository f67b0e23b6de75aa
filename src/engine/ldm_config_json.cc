// The diffusers / transformers config.json text of a converted single-file checkpoint's parts:
// every field diffusers 0.27.2 writes for the class (its defaults where the LDM model is the
// default), so that one parser per part reads single files and folders alike.
#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <map>

#include "engine/ldm_checkpoint.h"

namespace stipple {
namespace {

namespace json = boost::json;

constexpr const char* kDiffusersVersion = "0.27.2";

// Sorted keys, as diffusers writes them.
class Fields {
 public:
  Fields& Set(const std::string& key, json::value value) {
    fields_[key] = std::move(value);
    return *this;
  }
  Fields& Str(const std::string& key, const std::string& text) {
    return Set(key, json::value(json::string(text)));
  }
  Fields& Null(const std::string& key) { return Set(key, nullptr); }
  std::string Text() const {
    json::object out;
    for (const auto& [k, v] : fields_) out.emplace(k, v);
    return json::serialize(out);
  }

 private:
  std::map<std::string, json::value> fields_;
};

json::array Ints(const std::vector<int>& values) {
  json::array out;
  for (int v : values) out.emplace_back(v);
  return out;
}

json::array Strings(const std::vector<std::string>& values) {
  json::array out;
  for (const std::string& v : values) out.emplace_back(v);
  return out;
}

json::value IntOrList(const std::vector<int>& values, bool as_list) {
  if (!as_list) return values.front();
  return Ints(values);
}

}  // namespace

std::string UNetConfigJson(const LdmUNetConfig& c) {
  std::vector<std::string> down, up;
  for (bool attn : c.down_cross_attention)
    down.push_back(attn ? "CrossAttnDownBlock2D" : "DownBlock2D");
  for (bool attn : c.up_cross_attention) up.push_back(attn ? "CrossAttnUpBlock2D" : "UpBlock2D");
  const std::vector<int>& depth = c.transformer_layers_per_block;
  const bool depth_uniform =
      std::all_of(depth.begin(), depth.end(), [&](int d) { return d == depth[0]; });
  Fields f;
  f.Set("_class_name", "UNet2DConditionModel").Set("_diffusers_version", kDiffusersVersion);
  f.Set("act_fn", "silu");
  if (c.addition_time_embed_dim > 0) {
    f.Set("addition_embed_type", "text_time")
        .Set("addition_time_embed_dim", c.addition_time_embed_dim)
        .Set("projection_class_embeddings_input_dim", c.projection_class_embeddings_input_dim);
  } else {
    f.Null("addition_embed_type").Null("addition_time_embed_dim");
    f.Null("projection_class_embeddings_input_dim");
  }
  f.Set("addition_embed_type_num_heads", 64);
  f.Set("attention_head_dim", IntOrList(c.attention_heads, c.attention_heads_per_level));
  f.Set("attention_type", "default");
  f.Set("block_out_channels", Ints(c.block_out_channels));
  f.Set("center_input_sample", false);
  f.Null("class_embed_type").Set("class_embeddings_concat", false);
  f.Set("conv_in_kernel", c.conv_in_kernel).Set("conv_out_kernel", c.conv_out_kernel);
  f.Set("cross_attention_dim", c.cross_attention_dim).Null("cross_attention_norm");
  f.Set("down_block_types", Strings(down));
  f.Set("downsample_padding", 1).Set("dropout", 0.0).Set("dual_cross_attention", false);
  f.Null("encoder_hid_dim").Null("encoder_hid_dim_type");
  f.Set("flip_sin_to_cos", true).Set("freq_shift", 0);
  f.Set("in_channels", c.in_channels).Set("layers_per_block", c.layers_per_block);
  f.Null("mid_block_only_cross_attention").Set("mid_block_scale_factor", 1);
  f.Set("mid_block_type", "UNetMidBlock2DCrossAttn");
  f.Set("norm_eps", 1e-5).Set("norm_num_groups", c.norm_num_groups);
  f.Null("num_attention_heads").Null("num_class_embeds").Set("only_cross_attention", false);
  f.Set("out_channels", c.out_channels);
  f.Set("resnet_out_scale_factor", 1.0).Set("resnet_skip_time_act", false);
  f.Set("resnet_time_scale_shift", "default").Null("reverse_transformer_layers_per_block");
  f.Set("sample_size", c.sample_size);
  f.Null("time_cond_proj_dim").Null("time_embedding_act_fn");
  if (c.time_embedding_dim > 0) {
    f.Set("time_embedding_dim", c.time_embedding_dim);
  } else {
    f.Null("time_embedding_dim");
  }
  f.Set("time_embedding_type", "positional").Null("timestep_post_act");
  f.Set("transformer_layers_per_block", IntOrList(depth, !depth_uniform));
  f.Set("up_block_types", Strings(up));
  f.Set("upcast_attention", false).Set("use_linear_projection", c.use_linear_projection);
  return f.Text();
}

std::string VaeConfigJson(const LdmVaeConfig& c) {
  const size_t levels = c.block_out_channels.size();
  Fields f;
  f.Set("_class_name", "AutoencoderKL").Set("_diffusers_version", kDiffusersVersion);
  f.Set("act_fn", "silu").Set("block_out_channels", Ints(c.block_out_channels));
  f.Set("down_block_types", Strings(std::vector<std::string>(levels, "DownEncoderBlock2D")));
  f.Set("force_upcast", c.force_upcast).Set("in_channels", c.in_channels);
  f.Set("latent_channels", c.latent_channels).Null("latents_mean").Null("latents_std");
  f.Set("layers_per_block", c.layers_per_block).Set("norm_num_groups", c.norm_num_groups);
  f.Set("out_channels", c.out_channels).Set("sample_size", c.sample_size);
  f.Set("scaling_factor", c.scaling_factor);
  f.Set("up_block_types", Strings(std::vector<std::string>(levels, "UpDecoderBlock2D")));
  return f.Text();
}

std::string TextEncoderConfigJson(const LdmTextEncoderConfig& c) {
  Fields f;
  f.Set("architectures",
        Strings({c.with_projection ? "CLIPTextModelWithProjection" : "CLIPTextModel"}));
  f.Set("attention_dropout", 0.0).Set("dropout", 0.0);
  // The ids Stable Diffusion's published text encoder configs carry (CLIP's legacy ones).
  f.Set("bos_token_id", 0).Set("eos_token_id", 2).Set("pad_token_id", 1);
  f.Str("hidden_act", c.hidden_act).Set("hidden_size", c.hidden_size);
  f.Set("initializer_factor", 1.0).Set("initializer_range", 0.02);
  f.Set("intermediate_size", c.intermediate_size).Set("layer_norm_eps", 1e-5);
  f.Set("max_position_embeddings", c.max_position_embeddings);
  f.Set("model_type", "clip_text_model");
  f.Set("num_attention_heads", c.num_attention_heads);
  f.Set("num_hidden_layers", c.num_hidden_layers);
  f.Set("projection_dim", c.projection_dim).Set("vocab_size", c.vocab_size);
  return f.Text();
}

std::string SchedulerConfigJson(const LdmSchedulerConfig& c) {
  Fields f;
  f.Str("_class_name", c.class_name).Set("_diffusers_version", kDiffusersVersion);
  f.Set("beta_start", c.beta_start).Set("beta_end", c.beta_end);
  f.Set("beta_schedule", "scaled_linear").Null("trained_betas");
  f.Set("num_train_timesteps", c.num_train_timesteps);
  f.Str("prediction_type", c.prediction_type);
  f.Set("steps_offset", 1).Set("timestep_spacing", "leading");
  // Beyond some classes' own fields, as the published configs carry them, so that a DDIM made
  // from any of these configs (whose defaults are true) neither clips nor ends at alpha 1.
  f.Set("clip_sample", false).Set("set_alpha_to_one", false);
  if (c.class_name == "PNDMScheduler") {
    f.Set("skip_prk_steps", true);
    if (c.rescale_betas_zero_snr) f.Set("rescale_betas_zero_snr", true);
  } else {
    f.Set("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  }
  if (c.class_name == "DDIMScheduler") {
    f.Set("clip_sample_range", 1.0).Set("dynamic_thresholding_ratio", 0.995);
    f.Set("sample_max_value", 1.0).Set("thresholding", false);
  }
  if (c.class_name == "EulerDiscreteScheduler") {
    f.Set("interpolation_type", "linear").Null("sigma_max").Null("sigma_min");
    f.Set("timestep_type", "discrete").Set("use_karras_sigmas", false);
  }
  return f.Text();
}

std::string ModelIndexJson(SdFamily family, const LdmSchedulerConfig& scheduler) {
  auto pair = [](const char* library, const std::string& cls) {
    return json::array{library, json::string(cls)};
  };
  Fields f;
  f.Set("_diffusers_version", kDiffusersVersion);
  f.Set("scheduler", pair("diffusers", scheduler.class_name));
  f.Set("text_encoder", pair("transformers", "CLIPTextModel"));
  f.Set("tokenizer", pair("transformers", "CLIPTokenizer"));
  f.Set("unet", pair("diffusers", "UNet2DConditionModel"));
  f.Set("vae", pair("diffusers", "AutoencoderKL"));
  if (family == SdFamily::kSdxl) {
    f.Set("_class_name", "StableDiffusionXLPipeline");
    f.Set("text_encoder_2", pair("transformers", "CLIPTextModelWithProjection"));
    f.Set("tokenizer_2", pair("transformers", "CLIPTokenizer"));
    f.Set("force_zeros_for_empty_prompt", true).Null("add_watermarker");
  } else {
    f.Set("_class_name", "StableDiffusionPipeline");
    f.Set("feature_extractor", json::array{nullptr, nullptr});
    f.Set("safety_checker", json::array{nullptr, nullptr});
    f.Set("requires_safety_checker", false);
  }
  return f.Text();
}

}  // namespace stipple
