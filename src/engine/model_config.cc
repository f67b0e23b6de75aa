#include "engine/model_config.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <system_error>

#include "common/file.h"
#include "core/json.h"

namespace stipple {
namespace {

namespace json = boost::json;

// Reads the keys of one JSON object, recording a FieldError per bad or unknown key.
class ObjectReader {
 public:
  ObjectReader(const json::object& object, std::string prefix, std::vector<FieldError>* errors)
      : object_(object), prefix_(std::move(prefix)), errors_(errors) {}

  void Int(const char* key, int min, int max, int* out, bool required = true) {
    const json::value* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
      return Error(key,
                   "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    }
    *out = static_cast<int>(v->as_int64());
  }
  void Double(const char* key, double min, double max, double* out) {
    const json::value* v = Get(key, true);
    if (v == nullptr) return;
    if (!v->is_number() || v->to_number<double>() < min || v->to_number<double>() > max) {
      return Error(key, "must be a number in " + std::to_string(min) + ".." + std::to_string(max));
    }
    *out = v->to_number<double>();
  }
  void Bool(const char* key, bool* out, bool required = true) {
    const json::value* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->is_bool()) return Error(key, "must be true or false");
    *out = v->as_bool();
  }
  void String(const char* key, std::initializer_list<const char*> allowed, std::string* out,
              bool required = true) {
    const json::value* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->is_string() || v->as_string().empty()) return Error(key, "must be a non-empty string");
    std::string s(v->as_string());
    if (allowed.size() > 0 &&
        std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return s == a; })) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Error(key, "must be one of " + list);
    }
    *out = std::move(s);
  }
  void IntList(const char* key, int min, int max, bool allow_empty, std::vector<int>* out) {
    const json::value* v = Get(key, true);
    if (v == nullptr) return;
    std::vector<int> values;
    bool ok = v->is_array() && (allow_empty || !v->as_array().empty());
    if (ok) {
      for (const json::value& e : v->as_array()) {
        if (!e.is_int64() || e.as_int64() < min || e.as_int64() > max) ok = false;
        if (ok) values.push_back(static_cast<int>(e.as_int64()));
      }
    }
    if (!ok) {
      return Error(key, std::string("must be a") + (allow_empty ? "n" : " non-empty") +
                            " array of integers in " + std::to_string(min) + ".." +
                            std::to_string(max));
    }
    *out = std::move(values);
  }
  const json::object* Object(const char* key) {
    const json::value* v = Get(key, true);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) Error(key, "must be an object");
    return v->if_object();
  }
  const json::value* Get(const char* key, bool required) {
    known_.emplace_back(key);
    const json::value* v = object_.if_contains(key);
    if (v == nullptr && required) Error(key, "is required");
    return v;
  }
  void Error(const std::string& key, std::string message) {
    errors_->push_back({prefix_ + key, std::move(message)});
  }
  // Call after every Get: reports keys nobody asked for.
  void RejectUnknownKeys() {
    for (const auto& [key, value] : object_) {
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        Error(std::string(key), "is not a known key");
      }
    }
  }

 private:
  const json::object& object_;
  std::string prefix_;
  std::vector<FieldError>* errors_;
  std::vector<std::string> known_;
};

void ReadUNet(const json::object& o, std::vector<FieldError>* errors, UNetConfig* unet) {
  ObjectReader r(o, "unet.", errors);
  r.Int("base_channels", 1, 4096, &unet->base_channels);
  r.IntList("channel_mult", 1, 64, false, &unet->channel_mult);
  r.Int("res_blocks", 1, 16, &unet->res_blocks);
  r.IntList("attention_levels", 0, 63, true, &unet->attention_levels);
  r.Int("heads", 1, 256, &unet->heads);
  r.Int("norm_groups", 1, 1024, &unet->norm_groups);
  r.Int("time_embed_dim", 1, 16384, &unet->time_embed_dim);
  r.Bool("pooled_text", &unet->pooled_text, /*required=*/false);
  r.RejectUnknownKeys();
  for (int level : unet->attention_levels) {
    if (level >= static_cast<int>(unet->channel_mult.size())) {
      r.Error("attention_levels", "names a level beyond channel_mult");
    }
  }
  for (int mult : unet->channel_mult) {
    const int ch = unet->base_channels * mult;
    if (ch % unet->norm_groups != 0) r.Error("norm_groups", "must divide every level's channels");
    if (ch % unet->heads != 0) r.Error("heads", "must divide every level's channels");
  }
}

