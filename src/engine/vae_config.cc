#include "engine/vae_config.h"

#include <boost/json/value.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <system_error>

#include "engine/config_json.h"

namespace stipple {
namespace {

namespace json = boost::json;

// Reads the fields of config.json's object; records a FieldError per bad field.
class ConfigReader {
 public:
  explicit ConfigReader(const json::object& object) : object_(object) {}

  // The field, or null when absent. Marks it as known.
  const json::value* Get(const char* key) {
    known_.insert(key);
    return object_.if_contains(key);
  }

  void Int(const char* key, int min, int max, int* out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
      return Error(key,
                   "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    }
    *out = static_cast<int>(v->as_int64());
  }

  void Bool(const char* key, bool* out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    if (!v->is_bool()) return Error(key, "must be true or false");
    *out = v->as_bool();
  }

  void PositiveNumber(const char* key, double* out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    if (!v->is_number() || !(v->to_number<double>() > 0)) {
      return Error(key, "must be a number > 0");
    }
    *out = v->to_number<double>();
  }

  // Fields whose only supported value is null (or absence).
  void NullOnly(const char* key, const char* why) {
    const json::value* v = Get(key);
    if (v != nullptr && !v->is_null()) Error(key, std::string("must be null: ") + why);
  }

  void String(const char* key, std::initializer_list<const char*> allowed) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    if (!v->is_string() || !Allowed(v->as_string(), allowed)) {
      Error(key, "must be " + AllowedText(allowed) + " (the only value this engine implements)");
    }
  }

  void IntList(const char* key, int min, int max, std::vector<int>* out) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    std::vector<int> values;
    bool ok = v->is_array() && !v->as_array().empty() && v->as_array().size() <= 8;
    if (ok) {
      for (const json::value& e : v->as_array()) {
        if (!e.is_int64() || e.as_int64() < min || e.as_int64() > max) ok = false;
        if (ok) values.push_back(static_cast<int>(e.as_int64()));
      }
    }
    if (!ok) {
      return Error(key, "must be a list of 1..8 integers in " + std::to_string(min) + ".." +
                            std::to_string(max));
    }
    *out = std::move(values);
  }

  // A list of block type names, every one `allowed`; its length in *count (unchanged when absent).
  void BlockTypes(const char* key, const char* allowed, int* count) {
    const json::value* v = Get(key);
    if (v == nullptr) return;
    bool ok = v->is_array() && !v->as_array().empty();
    if (ok) {
      for (const json::value& e : v->as_array()) {
        if (!e.is_string() || e.as_string() != allowed) ok = false;
      }
    }
    if (!ok) {
      return Error(key, std::string("must be a non-empty list of \"") + allowed +
                            "\" (the only block type this engine implements)");
    }
    *count = static_cast<int>(v->as_array().size());
  }

  void Error(const std::string& key, std::string message) {
    errors_.push_back({key, std::move(message)});
  }

  // Keys nobody asked for, metadata ('_'-prefixed) aside.
  void RejectUnknownKeys() {
    for (const auto& [key, value] : object_) {
      if (!key.empty() && key[0] == '_') continue;
      if (known_.count(std::string(key)) == 0) {
        Error(std::string(key), "is not a field this engine knows for an AutoencoderKL");
      }
    }
  }

  std::vector<FieldError>& errors() { return errors_; }

 private:
  static bool Allowed(std::string_view s, std::initializer_list<const char*> allowed) {
    for (const char* a : allowed) {
      if (s == a) return true;
    }
    return false;
  }
  static std::string AllowedText(std::initializer_list<const char*> allowed) {
    std::string out;
    for (const char* a : allowed) out += (out.empty() ? "\"" : " or \"") + std::string(a) + "\"";
    return out;
  }

  const json::object& object_;
  std::set<std::string> known_;
  std::vector<FieldError> errors_;
};

}  // namespace

Result<AutoencoderKLConfig> ParseAutoencoderKLConfig(std::string_view text,
                                                     std::string_view file_name) {
  const std::string file(file_name);
  ASSIGN_OR_RETURN(const json::object object, ParseConfigObject(text, file_name));

  AutoencoderKLConfig c;
  ConfigReader r(object);
  if (const json::value* v = object.if_contains("_class_name");
      v != nullptr && !(v->is_string() && v->as_string() == "AutoencoderKL")) {
    r.Error("_class_name", "must be \"AutoencoderKL\"");
  }
  r.Int("in_channels", 1, 64, &c.in_channels);
  r.Int("out_channels", 1, 64, &c.out_channels);
  r.Int("latent_channels", 1, 1024, &c.latent_channels);
  r.IntList("block_out_channels", 1, 8192, &c.block_out_channels);
  r.Int("layers_per_block", 1, 16, &c.layers_per_block);
  int down_count = 1, up_count = 1;  // diffusers' defaults: one block of each
  r.BlockTypes("down_block_types", "DownEncoderBlock2D", &down_count);
  r.BlockTypes("up_block_types", "UpDecoderBlock2D", &up_count);
  r.Int("norm_num_groups", 1, 1024, &c.norm_num_groups);
  r.String("act_fn", {"silu", "swish"});
  r.Int("sample_size", 1, 1 << 16, &c.sample_size);
  r.PositiveNumber("scaling_factor", &c.scaling_factor);
  r.NullOnly("shift_factor", "latents shifted before scaling (SD3/Flux VAEs) are not implemented");
  r.NullOnly("latents_mean", "per-channel latent statistics are not implemented");
  r.NullOnly("latents_std", "per-channel latent statistics are not implemented");
  r.Bool("force_upcast", &c.force_upcast);
  r.Bool("mid_block_add_attention", &c.mid_block_add_attention);
  r.Bool("use_quant_conv", &c.use_quant_conv);
  r.Bool("use_post_quant_conv", &c.use_post_quant_conv);
  r.RejectUnknownKeys();

  std::vector<FieldError>& errors = r.errors();
  if (errors.empty()) {
    const int levels = static_cast<int>(c.block_out_channels.size());
    if (down_count != levels) {
      r.Error("down_block_types",
              "must have one entry per block_out_channels entry (" + std::to_string(levels) + ")");
    }
    if (up_count != levels) {
      r.Error("up_block_types",
              "must have one entry per block_out_channels entry (" + std::to_string(levels) + ")");
    }
    for (int channels : c.block_out_channels) {
      if (channels % c.norm_num_groups != 0) {
        r.Error("norm_num_groups", "must divide every block_out_channels entry (" +
                                       std::to_string(channels) + " is not a multiple of " +
                                       std::to_string(c.norm_num_groups) + ")");
        break;
      }
    }
  }
  if (!errors.empty()) {
    std::string message = file + ": field '" + errors.front().field + "' " + errors.front().message;
    if (errors.size() > 1) {
      message += " (and " + std::to_string(errors.size() - 1) + " more: ";
      for (size_t i = 1; i < errors.size(); ++i) {
        message += (i > 1 ? ", '" : "'") + errors[i].field + "'";
      }
      message += ")";
    }
    return InvalidArgumentError(std::move(message), std::move(errors));
  }
  return c;
}

Result<AutoencoderKLConfig> LoadAutoencoderKLConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return NotFoundError(path + ": no such file");
    return UnavailableError(path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseAutoencoderKLConfig(text.str(), path);
}

}  // namespace stipple
