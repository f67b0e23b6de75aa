#include "engine/diffusers_folder.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "common/file.h"
#include "core/generation_request.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string Join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

bool IsFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool IsDirectory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// A JSON file holding an object. kNotFound, kUnavailable, or kDataLoss (not JSON, not an object).
Result<json::object> ReadJsonObject(const std::string& path) {
  if (!IsFile(path)) return NotFoundError(path + ": no such file");
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  std::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return DataLossError(path + ": not valid JSON: " + ec.message());
  if (!root.is_object()) return DataLossError(path + ": must hold a JSON object");
  return std::move(root.as_object());
}

const json::string* StringField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_string() : nullptr;
}

// The parts this reader knows and what each may be.
struct PartSpec {
  const char* name;
  const char* library;
  std::vector<std::string> classes;  // empty: any class ending in "Scheduler"
};

const std::vector<PartSpec>& PartSpecs() {
  static const std::vector<PartSpec> specs = {
      {"unet", "diffusers", {"UNet2DConditionModel"}},
      {"vae", "diffusers", {"AutoencoderKL"}},
      {"text_encoder", "transformers", {"CLIPTextModel"}},
      {"text_encoder_2", "transformers", {"CLIPTextModelWithProjection"}},
      {"tokenizer", "transformers", {"CLIPTokenizer", "CLIPTokenizerFast"}},
      {"tokenizer_2", "transformers", {"CLIPTokenizer", "CLIPTokenizerFast"}},
      {"scheduler", "diffusers", {}},
  };
  return specs;
}

