#include "engine/diffusers_folder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace stipple {
namespace {

namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("stipple_diffusers_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Path(const std::string& rel = "") const {
    return rel.empty() ? path_.string() : (path_ / rel).string();
  }

 private:
  fs::path path_;
};

void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

void WriteWeights(const std::string& path, const std::vector<std::string>& names) {
  fs::create_directories(fs::path(path).parent_path());
  SafetensorsFile file;
  for (size_t i = 0; i < names.size(); ++i) {
    file.tensors[names[i]] = {{2}, {static_cast<float>(i), 0.5f}};
  }
  file.metadata["format"] = "pt";
  ASSERT_TRUE(WriteSafetensorsFile(path, file).ok());
}

const char* kSdIndex = R"({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.2",
  "feature_extractor": [null, null], "requires_safety_checker": false,
  "safety_checker": [null, null], "scheduler": ["diffusers", "PNDMScheduler"],
  "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
  "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})";

const char* kXlIndex = R"({"_class_name": "StableDiffusionXLPipeline",
  "force_zeros_for_empty_prompt": true, "add_watermarker": null,
  "scheduler": ["diffusers", "EulerDiscreteScheduler"],
  "text_encoder": ["transformers", "CLIPTextModel"],
  "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
  "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
  "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})";

void WriteTokenizer(const TempDir& d, const std::string& name) {
  WriteText(d.Path(name + "/tokenizer_config.json"), R"({"pad_token": "!"})");
  WriteText(d.Path(name + "/vocab.json"), R"({"!": 0})");
  WriteText(d.Path(name + "/merges.txt"), "#version: 0.2\n");
}

void WriteTextEncoder(const TempDir& d, const std::string& name, const std::string& cls,
                      const std::string& act) {
  WriteText(d.Path(name + "/config.json"),
            R"({"architectures": [")" + cls + R"("], "hidden_act": ")" + act + R"("})");
  WriteWeights(d.Path(name + "/model.safetensors"), {"text_model.final_layer_norm.weight"});
}

// A well-formed folder of tiny stand-in files (one tensor per part).
void WriteSdFolder(const TempDir& d, const std::string& act = "quick_gelu") {
  WriteText(d.Path("model_index.json"), kSdIndex);
  WriteText(d.Path("unet/config.json"), R"({"_class_name": "UNet2DConditionModel"})");
  WriteWeights(d.Path("unet/diffusion_pytorch_model.safetensors"), {"conv_in.weight"});
  WriteText(d.Path("vae/config.json"), R"({"_class_name": "AutoencoderKL"})");
  WriteWeights(d.Path("vae/diffusion_pytorch_model.safetensors"), {"decoder.conv_in.weight"});
  WriteTextEncoder(d, "text_encoder", "CLIPTextModel", act);
  WriteTokenizer(d, "tokenizer");
  WriteText(d.Path("scheduler/scheduler_config.json"), R"({"_class_name": "PNDMScheduler"})");
}

void WriteXlFolder(const TempDir& d) {
  WriteSdFolder(d);
  WriteText(d.Path("model_index.json"), kXlIndex);
  WriteTextEncoder(d, "text_encoder_2", "CLIPTextModelWithProjection", "gelu");
  WriteTokenizer(d, "tokenizer_2");
}

// The UNet in two shards with an index (named as diffusers writes them).
void ShardUnet(const TempDir& d, const std::string& index_name, const std::string& stem) {
  fs::remove(d.Path("unet/diffusion_pytorch_model.safetensors"));
  WriteWeights(d.Path("unet/" + stem + "-00001-of-00002.safetensors"), {"a", "b"});
  WriteWeights(d.Path("unet/" + stem + "-00002-of-00002.safetensors"), {"c"});
  WriteText(d.Path("unet/" + index_name),
            R"({"metadata": {"total_size": 24}, "weight_map": {"a": ")" + stem +
                R"(-00001-of-00002.safetensors", "b": ")" + stem +
                R"(-00001-of-00002.safetensors", "c": ")" + stem +
                R"(-00002-of-00002.safetensors"}})");
}

