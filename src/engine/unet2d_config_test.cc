#include "engine/unet2d_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace stipple {
namespace {

using Down = UNetDownBlockType;
using Up = UNetUpBlockType;
using Layers = std::vector<std::vector<int>>;

// The shape of Stable Diffusion 1.5's unet/config.json (written by diffusers 0.6).
constexpr const char* kSd15 = R"({
  "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0", "act_fn": "silu",
  "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
  "center_input_sample": false, "cross_attention_dim": 768,
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                       "DownBlock2D"],
  "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
  "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
  "out_channels": 4, "sample_size": 64,
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                     "CrossAttnUpBlock2D"]
})";

// The shape of SDXL base 1.0's unet/config.json.
constexpr const char* kSdxl = R"({
  "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.19.0.dev0", "act_fn": "silu",
  "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
  "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
  "block_out_channels": [320, 640, 1280], "center_input_sample": false,
  "class_embed_type": null, "class_embeddings_concat": false, "conv_in_kernel": 3,
  "conv_out_kernel": 3, "cross_attention_dim": 2048, "cross_attention_norm": null,
  "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
  "downsample_padding": 1, "dual_cross_attention": false, "encoder_hid_dim": null,
  "encoder_hid_dim_type": null, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
  "layers_per_block": 2, "mid_block_only_cross_attention": null, "mid_block_scale_factor": 1,
  "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05, "norm_num_groups": 32,
  "num_attention_heads": null, "num_class_embeds": null, "only_cross_attention": false,
  "out_channels": 4, "projection_class_embeddings_input_dim": 2816,
  "resnet_out_scale_factor": 1.0, "resnet_skip_time_act": false,
  "resnet_time_scale_shift": "default", "sample_size": 128, "time_cond_proj_dim": null,
  "time_embedding_act_fn": null, "time_embedding_dim": null,
  "time_embedding_type": "positional", "timestep_post_act": null,
  "transformer_layers_per_block": [1, 2, 10],
  "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
  "upcast_attention": null, "use_linear_projection": true
})";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

Status ParseError(const std::string& text) {
  Result<UNet2DConditionConfig> c = ParseUNet2DConditionConfig(text, "unet/config.json");
  EXPECT_FALSE(c.ok());
  return c.ok() ? Status::Ok() : c.status();
}

std::string ReadGoldenConfig(const std::string& name) {
  std::ifstream in(std::string(STIPPLE_ENGINE_TESTDATA) + "/unet/" + name + "/config.json");
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_FALSE(text.str().empty()) << name;
  return text.str();
}

