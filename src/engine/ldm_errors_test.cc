// Single-file checkpoints: the layout variants real files come in, the overrides (NAME.yaml), and
// the broken files that must be refused with a message naming the file and the tensor.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/ldm_checkpoint.h"

namespace stipple {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string TestData(const std::string& name) {
  return std::string(STIPPLE_ENGINE_TESTDATA) + "/ldm/" + name;
}

SafetensorsFile Read(const std::string& family) {
  Result<SafetensorsFile> file =
      ReadSafetensorsFile(TestData(family + ".safetensors"), {.skip_other_dtypes = true});
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  return file.ok() ? std::move(file).value() : SafetensorsFile{};
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Converting `file` fails with kInvalidArgument naming the source and every one of `parts`.
void ExpectRefused(SafetensorsFile file, const std::vector<std::string>& parts,
                   const LdmOptions& options = {}) {
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(std::move(file), "m.safetensors", options);
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(ckpt.status().message(), "m.safetensors")) << ckpt.status().message();
  for (const std::string& part : parts) {
    EXPECT_TRUE(Contains(ckpt.status().message(), part))
        << "'" << part << "' not in: " << ckpt.status().message();
  }
}

void Rename(SafetensorsFile& file, const std::string& from, const std::string& to) {
  std::map<std::string, FloatTensor> out;
  for (auto& [name, t] : file.tensors) {
    std::string n = name;
    if (n.rfind(from, 0) == 0) n = to + n.substr(from.size());
    out[n] = std::move(t);
  }
  file.tensors = std::move(out);
  std::map<std::string, std::string> skipped;
  for (auto& [name, dtype] : file.skipped) {
    skipped[name.rfind(from, 0) == 0 ? to + name.substr(from.size()) : name] = dtype;
  }
  file.skipped = std::move(skipped);
}

void EraseUnder(SafetensorsFile& file, const std::string& prefix) {
  std::erase_if(file.tensors, [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
  std::erase_if(file.skipped, [&](const auto& kv) { return kv.first.rfind(prefix, 0) == 0; });
}

void Reshape(SafetensorsFile& file, const std::string& name, std::vector<int64_t> shape) {
  FloatTensor& t = file.tensors.at(name);
  t.shape = std::move(shape);
  t.values.assign(t.NumElements(), 0.5f);
}

TEST(LdmCheckpointVariants, TensorsAreMovedNotCopied) {
  SafetensorsFile file = Read("sd1");
  const std::string conv = "model.diffusion_model.middle_block.0.in_layers.2.weight";
  const float* data = file.tensors.at(conv).values.data();
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(std::move(file), "sd1");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->unet.tensors.at("mid_block.resnets.0.conv1.weight").values.data(), data);
}

TEST(LdmCheckpointVariants, OldTextEncoderLayoutWithoutTextModelLevel) {
  SafetensorsFile file = Read("sd1");
  Rename(file, "cond_stage_model.transformer.text_model.", "cond_stage_model.transformer.");
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(std::move(file), "old");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->text_encoder.tensors.count("text_model.encoder.layers.1.mlp.fc2.weight"), 1u);
  EXPECT_EQ(ckpt->text_encoder_config.num_hidden_layers, 2);
}

TEST(LdmCheckpointVariants, VaeAttentionAlreadyLinearIsAccepted) {
  SafetensorsFile file = Read("sd1");
  file.tensors.at("first_stage_model.decoder.mid.attn_1.q.weight").shape = {32, 32};
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(std::move(file), "linear");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->vae.tensors.at("decoder.mid_block.attentions.0.to_q.weight").shape,
            (std::vector<int64_t>{32, 32}));
}

TEST(LdmCheckpointVariants, Sd2EpsilonOverrideMeansThe512Model) {
  LdmOptions options;
  options.overrides.prediction_type = "epsilon";
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(Read("sd2"), "sd2", options);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->prediction_type, "epsilon");
  EXPECT_EQ(ckpt->image_size, 512);
  EXPECT_EQ(json::parse(ckpt->config_json.at("unet")).at("sample_size"), 256);
  EXPECT_EQ(json::parse(ckpt->config_json.at("scheduler")).at("prediction_type"), "epsilon");
}

