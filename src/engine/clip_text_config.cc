#include "engine/clip_text_config.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <vector>

namespace stipple {
namespace {

namespace json = boost::json;

class ConfigReader {
 public:
  ConfigReader(const json::object& o, std::vector<FieldError>* errors) : o_(o), errors_(errors) {}

  void Int(const char* key, int min, int max, int* out) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr) return;
    if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
      return Error(key,
                   "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    }
    *out = static_cast<int>(v->as_int64());
  }
  void Double(const char* key, double min, double max, double* out) {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr) return;
    if (!v->is_number() || !(v->to_number<double>() > min) || v->to_number<double>() > max) {
      return Error(
          key, "must be a number in (" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    *out = v->to_number<double>();
  }
  const json::value* Get(const char* key) const { return o_.if_contains(key); }
  void Error(const std::string& key, std::string message) {
    errors_->push_back({key, std::move(message)});
  }

 private:
  const json::object& o_;
  std::vector<FieldError>* errors_;
};

}  // namespace

Result<ClipTextConfig> ParseClipTextConfig(std::string_view text, std::string_view file_name) {
  const std::string file(file_name);
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return InvalidArgumentError(file + ": not a JSON object");
  ClipTextConfig config;
  std::vector<FieldError> errors;
  ConfigReader r(doc.as_object(), &errors);

  if (const json::value* v = r.Get("architectures"); v != nullptr) {
    const bool one_string =
        v->is_array() && v->as_array().size() == 1 && v->as_array()[0].is_string();
    const std::string arch = one_string ? std::string(v->as_array()[0].as_string()) : "";
    if (arch == "CLIPTextModel") {
      config.with_projection = false;
    } else if (arch == "CLIPTextModelWithProjection") {
      config.with_projection = true;
    } else {
      r.Error("architectures", "must be [\"CLIPTextModel\"] or [\"CLIPTextModelWithProjection\"]");
    }
  }
  if (const json::value* v = r.Get("model_type"); v != nullptr) {
    if (!v->is_string() || v->as_string() != "clip_text_model") {
      r.Error("model_type", "must be \"clip_text_model\"");
    }
  }
  r.Int("hidden_size", 1, 1 << 16, &config.hidden_size);
  r.Int("intermediate_size", 1, 1 << 18, &config.intermediate_size);
  r.Int("num_hidden_layers", 1, 1024, &config.num_hidden_layers);
  r.Int("num_attention_heads", 1, 1024, &config.num_attention_heads);
  r.Int("max_position_embeddings", 1, 1 << 16, &config.max_position_embeddings);
  r.Int("vocab_size", 1, 1 << 24, &config.vocab_size);
  r.Int("projection_dim", 1, 1 << 16, &config.projection_dim);
  r.Double("layer_norm_eps", 0.0, 1.0, &config.layer_norm_eps);
  if (const json::value* v = r.Get("hidden_act"); v != nullptr) {
    if (v->is_string() && (v->as_string() == "quick_gelu" || v->as_string() == "gelu")) {
      config.hidden_act = std::string(v->as_string());
    } else {
      r.Error("hidden_act", "must be \"quick_gelu\" or \"gelu\"");
    }
  }
  if (config.hidden_size % config.num_attention_heads != 0) {
    r.Error("num_attention_heads",
            "must divide hidden_size (" + std::to_string(config.hidden_size) + ")");
  }
  if (!errors.empty()) {
    std::string message = file + ": " + errors[0].field + " " + errors[0].message;
    return InvalidArgumentError(std::move(message), std::move(errors));
  }
  return config;
}

}  // namespace stipple