const PartSpec* FindSpec(std::string_view name) {
  for (const PartSpec& spec : PartSpecs()) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

// Components diffusers pipelines may list that text-to-image does not use.
bool IsIgnoredComponent(std::string_view name) {
  return name == "safety_checker" || name == "feature_extractor" || name == "image_encoder";
}

bool IsPickleFile(const std::string& name) {
  for (const char* ext : {".bin", ".ckpt", ".pt", ".pth", ".pkl"}) {
    const std::string_view e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ListNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// A shard index: tensor name → shard path (in the part's folder).
Result<std::map<std::string, std::string>> ReadShardIndex(const std::string& dir,
                                                          const std::string& index_path) {
  ASSIGN_OR_RETURN(json::object index, ReadJsonObject(index_path));
  const json::value* map = index.if_contains("weight_map");
  if (map == nullptr || !map->is_object() || map->as_object().empty()) {
    return DataLossError(index_path +
                         ": weight_map must be a non-empty object of tensor name → shard file");
  }
  if (const json::value* metadata = index.if_contains("metadata");
      metadata != nullptr && !metadata->is_object() && !metadata->is_null()) {
    return DataLossError(index_path + ": metadata must be an object");
  }
  std::map<std::string, std::string> out;
  for (const auto& [tensor, file] : map->as_object()) {
    const json::string* name = file.if_string();
    if (name == nullptr || name->empty() || *name == "." || *name == ".." ||
        name->find('/') != json::string::npos || name->find('\\') != json::string::npos) {
      return DataLossError(index_path + ": weight_map." + std::string(tensor) +
                           " must name a file in " + dir);
    }
    out.emplace(std::string(tensor), Join(dir, std::string(*name)));
  }
  for (const auto& [tensor, shard] : out) {
    if (!IsFile(shard)) {
      return NotFoundError(shard + ": no such file (" + index_path + " puts " + tensor + " in it)");
    }
  }
  return out;
}

// Finds a model part's weight files (the precedence is the header's).
Status ResolveWeights(const std::string& requested_variant, DiffusersPart* part) {
  const std::string base =
      part->library == "transformers" ? "model" : std::string("diffusion_pytorch_model");
  std::vector<std::string> variants;
  if (!requested_variant.empty()) variants.push_back(requested_variant);
  variants.emplace_back();
  if (requested_variant != "fp16") variants.emplace_back("fp16");
  for (const std::string& v : variants) {
    const std::string dot_v = v.empty() ? "" : "." + v;
    const std::string single = Join(part->dir, base + dot_v + ".safetensors");
    if (IsFile(single)) {
      part->weight_files = {single};
      part->variant = v;
      return Status::Ok();
    }
    std::vector<std::string> indexes = {
        Join(part->dir, base + ".safetensors.index" + dot_v + ".json")};
    if (!v.empty()) indexes.push_back(Join(part->dir, base + dot_v + ".safetensors.index.json"));
    for (const std::string& index_path : indexes) {
      if (!IsFile(index_path)) continue;
      ASSIGN_OR_RETURN(auto weight_map, ReadShardIndex(part->dir, index_path));
      std::set<std::string> shards;
      for (const auto& [tensor, shard] : weight_map) shards.insert(shard);
      part->weight_files.assign(shards.begin(), shards.end());
      part->index_path = index_path;
      part->variant = v;
      return Status::Ok();
    }
  }
  const std::vector<std::string> files = FilesIn(part->dir);
  std::vector<std::string> pickles, safetensors;
  for (const std::string& f : files) {
    if (IsPickleFile(f)) pickles.push_back(f);
    if (f.size() > 12 && f.compare(f.size() - 12, 12, ".safetensors") == 0) {
      safetensors.push_back(f);
    }
  }
  if (!pickles.empty() && safetensors.empty()) {
    return InvalidArgumentError(
        part->dir + ": the weights are only in pickle files (" + ListNames(pickles) +
        "), which are refused: loading a pickle can run arbitrary code. Convert them to "
        "safetensors: load the part with diffusers (or transformers, for text encoders) and "
        "save it with save_pretrained(..., safe_serialization=True), which writes " +
        base + ".safetensors");
  }
  std::string message = part->dir + ": no weights: expected " + base + ".safetensors, " + base +
                        ".fp16.safetensors or shards with " + base + ".safetensors.index.json";
  if (!safetensors.empty()) {
    message += " (found " + ListNames(safetensors) +
               (requested_variant.empty() ? "; request its variant" : "") + ")";
  }
  return NotFoundError(std::move(message));
}

// Reads one part's folder: config, weights or tokenizer files.
Result<DiffusersPart> ReadPart(const std::string& dir, const std::string& index_path,
                               const std::string& name, const std::string& library,
                               const std::string& class_name, const std::string& variant) {
  DiffusersPart part;
  part.name = name;
  part.library = library;
  part.class_name = class_name;
  part.dir = Join(dir, name);
  if (!IsDirectory(part.dir)) {
    return NotFoundError(part.dir + ": no such folder (" + index_path + " lists " + name + ")");
  }
  const bool is_tokenizer = name.rfind("tokenizer", 0) == 0;
  const bool is_scheduler = name == "scheduler";
  part.config_path = Join(part.dir, is_scheduler   ? "scheduler_config.json"
                                    : is_tokenizer ? "tokenizer_config.json"
                                                   : "config.json");
  ASSIGN_OR_RETURN(json::object config, ReadJsonObject(part.config_path));
  if (is_tokenizer) {
    part.vocab_path = Join(part.dir, "vocab.json");
    part.merges_path = Join(part.dir, "merges.txt");
    for (const std::string* path : {&part.vocab_path, &part.merges_path}) {
      if (!IsFile(*path)) return NotFoundError(*path + ": no such file");
    }
    const std::string special = Join(part.dir, "special_tokens_map.json");
    if (IsFile(special)) part.special_tokens_map_path = special;
    return part;
  }
  if (is_scheduler) return part;
  if (library == "diffusers") {
    const json::value* v = config.if_contains("_class_name");
    if (v != nullptr && (!v->is_string() || v->as_string() != class_name)) {
      return InvalidArgumentError(part.config_path + ": _class_name must be " + Quoted(class_name) +
                                  ", as " + index_path + " says");
    }
  } else if (const json::value* v = config.if_contains("architectures"); v != nullptr) {
    const json::array* list = v->if_array();
    const bool listed = list != nullptr && std::any_of(list->begin(), list->end(), [&](auto& e) {
                          return e.is_string() && e.as_string() == class_name;
                        });
    if (!listed) {
      return InvalidArgumentError(part.config_path + ": architectures must list " +
                                  Quoted(class_name) + ", as " + index_path + " says");
    }
  }
  RETURN_IF_ERROR(ResolveWeights(variant, &part));
  return part;
}

bool ValidVariant(const std::string& v) {
  return v.size() <= 32 && std::all_of(v.begin(), v.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
         });
}

// SD 1.x or 2.x from the text encoder's activation.
Result<SdFamily> FamilyOf(const DiffusersPart& text_encoder) {
  ASSIGN_OR_RETURN(json::object config, ReadJsonObject(text_encoder.config_path));
  const json::value* act = config.if_contains("hidden_act");
  if (act == nullptr) return SdFamily::kSd1;  // transformers' default: quick_gelu
  if (act->is_string() && act->as_string() == "quick_gelu") return SdFamily::kSd1;
  if (act->is_string() && act->as_string() == "gelu") return SdFamily::kSd2;
  return InvalidArgumentError(text_encoder.config_path +
                              ": hidden_act must be \"quick_gelu\" (SD 1.x) or \"gelu\" (SD 2.x)");
}

Result<ModelDefaults> ReadDefaults(const json::value& v, const std::string& index_path) {
  const std::string where = index_path + ": _stipple_defaults";
  if (!v.is_object()) return InvalidArgumentError(where + " must be an object");
  ModelDefaults defaults;
  for (const auto& [key, value] : v.as_object()) {
    if (key == "steps") {
      const int64_t* steps = value.if_int64();
      if (steps == nullptr || *steps < 1 || *steps > RequestLimits::kMaxSteps) {
        return InvalidArgumentError(where + ".steps must be an integer in 1.." +
                                    std::to_string(RequestLimits::kMaxSteps));
      }
      defaults.steps = static_cast<int>(*steps);
    } else if (key == "guidance_scale") {
      const double g = value.is_number() ? value.to_number<double>() : -1;
      if (g < 0 || g > RequestLimits::kMaxGuidanceScale) {
        return InvalidArgumentError(
            where + ".guidance_scale must be a number in 0.." +
            std::to_string(static_cast<int>(RequestLimits::kMaxGuidanceScale)));
      }
      defaults.guidance_scale = g;
    } else {
      return InvalidArgumentError(where + ": unknown key " + Quoted(key) +
                                  " (known: steps, guidance_scale)");
    }
  }
  return defaults;
}

}  // namespace

bool IsDiffusersFolder(const std::string& dir) { return IsFile(Join(dir, "model_index.json")); }

Result<DiffusersFolder> ReadDiffusersFolder(const std::string& dir,
                                            const DiffusersFolderOptions& options) {
  if (!ValidVariant(options.variant)) {
    return InvalidArgumentError("variant " + Quoted(options.variant) +
                                " must be letters, digits, '_' or '-' (e.g. \"fp16\")");
  }
  if (!IsDirectory(dir)) return NotFoundError(dir + ": no such folder");
  DiffusersFolder folder;
  folder.dir = dir;
  const std::string index_path = Join(dir, "model_index.json");
  ASSIGN_OR_RETURN(json::object index, ReadJsonObject(index_path));

  const json::string* cls = StringField(index, "_class_name");
  if (cls == nullptr) {
    return InvalidArgumentError(index_path + ": _class_name must be the pipeline class (a string)");
  }
  folder.pipeline_class = std::string(*cls);
  // The text-to-image, img2img and inpainting pipelines share their parts (an inpainting UNet
  // is told by its in_channels, not by the class).
  static const std::vector<std::string> kSd = {"StableDiffusionPipeline",
                                               "StableDiffusionImg2ImgPipeline",
                                               "StableDiffusionInpaintPipeline"};
  static const std::vector<std::string> kXl = {"StableDiffusionXLPipeline",
                                               "StableDiffusionXLImg2ImgPipeline",
                                               "StableDiffusionXLInpaintPipeline"};
  const bool xl = std::find(kXl.begin(), kXl.end(), folder.pipeline_class) != kXl.end();
  if (!xl && std::find(kSd.begin(), kSd.end(), folder.pipeline_class) == kSd.end()) {
    return InvalidArgumentError(index_path + ": pipeline class " + Quoted(folder.pipeline_class) +
                                " is not supported (supported: " + ListNames(kSd) +
                                " for SD 1.x and 2.x, " + ListNames(kXl) + " for SDXL)");
  }
  if (const json::value* v = index.if_contains("requires_aesthetics_score");
      xl && v != nullptr && v->is_bool() && v->as_bool()) {
    return InvalidArgumentError(index_path +
                                ": requires_aesthetics_score (the SDXL refiner's "
                                "conditioning) is not supported");
  }
  if (const json::string* v = StringField(index, "_diffusers_version")) {
    folder.diffusers_version = std::string(*v);
  }
  if (xl) {
    folder.force_zeros_for_empty_prompt = true;  // the pipeline's default
    if (const json::value* v = index.if_contains("force_zeros_for_empty_prompt")) {
      if (!v->is_bool()) {
        return InvalidArgumentError(index_path +
                                    ": force_zeros_for_empty_prompt must be true or "
                                    "false");
      }
      folder.force_zeros_for_empty_prompt = v->as_bool();
    }
  }

  if (const json::value* v = index.if_contains("_stipple_defaults")) {
    ASSIGN_OR_RETURN(folder.defaults, ReadDefaults(*v, index_path));
  }

  // The components: name → [library, class]; those given as [null, null].
  std::map<std::string, std::pair<std::string, std::string>> components;
  std::set<std::string> null_components;
  for (const auto& [key, value] : index) {
    const std::string name(key);
    const bool component = FindSpec(name) != nullptr || IsIgnoredComponent(name);
    if (name.empty() || name[0] == '_' || (!value.is_array() && !component)) continue;  // settings
    const json::array* pair = value.if_array();
    const bool strings =
        pair != nullptr && pair->size() == 2 && (*pair)[0].is_string() && (*pair)[1].is_string();
    const bool nulls =
        pair != nullptr && pair->size() == 2 && (*pair)[0].is_null() && (*pair)[1].is_null();
    if (!strings && !nulls) {
      return InvalidArgumentError(index_path + ": " + name +
                                  " must be [library, class] or [null, null]");
    }
    if (nulls) null_components.insert(name);
    if (nulls || IsIgnoredComponent(name)) continue;
    const std::string library((*pair)[0].as_string()), class_name((*pair)[1].as_string());
    const PartSpec* spec = FindSpec(name);
    if (spec == nullptr || (!xl && (name == "text_encoder_2" || name == "tokenizer_2"))) {
      return InvalidArgumentError(index_path + ": component " + name + " [" + library + ", " +
                                  class_name + "] is not part of a " + folder.pipeline_class +
                                  " this engine runs");
    }
    const bool class_ok = spec->classes.empty()
                              ? class_name.size() > 9 &&
                                    class_name.compare(class_name.size() - 9, 9, "Scheduler") == 0
                              : std::find(spec->classes.begin(), spec->classes.end(), class_name) !=
                                    spec->classes.end();
    if (library != spec->library || !class_ok) {
      std::string supported = spec->classes.empty() ? "a scheduler" : ListNames(spec->classes);
      return InvalidArgumentError(index_path + ": " + name + " is [" + library + ", " + class_name +
                                  "], which is not supported (supported: " + spec->library + " " +
                                  supported + ")");
    }
    components[name] = {library, class_name};
  }

  auto read = [&](const std::string& name) -> Result<DiffusersPart> {
    auto it = components.find(name);
    if (it == components.end()) {
      return InvalidArgumentError(index_path + ": no " + name + " component (a " +
                                  folder.pipeline_class + " needs one)");
    }
    return ReadPart(dir, index_path, name, it->second.first, it->second.second, options.variant);
  };
  ASSIGN_OR_RETURN(folder.unet, read("unet"));
  if (xl || !null_components.count("vae")) {
    ASSIGN_OR_RETURN(folder.vae, read("vae"));
  }
  ASSIGN_OR_RETURN(folder.text_encoder, read("text_encoder"));
  ASSIGN_OR_RETURN(folder.tokenizer, read("tokenizer"));
  if (xl) {
    ASSIGN_OR_RETURN(folder.text_encoder_2, read("text_encoder_2"));
    ASSIGN_OR_RETURN(folder.tokenizer_2, read("tokenizer_2"));
  }
  ASSIGN_OR_RETURN(folder.scheduler, read("scheduler"));
  if (xl) {
    folder.family = SdFamily::kSdxl;
  } else {
    ASSIGN_OR_RETURN(folder.family, FamilyOf(folder.text_encoder));
  }
  return folder;
}

// Integer buffers some files carry beside the weights (the I64 position_ids of older CLIP text
// encoders) are left out and listed in `skipped`; a module that needs one reports it missing.
constexpr SafetensorsReadOptions kSkipBuffers{.skip_other_dtypes = true};

Result<SafetensorsFile> ReadPartWeights(const DiffusersPart& part) {
  if (part.weight_files.empty()) {
    return FailedPreconditionError(part.dir + ": the " + part.name + " part has no weights");
  }
  if (part.index_path.empty()) {
    if (part.weight_files.size() != 1) {
      return InternalError(part.dir + ": several weight files without an index");
    }
    return ReadSafetensorsFile(part.weight_files.front(), kSkipBuffers);
  }
  ASSIGN_OR_RETURN(auto weight_map, ReadShardIndex(part.dir, part.index_path));
  SafetensorsFile merged;
  std::map<std::string, std::string> found_in;  // tensor → shard
  for (const std::string& shard : part.weight_files) {
    ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensorsFile(shard, kSkipBuffers));
    for (auto& [tensor, dtype] : file.skipped) {
      found_in.emplace(tensor, shard);
      merged.skipped.emplace(tensor, dtype);
    }
    for (auto& [tensor, values] : file.tensors) {
      if (auto seen = found_in.find(tensor); seen != found_in.end()) {
        return DataLossError(shard + ": tensor " + tensor + " is also in " + seen->second);
      }
      auto listed = weight_map.find(tensor);
      if (listed == weight_map.end()) {
        return DataLossError(shard + ": holds tensor " + tensor + ", which " + part.index_path +
                             " does not list");
      }
      if (listed->second != shard) {
        return DataLossError(shard + ": holds tensor " + tensor + ", which " + part.index_path +
                             " puts in " + listed->second);
      }
      found_in.emplace(tensor, shard);
      merged.tensors.emplace(tensor, std::move(values));
    }
    for (auto& [key, value] : file.metadata) merged.metadata.emplace(key, std::move(value));
  }
  for (const auto& [tensor, shard] : weight_map) {
    if (found_in.count(tensor) == 0) {
      return DataLossError(shard + ": lacks tensor " + tensor + ", which " + part.index_path +
                           " puts in it");
    }
  }
  return merged;
}

}  // namespace stipple
