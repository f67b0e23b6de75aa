// The overrides of an LDM inference yaml (A1111's NAME.yaml beside NAME.safetensors), read with
// libyaml: only the few fields that change what the checkpoint is; the rest of the file (module
// targets, training settings) is ignored.
#include <yaml.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/file.h"
#include "engine/ldm_checkpoint.h"

namespace stipple {
namespace {

class YamlDocument {
 public:
  YamlDocument() { yaml_parser_initialize(&parser_); }
  ~YamlDocument() {
    if (loaded_) yaml_document_delete(&doc_);
    yaml_parser_delete(&parser_);
  }
  YamlDocument(const YamlDocument&) = delete;
  YamlDocument& operator=(const YamlDocument&) = delete;

  // Empty on success, else the parser's problem and line.
  std::string Load(std::string_view text) {
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    if (!yaml_parser_load(&parser_, &doc_)) {
      std::string problem = parser_.problem != nullptr ? parser_.problem : "malformed";
      return problem + " at line " + std::to_string(parser_.problem_mark.line + 1);
    }
    loaded_ = true;
    return "";
  }
  yaml_node_t* Root() { return yaml_document_get_root_node(&doc_); }

  // The value of `key` in mapping `node`; nullptr when `node` is not a mapping or lacks it.
  yaml_node_t* Child(yaml_node_t* node, std::string_view key) {
    if (node == nullptr || node->type != YAML_MAPPING_NODE) return nullptr;
    for (yaml_node_pair_t* p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         ++p) {
      yaml_node_t* k = yaml_document_get_node(&doc_, p->key);
      if (k != nullptr && k->type == YAML_SCALAR_NODE && Scalar(k) == key) {
        return yaml_document_get_node(&doc_, p->value);
      }
    }
    return nullptr;
  }
  yaml_node_t* Path(std::initializer_list<std::string_view> keys) {
    yaml_node_t* node = Root();
    for (std::string_view key : keys) node = Child(node, key);
    return node;
  }
  yaml_node_t* FirstItem(yaml_node_t* node) {
    if (node == nullptr || node->type != YAML_SEQUENCE_NODE) return nullptr;
    if (node->data.sequence.items.start == node->data.sequence.items.top) return nullptr;
    return yaml_document_get_node(&doc_, *node->data.sequence.items.start);
  }
  static std::string_view Scalar(const yaml_node_t* node) {
    return {reinterpret_cast<const char*>(node->data.scalar.value), node->data.scalar.length};
  }

 private:
  yaml_parser_t parser_;
  yaml_document_t doc_;
  bool loaded_ = false;
};

struct Reader {
  YamlDocument& doc;
  std::string_view source;
  Status status;

  Status Wrong(const std::string& field, const std::string& what) {
    return InvalidArgumentError(std::string(source) + ": " + field + ": expected " + what,
                                {{field, "expected " + what}});
  }
  // Scalar text of a present field, or nullopt; non-scalars set `status`.
  std::optional<std::string> Text(yaml_node_t* node, const std::string& field) {
    if (node == nullptr || !status.ok()) return std::nullopt;
    if (node->type != YAML_SCALAR_NODE) {
      status = Wrong(field, "a single value");
      return std::nullopt;
    }
    return std::string(YamlDocument::Scalar(node));
  }
  std::optional<int64_t> Int(yaml_node_t* node, const std::string& field) {
    std::optional<std::string> text = Text(node, field);
    if (!text) return std::nullopt;
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size()) {
      status = Wrong(field, "an integer, got '" + *text + "'");
      return std::nullopt;
    }
    return value;
  }
  std::optional<double> Number(yaml_node_t* node, const std::string& field) {
    std::optional<std::string> text = Text(node, field);
    if (!text) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text->c_str(), &end);
    if (text->empty() || end != text->c_str() + text->size() || errno == ERANGE) {
      status = Wrong(field, "a number, got '" + *text + "'");
      return std::nullopt;
    }
    return value;
  }
  std::optional<bool> Bool(yaml_node_t* node, const std::string& field) {
    std::optional<std::string> text = Text(node, field);
    if (!text) return std::nullopt;
    for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "on", "On"}) {
      if (*text == t) return true;
    }
    for (const char* f : {"false", "False", "FALSE", "no", "No", "off", "Off"}) {
      if (*text == f) return false;
    }
    status = Wrong(field, "true or false, got '" + *text + "'");
    return std::nullopt;
  }
};