TEST(DiffusersFolder, ReadsAnSdFolder) {
  TempDir d;
  WriteSdFolder(d);
  Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->family, SdFamily::kSd1);
  EXPECT_EQ(f->pipeline_class, "StableDiffusionPipeline");
  EXPECT_EQ(f->diffusers_version, "0.27.2");
  EXPECT_FALSE(f->force_zeros_for_empty_prompt);
  EXPECT_EQ(f->unet.config_path, d.Path("unet/config.json"));
  EXPECT_EQ(f->unet.weight_files,
            std::vector<std::string>{d.Path("unet/diffusion_pytorch_model.safetensors")});
  EXPECT_EQ(f->text_encoder.weight_files,
            std::vector<std::string>{d.Path("text_encoder/model.safetensors")});
  EXPECT_EQ(f->text_encoder.class_name, "CLIPTextModel");
  EXPECT_EQ(f->tokenizer.vocab_path, d.Path("tokenizer/vocab.json"));
  EXPECT_EQ(f->tokenizer.merges_path, d.Path("tokenizer/merges.txt"));
  EXPECT_EQ(f->tokenizer.special_tokens_map_path, "");
  EXPECT_TRUE(f->tokenizer.weight_files.empty());
  EXPECT_EQ(f->scheduler.class_name, "PNDMScheduler");
  EXPECT_EQ(f->scheduler.config_path, d.Path("scheduler/scheduler_config.json"));
  EXPECT_FALSE(f->text_encoder_2.has_value());
  EXPECT_TRUE(IsDiffusersFolder(d.Path()));
  Result<SafetensorsFile> w = ReadPartWeights(f->unet);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->tensors.count("conv_in.weight"), 1u);
  EXPECT_EQ(ReadPartWeights(f->tokenizer).status().code(), StatusCode::kFailedPrecondition);
}

TEST(DiffusersFolder, TellsSd2FromTheTextEncodersActivation) {
  TempDir d;
  WriteSdFolder(d, "gelu");
  Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->family, SdFamily::kSd2);
  EXPECT_EQ(SdFamilyName(f->family), "sd2");
}

TEST(DiffusersFolder, ReadsAnSdxlFolder) {
  TempDir d;
  WriteXlFolder(d);
  Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->family, SdFamily::kSdxl);
  EXPECT_TRUE(f->force_zeros_for_empty_prompt);
  ASSERT_TRUE(f->text_encoder_2.has_value());
  EXPECT_EQ(f->text_encoder_2->class_name, "CLIPTextModelWithProjection");
  ASSERT_TRUE(f->tokenizer_2.has_value());
  EXPECT_EQ(f->tokenizer_2->vocab_path, d.Path("tokenizer_2/vocab.json"));

  WriteText(d.Path("model_index.json"),
            std::string(kXlIndex).replace(std::string(kXlIndex).find("true"), 4, "false"));
  f = ReadDiffusersFolder(d.Path());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_FALSE(f->force_zeros_for_empty_prompt);
}

TEST(DiffusersFolder, WeightVariantPrecedence) {
  TempDir d;
  WriteSdFolder(d);
  const std::string plain = d.Path("unet/diffusion_pytorch_model.safetensors");
  const std::string fp16 = d.Path("unet/diffusion_pytorch_model.fp16.safetensors");
  WriteWeights(fp16, {"conv_in.weight"});
  // Both present: the plain file unless the variant is requested.
  Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->unet.weight_files, std::vector<std::string>{plain});
  EXPECT_EQ(f->unet.variant, "");
  f = ReadDiffusersFolder(d.Path(), {.variant = "fp16"});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->unet.weight_files, std::vector<std::string>{fp16});
  EXPECT_EQ(f->unet.variant, "fp16");
  // A part without the requested variant falls back to its plain file.
  EXPECT_EQ(f->vae->variant, "");
  // Another variant requested but absent: the plain file.
  f = ReadDiffusersFolder(d.Path(), {.variant = "bf16"});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->unet.weight_files, std::vector<std::string>{plain});
  // Only the fp16 variant: used without asking.
  fs::remove(plain);
  f = ReadDiffusersFolder(d.Path());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->unet.weight_files, std::vector<std::string>{fp16});
  EXPECT_EQ(f->unet.variant, "fp16");
}