TEST(LdmCheckpointVariants, ComfyMarkersSetVPredictionAndZeroTerminalSnr) {
  SafetensorsFile file = Read("sd1");
  file.tensors["v_pred"] = {{0}, {}};
  file.tensors["ztsnr"] = {{0}, {}};
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(std::move(file), "vpred");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->prediction_type, "v_prediction");
  json::value sched = json::parse(ckpt->config_json.at("scheduler"));
  EXPECT_EQ(sched.at("prediction_type"), "v_prediction");
  EXPECT_EQ(sched.at("rescale_betas_zero_snr"), true);
}

TEST(LdmCheckpointVariants, ModelSpecMetadataSaysThePredictionType) {
  SafetensorsFile file = Read("sd2");
  file.metadata["modelspec.prediction_type"] = "epsilon";
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(std::move(file), "spec");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->prediction_type, "epsilon");
  file = Read("sd1");
  file.metadata["modelspec.prediction_type"] = "v";
  ckpt = ConvertLdmCheckpoint(std::move(file), "spec");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->prediction_type, "v_prediction");
}

TEST(LdmCheckpointVariants, HeadOverridesChangeTheUNetConfig) {
  LdmOptions options;
  options.overrides.num_heads = 4;
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(Read("sd1"), "h", options);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(json::parse(ckpt->config_json.at("unet")).at("attention_head_dim"), 4);
  options.overrides.num_head_channels = 16;  // wins over num_heads: 32/16, 64/16
  ckpt = ConvertLdmCheckpoint(Read("sd1"), "h", options);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(json::parse(ckpt->config_json.at("unet")).at("attention_head_dim"),
            json::parse("[2, 4]"));
}

TEST(LdmCheckpointVariants, InpaintingIsRefusedUnlessAllowed) {
  SafetensorsFile file = Read("sd1");
  Reshape(file, "model.diffusion_model.input_blocks.0.0.weight", {32, 9, 3, 3});
  SafetensorsFile copy = file;
  ExpectRefused(std::move(copy), {"inpainting", "9 input channels"});
  Result<LdmCheckpoint> ckpt = ConvertLdmCheckpoint(std::move(file), "inpaint", {{}, true});
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_TRUE(ckpt->inpainting);
  EXPECT_EQ(json::parse(ckpt->config_json.at("unet")).at("in_channels"), 9);
}

TEST(LdmCheckpointErrors, MissingTensorIsNamed) {
  SafetensorsFile file = Read("sd1");
  file.tensors.erase("model.diffusion_model.middle_block.2.out_layers.3.bias");
  ExpectRefused(std::move(file), {"missing tensor model.diffusion_model.middle_block.2."
                                  "out_layers.3.bias",
                                  "mid_block.resnets.1.conv2.bias"});
}

TEST(LdmCheckpointErrors, UnexpectedShapeIsNamed) {
  SafetensorsFile file = Read("sd1");
  Reshape(file, "first_stage_model.decoder.up.0.block.1.conv1.weight", {32, 32, 1, 1});
  ExpectRefused(std::move(file), {"first_stage_model.decoder.up.0.block.1.conv1.weight",
                                  "[32, 32, 1, 1]", "[32, 32, 3, 3]"});
}

TEST(LdmCheckpointErrors, LeftoverTensorsAreListed) {
  SafetensorsFile file = Read("sd1");
  file.tensors["lora_unet_down.alpha"] = {{}, {1}};
  file.tensors["model.diffusion_model.extra.weight"] = {{1}, {1}};
  ExpectRefused(std::move(file), {"2 tensors map to no part", "lora_unet_down.alpha",
                                  "model.diffusion_model.extra.weight"});
}

