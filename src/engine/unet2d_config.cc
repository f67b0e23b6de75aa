#include "engine/unet2d_config.h"

#include <algorithm>
#include <boost/json/value.hpp>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "core/json.h"

#include "engine/config_json.h"

namespace stipple {
namespace {

namespace json = boost::json;
using Down = UNetDownBlockType;
using Up = UNetUpBlockType;

constexpr int kMaxChannels = 1 << 16;
constexpr int kMaxBlocks = 16;
constexpr int kMaxLayers = 64;

// A value as it appears in messages: strings in single quotes, the rest as compact JSON.
std::string ValueText(const json::value& v) {
  if (v.is_string()) return "'" + std::string(v.as_string()) + "'";
  std::string text = WriteJson(v);
  return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

std::optional<int> AsInt(const json::value& v, int min, int max) {
  double d;
  if (v.is_int64()) {
    d = static_cast<double>(v.as_int64());
  } else if (v.is_uint64()) {
    d = static_cast<double>(v.as_uint64());
  } else if (v.is_double() && std::floor(v.as_double()) == v.as_double()) {
    d = v.as_double();
  } else {
    return std::nullopt;
  }
  if (d < min || d > max) return std::nullopt;
  return static_cast<int>(d);
}

std::string Range(int min, int max) { return std::to_string(min) + ".." + std::to_string(max); }

// Reads the fields of the config object, remembering which it asked for and every error.
class Reader {
 public:
  explicit Reader(const json::object& object) : object_(object) {}

  // The field's value; nullptr when absent or null.
  const json::value* Get(const char* name) {
    known_.insert(name);
    const json::value* v = object_.if_contains(name);
    return v == nullptr || v->is_null() ? nullptr : v;
  }

  void Error(const std::string& field, const std::string& message) {
    if (std::any_of(errors_.begin(), errors_.end(),
                    [&](const FieldError& e) { return e.field == field; })) {
      return;  // one error per field is enough
    }
    errors_.push_back({field, message});
  }
  void Unsupported(const std::string& field, const json::value& v, const std::string& why = "") {
    Error(field, ValueText(v) + " is not supported" + (why.empty() ? "" : " (" + why + ")"));
  }

  void Int(const char* name, int min, int max, int* out) {
    const json::value* v = object_.if_contains(name);
    known_.insert(name);
    if (v == nullptr) return;
    std::optional<int> i = AsInt(*v, min, max);
    if (!i) return Error(name, "must be an integer in " + Range(min, max));
    *out = *i;
  }
  void OptionalInt(const char* name, int min, int max, int* out) {
    const json::value* v = Get(name);
    if (v == nullptr) return;
    std::optional<int> i = AsInt(*v, min, max);
    if (!i) return Error(name, "must be null or an integer in " + Range(min, max));
    *out = *i;
  }
  void Number(const char* name, double min, double max, double* out) {
    const json::value* v = object_.if_contains(name);
    known_.insert(name);
    if (v == nullptr) return;
    if (!v->is_number() || v->to_number<double>() < min || v->to_number<double>() > max) {
      return Error(name, "must be a number in " + WriteJson(min) + ".." + WriteJson(max));
    }
    *out = v->to_number<double>();
  }
  // null reads as false (diffusers tests these fields for truth).
  void Bool(const char* name, bool* out) {
    known_.insert(name);
    const json::value* v = object_.if_contains(name);
    if (v == nullptr) return;
    if (!v->is_bool() && !v->is_null()) return Error(name, "must be true, false or null");
    *out = v->is_bool() && v->as_bool();
  }
  // A value that only its default (null or `expected`) may take.
  void OnlyDefault(const char* name, const json::value& expected = nullptr) {
    const json::value* v = Get(name);
    if (v != nullptr && *v != expected) Unsupported(name, *v);
  }
  // Any value of the listed kinds: a field without effect on the blocks this port builds.
  void Ignored(const char* name, bool (json::value::*kind)() const) {
    const json::value* v = Get(name);
    if (v != nullptr && !(v->*kind)()) Error(name, "has the wrong type");
  }
  UNetActivation Activation(const char* name, UNetActivation fallback) {
    const json::value* v = Get(name);
    if (v == nullptr) return fallback;
    std::string s = v->is_string() ? std::string(v->as_string()) : "";
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "silu" || s == "swish") return UNetActivation::kSilu;
    if (s == "mish") return UNetActivation::kMish;
    if (s == "gelu") return UNetActivation::kGelu;
    if (s == "relu") return UNetActivation::kRelu;
    Unsupported(name, *v, "supported: silu, swish, mish, gelu, relu");
    return fallback;
  }
  // An int (repeated n times) or a list of n ints, each in min..max; `fallback` when absent.
  std::vector<int> IntOrList(const char* name, int n, int min, int max, int fallback) {
    const json::value* v = object_.if_contains(name);
    known_.insert(name);
    if (v == nullptr) return std::vector<int>(n, fallback);
    if (std::optional<int> i = AsInt(*v, min, max)) return std::vector<int>(n, *i);
    std::vector<int> values;
    if (v->is_array() && static_cast<int>(v->as_array().size()) == n) {
      for (const json::value& e : v->as_array()) {
        std::optional<int> i = AsInt(e, min, max);
        if (!i) break;
        values.push_back(*i);
      }
    }
    if (static_cast<int>(values.size()) != n) {
      Error(name, "must be an integer in " + Range(min, max) + " or a list of " +
                      std::to_string(n) + " of them (one per block)");
      return std::vector<int>(n, fallback);
    }
    return values;
  }

  // Call after every Get: the keys nobody asked for (metadata aside).
  void RejectUnknownFields() {
    for (const auto& [key, value] : object_) {
      if (!key.empty() && key[0] != '_' && known_.count(std::string(key)) == 0) {
        unknown_.emplace_back(key);
      }
    }
  }

  Status ToStatus(std::string_view file_name) const {
    if (errors_.empty() && unknown_.empty()) return Status::Ok();
    std::string message = std::string(file_name) + ": ";
    std::vector<FieldError> field_errors = errors_;
    for (size_t i = 0; i < errors_.size(); ++i) {
      message += (i ? "; field '" : "field '") + errors_[i].field + "': " + errors_[i].message;
    }
    if (!unknown_.empty()) {
      message += std::string(errors_.empty() ? "" : "; ") + "unknown field" +
                 (unknown_.size() > 1 ? "s " : " ");
      for (size_t i = 0; i < unknown_.size(); ++i) {
        message += (i ? ", '" : "'") + unknown_[i] + "'";
        field_errors.push_back({unknown_[i], "is not a known field"});
      }
    }
    return InvalidArgumentError(std::move(message), std::move(field_errors));
  }
  bool ok() const { return errors_.empty(); }

 private:
  const json::object& object_;
  std::set<std::string> known_;
  std::vector<FieldError> errors_;
  std::vector<std::string> unknown_;
};

std::optional<Down> ParseDownBlockType(const std::string& t) {
  if (t == "CrossAttnDownBlock2D") return Down::kCrossAttnDownBlock2D;
  if (t == "DownBlock2D") return Down::kDownBlock2D;
  return std::nullopt;
}

std::optional<Up> ParseUpBlockType(const std::string& t) {
  if (t == "UpBlock2D") return Up::kUpBlock2D;
  if (t == "CrossAttnUpBlock2D") return Up::kCrossAttnUpBlock2D;
  return std::nullopt;
}

// A block-type list (`fallback` when absent): names mapped through `parse`.
template <typename T>
std::vector<T> BlockTypes(Reader& r, const char* name, const char* supported,
                          const std::vector<T>& fallback,
                          std::optional<T> (*parse)(const std::string&)) {
  const json::value* v = r.Get(name);
  std::vector<T> out;
  if (v == nullptr) return fallback;
  if (!v->is_array() || v->as_array().empty() || v->as_array().size() > kMaxBlocks) {
    r.Error(name, "must be a list of 1.." + std::to_string(kMaxBlocks) + " block type names");
    return out;
  }
  for (const json::value& e : v->as_array()) {
    std::string type = e.is_string() ? std::string(e.as_string()) : "";
    // diffusers reads "UNetResDownBlock2D" as "DownBlock2D".
    if (type.rfind("UNetRes", 0) == 0) type = type.substr(7);
    std::optional<T> t = parse(type);
    if (!t) {
      r.Unsupported(name, e, std::string("supported: ") + supported);
      return {};
    }
    out.push_back(*t);
  }
  return out;
}

// Per-layer transformer depths of one block from an entry of transformer_layers_per_block (an
// int for every layer, or a list with at least `layers` entries, of which the first count).
std::optional<std::vector<int>> LayerDepths(const json::value& entry, int layers) {
  if (std::optional<int> i = AsInt(entry, 0, kMaxLayers)) return std::vector<int>(layers, *i);
  if (!entry.is_array() || static_cast<int>(entry.as_array().size()) < layers) return std::nullopt;
  std::vector<int> out;
  for (int k = 0; k < layers; ++k) {
    std::optional<int> i = AsInt(entry.as_array()[k], 0, kMaxLayers);
    if (!i) return std::nullopt;
    out.push_back(*i);
  }
  return out;
}

void ReadTransformerLayers(Reader& r, UNet2DConditionConfig& c) {
  const int n = c.num_blocks();
  const char* kName = "transformer_layers_per_block";
  const char* kReverse = "reverse_transformer_layers_per_block";
  const json::value* v = r.Get(kName);
  const json::value* reverse = r.Get(kReverse);
  json::array entries;
  if (v == nullptr) {
    entries.resize(n, 1);
  } else if (AsInt(*v, 0, kMaxLayers)) {
    entries.resize(n, *v);
  } else if (v->is_array() && static_cast<int>(v->as_array().size()) == n) {
    entries = v->as_array();
  } else {
    return r.Error(kName, "must be an integer in " + Range(0, kMaxLayers) + " or a list of " +
                              std::to_string(n) + " entries (one per block)");
  }
  for (int i = 0; i < n; ++i) {
    std::optional<std::vector<int>> depths = LayerDepths(entries[i], c.layers_per_block[i]);
    if (!depths) {
      return r.Error(kName, "entry " + std::to_string(i) + " must be an integer in " +
                                Range(0, kMaxLayers) + " or a list of " +
                                std::to_string(c.layers_per_block[i]) + " of them (one per layer)");
    }
    if (entries[i].is_array() && reverse == nullptr) {
      return r.Error(kName, "per-layer lists need reverse_transformer_layers_per_block");
    }
    c.down_transformer_layers.push_back(std::move(*depths));
  }
  // The mid block has one attention layer: the last entry, or its first element.
  c.mid_transformer_layers = c.down_transformer_layers.back().front();
  if (reverse != nullptr &&
      (!reverse->is_array() || static_cast<int>(reverse->as_array().size()) != n)) {
    return r.Error(kReverse, "must be null or a list of " + std::to_string(n) + " entries");
  }
  for (int j = 0; j < n; ++j) {
    const int layers = c.layers_per_block[n - 1 - j] + 1;
    const json::value& entry = reverse ? reverse->as_array()[j] : entries[n - 1 - j];
    std::optional<std::vector<int>> depths = LayerDepths(entry, layers);
    if (!depths) {
      return r.Error(kReverse, "entry " + std::to_string(j) + " must be an integer in " +
                                   Range(0, kMaxLayers) + " or a list of " +
                                   std::to_string(layers) + " of them (one per layer)");
    }
    c.up_transformer_layers.push_back(std::move(*depths));
  }
}

// The field the head counts come from. The class's quirk: attention_head_dim is the head count
// unless num_attention_heads is set.
const char* ReadHeads(Reader& r, UNet2DConditionConfig& c) {
  const int n = c.num_blocks();
  c.attention_heads = r.IntOrList("attention_head_dim", n, 1, kMaxChannels, 8);
  if (r.Get("num_attention_heads") == nullptr) return "attention_head_dim";
  c.attention_heads = r.IntOrList("num_attention_heads", n, 1, kMaxChannels, 8);
  return "num_attention_heads";
}

void ReadAddedEmbedding(Reader& r, UNet2DConditionConfig& c) {
  const json::value* type = r.Get("addition_embed_type");
  int time_dim = 0, projection_dim = 0;
  r.OptionalInt("addition_time_embed_dim", 1, kMaxChannels, &time_dim);
  r.OptionalInt("projection_class_embeddings_input_dim", 1, 1 << 20, &projection_dim);
  r.OptionalInt("addition_embed_type_num_heads", 1, kMaxChannels, &c.addition_text_heads);
  if (type == nullptr) return;
  if (*type == "text") {
    c.addition_text = true;
    return;
  }
  if (*type != "text_time") {
    return r.Unsupported("addition_embed_type", *type, "supported: null, text, text_time");
  }
  c.addition_text_time = true;
  c.addition_time_embed_dim = time_dim;
  c.projection_class_embeddings_input_dim = projection_dim;
  if (time_dim == 0) r.Error("addition_time_embed_dim", "is required with 'text_time'");
  if (projection_dim == 0) {
    r.Error("projection_class_embeddings_input_dim", "is required with 'text_time'");
  }
}

// addition_embed_type "text" pools the encoder states, so they need one width that its heads
// divide.
void CheckTextPooling(Reader& r, const UNet2DConditionConfig& c) {
  if (!c.addition_text) return;
  const int dim = c.cross_attention_dim[0];
  if (std::any_of(c.cross_attention_dim.begin(), c.cross_attention_dim.end(),
                  [dim](int d) { return d != dim; })) {
    return r.Error("cross_attention_dim", "must be one width with addition_embed_type 'text'");
  }
  if (dim % c.addition_text_heads != 0) {
    r.Error("addition_embed_type_num_heads", std::to_string(c.addition_text_heads) +
                                                 " heads do not divide cross_attention_dim " +
                                                 std::to_string(dim));
  }
}

void ReadSampleSize(Reader& r, UNet2DConditionConfig& c) {
  const json::value* v = r.Get("sample_size");
  if (v == nullptr) return;
  if (std::optional<int> s = AsInt(*v, 1, kMaxChannels)) {
    c.sample_height = c.sample_width = *s;
    return;
  }
  const json::array* a = v->if_array();
  std::optional<int> h, w;
  if (a != nullptr && a->size() == 2) {
    h = AsInt((*a)[0], 1, kMaxChannels);
    w = AsInt((*a)[1], 1, kMaxChannels);
  }
  if (!h || !w) return r.Error("sample_size", "must be null, an integer or [height, width]");
  c.sample_height = *h;
  c.sample_width = *w;
}

// The channel counts the network will see, checked against norm_num_groups, the head counts and
// the skip connections (which must hand each up ResNet the channels its weights expect).
void CheckStructure(Reader& r, const UNet2DConditionConfig& c, const char* heads_field) {
  const int n = c.num_blocks(), groups = c.norm_num_groups;
  const std::vector<int>& ch = c.block_out_channels;
  auto grouped = [&](int channels, const std::string& where) {
    if (channels % groups != 0) {
      r.Error("norm_num_groups", std::to_string(groups) + " does not divide the " +
                                     std::to_string(channels) + " channels of " + where);
      return false;
    }
    return true;
  };
  auto headed = [&](int channels, int heads, const std::string& where) {
    if (heads > channels) {
      r.Error(heads_field, std::to_string(heads) + " heads are more than the " +
                               std::to_string(channels) + " channels of " + where);
    }
  };
  std::vector<int> skips = {ch[0]};
  int in = ch[0];
  for (int i = 0; i < n; ++i) {
    const std::string where = "down block " + std::to_string(i);
    for (int k = 0; k < c.layers_per_block[i]; ++k) {
      if (!grouped(in, where) || !grouped(ch[i], where)) return;
      in = ch[i];
      skips.push_back(in);
    }
    if (c.down_has_attention(i)) headed(ch[i], c.attention_heads[i], where);
    if (i + 1 < n) skips.push_back(in);
  }
  if (c.has_mid_block) headed(in, c.attention_heads.back(), "the mid block");
  for (int j = 0; j < n; ++j) {
    const int b = n - 1 - j, out = ch[b], first_skip = ch[std::max(b - 1, 0)];
    const int layers = c.layers_per_block[b] + 1;
    const std::string where = "up block " + std::to_string(j);
    for (int k = 0; k < layers; ++k) {
      const int expected = k == layers - 1 ? first_skip : out;
      if (skips.empty() || skips.back() != expected) {
        return r.Error("layers_per_block",
                       "the skip connections do not fit the up blocks (" + where + ")");
      }
      skips.pop_back();
      if (!grouped(in + expected, where)) return;
      in = out;
    }
    if (!grouped(out, where)) return;
    if (c.up_has_attention(j)) headed(out, c.attention_heads[b], where);
  }
}

void CheckFreqShift(Reader& r, const UNet2DConditionConfig& c) {
  for (int dim : {c.block_out_channels[0], c.addition_time_embed_dim}) {
    if (dim >= 2 && dim / 2 == c.freq_shift) {
      r.Error("freq_shift", "must differ from half the width of each timestep sinusoid (" +
                                std::to_string(dim / 2) + ")");
    }
  }
}

}  // namespace

std::string_view UNetActivationName(UNetActivation activation) {
  switch (activation) {
    case UNetActivation::kNone: return "none";
    case UNetActivation::kSilu: return "silu";
    case UNetActivation::kMish: return "mish";
    case UNetActivation::kGelu: return "gelu";
    case UNetActivation::kRelu: return "relu";
  }
  return "?";
}

Result<UNet2DConditionConfig> ParseUNet2DConditionConfig(std::string_view text,
                                                         std::string_view file_name) {
  const std::string file(file_name);
  ASSIGN_OR_RETURN(const json::object object, ParseConfigObject(text, file_name));
  if (const json::value* name = object.if_contains("_class_name");
      name != nullptr && *name != "UNet2DConditionModel") {
    return InvalidArgumentError(
        file + ": field '_class_name': " + ValueText(*name) + " is not UNet2DConditionModel",
        {{"_class_name", "is not UNet2DConditionModel"}});
  }

  UNet2DConditionConfig c;
  Reader r(object);
  // Read below only when the block structure is sound; known either way.
  for (const char* name :
       {"layers_per_block", "cross_attention_dim", "attention_head_dim", "num_attention_heads",
        "only_cross_attention", "transformer_layers_per_block",
        "reverse_transformer_layers_per_block"}) {
    r.Get(name);
  }
  c.down_block_types = BlockTypes<Down>(r, "down_block_types", "CrossAttnDownBlock2D, DownBlock2D",
                                        {Down::kCrossAttnDownBlock2D, Down::kCrossAttnDownBlock2D,
                                         Down::kCrossAttnDownBlock2D, Down::kDownBlock2D},
                                        ParseDownBlockType);
  c.up_block_types = BlockTypes<Up>(
      r, "up_block_types", "UpBlock2D, CrossAttnUpBlock2D",
      {Up::kUpBlock2D, Up::kCrossAttnUpBlock2D, Up::kCrossAttnUpBlock2D, Up::kCrossAttnUpBlock2D},
      ParseUpBlockType);
  const json::value* mid = object.if_contains("mid_block_type");
  r.Get("mid_block_type");
  if (mid != nullptr) {
    if (mid->is_null()) {
      c.has_mid_block = false;
    } else if (*mid != "UNetMidBlock2DCrossAttn") {
      r.Unsupported("mid_block_type", *mid, "supported: UNetMidBlock2DCrossAttn, null");
    }
  }

  const int n = static_cast<int>(c.down_block_types.size());
  const json::value* channels = r.Get("block_out_channels");
  if (channels == nullptr) {
    c.block_out_channels = {320, 640, 1280, 1280};
  } else if (channels->is_array()) {
    for (const json::value& e : channels->as_array()) {
      std::optional<int> i = AsInt(e, 1, kMaxChannels);
      if (!i) break;
      c.block_out_channels.push_back(*i);
    }
  }
  if (n > 0 && static_cast<int>(c.block_out_channels.size()) != n) {
    r.Error("block_out_channels", "must be a list of " + std::to_string(n) + " integers in " +
                                      Range(1, kMaxChannels) + " (one per down block)");
  }
  if (n > 0 && static_cast<int>(c.up_block_types.size()) != n) {
    r.Error("up_block_types", "must have as many entries as down_block_types");
  }
  // The structure-dependent fields need a consistent block count.
  const bool blocks_ok = r.ok();

  ReadSampleSize(r, c);
  r.Int("in_channels", 1, kMaxChannels, &c.in_channels);
  r.Int("out_channels", 1, kMaxChannels, &c.out_channels);
  r.Bool("center_input_sample", &c.center_input_sample);
  r.Bool("flip_sin_to_cos", &c.flip_sin_to_cos);
  r.Number("freq_shift", -1e6, 1e6, &c.freq_shift);
  r.Int("downsample_padding", 0, 16, &c.downsample_padding);
  r.Number("mid_block_scale_factor", 1e-6, 1e6, &c.mid_block_scale_factor);
  double dropout = 0;
  r.Number("dropout", 0, 1, &dropout);
  c.act_fn = r.Activation("act_fn", UNetActivation::kSilu);
  if (object.if_contains("norm_num_groups") && object.at("norm_num_groups").is_null()) {
    r.Unsupported("norm_num_groups", nullptr);
  }
  r.Int("norm_num_groups", 1, kMaxChannels, &c.norm_num_groups);
  r.Number("norm_eps", 1e-12, 1, &c.norm_eps);
  r.Bool("use_linear_projection", &c.use_linear_projection);
  r.Bool("upcast_attention", &c.upcast_attention);
  if (const json::value* v = r.Get("resnet_time_scale_shift")) {
    if (*v == "scale_shift") {
      c.resnet_scale_shift = true;
    } else if (*v != "default") {
      r.Unsupported("resnet_time_scale_shift", *v, "supported: default, scale_shift");
    }
  }
  if (const json::value* v = r.Get("time_embedding_type"); v != nullptr && *v != "positional") {
    r.Unsupported("time_embedding_type", *v);
  }
  r.OptionalInt("time_embedding_dim", 1, kMaxChannels, &c.time_embed_dim);
  c.time_embedding_act_fn = r.Activation("time_embedding_act_fn", UNetActivation::kNone);
  c.timestep_post_act = r.Activation("timestep_post_act", UNetActivation::kNone);
  r.OptionalInt("time_cond_proj_dim", 1, kMaxChannels, &c.time_cond_proj_dim);
  ReadAddedEmbedding(r, c);
  r.Int("conv_in_kernel", 1, 15, &c.conv_in_kernel);
  r.Int("conv_out_kernel", 1, 15, &c.conv_out_kernel);
  if (c.conv_in_kernel % 2 == 0) r.Error("conv_in_kernel", "must be odd");
  if (c.conv_out_kernel % 2 == 0) r.Error("conv_out_kernel", "must be odd");

  r.OnlyDefault("class_embed_type");
  r.OnlyDefault("num_class_embeds");
  r.OnlyDefault("encoder_hid_dim");
  r.OnlyDefault("encoder_hid_dim_type");
  r.OnlyDefault("dual_cross_attention", false);
  r.OnlyDefault("attention_type", "default");
  r.Ignored("resnet_skip_time_act", &json::value::is_bool);
  r.Ignored("resnet_out_scale_factor", &json::value::is_number);
  r.Ignored("cross_attention_norm", &json::value::is_string);
  r.Ignored("mid_block_only_cross_attention", &json::value::is_bool);
  r.Ignored("class_embeddings_concat", &json::value::is_bool);

  if (blocks_ok) {
    c.layers_per_block = r.IntOrList("layers_per_block", n, 1, kMaxLayers, 2);
    c.cross_attention_dim = r.IntOrList("cross_attention_dim", n, 1, kMaxChannels, 1280);
    const char* heads_field = ReadHeads(r, c);
    std::vector<int> only_cross = {0};
    if (const json::value* v = r.Get("only_cross_attention"); v != nullptr && v->is_bool()) {
      only_cross.assign(n, v->as_bool());
    } else if (v != nullptr) {
      bool ok = v->is_array() && static_cast<int>(v->as_array().size()) == n;
      only_cross.clear();
      for (size_t i = 0; ok && i < v->as_array().size(); ++i) {
        ok = v->as_array()[i].is_bool();
        if (ok) only_cross.push_back(v->as_array()[i].as_bool());
      }
      if (!ok) r.Error("only_cross_attention", "must be true, false or a list of them");
    } else {
      only_cross.assign(n, 0);
    }
    c.only_cross_attention.assign(only_cross.begin(), only_cross.end());
    if (r.ok()) ReadTransformerLayers(r, c);
    if (c.time_embed_dim == 0) c.time_embed_dim = 4 * c.block_out_channels[0];
    if (r.ok()) CheckStructure(r, c, heads_field);
    if (r.ok()) CheckFreqShift(r, c);
    if (r.ok()) CheckTextPooling(r, c);
  }
  r.RejectUnknownFields();
  RETURN_IF_ERROR(r.ToStatus(file));
  return c;
}

}  // namespace stipple