TEST(UNet2DConditionConfig, ReadsStableDiffusion15) {
  Result<UNet2DConditionConfig> c = ParseUNet2DConditionConfig(kSd15, "unet/config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sample_height, 64);
  EXPECT_EQ(c->sample_width, 64);
  EXPECT_EQ(c->down_block_types,
            (std::vector<Down>{Down::kCrossAttnDownBlock2D, Down::kCrossAttnDownBlock2D,
                               Down::kCrossAttnDownBlock2D, Down::kDownBlock2D}));
  EXPECT_EQ(c->up_block_types.front(), Up::kUpBlock2D);
  EXPECT_EQ(c->block_out_channels, (std::vector<int>{320, 640, 1280, 1280}));
  EXPECT_EQ(c->layers_per_block, (std::vector<int>{2, 2, 2, 2}));
  EXPECT_EQ(c->attention_heads, (std::vector<int>{8, 8, 8, 8}));  // 8 heads, not width 8
  EXPECT_EQ(c->cross_attention_dim, (std::vector<int>{768, 768, 768, 768}));
  EXPECT_EQ(c->down_transformer_layers, (Layers{{1, 1}, {1, 1}, {1, 1}, {1, 1}}));
  EXPECT_EQ(c->up_transformer_layers, (Layers{{1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}}));
  EXPECT_TRUE(c->has_mid_block);
  EXPECT_EQ(c->mid_transformer_layers, 1);
  EXPECT_EQ(c->time_embed_dim, 1280);
  EXPECT_FALSE(c->use_linear_projection);
  EXPECT_FALSE(c->upcast_attention);
  EXPECT_FALSE(c->addition_text_time);
  EXPECT_TRUE(c->flip_sin_to_cos);
  EXPECT_EQ(c->act_fn, UNetActivation::kSilu);
}

TEST(UNet2DConditionConfig, ReadsSdxl) {
  Result<UNet2DConditionConfig> c = ParseUNet2DConditionConfig(kSdxl, "unet/config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->attention_heads, (std::vector<int>{5, 10, 20}));
  EXPECT_EQ(c->down_transformer_layers, (Layers{{1, 1}, {2, 2}, {10, 10}}));
  EXPECT_EQ(c->up_transformer_layers, (Layers{{10, 10, 10}, {2, 2, 2}, {1, 1, 1}}));
  EXPECT_EQ(c->mid_transformer_layers, 10);
  EXPECT_TRUE(c->use_linear_projection);
  EXPECT_FALSE(c->upcast_attention);  // null
  EXPECT_TRUE(c->addition_text_time);
  EXPECT_EQ(c->addition_time_embed_dim, 256);
  EXPECT_EQ(c->projection_class_embeddings_input_dim, 2816);
  EXPECT_EQ(c->time_cond_proj_dim, 0);
  EXPECT_EQ(c->time_embedding_act_fn, UNetActivation::kNone);
}

TEST(UNet2DConditionConfig, NumAttentionHeadsWinsOverAttentionHeadDim) {
  Result<UNet2DConditionConfig> c = ParseUNet2DConditionConfig(
      Replace(kSdxl, R"("num_attention_heads": null)", R"("num_attention_heads": 4)"), "c.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->attention_heads, (std::vector<int>{4, 4, 4}));
}

TEST(UNet2DConditionConfig, ReadsEveryGoldenConfig) {
  for (const char* name : {"sd15", "sd2", "sdxl", "extras", "nomid", "textpool"}) {
    Result<UNet2DConditionConfig> c =
        ParseUNet2DConditionConfig(ReadGoldenConfig(name), "config.json");
    EXPECT_TRUE(c.ok()) << name << ": " << c.status().ToString();
  }
}

TEST(UNet2DConditionConfig, ReadsTheLessCommonFields) {
  Result<UNet2DConditionConfig> c =
      ParseUNet2DConditionConfig(ReadGoldenConfig("extras"), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sample_height, 8);
  EXPECT_EQ(c->sample_width, 6);
  EXPECT_EQ(c->in_channels, 3);
  EXPECT_EQ(c->out_channels, 5);
  EXPECT_TRUE(c->center_input_sample);
  EXPECT_FALSE(c->flip_sin_to_cos);
  EXPECT_EQ(c->freq_shift, 1);
  EXPECT_EQ(c->only_cross_attention, (std::vector<bool>{true, false}));
  EXPECT_EQ(c->layers_per_block, (std::vector<int>{1, 2}));
  EXPECT_EQ(c->down_transformer_layers, (Layers{{1}, {2, 1}}));
  EXPECT_EQ(c->up_transformer_layers, (Layers{{1, 2, 1}, {1, 1}}));
  EXPECT_EQ(c->mid_transformer_layers, 2);
  EXPECT_EQ(c->downsample_padding, 0);
  EXPECT_EQ(c->mid_block_scale_factor, 1.5);
  EXPECT_EQ(c->act_fn, UNetActivation::kMish);
  EXPECT_EQ(c->norm_eps, 1e-3);
  EXPECT_TRUE(c->resnet_scale_shift);
  EXPECT_EQ(c->time_embed_dim, 40);
  EXPECT_EQ(c->time_embedding_act_fn, UNetActivation::kGelu);
  EXPECT_EQ(c->timestep_post_act, UNetActivation::kRelu);
  EXPECT_EQ(c->time_cond_proj_dim, 8);
  EXPECT_EQ(c->conv_in_kernel, 1);
  EXPECT_EQ(c->conv_out_kernel, 5);
  Result<UNet2DConditionConfig> nomid =
      ParseUNet2DConditionConfig(ReadGoldenConfig("nomid"), "config.json");
  ASSERT_TRUE(nomid.ok());
  EXPECT_FALSE(nomid->has_mid_block);
}

TEST(UNet2DConditionConfig, ReadsTheTextAddedEmbedding) {
  const std::string text = ReadGoldenConfig("textpool");
  Result<UNet2DConditionConfig> c = ParseUNet2DConditionConfig(text, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->addition_text);
  EXPECT_FALSE(c->addition_text_time);
  EXPECT_EQ(c->addition_text_heads, 4);

  // The heads must divide the (single) encoder width the states are pooled at.
  Status s = ParseUNet2DConditionConfig(Replace(text, R"("addition_embed_type_num_heads": 4)",
                                                R"("addition_embed_type_num_heads": 3)"),
                                        "unet/config.json")
                 .status();
  EXPECT_EQ(s.message(),
            "unet/config.json: field 'addition_embed_type_num_heads': 3 heads do not divide "
            "cross_attention_dim 16");
  s = ParseUNet2DConditionConfig(
          Replace(text, R"("cross_attention_dim": 16)", R"("cross_attention_dim": [16, 8])"),
          "unet/config.json")
          .status();
  EXPECT_NE(s.message().find("field 'cross_attention_dim': must be one width"), std::string::npos)
      << s.message();
}

TEST(UNet2DConditionConfig, AbsentFieldsTakeDiffusersDefaults) {
  Result<UNet2DConditionConfig> c = ParseUNet2DConditionConfig("{}", "unet/config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->block_out_channels, (std::vector<int>{320, 640, 1280, 1280}));
  EXPECT_EQ(c->down_block_types.size(), 4u);
  EXPECT_EQ(c->cross_attention_dim.front(), 1280);
  EXPECT_EQ(c->attention_heads.front(), 8);
  EXPECT_EQ(c->sample_height, 0);
}

TEST(UNet2DConditionConfig, UnsupportedValuesNameTheFileTheFieldAndTheValue) {
  Status s = ParseError(Replace(kSdxl, R"("time_embedding_type": "positional")",
                                R"("time_embedding_type": "fourier")"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "unet/config.json: field 'time_embedding_type': 'fourier' is not supported");
  ASSERT_EQ(s.field_errors().size(), 1u);
  EXPECT_EQ(s.field_errors()[0].field, "time_embedding_type");

  for (const auto& [from, to, field] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {R"("class_embed_type": null)", R"("class_embed_type": "timestep")", "class_embed_type"},
           {R"("num_class_embeds": null)", R"("num_class_embeds": 10)", "num_class_embeds"},
           {R"("encoder_hid_dim": null)", R"("encoder_hid_dim": 768)", "encoder_hid_dim"},
           {R"("dual_cross_attention": false)", R"("dual_cross_attention": true)",
            "dual_cross_attention"},
           {R"("addition_embed_type": "text_time")", R"("addition_embed_type": "text_image")",
            "addition_embed_type"},
           {R"("resnet_time_scale_shift": "default")", R"("resnet_time_scale_shift": "ada_group")",
            "resnet_time_scale_shift"},
           {R"("act_fn": "silu")", R"("act_fn": "tanh")", "act_fn"},
           {R"("mid_block_type": "UNetMidBlock2DCrossAttn")",
            R"("mid_block_type": "UNetMidBlock2DSimpleCrossAttn")", "mid_block_type"},
           {R"("norm_num_groups": 32)", R"("norm_num_groups": null)", "norm_num_groups"},
       }) {
    Status e = ParseError(Replace(kSdxl, from, to));
    EXPECT_NE(e.message().find("field '" + field + "'"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("not supported"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("unet/config.json"), std::string::npos) << e.message();
  }
}

TEST(UNet2DConditionConfig, UnknownBlockTypesNameTheField) {
  Status s = ParseError(Replace(kSd15, R"("DownBlock2D"],)", R"("SkipDownBlock2D"],)"));
  EXPECT_EQ(s.message(),
            "unet/config.json: field 'down_block_types': 'SkipDownBlock2D' is not supported "
            "(supported: CrossAttnDownBlock2D, DownBlock2D)");
  s = ParseError(Replace(kSd15, R"(["UpBlock2D",)", R"(["AttnUpBlock2D",)"));
  EXPECT_NE(s.message().find("field 'up_block_types': 'AttnUpBlock2D' is not supported"),
            std::string::npos)
      << s.message();
}

TEST(UNet2DConditionConfig, UnknownFieldsAreNamedAndMetadataIsNot) {
  Status s = ParseError(Replace(kSd15, R"("act_fn": "silu",)",
                                R"("act_fn": "silu", "use_magic": true, "_note": 1, "zeta": 2,)"));
  EXPECT_EQ(s.message(), "unet/config.json: unknown fields 'use_magic', 'zeta'");
  EXPECT_EQ(s.field_errors().size(), 2u);
  s = ParseError(Replace(kSd15, "\"UNet2DConditionModel\"", "\"AutoencoderKL\""));
  EXPECT_NE(s.message().find("field '_class_name'"), std::string::npos) << s.message();
}

TEST(UNet2DConditionConfig, BadValuesAndInconsistentStructures) {
  struct Case {
    std::string from, to, field;
  };
  for (const Case& k : std::vector<Case>{
           {R"("layers_per_block": 2)", R"("layers_per_block": [2, 2])", "layers_per_block"},
           {R"("layers_per_block": 2)", R"("layers_per_block": "two")", "layers_per_block"},
           {R"("layers_per_block": 2)", R"("layers_per_block": 0)", "layers_per_block"},
           {R"("attention_head_dim": 8)", R"("attention_head_dim": [8, 8])", "attention_head_dim"},
           {R"("attention_head_dim": 8)", R"("attention_head_dim": 400)", "attention_head_dim"},
           {R"("norm_num_groups": 32)", R"("norm_num_groups": 48)", "norm_num_groups"},
           {R"("block_out_channels": [320, 640, 1280, 1280])", R"("block_out_channels": [320])",
            "block_out_channels"},
           {R"("in_channels": 4)", R"("in_channels": -1)", "in_channels"},
           {R"("flip_sin_to_cos": true)", R"("flip_sin_to_cos": "yes")", "flip_sin_to_cos"},
           {R"("norm_eps": 1e-05)", R"("norm_eps": 0)", "norm_eps"},
           {R"("sample_size": 64)", R"("sample_size": [64])", "sample_size"},
           {R"("cross_attention_dim": 768)", R"("cross_attention_dim": [768, 768])",
            "cross_attention_dim"},
       }) {
    Status s = ParseError(Replace(kSd15, k.from, k.to));
    EXPECT_NE(s.message().find("field '" + k.field + "'"), std::string::npos)
        << k.to << ": " << s.message();
  }
  Status s = ParseError(Replace(kSdxl, R"("transformer_layers_per_block": [1, 2, 10])",
                                R"("transformer_layers_per_block": [1, [2, 2], 10])"));
  EXPECT_NE(s.message().find("reverse_transformer_layers_per_block"), std::string::npos);
  s = ParseError(Replace(kSdxl, R"("projection_class_embeddings_input_dim": 2816)",
                         R"("projection_class_embeddings_input_dim": null)"));
  EXPECT_NE(s.message().find("field 'projection_class_embeddings_input_dim'"), std::string::npos);
  s = ParseError("[1, 2]");
  EXPECT_EQ(s.message(), "unet/config.json: must hold a JSON object");
  s = ParseError("{");
  EXPECT_NE(s.message().find("unet/config.json: not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace stipple