void ReadTextEncoder(const json::object& o, std::vector<FieldError>* errors,
                     TextEncoderConfig* text) {
  ObjectReader r(o, "text_encoder.", errors);
  r.String("tokenizer", {"word"}, &text->tokenizer);
  r.String("vocab", {}, &text->vocab);
  r.Int("vocab_size", 4, 1 << 20, &text->vocab_size);
  r.Int("dim", 1, 16384, &text->dim);
  r.Int("layers", 0, 64, &text->layers);
  r.Int("heads", 1, 256, &text->heads);
  r.Int("max_tokens", 2, 4096, &text->max_tokens);
  r.RejectUnknownKeys();
  if (text->dim % text->heads != 0) r.Error("heads", "must divide dim");
}

void ReadScheduler(const json::object& o, std::vector<FieldError>* errors, ModelConfig* c) {
  ObjectReader r(o, "scheduler.", errors);
  r.Int("train_timesteps", 2, 100000, &c->noise.train_timesteps);
  r.String("beta_schedule", {"linear", "scaled_linear"}, &c->noise.beta_schedule);
  r.Double("beta_start", 1e-12, 0.999, &c->noise.beta_start);
  r.Double("beta_end", 1e-12, 0.999, &c->noise.beta_end);
  r.Int("default_steps", 1, RequestLimits::kMaxSteps, &c->default_steps);
  r.Double("default_guidance_scale", 0, RequestLimits::kMaxGuidanceScale,
           &c->default_guidance_scale);
  r.String("default", {"ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "lcm"},
           &c->default_scheduler);
  r.Int("max_steps", 1, RequestLimits::kMaxSteps, &c->max_steps);
  r.Bool("clip_sample", &c->clip_sample, /*required=*/false);
  r.RejectUnknownKeys();
  if (c->default_steps > c->max_steps) r.Error("default_steps", "must not exceed max_steps");
  if (c->max_steps > c->noise.train_timesteps) {
    r.Error("max_steps", "must not exceed train_timesteps");
  }
}

void ReadSizes(ObjectReader& r, ModelConfig* c) {
  const json::value* v = r.Get("sizes", false);
  if (v == nullptr) return;
  bool ok = v->is_array() && !v->as_array().empty();
  if (ok) {
    for (const json::value& e : v->as_array()) {
      const json::array* pair = e.if_array();
      if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_int64() ||
          !(*pair)[1].is_int64() || (*pair)[0].as_int64() < 1 || (*pair)[1].as_int64() < 1 ||
          (*pair)[0].as_int64() > 4096 || (*pair)[1].as_int64() > 4096) {
        ok = false;
        break;
      }
      c->sizes.emplace_back(static_cast<int>((*pair)[0].as_int64()),
                            static_cast<int>((*pair)[1].as_int64()));
    }
  }
  if (!ok) r.Error("sizes", "must be a non-empty array of [width, height] pairs in 1..4096");
}

}  // namespace

ModelLimits ModelConfig::Limits() const {
  ModelLimits limits;
  limits.name = name;
  limits.width = width;
  limits.height = height;
  limits.sizes = sizes;
  limits.max_steps = max_steps;
  limits.default_steps = default_steps;
  limits.default_guidance_scale = default_guidance_scale;
  limits.default_scheduler = default_scheduler;
  return limits;
}