TEST(DiffusersFolder, ShardsAreListedAndMerged) {
  // Both spellings of a variant's index name.
  for (const char* index_name : {"diffusion_pytorch_model.safetensors.index.fp16.json",
                                 "diffusion_pytorch_model.fp16.safetensors.index.json"}) {
    TempDir d;
    WriteSdFolder(d);
    ShardUnet(d, index_name, "diffusion_pytorch_model.fp16");
    Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->unet.index_path, d.Path(std::string("unet/") + index_name));
    EXPECT_EQ(f->unet.variant, "fp16");
    EXPECT_EQ(f->unet.weight_files,
              (std::vector<std::string>{
                  d.Path("unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors"),
                  d.Path("unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors")}));
    Result<SafetensorsFile> w = ReadPartWeights(f->unet);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(w->tensors.size(), 3u);
    EXPECT_EQ(w->tensors.at("c").values, (std::vector<float>{0, 0.5f}));
    EXPECT_EQ(w->metadata.at("format"), "pt");
  }
}

TEST(DiffusersFolder, ReadsTheZoo) {
  const std::string zoo = std::string(STIPPLE_ENGINE_TESTDATA) + "/models/";
  Result<DiffusersFolder> sd1 = ReadDiffusersFolder(zoo + "sd1-tiny");
  ASSERT_TRUE(sd1.ok()) << sd1.status().ToString();
  EXPECT_EQ(sd1->family, SdFamily::kSd1);
  EXPECT_EQ(sd1->scheduler.class_name, "PNDMScheduler");
  EXPECT_FALSE(sd1->tokenizer.special_tokens_map_path.empty());

  Result<DiffusersFolder> sd2 = ReadDiffusersFolder(zoo + "sd2v-tiny");
  ASSERT_TRUE(sd2.ok()) << sd2.status().ToString();
  EXPECT_EQ(sd2->family, SdFamily::kSd2);
  EXPECT_EQ(sd2->unet.variant, "fp16");
  EXPECT_EQ(sd2->unet.weight_files.size(), 2u);
  EXPECT_EQ(sd2->text_encoder.variant, "fp16");
  Result<SafetensorsFile> unet = ReadPartWeights(sd2->unet);
  ASSERT_TRUE(unet.ok()) << unet.status().ToString();
  EXPECT_EQ(unet->tensors.count("conv_in.weight"), 1u);
  EXPECT_EQ(unet->tensors.count("up_blocks.1.attentions.1.proj_out.weight"), 1u);

  Result<DiffusersFolder> xl = ReadDiffusersFolder(zoo + "sdxl-tiny");
  ASSERT_TRUE(xl.ok()) << xl.status().ToString();
  EXPECT_EQ(xl->family, SdFamily::kSdxl);
  EXPECT_TRUE(xl->force_zeros_for_empty_prompt);
  EXPECT_EQ(xl->vae->variant, "");
  xl = ReadDiffusersFolder(zoo + "sdxl-tiny", {.variant = "fp16"});
  ASSERT_TRUE(xl.ok()) << xl.status().ToString();
  EXPECT_EQ(xl->vae->variant, "fp16");
  EXPECT_EQ(xl->unet.variant, "");  // no fp16 UNet: the plain file
  Result<SafetensorsFile> text2 = ReadPartWeights(*xl->text_encoder_2);
  ASSERT_TRUE(text2.ok()) << text2.status().ToString();
  EXPECT_EQ(text2->tensors.at("text_projection.weight").shape, (std::vector<int64_t>{40, 48}));
}

// A broken folder: how it is broken, what reading it must say.
struct BrokenCase {
  const char* name;
  std::function<void(const TempDir&)> breakit;
  StatusCode code;
  std::vector<std::string> message_has;  // substrings; "{dir}" is the folder's path
  bool read_unet_weights = false;        // the error comes from ReadPartWeights(unet)
  bool xl = false;
};