TEST(LdmCheckpointErrors, OtherDtypesMustBeDroppable) {
  SafetensorsFile file = Read("sd1");
  file.skipped["model.diffusion_model.step"] = "I64";
  ExpectRefused(std::move(file), {"model.diffusion_model.step", "I64"});
}

TEST(LdmCheckpointErrors, WeightsOfAnotherDtypeAreNamedAsSuch) {
  SafetensorsFile file = Read("sd1");
  file.tensors.erase("model.diffusion_model.out.2.weight");
  file.skipped["model.diffusion_model.out.2.weight"] = "F8_E4M3";
  ExpectRefused(std::move(file), {"model.diffusion_model.out.2.weight", "F8_E4M3"});
  file = Read("sd1");
  file.tensors.erase("first_stage_model.decoder.conv_in.bias");
  file.skipped["first_stage_model.decoder.conv_in.bias"] = "F64";
  ExpectRefused(std::move(file), {"first_stage_model.decoder.conv_in.bias", "F64"});
}

TEST(LdmCheckpointErrors, NoFamily) {
  SafetensorsFile file = Read("sd1");
  EraseUnder(file, "cond_stage_model.");
  ExpectRefused(std::move(file), {"no text encoder"});
  SafetensorsFile vae_only = Read("sd1");
  EraseUnder(vae_only, "model.diffusion_model.");
  ExpectRefused(std::move(vae_only), {"no model.diffusion_model.* tensors"});
  SafetensorsFile no_vae = Read("sd1");
  EraseUnder(no_vae, "first_stage_model.");
  ExpectRefused(std::move(no_vae), {"without its VAE"});
}

TEST(LdmCheckpointErrors, RefinerAndMixedFamiliesAreRefused) {
  SafetensorsFile refiner = Read("sdxl");
  EraseUnder(refiner, "conditioner.embedders.0.");
  Rename(refiner, "conditioner.embedders.1.", "conditioner.embedders.0.");
  ExpectRefused(std::move(refiner), {"SDXL refiner"});
  SafetensorsFile mixed = Read("sd1");
  mixed.tensors["cond_stage_model.model.token_embedding.weight"] = {{1}, {1}};
  ExpectRefused(std::move(mixed), {"more than one family"});
}

TEST(LdmCheckpointErrors, CrossAttentionMustFitTheTextEncoder) {
  SafetensorsFile file = Read("sd1");
  // 49408 × 64 values read as a 128-wide encoder: the UNet's 64-wide cross-attention no longer
  // fits.
  file.tensors.at("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight")
      .shape = {24704, 128};
  ExpectRefused(std::move(file), {"cross-attention takes 64", "give 128"});
}

TEST(LdmCheckpointErrors, HeadsThatDoNotDivideTheChannels) {
  LdmOptions options;
  options.overrides.num_heads = 3;
  ExpectRefused(Read("sd1"), {"32 channels", "3 heads"}, options);
}

TEST(LdmCheckpointErrors, YamlThatContradictsTheWeights) {
  LdmOptions options;
  options.overrides.context_dim = 768;
  ExpectRefused(Read("sd1"), {"context_dim 768", "64"}, options);
  options = {};
  options.overrides.use_linear_projection = true;
  ExpectRefused(Read("sd1"), {"use_linear_in_transformer true"}, options);
}

TEST(LdmCheckpointErrors, PicklesAreRefusedWithHowToConvert) {
  for (const char* path : {"m.ckpt", "dir/m.pt", "m.pth", "m.BIN"}) {
    Status s = RefusePickleCheckpoint(path);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << path;
    EXPECT_TRUE(Contains(s.message(), path)) << s.message();
    EXPECT_TRUE(Contains(s.message(), "pickle")) << s.message();
    EXPECT_TRUE(Contains(s.message(), "weights_only=True")) << s.message();
    EXPECT_TRUE(Contains(s.message(), "safetensors")) << s.message();
  }
  EXPECT_TRUE(RefusePickleCheckpoint("m.safetensors").ok());
  // Refused before the file is even opened.
  EXPECT_EQ(LoadLdmCheckpoint("/nonexistent/m.ckpt").status().code(), StatusCode::kInvalidArgument);
}

