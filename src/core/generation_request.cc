#include "core/generation_request.h"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <exception>
#include <limits>

#include "common/digest.h"
#include "common/id.h"
#include "core/json.h"
#include "core/request_fields.h"

namespace stipple {
namespace {

namespace json = boost::json;

constexpr std::array<std::string_view, 20> kFields = {
    "prompt",     "negative_prompt", "model",      "width",     "height",
    "steps",      "guidance_scale",  "scheduler",  "clip_skip", "seed",
    "num_images", "priority",        "ttl_s",      "timeout_s", "webhook",
    "metadata",   "init_image",      "mask_image", "strength",  "loras"};
constexpr std::array<std::string_view, 3> kImageMediaTypes = {"image/png", "image/jpeg",
                                                              "image/webp"};
constexpr std::array<std::string_view, 3> kWebhookEvents = {"started", "progress", "completed"};

using Errors = std::vector<FieldError>;
using request_fields::CountCodePoints;
using request_fields::Find;
using request_fields::IsHttpUrl;
using request_fields::ReadInteger;
using request_fields::ReadNumber;
using request_fields::ReadString;

std::string Join(const auto& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::optional<std::vector<std::string>> ReadWebhookEvents(const json::value* v, Errors& errors) {
  const std::string field = "webhook.events";
  if (v == nullptr) return std::vector<std::string>{"completed"};
  if (!v->is_array()) {
    errors.push_back({field, "must be an array"});
    return std::nullopt;
  }
  if (v->get_array().empty()) {
    errors.push_back({field, "must not be empty"});
    return std::nullopt;
  }
  std::vector<std::string> events;
  for (const json::value& element : v->get_array()) {
    std::string event = element.is_string() ? std::string(element.get_string()) : "";
    if (std::find(kWebhookEvents.begin(), kWebhookEvents.end(), event) == kWebhookEvents.end()) {
      errors.push_back({field, "must contain only " + Join(kWebhookEvents)});
      return std::nullopt;
    }
    if (std::find(events.begin(), events.end(), event) != events.end()) {
      errors.push_back({field, "must not repeat an event"});
      return std::nullopt;
    }
    events.push_back(std::move(event));
  }
  return events;
}

std::optional<WebhookSpec> ReadWebhook(const json::value* v, Errors& errors) {
  if (v == nullptr) return std::nullopt;
  if (!v->is_object()) {
    errors.push_back({"webhook", "must be an object"});
    return std::nullopt;
  }
  const json::object& object = v->get_object();
  size_t errors_before = errors.size();
  for (const auto& member : object) {
    if (member.key() != "url" && member.key() != "events") {
      errors.push_back({"webhook." + std::string(member.key()), "unknown field"});
    }
  }
  WebhookSpec spec;
  const json::value* url = Find(object, "url");
  if (url == nullptr) {
    errors.push_back({"webhook.url", "is required"});
  } else if (std::optional<std::string> s = ReadString(url, "webhook.url", errors)) {
    if (s->size() > RequestLimits::kMaxWebhookUrlBytes) {
      errors.push_back(
          {"webhook.url",
           "must be at most " + std::to_string(RequestLimits::kMaxWebhookUrlBytes) + " bytes"});
    } else if (!IsHttpUrl(*s)) {
      errors.push_back({"webhook.url", "must be an http or https URL with a host"});
    } else {
      spec.url = std::move(*s);
    }
  }
  std::optional<std::vector<std::string>> events =
      ReadWebhookEvents(Find(object, "events"), errors);
  if (events) spec.events = std::move(*events);
  if (errors.size() != errors_before) return std::nullopt;
  return spec;
}

std::optional<std::string> ReadMetadata(const json::value* v, Errors& errors) {
  if (v == nullptr) return std::string("{}");
  if (!v->is_object()) {
    errors.push_back({"metadata", "must be an object"});
    return std::nullopt;
  }
  std::string text = WriteJson(*v);
  if (text.size() > RequestLimits::kMaxMetadataBytes) {
    errors.push_back({"metadata", "must be at most " +
                                      std::to_string(RequestLimits::kMaxMetadataBytes) +
                                      " bytes as compact JSON"});
    return std::nullopt;
  }
  return text;
}

// An image input as a client gives it: a base64 data: URL of a PNG, JPEG or WebP, or an https://
// URL. Only the form is checked here; the gateway's resolver fetches and decodes it.
std::optional<ImageInput> ReadImageSource(const json::value* v, const std::string& field,
                                          Errors& errors) {
  if (v == nullptr || v->is_null()) return std::nullopt;
  std::optional<std::string> s = ReadString(v, field, errors);
  if (!s) return std::nullopt;
  if (s->starts_with("data:")) {
    const size_t comma = s->find(',');
    const std::string_view header =
        std::string_view(*s).substr(5, comma == std::string::npos ? 0 : comma - 5);
    const size_t semicolon = header.find(';');
    const std::string_view media = header.substr(0, semicolon);
    const bool known = std::find(kImageMediaTypes.begin(), kImageMediaTypes.end(), media) !=
                       kImageMediaTypes.end();
    if (comma == std::string::npos || semicolon == std::string_view::npos ||
        header.substr(semicolon) != ";base64") {
      errors.push_back({field,
                        "must be a base64 data: URL (data:image/png;base64,...) or an "
                        "https:// URL"});
      return std::nullopt;
    }
    if (!known) {
      errors.push_back({field,
                        "must be a PNG, JPEG or WebP image (data:image/png, image/jpeg "
                        "or image/webp), not " +
                            std::string(media)});
      return std::nullopt;
    }
  } else if (s->starts_with("https://")) {
    if (s->size() > RequestLimits::kMaxImageSourceBytes) {
      errors.push_back({field, "must be at most " +
                                   std::to_string(RequestLimits::kMaxImageSourceBytes) +
                                   " bytes as an https:// URL"});
      return std::nullopt;
    }
    if (!IsHttpUrl(*s)) {
      errors.push_back({field, "must be an https:// URL with a host"});
      return std::nullopt;
    }
  } else {
    errors.push_back(
        {field, "must be a base64 data: URL (data:image/png;base64,...) or an https:// URL"});
    return std::nullopt;
  }
  ImageInput image;
  image.source = std::move(*s);
  return image;
}

std::vector<LoraRequest> ReadLoras(const json::value* v, const ModelCatalog& catalog,
                                   const ModelLimits* model, Errors& errors) {
  std::vector<LoraRequest> loras;
  if (v == nullptr || v->is_null()) return loras;
  if (!v->is_array()) {
    errors.push_back({"loras", "must be an array of {\"name\", \"scale\"} objects"});
    return loras;
  }
  if (v->get_array().size() > static_cast<size_t>(RequestLimits::kMaxLoras)) {
    errors.push_back(
        {"loras", "must have at most " + std::to_string(RequestLimits::kMaxLoras) + " entries"});
    return loras;
  }
  for (size_t i = 0; i < v->get_array().size(); ++i) {
    const std::string field = "loras[" + std::to_string(i) + "]";
    const json::value& element = v->get_array()[i];
    if (!element.is_object()) {
      errors.push_back({field, "must be an object with name and scale"});
      continue;
    }
    const json::object& object = element.get_object();
    for (const auto& member : object) {
      if (member.key() != "name" && member.key() != "scale") {
        errors.push_back({field + "." + std::string(member.key()), "unknown field"});
      }
    }
    LoraRequest lora;
    const json::value* name = Find(object, "name");
    if (name == nullptr) errors.push_back({field + ".name", "is required"});
    if (std::optional<std::string> s = ReadString(name, field + ".name", errors)) {
      const LoraInfo* info = catalog.FindLora(*s);
      if (info == nullptr) {
        std::vector<std::string> names;
        for (const LoraInfo& l : catalog.loras) {
          if (model == nullptr || l.family == model->family) names.push_back(l.name);
        }
        errors.push_back({field + ".name",
                          names.empty() ? "unknown LoRA; none are available" +
                                              (model ? " for model " + model->name : std::string())
                                        : "unknown LoRA; available: " + Join(names)});
      } else if (model != nullptr && info->family != model->family) {
        errors.push_back(
            {field + ".name", "LoRA " + info->name + " is for " + info->family + " models; model " +
                                  model->name + " is " +
                                  (model->family.empty() ? "of no LoRA family" : model->family)});
      } else if (std::any_of(loras.begin(), loras.end(),
                             [&](const LoraRequest& l) { return l.name == *s; })) {
        errors.push_back({field + ".name", "must not repeat a LoRA"});
      }
      lora.name = std::move(*s);
    }
    if (std::optional<double> scale =
            ReadNumber(Find(object, "scale"), field + ".scale", -RequestLimits::kMaxLoraScale,
                       RequestLimits::kMaxLoraScale, errors)) {
      lora.scale = *scale;
    }
    loras.push_back(std::move(lora));
  }
  return loras;
}

std::vector<std::pair<int, int>> ListedSizes(const ModelLimits& model) {
  std::vector<std::pair<int, int>> sizes = {{model.width, model.height}};
  for (const auto& size : model.sizes) {
    if (std::find(sizes.begin(), sizes.end(), size) == sizes.end()) sizes.push_back(size);
  }
  return sizes;
}

bool RuleAllowsSide(const ModelLimits& model, int64_t side) {
  return model.size_multiple > 0 && side % model.size_multiple == 0 && side >= model.min_size &&
         side <= model.max_size;
}

// Checks (width, height) against the model's sizes; a missing one defaults to the native size.
// The error names the field(s) the client gave that cannot be part of an allowed size.
void CheckSize(const ModelLimits& model, std::optional<int64_t> width,
               std::optional<int64_t> height, Errors& errors) {
  int64_t w = width.value_or(model.width);
  int64_t h = height.value_or(model.height);
  if (model.AllowsSize(w, h)) return;
  std::vector<std::pair<int, int>> sizes = ListedSizes(model);
  auto listed = [&](auto pred) { return std::any_of(sizes.begin(), sizes.end(), pred); };
  std::vector<std::string> names;
  for (const auto& s : sizes)
    names.push_back(std::to_string(s.first) + "x" + std::to_string(s.second));
  std::string allowed = Join(names);
  if (model.size_multiple > 0) {
    allowed += ", or any width and height that are multiples of " +
               std::to_string(model.size_multiple) + " in " + std::to_string(model.min_size) +
               ".." + std::to_string(model.max_size);
  }
  std::string message = std::to_string(w) + "x" + std::to_string(h) +
                        " is not an allowed size for model " + model.name + "; allowed: " + allowed;
  bool width_fits =
      !width || RuleAllowsSide(model, w) || listed([&](const auto& s) { return s.first == w; });
  bool height_fits =
      !height || RuleAllowsSide(model, h) || listed([&](const auto& s) { return s.second == h; });
  if (width && (!width_fits || height_fits)) errors.push_back({"width", message});
  if (height && (!height_fits || width_fits)) errors.push_back({"height", message});
}

Result<GenerationRequest> Parse(std::string_view body, const ModelCatalog& catalog,
                                const SeedSource& seeds) {
  boost::system::error_code ec;
  json::value root = json::parse(body, ec);
  if (ec)
    return InvalidArgumentError("invalid request",
                                {{"body", "is not valid JSON: " + ec.message()}});
  if (!root.is_object())
    return InvalidArgumentError("invalid request", {{"body", "must be a JSON object"}});
  const json::object& o = root.get_object();

  Errors errors;
  for (const auto& member : o) {
    if (std::find(kFields.begin(), kFields.end(), member.key()) == kFields.end()) {
      errors.push_back({std::string(member.key()), "unknown field"});
    }
  }

  GenerationRequest r;
  const json::value* prompt = Find(o, "prompt");
  if (prompt == nullptr) errors.push_back({"prompt", "is required"});
  if (std::optional<std::string> s = ReadString(prompt, "prompt", errors)) {
    size_t n = CountCodePoints(*s);
    if (n == 0) {
      errors.push_back({"prompt", "must not be empty"});
    } else if (n > RequestLimits::kMaxPromptChars) {
      errors.push_back(
          {"prompt",
           "must be at most " + std::to_string(RequestLimits::kMaxPromptChars) + " characters"});
    }
    r.prompt = std::move(*s);
  }
  if (std::optional<std::string> s =
          ReadString(Find(o, "negative_prompt"), "negative_prompt", errors)) {
    if (CountCodePoints(*s) > RequestLimits::kMaxPromptChars) {
      errors.push_back(
          {"negative_prompt",
           "must be at most " + std::to_string(RequestLimits::kMaxPromptChars) + " characters"});
    }
    r.negative_prompt = std::move(*s);
  }

  // The model first: the size, steps and scheduler are checked against it.
  const ModelLimits* model = nullptr;
  if (const json::value* v = Find(o, "model")) {
    if (std::optional<std::string> name = ReadString(v, "model", errors)) {
      model = catalog.Find(*name);
      if (model == nullptr) {
        std::vector<std::string> names;
        for (const ModelLimits& m : catalog.models) names.push_back(m.name);
        errors.push_back({"model", names.empty() ? "unknown model; no models are available"
                                                 : "unknown model; available: " + Join(names)});
      }
    }
  } else {
    model = catalog.Default();
    if (model == nullptr) errors.push_back({"model", "no models are available"});
  }

  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  size_t errors_before_size = errors.size();
  std::optional<int64_t> width = ReadInteger(Find(o, "width"), "width", kMin, kMax, errors);
  std::optional<int64_t> height = ReadInteger(Find(o, "height"), "height", kMin, kMax, errors);
  r.init_image = ReadImageSource(Find(o, "init_image"), "init_image", errors);
  r.mask_image = ReadImageSource(Find(o, "mask_image"), "mask_image", errors);
  const bool has_init = Find(o, "init_image") != nullptr && !Find(o, "init_image")->is_null();
  // With an init image, a size not given is the image's (the resolver checks it then).
  const bool size_from_image = has_init && !width && !height;
  if (model != nullptr && errors.size() == errors_before_size && !size_from_image)
    CheckSize(*model, width, height, errors);
  if (r.mask_image && !has_init) {
    errors.push_back({"mask_image", "needs init_image: the mask marks what to repaint in it"});
  }
  if (model != nullptr && model->inpainting && (!has_init || !r.mask_image)) {
    errors.push_back({has_init ? "mask_image" : "init_image",
                      "is required: model " + model->name + " is an inpainting model"});
  }

  int max_steps =
      std::min(RequestLimits::kMaxSteps, model ? model->max_steps : RequestLimits::kMaxSteps);
  std::optional<int64_t> steps = ReadInteger(Find(o, "steps"), "steps", 1, max_steps, errors);
  std::optional<double> guidance = ReadNumber(Find(o, "guidance_scale"), "guidance_scale", 0,
                                              RequestLimits::kMaxGuidanceScale, errors);
  std::optional<std::string> scheduler = ReadString(Find(o, "scheduler"), "scheduler", errors);
  if (scheduler && model != nullptr &&
      std::find(model->schedulers.begin(), model->schedulers.end(), *scheduler) ==
          model->schedulers.end()) {
    errors.push_back({"scheduler", "must be one of: " + Join(model->schedulers)});
  }
  std::optional<int64_t> clip_skip =
      ReadInteger(Find(o, "clip_skip"), "clip_skip", kMin, kMax, errors);
  if (clip_skip && *clip_skip < 0) {
    errors.push_back({"clip_skip", "must be 0 or more"});
  } else if (clip_skip && model != nullptr && *clip_skip > model->max_clip_skip) {
    errors.push_back(
        {"clip_skip",
         model->max_clip_skip == 0
             ? "must be 0: model " + model->name + " has no text encoder layers to skip"
             : "must be 0.." + std::to_string(model->max_clip_skip) + " for model " + model->name +
                   " (below its text encoder's layer count)"});
  }
  std::optional<int64_t> seed =
      ReadInteger(Find(o, "seed"), "seed", 0, RequestLimits::kMaxSeed, errors);
  std::optional<int64_t> num_images =
      ReadInteger(Find(o, "num_images"), "num_images", 1, RequestLimits::kMaxNumImages, errors);
  if (std::optional<std::string> s = ReadString(Find(o, "priority"), "priority", errors)) {
    std::optional<Priority> priority = ParsePriority(*s);
    if (priority) {
      r.priority = *priority;
    } else {
      errors.push_back({"priority", "must be one of: high, normal, low"});
    }
  }
  std::optional<int64_t> ttl_s =
      ReadInteger(Find(o, "ttl_s"), "ttl_s", 1, RequestLimits::kMaxTtlS, errors);
  std::optional<int64_t> timeout_s =
      ReadInteger(Find(o, "timeout_s"), "timeout_s", 1, RequestLimits::kMaxTimeoutS, errors);
  r.webhook = ReadWebhook(Find(o, "webhook"), errors);
  std::optional<std::string> metadata = ReadMetadata(Find(o, "metadata"), errors);
  // A plain double, not an optional: GCC 12 warns (wrongly) about an optional<double> here.
  double strength_given = -1;  // -1: not given or invalid
  if (const json::value* v = Find(o, "strength"); v != nullptr && !v->is_null()) {
    std::optional<double> strength = ReadNumber(v, "strength", 0, 1, errors);
    strength_given = strength.value_or(-1);
    if (!has_init) {
      errors.push_back({"strength",
                        "needs init_image: it is the share of the schedule that "
                        "runs from that image"});
    } else if (strength_given == 0) {
      errors.push_back({"strength", "must be more than 0"});
      strength_given = -1;
    }
  }
  if (has_init && strength_given > 0 && model != nullptr) {
    const int64_t effective_steps = steps.value_or(model->default_steps);
    if (static_cast<int64_t>(static_cast<double>(effective_steps) * strength_given) < 1) {
      errors.push_back({"strength", "runs no step: int(steps x strength) = int(" +
                                        std::to_string(effective_steps) + " x " +
                                        request_fields::FormatNumber(strength_given) +
                                        ") is 0; raise strength or steps"});
    }
  }
  r.loras = ReadLoras(Find(o, "loras"), catalog, model, errors);

  if (!errors.empty()) return InvalidArgumentError("invalid request", std::move(errors));

  r.model = model->name;
  r.width = static_cast<int>(width.value_or(size_from_image ? 0 : model->width));
  r.height = static_cast<int>(height.value_or(size_from_image ? 0 : model->height));
  if (has_init) {
    r.strength =
        r.mask_image ? RequestLimits::kDefaultMaskedStrength : RequestLimits::kDefaultStrength;
    if (strength_given > 0) r.strength = strength_given;
  }
  r.steps = static_cast<int>(steps.value_or(model->default_steps));
  r.guidance_scale = guidance.value_or(model->default_guidance_scale);
  r.scheduler = scheduler.value_or(model->default_scheduler);
  r.clip_skip = static_cast<int>(clip_skip.value_or(0));
  r.seed = seed ? static_cast<uint32_t>(*seed) : seeds();
  r.num_images = static_cast<int>(num_images.value_or(1));
  if (ttl_s) r.ttl_s = static_cast<int>(*ttl_s);
  r.timeout_s = static_cast<int>(timeout_s.value_or(RequestLimits::kDefaultTimeoutS));
  r.metadata_json = std::move(*metadata);
  return r;
}

}  // namespace

const ModelLimits* ModelCatalog::Find(std::string_view name) const {
  for (const ModelLimits& model : models) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

const LoraInfo* ModelCatalog::FindLora(std::string_view name) const {
  for (const LoraInfo& lora : loras) {
    if (lora.name == name) return &lora;
  }
  return nullptr;
}

bool BatchCompatible(const GenerationRequest& a, const GenerationRequest& b) {
  return a.model == b.model && a.width == b.width && a.height == b.height && a.steps == b.steps &&
         a.scheduler == b.scheduler && a.strength == b.strength &&
         a.init_image.has_value() == b.init_image.has_value() &&
         a.mask_image.has_value() == b.mask_image.has_value() && a.loras == b.loras;
}

int StepsToRun(const GenerationRequest& request) {
  if (!request.init_image) return request.steps;
  return std::min(static_cast<int>(request.steps * request.strength), request.steps);
}

SeedSource RandomSeedSource() {
  return [] {
    uint32_t seed = 0;
    FillRandom(&seed, sizeof seed);
    return seed;
  };
}

Result<GenerationRequest> ParseGenerationRequest(std::string_view json_body,
                                                 const ModelCatalog& catalog,
                                                 const SeedSource& seeds) {
  try {
    return Parse(json_body, catalog, seeds);
  } catch (const std::exception& e) {  // allocation failure; Boost.JSON is used without throwing
    return InternalError(std::string("parsing the request: ") + e.what());
  }
}

std::string RequestFingerprint(std::string_view json_body) {
  std::string canonical;
  boost::system::error_code ec;
  try {
    json::value root = json::parse(json_body, ec);
    canonical = ec ? std::string(json_body) : WriteCanonicalJson(root);
  } catch (const std::exception&) {
    canonical = std::string(json_body);
  }
  return Sha256Hex(canonical);
}

bool ModelLimits::AllowsSize(int64_t width, int64_t height) const {
  if (RuleAllowsSide(*this, width) && RuleAllowsSide(*this, height)) return true;
  const std::vector<std::pair<int, int>> listed = ListedSizes(*this);
  return std::find(listed.begin(), listed.end(), std::pair<int, int>(width, height)) !=
         listed.end();
}

}  // namespace stipple
