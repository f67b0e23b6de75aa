#include "engine/lora_file.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <utility>

#include "engine/model_files.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<int64_t>;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string ShapeText(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

Status FileError(std::string_view file, const std::string& message) {
  return InvalidArgumentError("LoRA " + std::string(file) + ": " + message);
}

// What a key is: which format, which part, the module spelled as in the file, which tensor.
enum class Role { kDown, kUp, kAlpha };
struct KeyParts {
  bool kohya = false;  // module spelled with '_' (lora_unet_..., lora_te_...)
  LoraTarget target = LoraTarget::kUnet;
  std::string module;  // without the part's prefix
  Role role = Role::kDown;
  std::string layer_key;  // the key without its tensor suffix
};

// The tensor suffixes of the diffusers/PEFT spellings.
constexpr std::pair<std::string_view, Role> kDottedSuffixes[] = {
    {".lora_A.weight", Role::kDown},
    {".lora_B.weight", Role::kUp},
    {".lora.down.weight", Role::kDown},
    {".lora.up.weight", Role::kUp},
    {".lora_linear_layer.down.weight", Role::kDown},
    {".lora_linear_layer.up.weight", Role::kUp},
    {".lora_down.weight", Role::kDown},
    {".lora_up.weight", Role::kUp},
    {".down.weight", Role::kDown},  // attention processors: ...processor.to_q_lora.down.weight
    {".up.weight", Role::kUp},
    {".alpha", Role::kAlpha},
};

// The older attention-processor spelling: "attn1.processor.to_q_lora" → "attn1.to_q",
// to_out_lora → to_out.0. Other modules come back unchanged.
std::string FromProcessorSpelling(std::string module) {
  const size_t at = module.find(".processor.");
  if (at == std::string::npos) return module;
  std::string layer = module.substr(at + 11);
  if (EndsWith(layer, "_lora")) layer.resize(layer.size() - 5);
  if (layer == "to_out") layer = "to_out.0";
  return module.substr(0, at + 1) + layer;
}

// The target of the prefix of `prefixes` that `key` starts with (they exclude each other), and
// the key after it; nullopt when none does.
template <size_t N>
std::optional<std::pair<LoraTarget, std::string_view>> MatchPrefix(
    std::string_view key, const std::pair<std::string_view, LoraTarget> (&prefixes)[N]) {
  for (const auto& [prefix, target] : prefixes) {
    if (StartsWith(key, prefix)) return std::pair(target, key.substr(prefix.size()));
  }
  return std::nullopt;
}

// Fills `parts` from the suffix of `suffixes` that `rest` (the key after its prefix) ends with:
// the role, the module before it (through `module_name`) and the layer's key. False when none.
template <size_t N, typename ModuleName>
bool MatchSuffix(std::string_view key, std::string_view rest,
                 const std::pair<std::string_view, Role> (&suffixes)[N], ModuleName module_name,
                 KeyParts& parts) {
  for (const auto& [suffix, role] : suffixes) {
    if (EndsWith(rest, suffix)) {
      parts.module = module_name(std::string(rest.substr(0, rest.size() - suffix.size())));
      parts.role = role;
      parts.layer_key = std::string(key.substr(0, key.size() - suffix.size()));
      return true;
    }
  }
  return false;
}

std::optional<KeyParts> SplitKey(std::string_view key) {
  KeyParts parts;
  if (StartsWith(key, "lora_unet_") || StartsWith(key, "lora_te")) {
    parts.kohya = true;
    constexpr std::pair<std::string_view, LoraTarget> kPrefixes[] = {
        {"lora_unet_", LoraTarget::kUnet},
        {"lora_te_", LoraTarget::kTextEncoder},
        {"lora_te1_", LoraTarget::kTextEncoder},
        {"lora_te2_", LoraTarget::kTextEncoder2}};
    constexpr std::pair<std::string_view, Role> kSuffixes[] = {{".lora_down.weight", Role::kDown},
                                                               {".lora_up.weight", Role::kUp},
                                                               {".alpha", Role::kAlpha}};
    const auto prefixed = MatchPrefix(key, kPrefixes);
    if (!prefixed) return std::nullopt;
    parts.target = prefixed->first;
    const auto same = [](std::string module) { return module; };
    if (!MatchSuffix(key, prefixed->second, kSuffixes, same, parts)) return std::nullopt;
    return parts;
  }
  constexpr std::pair<std::string_view, LoraTarget> kPrefixes[] = {
      {"unet.", LoraTarget::kUnet},
      {"text_encoder.", LoraTarget::kTextEncoder},
      {"text_encoder_2.", LoraTarget::kTextEncoder2}};
  std::string_view rest = key;
  if (const auto prefixed = MatchPrefix(key, kPrefixes)) {
    parts.target = prefixed->first;
    rest = prefixed->second;
  } else {
    // A UNet saved on its own (save_attn_procs) has no prefix.
    bool known = false;
    for (std::string_view head : {"down_blocks.", "mid_block.", "up_blocks.", "conv_in.",
                                  "conv_out.", "time_embedding.", "add_embedding."}) {
      if (StartsWith(key, head)) known = true;
    }
    if (!known) return std::nullopt;
  }
  if (!MatchSuffix(key, rest, kDottedSuffixes, FromProcessorSpelling, parts)) return std::nullopt;
  return parts;
}

