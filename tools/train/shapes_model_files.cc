#include "shapes_model_files.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "shapes_dataset.h"

namespace stipple::shapes {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kBos = "<|startoftext|>";
constexpr const char* kEos = "<|endoftext|>";
constexpr const char* kDiffusersVersion = "0.27.2";

// GPT-2's byte → unicode map, in CLIP's vocabulary order: the printable bytes ! .. ~, ¡ .. ¬,
// ® .. ÿ stand for themselves, the others for U+0100 onwards. Returns (byte, UTF-8) pairs.
std::vector<std::pair<int, std::string>> ByteSymbols() {
  auto utf8 = [](int cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  std::vector<std::pair<int, std::string>> out;
  std::set<int> printable;
  for (int b = '!'; b <= '~'; ++b) printable.insert(b);
  for (int b = 0xA1; b <= 0xAC; ++b) printable.insert(b);
  for (int b = 0xAE; b <= 0xFF; ++b) printable.insert(b);
  for (int b : printable) out.emplace_back(b, utf8(b));
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    if (!printable.count(b)) out.emplace_back(b, utf8(256 + next++));
  }
  return out;
}

Status WriteIfMissing(const fs::path& path, const std::string& text) {
  if (fs::exists(path)) return Status::Ok();
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return UnavailableError("cannot create " + path.parent_path().string());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return UnavailableError("cannot write " + path.string());
  return Status::Ok();
}

std::string Json(const json::value& v) { return json::serialize(v) + "\n"; }

json::array Null2() { return json::array{nullptr, nullptr}; }

std::string ModelIndexJson() {
  json::object o;
  o["_class_name"] = "StableDiffusionPipeline";
  o["_diffusers_version"] = kDiffusersVersion;
  o["_stipple_defaults"] = json::object{{"steps", 20}, {"guidance_scale", 3.0}};
  o["feature_extractor"] = Null2();
  o["requires_safety_checker"] = false;
  o["safety_checker"] = Null2();
  o["scheduler"] = json::array{"diffusers", "DDIMScheduler"};
  o["text_encoder"] = json::array{"transformers", "CLIPTextModel"};
  o["tokenizer"] = json::array{"transformers", "CLIPTokenizer"};
  o["unet"] = json::array{"diffusers", "UNet2DConditionModel"};
  o["vae"] = Null2();
  return Json(o);
}

std::string TextEncoderJson(int vocab_size) {
  json::object o;
  o["architectures"] = json::array{"CLIPTextModel"};
  o["model_type"] = "clip_text_model";
  o["hidden_size"] = 64;
  o["intermediate_size"] = 256;
  o["num_hidden_layers"] = 2;
  o["num_attention_heads"] = 4;
  o["max_position_embeddings"] = kShapesMaxTokens;
  o["vocab_size"] = vocab_size;
  o["hidden_act"] = "quick_gelu";
  o["layer_norm_eps"] = 1e-5;
  o["projection_dim"] = 64;
  o["bos_token_id"] = vocab_size - 2;
  o["eos_token_id"] = vocab_size - 1;
  o["pad_token_id"] = vocab_size - 1;
  o["initializer_factor"] = 1.0;
  o["initializer_range"] = 0.02;
  o["attention_dropout"] = 0.0;
  o["dropout"] = 0.0;
  o["torch_dtype"] = "float32";
  return Json(o);
}

std::string UNetJson() {
  json::object o;
  o["_class_name"] = "UNet2DConditionModel";
  o["_diffusers_version"] = kDiffusersVersion;
  o["sample_size"] = kImageSize;
  o["in_channels"] = 3;
  o["out_channels"] = 3;
  // Attention at 8x8 and in the mid block only (16x16 self-attention costs more than the rest
  // of the network: tools/train/README.md), and the caption attention-pooled into the time
  // embedding so that colour and place reach every block, the 32x32 ones included.
  o["down_block_types"] = json::array{"DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"};
  o["mid_block_type"] = "UNetMidBlock2DCrossAttn";
  o["up_block_types"] = json::array{"CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"};
  o["addition_embed_type"] = "text";
  o["addition_embed_type_num_heads"] = 4;
  o["block_out_channels"] = json::array{32, 64, 64};
  o["layers_per_block"] = 1;
  o["attention_head_dim"] = 4;  // diffusers' name for the number of heads
  o["cross_attention_dim"] = 64;
  o["norm_num_groups"] = 8;
  o["norm_eps"] = 1e-5;
  o["act_fn"] = "silu";
  o["flip_sin_to_cos"] = true;
  o["freq_shift"] = 0;
  o["downsample_padding"] = 1;
  o["mid_block_scale_factor"] = 1;
  o["center_input_sample"] = false;
  o["use_linear_projection"] = false;
  o["upcast_attention"] = false;
  return Json(o);
}

std::string SchedulerJson() {
  json::object o;
  o["_class_name"] = "DDIMScheduler";
  o["_diffusers_version"] = kDiffusersVersion;
  o["num_train_timesteps"] = 1000;
  o["beta_schedule"] = "linear";
  o["beta_start"] = 0.0001;
  o["beta_end"] = 0.02;
  o["trained_betas"] = nullptr;
  o["prediction_type"] = "epsilon";
  o["clip_sample"] = true;
  o["clip_sample_range"] = 1.0;
  o["set_alpha_to_one"] = true;
  o["steps_offset"] = 0;
  o["timestep_spacing"] = "leading";
  o["thresholding"] = false;
  return Json(o);
}

std::string SpecialTokensJson(bool with_config) {
  json::object o;
  if (with_config) {
    o["tokenizer_class"] = "CLIPTokenizer";
    o["model_max_length"] = kShapesMaxTokens;
    o["do_lower_case"] = true;
    o["errors"] = "replace";
    o["add_prefix_space"] = false;
  }
  o["bos_token"] = kBos;
  o["eos_token"] = kEos;
  o["pad_token"] = kEos;
  o["unk_token"] = kEos;
  return Json(o);
}

}  // namespace

