#include "engine/vae_config.h"

#include <gtest/gtest.h>

#include <string>

namespace stipple {
namespace {

// SDXL's vae/config.json as diffusers writes it (metadata keys included).
constexpr const char* kSdxlConfig = R"({
  "_class_name": "AutoencoderKL",
  "_diffusers_version": "0.20.0.dev0",
  "_name_or_path": "../sdxl-vae/",
  "act_fn": "silu",
  "block_out_channels": [128, 256, 512, 512],
  "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D",
                       "DownEncoderBlock2D"],
  "force_upcast": true,
  "in_channels": 3,
  "latent_channels": 4,
  "layers_per_block": 2,
  "norm_num_groups": 32,
  "out_channels": 3,
  "sample_size": 1024,
  "scaling_factor": 0.13025,
  "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                     "UpDecoderBlock2D"]
})";

// kSdxlConfig with `key`'s value replaced by `value` (or added).
std::string With(const std::string& key, const std::string& value) {
  std::string text = kSdxlConfig;
  const std::string quoted = "\"" + key + "\": ";
  size_t at = text.find(quoted);
  if (at == std::string::npos) return "{" + quoted + value + "," + text.substr(1);
  size_t begin = at + quoted.size();
  size_t end = text[begin] == '[' ? text.find(']', begin) + 1 : text.find_first_of(",\n}", begin);
  return text.substr(0, begin) + value + text.substr(end);
}

TEST(VaeConfigTest, ReadsSdxlConfig) {
  Result<AutoencoderKLConfig> c = ParseAutoencoderKLConfig(kSdxlConfig, "vae/config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->in_channels, 3);
  EXPECT_EQ(c->out_channels, 3);
  EXPECT_EQ(c->latent_channels, 4);
  EXPECT_EQ(c->block_out_channels, (std::vector<int>{128, 256, 512, 512}));
  EXPECT_EQ(c->layers_per_block, 2);
  EXPECT_EQ(c->norm_num_groups, 32);
  EXPECT_EQ(c->sample_size, 1024);
  EXPECT_DOUBLE_EQ(c->scaling_factor, 0.13025);
  EXPECT_TRUE(c->force_upcast);
  EXPECT_TRUE(c->mid_block_add_attention);
  EXPECT_TRUE(c->use_quant_conv);
  EXPECT_TRUE(c->use_post_quant_conv);
  EXPECT_EQ(c->DownscaleFactor(), 8);
}

TEST(VaeConfigTest, MissingFieldsTakeDiffusersDefaults) {
  Result<AutoencoderKLConfig> c = ParseAutoencoderKLConfig("{}", "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->block_out_channels, (std::vector<int>{64}));
  EXPECT_EQ(c->layers_per_block, 1);
  EXPECT_EQ(c->norm_num_groups, 32);
  EXPECT_DOUBLE_EQ(c->scaling_factor, 0.18215);
  EXPECT_TRUE(c->force_upcast);
  EXPECT_EQ(c->DownscaleFactor(), 1);
}

TEST(VaeConfigTest, ReadsNewerDiffusersFields) {
  Result<AutoencoderKLConfig> c = ParseAutoencoderKLConfig(R"({
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0", "act_fn": "swish",
    "block_out_channels": [16, 32], "layers_per_block": 1, "norm_num_groups": 8,
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
    "shift_factor": null, "latents_mean": null, "latents_std": null,
    "use_quant_conv": false, "use_post_quant_conv": false, "mid_block_add_attention": false})",
                                                           "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->mid_block_add_attention);
  EXPECT_FALSE(c->use_quant_conv);
  EXPECT_FALSE(c->use_post_quant_conv);
  EXPECT_EQ(c->DownscaleFactor(), 2);
}

TEST(VaeConfigTest, UnsupportedValuesNameTheFileAndTheField) {
  struct Case {
    std::string key, value;
  };
  const Case cases[] = {
      {"down_block_types", R"(["DownEncoderBlock2D", "AttnDownEncoderBlock2D",
                               "DownEncoderBlock2D", "DownEncoderBlock2D"])"},
      {"up_block_types", R"(["UpDecoderBlock2D"])"},
      {"act_fn", R"("gelu")"},
      {"shift_factor", "0.0609"},
      {"latents_mean", "[-1.6574, 1.886, -1.383, 2.5155]"},
      {"latents_std", "[8.4927, 5.9022, 6.5498, 5.2299]"},
      {"scaling_factor", "0"},
      {"scaling_factor", R"("0.18")"},
      {"force_upcast", "1"},
      {"norm_num_groups", "24"},
      {"block_out_channels", "[]"},
      {"block_out_channels", "[128, 256, 512]"},  // the block type lists have 4
      {"layers_per_block", "0"},
      {"latent_channels", "4.5"},
      {"sample_size", "[1024, 1024]"},
      {"_class_name", R"("AutoencoderTiny")"},
      {"mid_block_add_attention", "null"},
  };
  for (const Case& c : cases) {
    Result<AutoencoderKLConfig> r =
        ParseAutoencoderKLConfig(With(c.key, c.value), "vae/config.json");
    ASSERT_FALSE(r.ok()) << c.key << " = " << c.value;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    const std::string& message = r.status().message();
    EXPECT_EQ(message.rfind("vae/config.json: ", 0), 0u) << message;
    const bool names_field =
        message.find("'" + c.key + "'") != std::string::npos ||
        // A block count that disagrees is reported on the block type lists.
        (c.key == "block_out_channels" && message.find("block_types") != std::string::npos);
    EXPECT_TRUE(names_field) << c.key << ": " << message;
    ASSERT_FALSE(r.status().field_errors().empty());
  }
}

TEST(VaeConfigTest, UnknownFieldsAreNamedButMetadataIsSkipped) {
  Result<AutoencoderKLConfig> r = ParseAutoencoderKLConfig(
      With("_use_default_values", R"(["shift_factor"])").insert(1, "\"spatial_norm\": true, "),
      "unet/../vae/config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'spatial_norm'"), std::string::npos) << r.status().message();
  ASSERT_EQ(r.status().field_errors().size(), 1u);
  EXPECT_EQ(r.status().field_errors()[0].field, "spatial_norm");
}

TEST(VaeConfigTest, NotJsonIsAnErrorNamingTheFile) {
  for (const char* text : {"", "{", "[1, 2]", "\"x\""}) {
    Result<AutoencoderKLConfig> r = ParseAutoencoderKLConfig(text, "my/vae/config.json");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("my/vae/config.json"), std::string::npos);
  }
}

TEST(VaeConfigTest, LoadReportsAMissingFile) {
  Result<AutoencoderKLConfig> r = LoadAutoencoderKLConfig("/nonexistent/vae/config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(VaeConfigTest, LoadsTheGoldenFolders) {
  for (const char* name : {"sd", "sdxl", "plain"}) {
    Result<AutoencoderKLConfig> c = LoadAutoencoderKLConfig(std::string(STIPPLE_ENGINE_TESTDATA) +
                                                            "/vae/" + name + "/config.json");
    ASSERT_TRUE(c.ok()) << name << ": " << c.status().ToString();
  }
}

}  // namespace
}  // namespace stipple