TEST(LdmYaml, ReadsTheFieldsThatMatter) {
  Result<LdmOverrides> o = ParseLdmYaml(R"(
model:
  base_learning_rate: 1.0e-4
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    parameterization: "v"
    linear_start: 0.00085
    linear_end: 0.0120
    timesteps: 1000
    scale_factor: 0.18215
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        num_head_channels: 64 # need to fix for flash-attn
        use_linear_in_transformer: True
        context_dim: 1024
        channel_mult: [ 1, 2, 4, 4 ]
)",
                                        "v2.yaml");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->prediction_type, "v_prediction");
  EXPECT_DOUBLE_EQ(*o->beta_start, 0.00085);
  EXPECT_DOUBLE_EQ(*o->beta_end, 0.012);
  EXPECT_EQ(o->num_train_timesteps, 1000);
  EXPECT_DOUBLE_EQ(*o->scale_factor, 0.18215);
  EXPECT_EQ(o->num_head_channels, 64);
  EXPECT_FALSE(o->num_heads.has_value());
  EXPECT_EQ(o->use_linear_projection, true);
  EXPECT_EQ(o->context_dim, 1024);
}

TEST(LdmYaml, SdxlStyleConfigsSayVPredictionThroughTheDenoiser) {
  Result<LdmOverrides> o = ParseLdmYaml(R"(
model:
  target: sgm.models.diffusion.DiffusionEngine
  params:
    denoiser_config:
      target: sgm.modules.diffusionmodules.denoiser.DiscreteDenoiser
      params:
        scaling_config:
          target: sgm.modules.diffusionmodules.denoiser_scaling.VScaling
    network_config:
      params:
        num_head_channels: 64
        context_dim: [2048]
)",
                                        "xl.yaml");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->prediction_type, "v_prediction");
  EXPECT_EQ(o->context_dim, 2048);
}

TEST(LdmYaml, BadYamlAndBadFieldsAreErrorsNamingTheFile) {
  Result<LdmOverrides> o = ParseLdmYaml("model: [unclosed", "bad.yaml");
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(o.status().message(), "bad.yaml")) << o.status().message();
  o = ParseLdmYaml("model:\n  params:\n    unet_config:\n      params:\n        num_heads: many\n",
                   "f.yaml");
  EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(o.status().message(), "model.params.unet_config.params.num_heads"))
      << o.status().message();
  o = ParseLdmYaml("model:\n  params:\n    parameterization: x0\n", "f.yaml");
  EXPECT_TRUE(Contains(o.status().message(), "parameterization")) << o.status().message();
  EXPECT_TRUE(ParseLdmYaml("", "empty.yaml").ok());
}

TEST(LdmYaml, TheYamlBesideTheFileOverridesAndTheCallerWins) {
  const fs::path dir = fs::temp_directory_path() / "stipple_ldm_yaml_test";
  fs::create_directories(dir);
  const fs::path model = dir / "model.safetensors";
  fs::copy_file(TestData("sd1.safetensors"), model, fs::copy_options::overwrite_existing);
  std::ofstream(dir / "model.yaml") << "model:\n  params:\n    parameterization: v\n"
                                       "    unet_config:\n      params:\n        num_heads: 4\n";
  Result<LdmCheckpoint> ckpt = LoadLdmCheckpoint(model.string());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->prediction_type, "v_prediction");
  EXPECT_EQ(json::parse(ckpt->config_json.at("unet")).at("attention_head_dim"), 4);
  LdmOptions options;
  options.overrides.prediction_type = "epsilon";
  ckpt = LoadLdmCheckpoint(model.string(), options);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->prediction_type, "epsilon");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stipple