std::string Underscored(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

// "12_rest" → {12, "rest"}; "12" → {12, ""}; nullopt when `s` does not start with a number
// (the LDM names below).
std::optional<std::pair<int, std::string>> LeadingInt(const std::string& s) {
  size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0 || n > 4) return std::nullopt;
  const int value = std::stoi(s.substr(0, n));
  if (n == s.size()) return std::make_pair(value, std::string());
  if (s[n] != '_') return std::nullopt;
  return std::make_pair(value, s.substr(n + 1));
}

// An LDM resnet's layer names → diffusers'.
std::string ResnetLayer(const std::string& layer) {
  constexpr std::pair<std::string_view, std::string_view> kNames[] = {
      {"in_layers_2", "conv1"},
      {"out_layers_3", "conv2"},
      {"emb_layers_1", "time_emb_proj"},
      {"skip_connection", "conv_shortcut"}};
  for (const auto& [ldm, diffusers] : kNames) {
    if (layer == ldm) return std::string(diffusers);
  }
  return layer;
}

// A UNet module in the LDM spelling with '_' (SDXL kohya files: input_blocks_4_1_proj_in) → the
// diffusers spelling with '_' (down_blocks_1_attentions_0_proj_in), using the model's modules to
// tell attention blocks from upsamplers; nullopt when it is not an LDM name.
std::optional<std::string> LdmToDiffusers(const std::string& module,
                                          const std::map<std::string, std::string>& underscored,
                                          int layers_per_block) {
  auto has = [&](const std::string& prefix) {
    auto it = underscored.lower_bound(prefix);
    return it != underscored.end() && StartsWith(it->first, prefix);
  };
  const int per_level = layers_per_block + 1;
  if (module == "time_embed_0") return "time_embedding_linear_1";
  if (module == "time_embed_2") return "time_embedding_linear_2";
  if (module == "label_emb_0_0") return "add_embedding_linear_1";
  if (module == "label_emb_0_2") return "add_embedding_linear_2";
  if (module == "input_blocks_0_0") return "conv_in";
  if (module == "out_2") return "conv_out";
  auto block = [&](const std::string& prefix) -> std::optional<std::pair<int, std::string>> {
    if (!StartsWith(module, prefix)) return std::nullopt;
    return LeadingInt(module.substr(prefix.size()));
  };
  if (auto b = block("input_blocks_"); b && b->first >= 1) {
    auto sub = LeadingInt(b->second);
    if (!sub) return std::nullopt;
    const int level = (b->first - 1) / per_level, j = (b->first - 1) % per_level;
    const std::string base = "down_blocks_" + std::to_string(level) + "_";
    if (j == layers_per_block) {
      if (sub->second == "op") return base + "downsamplers_0_conv";
      return std::nullopt;
    }
    if (sub->first == 0)
      return base + "resnets_" + std::to_string(j) + "_" + ResnetLayer(sub->second);
    return base + "attentions_" + std::to_string(j) + "_" + sub->second;
  }
  if (auto b = block("middle_block_")) {
    if (b->first == 1) return "mid_block_attentions_0_" + b->second;
    return "mid_block_resnets_" + std::to_string(b->first / 2) + "_" + ResnetLayer(b->second);
  }
  if (auto b = block("output_blocks_")) {
    auto sub = LeadingInt(b->second);
    if (!sub) return std::nullopt;
    const int level = b->first / per_level, j = b->first % per_level;
    const std::string base = "up_blocks_" + std::to_string(level) + "_";
    if (sub->first == 0)
      return base + "resnets_" + std::to_string(j) + "_" + ResnetLayer(sub->second);
    if (sub->first == 1 && has(base + "attentions_")) {
      return base + "attentions_" + std::to_string(j) + "_" + sub->second;
    }
    if (sub->second == "conv") return base + "upsamplers_0_conv";
    return std::nullopt;
  }
  return std::nullopt;
}

struct Pending {
  std::string key;  // the module's key prefix as the file spells it
  std::optional<FloatTensor> down, up;
  std::optional<float> alpha;
};

