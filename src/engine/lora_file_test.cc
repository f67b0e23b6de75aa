#include "engine/lora_file.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>

#include <fstream>
#include <optional>
#include <set>

namespace stipple {
namespace {

FloatTensor Zeros(std::vector<int64_t> shape) {
  FloatTensor t;
  t.shape = std::move(shape);
  t.values.assign(static_cast<size_t>(t.NumElements()), 0.0f);
  return t;
}

FloatTensor Scalar(float v) {
  FloatTensor t;
  t.values = {v};
  return t;
}

// A few modules of an SD 1.x-like model with small widths.
LoraModules Modules() {
  LoraModules m;
  auto& unet = m.parts[0];
  unet["down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"] = {16, 16};
  unet["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"] = {16, 32};
  unet["down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0"] = {16, 16};
  unet["down_blocks.0.attentions.0.proj_in"] = {16, 16, 1, 1};
  unet["down_blocks.0.resnets.0.conv1"] = {16, 16, 3, 3};
  unet["down_blocks.0.resnets.1.conv1"] = {16, 16, 3, 3};
  unet["down_blocks.1.resnets.0.conv1"] = {32, 16, 3, 3};
  unet["down_blocks.1.resnets.0.time_emb_proj"] = {32, 64};
  unet["down_blocks.1.attentions.0.transformer_blocks.0.ff.net.2"] = {32, 128};
  unet["down_blocks.0.downsamplers.0.conv"] = {16, 16, 3, 3};
  unet["mid_block.attentions.0.proj_out"] = {32, 32};
  unet["mid_block.resnets.1.conv2"] = {32, 32, 3, 3};
  unet["up_blocks.0.resnets.2.conv_shortcut"] = {32, 48, 1, 1};
  unet["up_blocks.0.upsamplers.0.conv"] = {32, 32, 3, 3};
  unet["up_blocks.1.attentions.1.proj_in"] = {16, 16};
  m.parts[1]["text_model.encoder.layers.0.self_attn.q_proj"] = {32, 32};
  m.parts[1]["text_model.encoder.layers.1.mlp.fc2"] = {32, 128};
  m.parts[2]["text_model.encoder.layers.0.self_attn.k_proj"] = {64, 64};
  return m;
}

void AddKohya(SafetensorsFile& f, const std::string& module, std::vector<int64_t> down,
              std::vector<int64_t> up, std::optional<float> alpha = std::nullopt) {
  f.tensors[module + ".lora_down.weight"] = Zeros(std::move(down));
  f.tensors[module + ".lora_up.weight"] = Zeros(std::move(up));
  if (alpha) f.tensors[module + ".alpha"] = Scalar(*alpha);
}

TEST(LoraFileTest, MapsKohyaKeysOntoModuleNames) {
  SafetensorsFile f;
  AddKohya(f, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", {4, 16},
           {16, 4}, 2.0f);
  AddKohya(f, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0", {4, 16},
           {16, 4});
  AddKohya(f, "lora_unet_down_blocks_0_attentions_0_proj_in", {4, 16, 1, 1}, {16, 4, 1, 1});
  AddKohya(f, "lora_unet_down_blocks_0_resnets_0_conv1", {2, 16, 3, 3}, {16, 2, 1, 1});
  AddKohya(f, "lora_te_text_model_encoder_layers_0_self_attn_q_proj", {4, 32}, {32, 4}, 8.0f);
  Result<std::vector<LoraLayer>> layers = MapLoraLayers(f, "style.safetensors", Modules());
  ASSERT_TRUE(layers.ok()) << layers.status().ToString();
  ASSERT_EQ(layers->size(), 5u);
  std::map<std::string, const LoraLayer*> by;
  for (const LoraLayer& l : *layers)
    by[std::string(LoraTargetName(l.target)) + ":" + l.module] = &l;
  const LoraLayer* q = by.at("unet:down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q");
  EXPECT_EQ(q->alpha, 2.0f);
  EXPECT_EQ(q->rank(), 4);
  EXPECT_EQ(q->key, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q");
  // No alpha: alpha = rank.
  EXPECT_EQ(by.at("unet:down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0")->alpha,
            4.0f);
  EXPECT_EQ(by.at("unet:down_blocks.0.resnets.0.conv1")->rank(), 2);
  EXPECT_EQ(by.at("text_encoder:text_model.encoder.layers.0.self_attn.q_proj")->alpha, 8.0f);
  EXPECT_EQ(by.count("unet:down_blocks.0.attentions.0.proj_in"), 1u);
}

TEST(LoraFileTest, MapsDiffusersAndPeftSpellings) {
  SafetensorsFile f;
  const std::string q = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
  f.tensors[q + ".lora_A.weight"] = Zeros({4, 16});
  f.tensors[q + ".lora_B.weight"] = Zeros({16, 4});
  f.tensors[q + ".alpha"] = Scalar(1.0f);
  const std::string k =
      "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora";
  f.tensors[k + ".down.weight"] = Zeros({4, 32});
  f.tensors[k + ".up.weight"] = Zeros({16, 4});
  const std::string o =
      "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out_lora";
  f.tensors[o + ".down.weight"] = Zeros({4, 16});
  f.tensors[o + ".up.weight"] = Zeros({16, 4});
  const std::string fc = "text_encoder.text_model.encoder.layers.1.mlp.fc2";
  f.tensors[fc + ".lora_linear_layer.down.weight"] = Zeros({2, 128});
  f.tensors[fc + ".lora_linear_layer.up.weight"] = Zeros({32, 2});
  const std::string te2 = "text_encoder_2.text_model.encoder.layers.0.self_attn.k_proj";
  f.tensors[te2 + ".lora.down.weight"] = Zeros({2, 64});
  f.tensors[te2 + ".lora.up.weight"] = Zeros({64, 2});
  Result<std::vector<LoraLayer>> layers = MapLoraLayers(f, "p.safetensors", Modules());
  ASSERT_TRUE(layers.ok()) << layers.status().ToString();
  std::set<std::string> names;
  for (const LoraLayer& l : *layers)
    names.insert(std::string(LoraTargetName(l.target)) + ":" + l.module);
  EXPECT_EQ(names, (std::set<std::string>{
                       "unet:down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
                       "unet:down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
                       "unet:down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
                       "text_encoder:text_model.encoder.layers.1.mlp.fc2",
                       "text_encoder_2:text_model.encoder.layers.0.self_attn.k_proj"}));
}

TEST(LoraFileTest, MapsLdmNamedUNetKeys) {
  // SDXL kohya files name UNet modules as the original LDM checkpoint does.
  SafetensorsFile f;
  AddKohya(f, "lora_unet_input_blocks_1_0_in_layers_2", {2, 16, 3, 3}, {16, 2, 1, 1});
  AddKohya(f, "lora_unet_input_blocks_2_0_in_layers_2", {2, 16, 3, 3}, {16, 2, 1, 1});
  AddKohya(f, "lora_unet_input_blocks_3_0_op", {2, 16, 3, 3}, {16, 2, 1, 1});
  AddKohya(f, "lora_unet_input_blocks_4_0_emb_layers_1", {2, 64}, {32, 2});
  AddKohya(f, "lora_unet_input_blocks_4_1_transformer_blocks_0_ff_net_2", {2, 128}, {32, 2});
  AddKohya(f, "lora_unet_middle_block_1_proj_out", {2, 32}, {32, 2});
  AddKohya(f, "lora_unet_middle_block_2_out_layers_3", {2, 32, 3, 3}, {32, 2, 1, 1});
  AddKohya(f, "lora_unet_output_blocks_2_0_skip_connection", {2, 48, 1, 1}, {32, 2, 1, 1});
  AddKohya(f, "lora_unet_output_blocks_2_1_conv", {2, 32, 3, 3}, {32, 2, 1, 1});
  AddKohya(f, "lora_unet_output_blocks_4_1_proj_in", {2, 16}, {16, 2});
  Result<std::vector<LoraLayer>> layers = MapLoraLayers(f, "xl.safetensors", Modules());
  ASSERT_TRUE(layers.ok()) << layers.status().ToString();
  std::set<std::string> names;
  for (const LoraLayer& l : *layers) names.insert(l.module);
  EXPECT_EQ(names, (std::set<std::string>{
                       "down_blocks.0.resnets.0.conv1", "down_blocks.0.resnets.1.conv1",
                       "down_blocks.0.downsamplers.0.conv", "down_blocks.1.resnets.0.time_emb_proj",
                       "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.2",
                       "mid_block.attentions.0.proj_out", "mid_block.resnets.1.conv2",
                       "up_blocks.0.resnets.2.conv_shortcut", "up_blocks.0.upsamplers.0.conv",
                       "up_blocks.1.attentions.1.proj_in"}));
}

std::string ErrorOf(const SafetensorsFile& f) {
  Result<std::vector<LoraLayer>> layers = MapLoraLayers(f, "bad.safetensors", Modules());
  EXPECT_FALSE(layers.ok());
  EXPECT_EQ(layers.status().code(), StatusCode::kInvalidArgument);
  return layers.status().message();
}

TEST(LoraFileTest, ErrorsNameTheFileAndTheKey) {
  SafetensorsFile unknown;
  unknown.tensors["model.diffusion_model.foo.weight"] = Zeros({2, 2});
  EXPECT_NE(ErrorOf(unknown).find("bad.safetensors: model.diffusion_model.foo.weight"),
            std::string::npos);

  SafetensorsFile unmapped;
  AddKohya(unmapped, "lora_unet_down_blocks_9_attentions_0_proj_in", {4, 16}, {16, 4});
  EXPECT_NE(ErrorOf(unmapped).find("lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight"),
            std::string::npos);

  SafetensorsFile misshapen;
  AddKohya(misshapen, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
           {4, 768}, {16, 4});
  const std::string message = ErrorOf(misshapen);
  EXPECT_NE(message.find("attn2_to_k"), std::string::npos) << message;
  EXPECT_NE(message.find("[16, 32]"), std::string::npos) << message;

  SafetensorsFile half;
  half.tensors["lora_unet_mid_block_attentions_0_proj_out.lora_down.weight"] = Zeros({2, 32});
  EXPECT_NE(ErrorOf(half).find("no up"), std::string::npos);

  SafetensorsFile conv_rank;
  AddKohya(conv_rank, "lora_unet_down_blocks_0_resnets_0_conv1", {2, 16, 3, 3}, {16, 3, 1, 1});
  EXPECT_NE(ErrorOf(conv_rank).find("rank"), std::string::npos);
}

TEST(LoraFileTest, DetectsTheFamily) {
  auto family = [](const SafetensorsFile& f) {
    Result<SdFamily> r = DetectLoraFamily(f, "f.safetensors");
    return r.ok() ? std::string(SdFamilyName(*r)) : r.status().message();
  };
  SafetensorsFile meta;
  meta.metadata["ss_base_model_version"] = "sd_v1";
  EXPECT_EQ(family(meta), "sd1");
  meta.metadata["modelspec.architecture"] = "stable-diffusion-xl-v1-base/lora";
  EXPECT_EQ(family(meta), "sdxl");

  SafetensorsFile sd2;
  AddKohya(sd2, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", {4, 1024},
           {320, 4});
  EXPECT_EQ(family(sd2), "sd2");
  SafetensorsFile sd1;
  sd1.tensors["unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v.lora_A.weight"] =
      Zeros({4, 768});
  EXPECT_EQ(family(sd1), "sd1");
  SafetensorsFile xl;
  AddKohya(xl, "lora_te2_text_model_encoder_layers_0_self_attn_q_proj", {4, 1280}, {1280, 4});
  EXPECT_EQ(family(xl), "sdxl");
  SafetensorsFile xl_te1;
  AddKohya(xl_te1, "lora_te1_text_model_encoder_layers_0_self_attn_q_proj", {4, 768}, {768, 4});
  EXPECT_EQ(family(xl_te1), "sdxl");
  SafetensorsFile xl_unet;
  AddKohya(xl_unet, "lora_unet_input_blocks_4_1_proj_in", {4, 640}, {640, 4});
  EXPECT_EQ(family(xl_unet), "sdxl");
  SafetensorsFile te_only;
  AddKohya(te_only, "lora_te_text_model_encoder_layers_0_self_attn_q_proj", {4, 1024}, {1024, 4});
  EXPECT_EQ(family(te_only), "sd2");
  SafetensorsFile unknown;
  AddKohya(unknown, "lora_unet_down_blocks_0_resnets_0_conv1", {4, 320, 3, 3}, {320, 4, 1, 1});
  EXPECT_NE(family(unknown).find("cannot tell its model family"), std::string::npos);
}

TEST(LoraFileTest, FolderAndCatalog) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("lora_file_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "sd1-x");
  std::ofstream(root / "sd1-x" / "model_index.json") << "{}";
  std::filesystem::create_directories(root / "loras");
  SafetensorsFile ok;
  ok.metadata["ss_base_model_version"] = "sd_v1";
  AddKohya(ok, "lora_unet_mid_block_attentions_0_proj_out", {2, 32}, {32, 2});
  ASSERT_TRUE(WriteSafetensorsFile((root / "loras" / "ink.safetensors").string(), ok).ok());
  SafetensorsFile unknown;
  AddKohya(unknown, "lora_unet_mid_block_attentions_0_proj_out", {2, 32}, {32, 2});
  ASSERT_TRUE(WriteSafetensorsFile((root / "loras" / "what.safetensors").string(), unknown).ok());
  std::ofstream(root / "loras" / "notes.txt") << "not a LoRA";

  EXPECT_EQ(LoraDirFor(root.string()), (root / "loras").string());
  EXPECT_EQ(LoraDirFor((root / "sd1-x").string()), (root / "loras").string());
  const std::map<std::string, std::string> files = FindLoraFiles((root / "loras").string());
  ASSERT_EQ(files.size(), 2u);
  std::vector<Status> errors;
  std::vector<LoraInfo> infos = DescribeLoraFiles(files, &errors);
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].name, "ink");
  EXPECT_EQ(infos[0].family, "sd1");
  EXPECT_GT(infos[0].bytes, 0);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message().find("what.safetensors"), std::string::npos);
  EXPECT_TRUE(FindLoraFiles((root / "none").string()).empty());
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace stipple