BpeFiles ShapesBpe() {
  std::vector<std::string> symbols;  // every token, by id
  for (const auto& [byte, text] : ByteSymbols()) symbols.push_back(text);
  for (size_t i = 0, n = symbols.size(); i < n; ++i) symbols.push_back(symbols[i] + "</w>");

  // Every caption word as its symbols (letters are their own byte symbols), "</w>" on the last.
  std::vector<std::vector<std::string>> words;
  for (const std::string& w : CaptionVocabulary()) {
    std::vector<std::string> word;
    for (char c : w) word.push_back(std::string(1, c));
    word.back() += "</w>";
    words.push_back(std::move(word));
  }
  std::vector<std::string> merges;
  while (true) {
    std::map<std::pair<std::string, std::string>, int> counts;
    for (const auto& word : words) {
      for (size_t i = 0; i + 1 < word.size(); ++i) ++counts[{word[i], word[i + 1]}];
    }
    if (counts.empty()) break;
    // The most frequent pair; ties go to the first in the map's (text) order.
    auto best = counts.begin();
    for (auto it = counts.begin(); it != counts.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    const auto [first, second] = best->first;
    merges.push_back(first + " " + second);
    symbols.push_back(first + second);
    for (auto& word : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
          merged.push_back(first + second);
          ++i;
        } else {
          merged.push_back(word[i]);
        }
      }
      word = std::move(merged);
    }
  }
  symbols.push_back(kBos);
  symbols.push_back(kEos);

  json::object vocab;
  for (size_t i = 0; i < symbols.size(); ++i) vocab[symbols[i]] = static_cast<int64_t>(i);
  BpeFiles files;
  files.vocab_json = Json(vocab);
  files.merges_txt = "#version: 0.2\n";
  for (const std::string& m : merges) files.merges_txt += m + "\n";
  files.vocab_size = static_cast<int>(symbols.size());
  return files;
}

Status InitializeShapesModelDir(const std::string& model_dir) {
  const fs::path dir(model_dir);
  const BpeFiles bpe = ShapesBpe();
  const std::pair<fs::path, std::string> files[] = {
      {dir / "model_index.json", ModelIndexJson()},
      {dir / "text_encoder" / "config.json", TextEncoderJson(bpe.vocab_size)},
      {dir / "tokenizer" / "vocab.json", bpe.vocab_json},
      {dir / "tokenizer" / "merges.txt", bpe.merges_txt},
      {dir / "tokenizer" / "tokenizer_config.json", SpecialTokensJson(true)},
      {dir / "tokenizer" / "special_tokens_map.json", SpecialTokensJson(false)},
      {dir / "unet" / "config.json", UNetJson()},
      {dir / "scheduler" / "scheduler_config.json", SchedulerJson()},
  };
  for (const auto& [path, text] : files) RETURN_IF_ERROR(WriteIfMissing(path, text));
  return Status::Ok();
}

}  // namespace stipple::shapes