// Checks up and down against the weight's shape; the error names the key.
Status CheckShapes(const Pending& p, const Shape& weight, std::string_view file) {
  const Shape& down = p.down->shape;
  const Shape& up = p.up->shape;
  auto bad = [&](const std::string& why) {
    return FileError(file, p.key + ": " + why + " (down " + ShapeText(down) + ", up " +
                               ShapeText(up) + ", the model's weight " + ShapeText(weight) + ")");
  };
  if (down.size() != 2 && down.size() != 4) return bad("down must have 2 or 4 dimensions");
  if (up.size() != 2 && up.size() != 4) return bad("up must have 2 or 4 dimensions");
  if (up.size() == 4 && (up[2] != 1 || up[3] != 1)) return bad("up must be 1x1");
  const int64_t rank = down[0];
  if (rank <= 0 || up[1] != rank) return bad("up's rank differs from down's");
  if (up[0] != weight[0]) return bad("up's output width does not fit");
  if (weight.size() == 2) {
    if (down[1] != weight[1] || (down.size() == 4 && (down[2] != 1 || down[3] != 1))) {
      return bad("down's input width does not fit");
    }
  } else if (weight.size() == 4) {
    const bool as_linear = down.size() == 2 && weight[2] == 1 && weight[3] == 1;
    const bool as_conv = down.size() == 4 && down[2] == weight[2] && down[3] == weight[3];
    if (down[1] != weight[1] || !(as_linear || as_conv)) return bad("down does not fit");
  } else {
    return bad("the module is neither Linear nor Conv2d");
  }
  return Status::Ok();
}

std::optional<SdFamily> FamilyFromMetadata(const std::map<std::string, std::string>& metadata) {
  auto get = [&](const char* key) {
    auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : it->second;
  };
  const std::string arch = get("modelspec.architecture");
  if (StartsWith(arch, "stable-diffusion-xl")) return SdFamily::kSdxl;
  if (StartsWith(arch, "stable-diffusion-v2")) return SdFamily::kSd2;
  if (StartsWith(arch, "stable-diffusion-v1")) return SdFamily::kSd1;
  const std::string base = get("ss_base_model_version");
  if (StartsWith(base, "sdxl")) return SdFamily::kSdxl;
  if (StartsWith(base, "sd_v2")) return SdFamily::kSd2;
  if (StartsWith(base, "sd_v1")) return SdFamily::kSd1;
  if (get("ss_v2") == "True") return SdFamily::kSd2;
  return std::nullopt;
}

std::optional<SdFamily> FamilyFromWidth(int64_t width, bool cross_attention) {
  if (width == 768) return SdFamily::kSd1;
  if (width == 1024) return SdFamily::kSd2;
  if (width == 2048 && cross_attention) return SdFamily::kSdxl;
  return std::nullopt;
}

}  // namespace

std::string_view LoraTargetName(LoraTarget target) {
  switch (target) {
    case LoraTarget::kUnet: return "unet";
    case LoraTarget::kTextEncoder: return "text_encoder";
    case LoraTarget::kTextEncoder2: return "text_encoder_2";
  }
  return "unet";
}

Result<SdFamily> DetectLoraFamily(const SafetensorsFile& file, std::string_view file_name) {
  if (auto family = FamilyFromMetadata(file.metadata)) return *family;
  std::optional<SdFamily> from_text;
  for (const auto& [key, tensor] : file.tensors) {
    std::optional<KeyParts> parts = SplitKey(key);
    if (!parts) continue;
    if (parts->target == LoraTarget::kTextEncoder2 || StartsWith(key, "lora_te1_")) {
      return SdFamily::kSdxl;
    }
    if (parts->target == LoraTarget::kUnet && parts->kohya &&
        (StartsWith(parts->module, "input_blocks_") || StartsWith(parts->module, "middle_block_") ||
         StartsWith(parts->module, "output_blocks_"))) {
      return SdFamily::kSdxl;
    }
    if (parts->role != Role::kDown || tensor.shape.size() < 2) continue;
    const int64_t width = tensor.shape[1];
    const std::string& m = parts->module;
    if (parts->target == LoraTarget::kUnet &&
        (EndsWith(m, "attn2_to_k") || EndsWith(m, "attn2_to_v") || EndsWith(m, "attn2.to_k") ||
         EndsWith(m, "attn2.to_v"))) {
      if (auto family = FamilyFromWidth(width, true)) return *family;
    }
    if (parts->target == LoraTarget::kTextEncoder && !from_text &&
        (EndsWith(m, "q_proj") || EndsWith(m, "k_proj") || EndsWith(m, "v_proj"))) {
      from_text = FamilyFromWidth(width, false);
    }
  }
  if (from_text) return *from_text;
  return FileError(file_name,
                   "cannot tell its model family: no modelspec.architecture or "
                   "ss_base_model_version metadata, no second text encoder, and no cross-attention "
                   "or text-encoder layer of a known width (768 sd1, 1024 sd2, 2048 sdxl)");
}