std::vector<BrokenCase> BrokenCases() {
  auto replace_index = [](std::string from, std::string to) {
    return [from, to](const TempDir& d) {
      std::string index = kSdIndex;
      index.replace(index.find(from), from.size(), to);
      WriteText(d.Path("model_index.json"), index);
    };
  };
  return {
      {"missing model_index.json",
       [](const TempDir& d) { fs::remove(d.Path("model_index.json")); },
       StatusCode::kNotFound,
       {"{dir}/model_index.json", "no such file"}},
      {"model_index.json not JSON",
       [](const TempDir& d) { WriteText(d.Path("model_index.json"), "{\"_class_name\": "); },
       StatusCode::kDataLoss,
       {"{dir}/model_index.json", "not valid JSON"}},
      {"unknown pipeline class",
       replace_index("\"StableDiffusionPipeline\"", "\"StableDiffusionUpscalePipeline\""),
       StatusCode::kInvalidArgument,
       {"model_index.json", "StableDiffusionUpscalePipeline"}},
      {"flux",
       replace_index("\"StableDiffusionPipeline\"", "\"FluxPipeline\""),
       StatusCode::kInvalidArgument,
       {"FluxPipeline", "not supported"}},
      {"no _class_name",
       replace_index("\"_class_name\"", "\"class\""),
       StatusCode::kInvalidArgument,
       {"model_index.json", "_class_name"}},
      {"unsupported vae class",
       replace_index("\"AutoencoderKL\"", "\"AutoencoderTiny\""),
       StatusCode::kInvalidArgument,
       {"model_index.json", "vae", "AutoencoderTiny"}},
      {"text encoder from the wrong library",
       replace_index("[\"transformers\", \"CLIPTextModel\"]", "[\"diffusers\", \"CLIPTextModel\"]"),
       StatusCode::kInvalidArgument,
       {"text_encoder", "diffusers"}},
      {"unknown component",
       replace_index("\"requires_safety_checker\"",
                     "\"controlnet\": [\"diffusers\", \"ControlNetModel\"], \"x\""),
       StatusCode::kInvalidArgument,
       {"controlnet", "ControlNetModel"}},
      {"component not a pair",
       replace_index("[\"diffusers\", \"AutoencoderKL\"]", "\"vae\""),
       StatusCode::kInvalidArgument,
       {"model_index.json", "vae", "[library, class]"}},
      {"unet component null",
       replace_index("[\"diffusers\", \"UNet2DConditionModel\"]", "[null, null]"),
       StatusCode::kInvalidArgument,
       {"no unet component"}},
      {"missing unet/",
       [](const TempDir& d) { fs::remove_all(d.Path("unet")); },
       StatusCode::kNotFound,
       {"{dir}/unet", "no such folder"}},
      {"missing unet config.json",
       [](const TempDir& d) { fs::remove(d.Path("unet/config.json")); },
       StatusCode::kNotFound,
       {"{dir}/unet/config.json"}},
      {"unet config for another class",
       [](const TempDir& d) {
         WriteText(d.Path("unet/config.json"), R"({"_class_name": "UNet2DModel"})");
       },
       StatusCode::kInvalidArgument,
       {"{dir}/unet/config.json", "_class_name"}},
      {"text encoder config for another architecture",
       [](const TempDir& d) {
         WriteText(d.Path("text_encoder/config.json"), R"({"architectures": ["T5EncoderModel"]})");
       },
       StatusCode::kInvalidArgument,
       {"{dir}/text_encoder/config.json", "architectures"}},
      {"unknown text activation",
       [](const TempDir& d) {
         WriteText(d.Path("text_encoder/config.json"), R"({"hidden_act": "relu"})");
       },
       StatusCode::kInvalidArgument,
       {"{dir}/text_encoder/config.json", "hidden_act"}},
      {"missing scheduler config",
       [](const TempDir& d) { fs::remove(d.Path("scheduler/scheduler_config.json")); },
       StatusCode::kNotFound,
       {"{dir}/scheduler/scheduler_config.json"}},
      {"missing vocab.json",
       [](const TempDir& d) { fs::remove(d.Path("tokenizer/vocab.json")); },
       StatusCode::kNotFound,
       {"{dir}/tokenizer/vocab.json"}},
      {"no weights",
       [](const TempDir& d) { fs::remove(d.Path("vae/diffusion_pytorch_model.safetensors")); },
       StatusCode::kNotFound,
       {"{dir}/vae", "no weights", "diffusion_pytorch_model.safetensors"}},
      {".bin-only part",
       [](const TempDir& d) {
         fs::remove(d.Path("vae/diffusion_pytorch_model.safetensors"));
         WriteText(d.Path("vae/diffusion_pytorch_model.bin"), "PK\x03\x04 pickle");
       },
       StatusCode::kInvalidArgument,
       {"{dir}/vae", "diffusion_pytorch_model.bin", "pickle", "arbitrary", "safe_serialization"}},
      {".ckpt-only text encoder",
       [](const TempDir& d) {
         fs::remove(d.Path("text_encoder/model.safetensors"));
         WriteText(d.Path("text_encoder/pytorch_model.ckpt"), "pickle");
       },
       StatusCode::kInvalidArgument,
       {"{dir}/text_encoder", "pytorch_model.ckpt", "pickle"}},
      {"missing shard",
       [](const TempDir& d) {
         ShardUnet(d, "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model");
         fs::remove(d.Path("unet/diffusion_pytorch_model-00002-of-00002.safetensors"));
       },
       StatusCode::kNotFound,
       {"{dir}/unet/diffusion_pytorch_model-00002-of-00002.safetensors", "no such file",
        "diffusion_pytorch_model.safetensors.index.json"}},
      {"index without weight_map",
       [](const TempDir& d) {
         ShardUnet(d, "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model");
         WriteText(d.Path("unet/diffusion_pytorch_model.safetensors.index.json"),
                   R"({"metadata": {}})");
       },
       StatusCode::kDataLoss,
       {"index.json", "weight_map"}},
      {"index naming a path outside the part",
       [](const TempDir& d) {
         ShardUnet(d, "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model");
         WriteText(d.Path("unet/diffusion_pytorch_model.safetensors.index.json"),
                   R"({"weight_map": {"a": "../vae/diffusion_pytorch_model.safetensors"}})");
       },
       StatusCode::kDataLoss,
       {"weight_map.a"}},
      {"tensor in two shards",
       [](const TempDir& d) {
         ShardUnet(d, "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model");
         WriteWeights(d.Path("unet/diffusion_pytorch_model-00002-of-00002.safetensors"),
                      {"c", "a"});
       },
       StatusCode::kDataLoss,
       {"tensor a", "00001-of-00002", "00002-of-00002"},
       true},
      {"tensor the index names missing from its shard",
       [](const TempDir& d) {
         ShardUnet(d, "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model");
         WriteWeights(d.Path("unet/diffusion_pytorch_model-00001-of-00002.safetensors"), {"a"});
       },
       StatusCode::kDataLoss,
       {"00001-of-00002", "lacks tensor b"},
       true},
      {"shard holding a tensor the index does not list",
       [](const TempDir& d) {
         ShardUnet(d, "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model");
         WriteWeights(d.Path("unet/diffusion_pytorch_model-00002-of-00002.safetensors"),
                      {"c", "z"});
       },
       StatusCode::kDataLoss,
       {"00002-of-00002", "tensor z", "does not list"},
       true},
      {"truncated safetensors",
       [](const TempDir& d) {
         const std::string path = d.Path("unet/diffusion_pytorch_model.safetensors");
         fs::resize_file(path, fs::file_size(path) - 3);
       },
       StatusCode::kDataLoss,
       {"{dir}/unet/diffusion_pytorch_model.safetensors"},
       true},
      {"sdxl without tokenizer_2",
       [](const TempDir& d) { fs::remove_all(d.Path("tokenizer_2")); },
       StatusCode::kNotFound,
       {"{dir}/tokenizer_2", "no such folder"},
       false,
       true},
      {"sdxl force_zeros not a bool",
       [](const TempDir& d) {
         std::string index = kXlIndex;
         index.replace(index.find("true"), 4, "\"yes\"");
         WriteText(d.Path("model_index.json"), index);
       },
       StatusCode::kInvalidArgument,
       {"force_zeros_for_empty_prompt"},
       false,
       true},
  };
}