Result<ModelConfig> ParseModelConfig(std::string_view text) {
  std::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return InvalidArgumentError("model.json is not valid JSON: " + ec.message());
  if (!root.is_object()) return InvalidArgumentError("model.json must hold a JSON object");
  ModelConfig c;
  std::vector<FieldError> errors;
  ObjectReader r(root.as_object(), "", &errors);
  r.String("name", {}, &c.name);
  r.Int("width", 1, 4096, &c.width);
  r.Int("height", 1, 4096, &c.height);
  r.Int("channels", 1, 64, &c.channels);
  ReadSizes(r, &c);
  r.String("weights", {}, &c.weights, false);
  if (const json::object* o = r.Object("unet")) ReadUNet(*o, &errors, &c.unet);
  if (const json::object* o = r.Object("text_encoder"))
    ReadTextEncoder(*o, &errors, &c.text_encoder);
  if (const json::object* o = r.Object("scheduler")) ReadScheduler(*o, &errors, &c);
  r.RejectUnknownKeys();
  if (errors.empty()) {
    // Every allowed size must survive the UNet's downsampling evenly.
    const int factor = 1 << (c.unet.channel_mult.size() - 1);
    std::vector<std::pair<int, int>> all = c.sizes;
    all.emplace_back(c.width, c.height);
    for (const auto& [w, h] : all) {
      if (w % factor != 0 || h % factor != 0) {
        errors.push_back({"sizes", "every size must be a multiple of " + std::to_string(factor) +
                                       " (2^(levels-1))"});
        break;
      }
    }
  }
  if (!errors.empty()) {
    std::string message = "model.json: " + errors.front().field + " " + errors.front().message;
    return InvalidArgumentError(std::move(message), std::move(errors));
  }
  return c;
}

Result<ModelConfig> LoadModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  Result<ModelConfig> config = ParseModelConfig(text);
  if (!config.ok()) return config.status().WithContext(path);
  return config;
}

std::string ModelConfigToJson(const ModelConfig& c) {
  auto ints = [](const std::vector<int>& v) {
    json::array a;
    for (int x : v) a.push_back(x);
    return a;
  };
  json::object root;
  root["name"] = c.name;
  root["width"] = c.width;
  root["height"] = c.height;
  root["channels"] = c.channels;
  if (!c.sizes.empty()) {
    json::array sizes;
    for (const auto& [w, h] : c.sizes) sizes.push_back(json::array{w, h});
    root["sizes"] = std::move(sizes);
  }
  root["weights"] = c.weights;
  root["unet"] = {{"base_channels", c.unet.base_channels},
                  {"channel_mult", ints(c.unet.channel_mult)},
                  {"res_blocks", c.unet.res_blocks},
                  {"attention_levels", ints(c.unet.attention_levels)},
                  {"heads", c.unet.heads},
                  {"norm_groups", c.unet.norm_groups},
                  {"time_embed_dim", c.unet.time_embed_dim},
                  {"pooled_text", c.unet.pooled_text}};
  const TextEncoderConfig& t = c.text_encoder;
  root["text_encoder"] = {
      {"tokenizer", t.tokenizer}, {"vocab", t.vocab}, {"vocab_size", t.vocab_size}, {"dim", t.dim},
      {"layers", t.layers},       {"heads", t.heads}, {"max_tokens", t.max_tokens}};
  root["scheduler"] = {{"train_timesteps", c.noise.train_timesteps},
                       {"beta_schedule", c.noise.beta_schedule},
                       {"beta_start", c.noise.beta_start},
                       {"beta_end", c.noise.beta_end},
                       {"default_steps", c.default_steps},
                       {"default_guidance_scale", c.default_guidance_scale},
                       {"default", c.default_scheduler},
                       {"max_steps", c.max_steps},
                       {"clip_sample", c.clip_sample}};
  return WriteJson(root);
}

}  // namespace stipple