std::optional<int> ToInt(std::optional<int64_t> v) {
  if (!v) return std::nullopt;
  return static_cast<int>(*v);
}

}  // namespace

Result<LdmOverrides> ParseLdmYaml(std::string_view text, std::string_view source) {
  YamlDocument doc;
  if (std::string problem = doc.Load(text); !problem.empty()) {
    return InvalidArgumentError(std::string(source) + ": not YAML: " + problem);
  }
  LdmOverrides o;
  if (doc.Root() == nullptr) return o;  // an empty document
  Reader r{doc, source, Status::Ok()};
  yaml_node_t* params = doc.Path({"model", "params"});
  if (std::optional<std::string> p =
          r.Text(doc.Child(params, "parameterization"), "model.params.parameterization")) {
    if (*p == "v") {
      o.prediction_type = "v_prediction";
    } else if (*p == "eps") {
      o.prediction_type = "epsilon";
    } else {
      return r.Wrong("model.params.parameterization", "eps or v, got '" + *p + "'");
    }
  }
  // SDXL-style (sgm) configs say it through the denoiser's scaling instead.
  const std::string scaling_field = "model.params.denoiser_config.params.scaling_config.target";
  yaml_node_t* scaling = doc.Child(
      doc.Child(doc.Child(doc.Child(params, "denoiser_config"), "params"), "scaling_config"),
      "target");
  if (std::optional<std::string> target = r.Text(scaling, scaling_field);
      target && !o.prediction_type) {
    if (target->find("VScaling") != std::string::npos) o.prediction_type = "v_prediction";
    if (target->find("EpsScaling") != std::string::npos) o.prediction_type = "epsilon";
  }
  o.scale_factor = r.Number(doc.Child(params, "scale_factor"), "model.params.scale_factor");
  o.beta_start = r.Number(doc.Child(params, "linear_start"), "model.params.linear_start");
  o.beta_end = r.Number(doc.Child(params, "linear_end"), "model.params.linear_end");
  o.num_train_timesteps = ToInt(r.Int(doc.Child(params, "timesteps"), "model.params.timesteps"));
  for (const char* network : {"unet_config", "network_config"}) {
    yaml_node_t* unet = doc.Child(doc.Child(params, network), "params");
    if (unet == nullptr) continue;
    const std::string at = std::string("model.params.") + network + ".params.";
    if (auto v = ToInt(r.Int(doc.Child(unet, "num_heads"), at + "num_heads"))) o.num_heads = v;
    if (auto v = ToInt(r.Int(doc.Child(unet, "num_head_channels"), at + "num_head_channels"))) {
      o.num_head_channels = v;
    }
    if (auto v = r.Bool(doc.Child(unet, "use_linear_in_transformer"),
                        at + "use_linear_in_transformer")) {
      o.use_linear_projection = v;
    }
    yaml_node_t* context = doc.Child(unet, "context_dim");
    if (context != nullptr && context->type == YAML_SEQUENCE_NODE) context = doc.FirstItem(context);
    if (auto v = r.Int(context, at + "context_dim")) o.context_dim = v;
  }
  if (!r.status.ok()) return r.status;
  return o;
}

Result<std::optional<LdmOverrides>> ReadLdmYamlBeside(const std::string& checkpoint_path) {
  std::filesystem::path yaml(checkpoint_path);
  yaml.replace_extension(".yaml");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(yaml, ec)) return std::optional<LdmOverrides>();
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(yaml.string()));
  ASSIGN_OR_RETURN(LdmOverrides o, ParseLdmYaml(text, yaml.string()));
  return std::optional<LdmOverrides>(std::move(o));
}

}  // namespace stipple