TEST(DiffusersFolder, BrokenFoldersGiveClearErrors) {
  for (const BrokenCase& c : BrokenCases()) {
    SCOPED_TRACE(c.name);
    TempDir d;
    c.xl ? WriteXlFolder(d) : WriteSdFolder(d);
    c.breakit(d);
    Status status;
    Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path());
    if (c.read_unet_weights) {
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      status = ReadPartWeights(f->unet).status();
    } else {
      ASSERT_FALSE(f.ok());
      status = f.status();
    }
    EXPECT_EQ(status.code(), c.code) << status.ToString();
    for (std::string want : c.message_has) {
      if (size_t at = want.find("{dir}"); at != std::string::npos) want.replace(at, 5, d.Path());
      EXPECT_NE(status.message().find(want), std::string::npos)
          << "wanted \"" << want << "\" in: " << status.message();
    }
  }
}

TEST(DiffusersFolder, IgnoresSafetyCheckerAndFeatureExtractor) {
  TempDir d;
  WriteSdFolder(d);
  std::string index = kSdIndex;
  const std::string null_checker = "\"safety_checker\": [null, null]";
  index.replace(index.find(null_checker), null_checker.size(),
                R"("safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"])");
  WriteText(d.Path("model_index.json"), index);
  Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path());
  EXPECT_TRUE(f.ok()) << f.status().ToString();
}

