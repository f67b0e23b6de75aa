#include "core/json.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <vector>

namespace stipple {
namespace {

namespace json = boost::json;

void AppendDouble(double d, std::string& out) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, end - buf);
  out += text;
  // Keep it a double when read back: "4" → "4.0" (an exponent already makes it one).
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void Append(const json::value& value, bool sort_keys, std::string& out) {
  switch (value.kind()) {
    case json::kind::double_: AppendDouble(value.get_double(), out); return;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& element : value.get_array()) {
        if (!first) out += ',';
        first = false;
        Append(element, sort_keys, out);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      std::vector<const json::key_value_pair*> members;
      for (const json::key_value_pair& member : value.get_object()) members.push_back(&member);
      if (sort_keys) {
        std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
          return std::string_view(a->key()) < std::string_view(b->key());
        });
      }
      out += '{';
      bool first = true;
      for (const json::key_value_pair* member : members) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(member->key());
        out += ':';
        Append(member->value(), sort_keys, out);
      }
      out += '}';
      return;
    }
    default:  // null, bool, integers, string: Boost.JSON's text is already canonical.
      out += json::serialize(value);
      return;
  }
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

std::string WriteJson(const json::value& value) {
  std::string out;
  Append(value, /*sort_keys=*/false, out);
  return out;
}

std::string WriteCanonicalJson(const json::value& value) {
  std::string out;
  Append(value, /*sort_keys=*/true, out);
  return out;
}

json::object ParseJsonObjectOrEmpty(std::string_view text) {
  boost::system::error_code ec;
  try {
    json::value value = json::parse(text, ec);
    if (!ec && value.is_object()) return std::move(value.get_object());
  } catch (const std::exception&) {
    // Out of memory or similar: the contract is an empty object.
  }
  return {};
}

json::object GenerationRequestToJsonObject(const GenerationRequest& r) {
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

}  // namespace stipple
