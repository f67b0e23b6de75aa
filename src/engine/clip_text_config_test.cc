#include "engine/clip_text_config.h"

#include <gtest/gtest.h>

namespace stipple {
namespace {

// text_encoder_2/config.json of SDXL base, as diffusers saves it.
constexpr const char* kSdxlEncoder2 = R"({
  "_name_or_path": "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k",
  "architectures": ["CLIPTextModelWithProjection"],
  "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
  "hidden_act": "gelu", "hidden_size": 1280, "initializer_factor": 1.0,
  "initializer_range": 0.02, "intermediate_size": 5120, "layer_norm_eps": 1e-05,
  "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 20,
  "num_hidden_layers": 32, "pad_token_id": 1, "projection_dim": 1280, "torch_dtype": "float16",
  "transformers_version": "4.32.0.dev0", "vocab_size": 49408
})";

TEST(ClipTextConfig, ReadsSdxlsSecondEncoderIgnoringGenericKeys) {
  Result<ClipTextConfig> c = ParseClipTextConfig(kSdxlEncoder2, "text_encoder_2/config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->with_projection);
  EXPECT_EQ(c->hidden_size, 1280);
  EXPECT_EQ(c->intermediate_size, 5120);
  EXPECT_EQ(c->num_hidden_layers, 32);
  EXPECT_EQ(c->num_attention_heads, 20);
  EXPECT_EQ(c->head_dim(), 64);
  EXPECT_EQ(c->max_position_embeddings, 77);
  EXPECT_EQ(c->vocab_size, 49408);
  EXPECT_EQ(c->hidden_act, "gelu");
  EXPECT_DOUBLE_EQ(c->layer_norm_eps, 1e-5);
  EXPECT_EQ(c->projection_dim, 1280);
}

TEST(ClipTextConfig, AbsentFieldsTakeClipTextConfigsDefaults) {
  Result<ClipTextConfig> c = ParseClipTextConfig(R"({"hidden_size": 768,
      "num_attention_heads": 12, "intermediate_size": 3072})",
                                                 "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->with_projection);
  EXPECT_EQ(c->hidden_act, "quick_gelu");
  EXPECT_EQ(c->num_hidden_layers, 12);
  EXPECT_EQ(c->vocab_size, 49408);
}

TEST(ClipTextConfig, UnsupportedValuesNameTheFileAndTheField) {
  struct Case {
    const char* json;
    const char* field;
  };
  for (const Case& c : {
           Case{R"({"hidden_act": "relu"})", "hidden_act"},
           Case{R"({"architectures": ["CLIPModel"]})", "architectures"},
           Case{R"({"model_type": "t5"})", "model_type"},
           Case{R"({"hidden_size": 100, "num_attention_heads": 8})", "num_attention_heads"},
           Case{R"({"num_hidden_layers": 0})", "num_hidden_layers"},
           Case{R"({"hidden_size": "768"})", "hidden_size"},
           Case{R"({"layer_norm_eps": 0})", "layer_norm_eps"},
       }) {
    Result<ClipTextConfig> r = ParseClipTextConfig(c.json, "text_encoder/config.json");
    ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(r.status().message().find("text_encoder/config.json"), std::string::npos);
    EXPECT_NE(r.status().message().find(c.field), std::string::npos) << r.status().ToString();
    ASSERT_FALSE(r.status().field_errors().empty());
    EXPECT_EQ(r.status().field_errors()[0].field, c.field);
  }
  EXPECT_EQ(ParseClipTextConfig("[1, 2]", "x.json").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseClipTextConfig("{", "x.json").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stipple
