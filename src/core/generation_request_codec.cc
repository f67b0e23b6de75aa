#include "core/generation_request_codec.h"

#include <boost/json.hpp>
#include <limits>
#include <utility>

#include "core/json.h"

namespace stipple {
namespace {

namespace json = boost::json;

// The integer at `key`, or `fallback` when it is absent, not a number or outside T's range (a
// cast would wrap it, or for a double be undefined behaviour): stored bytes that are not what
// GenerationRequestToJson wrote read as defaults, as fields of the wrong type do. A double inside
// the range is cut toward zero.
template <typename T>
T IntOr(const json::object& o, std::string_view key, T fallback) {
  const json::value* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_int64())
    return std::in_range<T>(v->get_int64()) ? static_cast<T>(v->get_int64()) : fallback;
  if (v->is_uint64()) {
    return std::in_range<T>(v->get_uint64()) ? static_cast<T>(v->get_uint64()) : fallback;
  }
  if (v->is_double()) {
    const double d = v->get_double();
    const bool fits = d >= static_cast<double>(std::numeric_limits<T>::min()) &&
                      d <= static_cast<double>(std::numeric_limits<T>::max());  // false for NaN
    return fits ? static_cast<T>(d) : fallback;
  }
  return fallback;
}

std::string StringOr(const json::object& o, std::string_view key, std::string_view fallback = "") {
  const json::value* v = o.if_contains(key);
  return (v && v->is_string()) ? std::string(v->get_string()) : std::string(fallback);
}

std::optional<ImageInput> ImageInputOr(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  ImageInput image;
  if (v->is_string()) {
    image.source = std::string(v->get_string());
  } else if (v->is_object()) {
    image.sha256 = StringOr(v->get_object(), "sha256");
    image.media_type = StringOr(v->get_object(), "media_type");
    image.width = IntOr<int>(v->get_object(), "width", 0);
    image.height = IntOr<int>(v->get_object(), "height", 0);
  } else {
    return std::nullopt;
  }
  return image;
}

// null, the source string (unresolved) or the stored reference (resolved).
json::value ImageInputToJson(const std::optional<ImageInput>& image) {
  if (!image) return nullptr;
  if (!image->resolved()) return json::value(image->source);
  return json::object{{"sha256", image->sha256},
                      {"media_type", image->media_type},
                      {"width", image->width},
                      {"height", image->height}};
}

}  // namespace

json::object GenerationRequestToJson(const GenerationRequest& r) {
  json::object o;
  o["prompt"] = r.prompt;
  o["negative_prompt"] = r.negative_prompt;
  o["model"] = r.model;
  o["width"] = r.width;
  o["height"] = r.height;
  o["steps"] = r.steps;
  o["guidance_scale"] = r.guidance_scale;
  o["scheduler"] = r.scheduler;
  o["clip_skip"] = r.clip_skip;
  o["seed"] = static_cast<int64_t>(r.seed);
  o["num_images"] = r.num_images;
  o["priority"] = PriorityName(r.priority);
  o["ttl_s"] = r.ttl_s ? json::value(*r.ttl_s) : json::value(nullptr);
  o["timeout_s"] = r.timeout_s;
  if (r.webhook) {
    json::array events;
    for (const std::string& event : r.webhook->events) events.emplace_back(event);
    o["webhook"] = json::object{{"url", r.webhook->url}, {"events", std::move(events)}};
  } else {
    o["webhook"] = nullptr;
  }
  o["metadata"] = ParseJsonObjectOrEmpty(r.metadata_json);
  o["init_image"] = ImageInputToJson(r.init_image);
  o["mask_image"] = ImageInputToJson(r.mask_image);
  o["strength"] = r.init_image ? json::value(r.strength) : json::value(nullptr);
  json::array loras;
  for (const LoraRequest& lora : r.loras) {
    loras.emplace_back(json::object{{"name", lora.name}, {"scale", lora.scale}});
  }
  o["loras"] = std::move(loras);
  return o;
}

GenerationRequest GenerationRequestFromJson(const json::object& o) {
  GenerationRequest r;
  r.prompt = StringOr(o, "prompt");
  r.negative_prompt = StringOr(o, "negative_prompt");
  r.model = StringOr(o, "model");
  r.width = IntOr<int>(o, "width", 0);
  r.height = IntOr<int>(o, "height", 0);
  r.steps = IntOr<int>(o, "steps", 0);
  if (const json::value* g = o.if_contains("guidance_scale"); g && g->is_number()) {
    r.guidance_scale = g->to_number<double>();
  }
  r.scheduler = StringOr(o, "scheduler");
  r.clip_skip = IntOr<int>(o, "clip_skip", 0);  // absent in requests stored before it existed
  r.seed = IntOr<uint32_t>(o, "seed", 0);
  r.num_images = IntOr<int>(o, "num_images", 1);
  r.priority = ParsePriority(StringOr(o, "priority", "normal")).value_or(Priority::kNormal);
  if (const json::value* t = o.if_contains("ttl_s"); t && t->is_number())
    r.ttl_s = IntOr<int>(o, "ttl_s", 0);
  r.timeout_s = IntOr<int>(o, "timeout_s", RequestLimits::kDefaultTimeoutS);
  if (const json::value* w = o.if_contains("webhook"); w && w->is_object()) {
    WebhookSpec spec;
    spec.url = StringOr(w->get_object(), "url");
    if (const json::value* ev = w->get_object().if_contains("events"); ev && ev->is_array()) {
      for (const json::value& e : ev->get_array()) {
        if (e.is_string()) spec.events.emplace_back(e.get_string());
      }
    }
    r.webhook = std::move(spec);
  }
  if (const json::value* m = o.if_contains("metadata"); m && m->is_object()) {
    r.metadata_json = WriteJson(*m);
  }
  // Absent in requests stored before image inputs and LoRAs existed.
  r.init_image = ImageInputOr(o, "init_image");
  r.mask_image = ImageInputOr(o, "mask_image");
  if (const json::value* s = o.if_contains("strength"); s && s->is_number()) {
    r.strength = s->to_number<double>();
  }
  if (const json::value* l = o.if_contains("loras"); l && l->is_array()) {
    for (const json::value& e : l->get_array()) {
      if (!e.is_object()) continue;
      LoraRequest lora;
      lora.name = StringOr(e.get_object(), "name");
      if (const json::value* scale = e.get_object().if_contains("scale");
          scale && scale->is_number()) {
        lora.scale = scale->to_number<double>();
      }
      r.loras.push_back(std::move(lora));
    }
  }
  return r;
}

}  // namespace stipple