Result<std::vector<LoraLayer>> MapLoraLayers(SafetensorsFile file, std::string_view file_name,
                                             const LoraModules& modules) {
  // Per part: the modules spelled with '_' (kohya) → their names.
  std::map<std::string, std::string> underscored[kLoraTargets];
  for (int t = 0; t < kLoraTargets; ++t) {
    for (const auto& [name, shape] : modules.parts[t]) underscored[t][Underscored(name)] = name;
  }
  int layers_per_block = 0;
  while (modules.parts[0].count("down_blocks.0.resnets." + std::to_string(layers_per_block) +
                                ".conv1")) {
    ++layers_per_block;
  }
  // Group the tensors by (part, module).
  std::map<std::pair<int, std::string>, Pending> layers;
  for (auto& [key, tensor] : file.tensors) {
    std::optional<KeyParts> parts = SplitKey(key);
    if (!parts) {
      return FileError(file_name, key +
                                      ": not a LoRA key this reader knows (kohya lora_unet_/"
                                      "lora_te*_ with lora_down/lora_up/alpha, or diffusers "
                                      "unet./text_encoder*. with lora_A/lora_B or lora.down/up)");
    }
    const int t = static_cast<int>(parts->target);
    std::string name;
    if (parts->kohya) {
      auto it = underscored[t].find(parts->module);
      if (it == underscored[t].end() && parts->target == LoraTarget::kUnet) {
        if (auto d = LdmToDiffusers(parts->module, underscored[t], layers_per_block)) {
          it = underscored[t].find(*d);
        }
      }
      if (it != underscored[t].end()) name = it->second;
    } else if (modules.parts[t].count(parts->module)) {
      name = parts->module;
    }
    if (name.empty()) {
      return FileError(file_name, key + ": the model's " +
                                      std::string(LoraTargetName(parts->target)) +
                                      " has no Linear or Conv2d layer '" + parts->module + "'");
    }
    Pending& p = layers[{t, name}];
    if (p.key.empty()) p.key = parts->layer_key;
    if (parts->role == Role::kAlpha) {
      if (tensor.NumElements() != 1)
        return FileError(file_name, key + ": alpha must be one number");
      p.alpha = tensor.values.empty() ? 0.0f : tensor.values[0];  // empty: a header-only read
    } else {
      (parts->role == Role::kDown ? p.down : p.up) = std::move(tensor);
    }
  }
  std::vector<LoraLayer> out;
  for (auto& [where, p] : layers) {
    if (!p.down || !p.up) {
      return FileError(file_name, p.key + ": has " + (p.down ? "down" : "up") + " but no " +
                                      (p.down ? "up" : "down") + " tensor");
    }
    RETURN_IF_ERROR(CheckShapes(p, modules.parts[where.first].at(where.second), file_name));
    LoraLayer layer;
    layer.target = static_cast<LoraTarget>(where.first);
    layer.module = where.second;
    layer.key = p.key;
    layer.down = std::move(*p.down);
    layer.up = std::move(*p.up);
    layer.alpha = p.alpha ? *p.alpha : static_cast<float>(layer.rank());
    out.push_back(std::move(layer));
  }
  if (out.empty()) return FileError(file_name, "holds no LoRA layer");
  return out;
}

std::string LoraDirFor(const std::string& model_dir) {
  const fs::path dir(model_dir);
  if (ModelAt(model_dir).ok()) return (dir.lexically_normal().parent_path() / "loras").string();
  return (dir / "loras").string();
}

std::map<std::string, std::string> FindLoraFiles(const std::string& lora_dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(lora_dir, ec)) {
    if (entry.path().extension() != ".safetensors" || !entry.is_regular_file(ec)) continue;
    out[entry.path().stem().string()] = entry.path().string();
  }
  return out;
}

std::vector<LoraInfo> DescribeLoraFiles(const std::map<std::string, std::string>& files,
                                        std::vector<Status>* errors) {
  std::vector<LoraInfo> out;
  for (const auto& [name, path] : files) {
    SafetensorsReadOptions options;
    options.header_only = true;
    Result<SafetensorsFile> header = ReadSafetensorsFile(path, options);
    Result<SdFamily> family = header.ok() ? DetectLoraFamily(*header, path) : header.status();
    if (!family.ok()) {
      if (errors != nullptr) errors->push_back(family.status());
      continue;
    }
    std::error_code ec;
    const auto bytes = fs::file_size(path, ec);
    out.push_back({name, std::string(SdFamilyName(*family)), ec ? 0 : static_cast<int64_t>(bytes)});
  }
  return out;
}

}  // namespace stipple