TEST(DiffusersFolder, ANullVaeIsAPixelSpaceModel) {
  TempDir d;
  WriteSdFolder(d);
  fs::remove_all(d.Path("vae"));
  std::string index = kSdIndex;
  const std::string vae = R"("vae": ["diffusers", "AutoencoderKL"])";
  index.replace(index.find(vae), vae.size(), R"("vae": [null, null])");
  WriteText(d.Path("model_index.json"), index);
  Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_FALSE(f->vae.has_value());
  EXPECT_FALSE(f->defaults.steps.has_value());

  // A vae left out altogether is still an error, and SDXL needs its VAE.
  index.replace(index.find(R"("vae": [null, null])"), 19, R"("_vae": 1)");
  WriteText(d.Path("model_index.json"), index);
  EXPECT_NE(ReadDiffusersFolder(d.Path()).status().message().find("no vae component"),
            std::string::npos);
}

TEST(DiffusersFolder, ReadsStippleDefaults) {
  TempDir d;
  WriteSdFolder(d);
  std::string index = kSdIndex;
  auto with_defaults = [&](const std::string& defaults) {
    std::string text = index;
    text.insert(1, R"("_stipple_defaults": )" + defaults + ", ");
    WriteText(d.Path("model_index.json"), text);
    return ReadDiffusersFolder(d.Path());
  };
  Result<DiffusersFolder> f = with_defaults(R"({"steps": 20, "guidance_scale": 3})");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->defaults.steps, 20);
  EXPECT_EQ(f->defaults.guidance_scale, 3.0);
  f = with_defaults(R"({"guidance_scale": 2.5})");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_FALSE(f->defaults.steps.has_value());
  EXPECT_EQ(f->defaults.guidance_scale, 2.5);
  for (const char* bad : {R"({"steps": 0})", R"({"steps": 2.5})", R"({"guidance_scale": "3"})",
                          R"({"guidance_scale": 31})", R"({"scheduler": "ddim"})", "[20]"}) {
    f = with_defaults(bad);
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(f.status().message().find("_stipple_defaults"), std::string::npos)
        << f.status().message();
  }
}

TEST(DiffusersFolder, RefusesOddVariantNamesAndMissingFolders) {
  TempDir d;
  WriteSdFolder(d);
  EXPECT_EQ(ReadDiffusersFolder(d.Path(), {.variant = "../x"}).status().code(),
            StatusCode::kInvalidArgument);
  Result<DiffusersFolder> f = ReadDiffusersFolder(d.Path("nothing-here"));
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("nothing-here"), std::string::npos);
  EXPECT_FALSE(IsDiffusersFolder(d.Path("unet")));
}

}  // namespace
}  // namespace stipple
