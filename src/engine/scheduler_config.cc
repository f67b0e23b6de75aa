#include "engine/scheduler_config.h"

#include <boost/json/value.hpp>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "engine/config_json.h"

namespace stipple {
namespace {

namespace json = boost::json;

constexpr const char* kNonFinite[] = {"-Infinity", "Infinity", "NaN"};

// Python's json module writes the bare tokens NaN, Infinity and -Infinity, which are not JSON:
// outside strings they become the strings "NaN", "Infinity" and "-Infinity", which Number reads.
std::string QuoteNonFiniteNumbers(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (std::string_view token : kNonFinite) {
      if (text.substr(i, token.size()) == token) {
        out += '"';
        out += token;
        out += '"';
        i += token.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

// One field's reader: checks the value, stores it, or records a FieldError.
class FieldReader {
 public:
  FieldReader(std::string key, const json::value& value, std::vector<FieldError>* errors)
      : key_(std::move(key)), value_(value), errors_(errors) {}

  void Error(std::string message) { errors_->push_back({key_, std::move(message)}); }

  void Int(int min, int max, std::optional<int>* out) {
    if (!value_.is_int64() || value_.as_int64() < min || value_.as_int64() > max) {
      return Error("must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    }
    *out = static_cast<int>(value_.as_int64());
  }
  // A number, or one of the quoted non-finite tokens when `allow_non_finite`.
  std::optional<double> Number(bool allow_non_finite = false) {
    if (value_.is_number()) return value_.to_number<double>();
    if (allow_non_finite && value_.is_string()) {
      const json::string& s = value_.as_string();
      if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
      if (s == "Infinity") return std::numeric_limits<double>::infinity();
    }
    Error("must be a number");
    return std::nullopt;
  }
  // A number in the open interval (low, high).
  void Between(double low, double high, std::optional<double>* out) {
    std::optional<double> v = Number();
    if (!v) return;
    if (!(*v > low && *v < high)) {
      return Error("must be a number above " + Format(low) +
                   (std::isinf(high) ? "" : " and below " + Format(high)));
    }
    *out = v;
  }
  void Bool(std::optional<bool>* out) {
    if (!value_.is_bool()) return Error("must be true or false");
    *out = value_.as_bool();
  }
  // A bool that must have `only`: the other value changes the computation unsupported.
  void OnlyBool(bool only, bool allow_null, const char* why) {
    if (allow_null && value_.is_null()) return;
    if (!value_.is_bool()) return Error("must be true or false");
    if (value_.as_bool() != only) Error(std::string("true is not supported: ") + why);
  }
  // One of `supported` (other values diffusers knows are computations stipple does not run).
  void String(std::initializer_list<const char*> supported, std::optional<std::string>* out) {
    if (!value_.is_string()) return Error("must be a string: one of " + List(supported));
    std::string s(value_.as_string());
    for (const char* v : supported) {
      if (s == v) {
        *out = std::move(s);
        return;
      }
    }
    Error("'" + s + "' is not supported; one of " + List(supported));
  }
  bool IsNull() const { return value_.is_null(); }

 private:
  static std::string List(std::initializer_list<const char*> values) {
    std::string list;
    for (const char* v : values) list += (list.empty() ? "" : ", ") + std::string(v);
    return list;
  }
  static std::string Format(double v) {
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }

  std::string key_;
  const json::value& value_;
  std::vector<FieldError>* errors_;
};

using FieldParser = std::function<void(FieldReader&, SchedulerConfig*)>;

const std::map<std::string, FieldParser, std::less<>>& FieldParsers() {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  static const auto* parsers = new std::map<std::string, FieldParser, std::less<>>{
      {"num_train_timesteps",
       [](FieldReader& r, SchedulerConfig* c) { r.Int(2, 100000, &c->num_train_timesteps); }},
      {"beta_start", [](FieldReader& r, SchedulerConfig* c) { r.Between(0, 1, &c->beta_start); }},
      {"beta_end", [](FieldReader& r, SchedulerConfig* c) { r.Between(0, 1, &c->beta_end); }},
      {"beta_schedule",
       [](FieldReader& r, SchedulerConfig* c) {
         r.String({"linear", "scaled_linear"}, &c->beta_schedule);
       }},
      {"trained_betas",
       [](FieldReader& r, SchedulerConfig*) {
         if (!r.IsNull()) r.Error("must be null: betas are made from beta_schedule");
       }},
      {"prediction_type",
       [](FieldReader& r, SchedulerConfig* c) {
         r.String({"epsilon", "v_prediction", "sample"}, &c->prediction_type);
       }},
      {"timestep_spacing",
       [](FieldReader& r, SchedulerConfig* c) {
         r.String({"leading", "trailing", "linspace"}, &c->timestep_spacing);
       }},
      {"steps_offset",
       [](FieldReader& r, SchedulerConfig* c) { r.Int(0, 100000, &c->steps_offset); }},
      {"set_alpha_to_one",
       [](FieldReader& r, SchedulerConfig* c) { r.Bool(&c->set_alpha_to_one); }},
      {"clip_sample", [](FieldReader& r, SchedulerConfig* c) { r.Bool(&c->clip_sample); }},
      {"clip_sample_range",
       [](FieldReader& r, SchedulerConfig* c) { r.Between(0, kInf, &c->clip_sample_range); }},
      {"thresholding", [](FieldReader& r, SchedulerConfig* c) { r.Bool(&c->thresholding); }},
      {"sample_max_value",
       [](FieldReader& r, SchedulerConfig* c) { r.Between(0, kInf, &c->sample_max_value); }},
      {"dynamic_thresholding_ratio", [](FieldReader& r, SchedulerConfig*) { r.Number(); }},
      {"use_karras_sigmas",
       [](FieldReader& r, SchedulerConfig* c) {
         if (!r.IsNull()) r.Bool(&c->use_karras_sigmas);
       }},
      {"sigma_min",
       [](FieldReader& r, SchedulerConfig* c) {
         if (!r.IsNull()) r.Between(0, kInf, &c->sigma_min);
       }},
      {"sigma_max",
       [](FieldReader& r, SchedulerConfig* c) {
         if (!r.IsNull()) r.Between(0, kInf, &c->sigma_max);
       }},
      {"variance_type",
       [](FieldReader& r, SchedulerConfig* c) {
         if (!r.IsNull())
           r.String({"fixed_small", "fixed_small_log", "fixed_large"}, &c->variance_type);
       }},
      {"solver_order", [](FieldReader& r, SchedulerConfig* c) { r.Int(1, 2, &c->solver_order); }},
      {"algorithm_type",
       [](FieldReader& r, SchedulerConfig* c) {
         r.String({"dpmsolver++", "sde-dpmsolver++"}, &c->algorithm_type);
       }},
      {"solver_type",
       [](FieldReader& r, SchedulerConfig* c) {
         r.String({"midpoint", "heun"}, &c->solver_type);
       }},
      {"lower_order_final",
       [](FieldReader& r, SchedulerConfig* c) { r.Bool(&c->lower_order_final); }},
      {"euler_at_final", [](FieldReader& r, SchedulerConfig* c) { r.Bool(&c->euler_at_final); }},
      {"final_sigmas_type",
       [](FieldReader& r, SchedulerConfig* c) {
         r.String({"zero", "sigma_min"}, &c->final_sigmas_type);
       }},
      {"lambda_min_clipped",
       [](FieldReader& r, SchedulerConfig* c) {
         if (std::optional<double> v = r.Number(/*allow_non_finite=*/true)) {
           c->lambda_min_clipped = *v;
         }
       }},
      {"original_inference_steps",
       [](FieldReader& r, SchedulerConfig* c) { r.Int(1, 100000, &c->original_inference_steps); }},
      {"timestep_scaling",
       [](FieldReader& r, SchedulerConfig* c) { r.Between(0, kInf, &c->timestep_scaling); }},
      {"interpolation_type",
       [](FieldReader& r, SchedulerConfig*) {
         std::optional<std::string> v;
         r.String({"linear"}, &v);
       }},
      {"timestep_type",
       [](FieldReader& r, SchedulerConfig*) {
         std::optional<std::string> v;
         r.String({"discrete"}, &v);
       }},
      {"rescale_betas_zero_snr",
       [](FieldReader& r, SchedulerConfig*) {
         r.OnlyBool(false, false, "zero-terminal-SNR rescaling is not implemented");
       }},
      {"use_lu_lambdas",
       [](FieldReader& r, SchedulerConfig*) {
         r.OnlyBool(false, true, "Lu's lambda spacing is not implemented");
       }},
      {"skip_prk_steps",
       [](FieldReader& r, SchedulerConfig*) {
         std::optional<bool> ignored;
         r.Bool(&ignored);
       }},
  };
  return *parsers;
}

const std::map<std::string, std::string, std::less<>>& ClassDefaults() {
  static const auto* classes = new std::map<std::string, std::string, std::less<>>{
      {"PNDMScheduler", "ddim"},
      {"DDIMScheduler", "ddim"},
      {"DDPMScheduler", "ddpm"},
      {"EulerDiscreteScheduler", "euler"},
      {"EulerAncestralDiscreteScheduler", "euler_a"},
      {"DPMSolverMultistepScheduler", "dpmpp_2m"},
      {"LCMScheduler", "lcm"},
  };
  return *classes;
}

}  // namespace

Result<SchedulerConfig> ParseSchedulerConfig(std::string_view text, std::string_view file_name) {
  const std::string file(file_name);
  ASSIGN_OR_RETURN(const json::object object,
                   ParseConfigObject(QuoteNonFiniteNumbers(text), file_name));
  SchedulerConfig c;
  std::vector<FieldError> errors;
  for (const auto& [key, value] : object) {
    if (key == "_class_name") {
      const auto& classes = ClassDefaults();
      auto it =
          value.is_string() ? classes.find(std::string_view(value.as_string())) : classes.end();
      if (it == classes.end()) {
        std::string list;
        for (const auto& [name, unused] : classes) list += (list.empty() ? "" : ", ") + name;
        errors.push_back({"_class_name", "must be one of " + list});
      } else {
        c.class_name = it->first;
        c.default_scheduler = it->second;
      }
      continue;
    }
    if (!key.empty() && key[0] == '_') continue;  // metadata: _diffusers_version, ...
    auto parser = FieldParsers().find(std::string_view(key));
    if (parser == FieldParsers().end()) {
      errors.push_back({std::string(key), "is not a field of any supported scheduler class"});
      continue;
    }
    FieldReader reader(std::string(key), value, &errors);
    parser->second(reader, &c);
  }
  if (c.class_name.empty() && !object.contains("_class_name")) {
    errors.push_back({"_class_name", "is required"});
  }
  if (c.beta_start && c.beta_end && *c.beta_start > *c.beta_end) {
    errors.push_back({"beta_end", "must not be below beta_start"});
  }
  if (c.thresholding.value_or(false) && c.sample_max_value.value_or(1.0) != 1.0) {
    errors.push_back({"thresholding",
                      "true is supported only with sample_max_value 1 (clipping to ±1); dynamic "
                      "thresholding is not implemented"});
  }
  if (!errors.empty()) {
    std::string message = file + ": " + errors.front().field + " " + errors.front().message;
    return InvalidArgumentError(std::move(message), std::move(errors));
  }
  return c;
}

}  // namespace stipple
