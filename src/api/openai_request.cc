#include "api/openai_request.h"

#include <boost/json/parse.hpp>
#include <charconv>
#include <optional>
#include <vector>

#include "api/multipart.h"
#include "api/openai_mask.h"
#include "common/base64.h"

namespace stipple::http {
namespace {

namespace json = boost::json;

Status Bad(std::string field, std::string message) {
  std::string detail = field + ": " + message;
  return InvalidArgumentError(std::move(detail), {{std::move(field), std::move(message)}});
}

// "WxH" → {width, height}.
bool ParseSize(std::string_view size, int* width, int* height) {
  size_t x = size.find('x');
  if (x == std::string_view::npos) return false;
  auto number = [](std::string_view s, int* out) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size() && *out > 0;
  };
  return number(size.substr(0, x), width) && number(size.substr(x + 1), height);
}

// A field both endpoints take, applied to `out`; *known is false (and nothing done) for others.
Status ApplyCommonField(std::string_view key, const json::value& value, OpenAiRequest* out,
                        bool* known) {
  *known = true;
  if (key == "prompt" || key == "model" || key == "steps" || key == "seed" ||
      key == "guidance_scale" || key == "negative_prompt" || key == "scheduler" ||
      key == "clip_skip") {
    out->stipple[key] = value;
  } else if (key == "n") {
    out->stipple["num_images"] = value;
  } else if (key == "size") {
    if (!value.is_string()) return Bad("size", "must be a string \"WIDTHxHEIGHT\"");
    if (value.as_string() == "auto") return Status::Ok();  // the model's native size
    int width = 0, height = 0;
    if (!ParseSize(value.as_string(), &width, &height)) {
      return Bad("size", "must be \"WIDTHxHEIGHT\" (e.g. \"32x32\") or \"auto\"");
    }
    out->stipple["width"] = width;
    out->stipple["height"] = height;
  } else if (key == "response_format") {
    std::string format = value.is_string() ? std::string(value.as_string()) : "";
    if (format == "url") {
      out->url = true;
    } else if (format != "b64_json") {
      return Bad("response_format", "must be b64_json or url");
    }
  } else if (key == "user") {
    if (!value.is_string() || value.as_string().size() > 256) {
      return Bad("user", "must be a string of at most 256 characters");
    }
    out->stipple["metadata"] = json::object{{"user", value}};
  } else {
    *known = false;
  }
  return Status::Ok();
}

// A form field's text as JSON: a number where it reads as one (n=2), else the string (the
// request validation then names the field if a number was due).
json::value FormValue(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec && v.is_number()) return v;
  return json::string(text);
}

std::string DataUrl(const std::string& media_type, std::string_view bytes) {
  return "data:" + media_type + ";base64," + Base64Encode(bytes);
}

// The longest text field: a prompt of 1000 code points is at most 4000 bytes.
constexpr size_t kMaxTextFieldBytes = 8192;

}  // namespace

Result<OpenAiRequest> TranslateGenerationRequest(std::string_view body) {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec) return Bad("body", "must be JSON: " + ec.message());
  if (!parsed.is_object()) return Bad("body", "must be a JSON object");
  OpenAiRequest out;
  for (const auto& [key, value] : parsed.as_object()) {
    bool known = false;
    if (Status s = ApplyCommonField(key, value, &out, &known); !s.ok()) return s;
    if (!known) return Bad(key, "unknown field");
  }
  if (!out.stipple.contains("prompt")) return Bad("prompt", "is required");
  return out;
}

Result<OpenAiRequest> TranslateEditRequest(std::string_view content_type, std::string_view body) {
  Result<std::string> boundary = MultipartBoundary(content_type);
  if (!boundary.ok()) return boundary.status();
  Result<std::vector<MultipartPart>> parts = ParseMultipart(body, *boundary);
  if (!parts.ok()) return parts.status();
  OpenAiRequest out;
  std::vector<const MultipartPart*> images;
  const MultipartPart* mask = nullptr;
  std::vector<std::string> seen;
  for (const MultipartPart& part : *parts) {
    if (part.name == "image" || part.name == "image[]") {
      images.push_back(&part);
      continue;
    }
    for (const std::string& name : seen) {
      if (name == part.name) return Bad(part.name, "is given twice");
    }
    seen.push_back(part.name);
    if (part.name == "mask") {
      mask = &part;
      continue;
    }
    if (part.body.size() > kMaxTextFieldBytes) {
      return Bad(part.name, "is over " + std::to_string(kMaxTextFieldBytes) + " bytes");
    }
    json::value value = part.name == "prompt" || part.name == "negative_prompt" ||
                                part.name == "model" || part.name == "scheduler" ||
                                part.name == "user" || part.name == "size" ||
                                part.name == "response_format"
                            ? json::value(json::string(part.body))
                            : FormValue(part.body);
    bool known = false;
    if (Status s = ApplyCommonField(part.name, value, &out, &known); !s.ok()) return s;
    if (part.name == "strength") {
      out.stipple["strength"] = value;
    } else if (!known) {
      return Bad(part.name, "unknown field");
    }
  }
  if (!out.stipple.contains("prompt")) return Bad("prompt", "is required");
  if (images.empty()) return Bad("image", "is required: the image to edit (PNG, JPEG or WebP)");
  if (images.size() > 1) {
    return Bad("image", "takes one image; got " + std::to_string(images.size()));
  }
  std::string_view image = images[0]->body;
  if (image.empty()) return Bad("image", "is empty");
  std::string image_type = SniffImageType(image);
  if (image_type.empty()) return Bad("image", "must be a PNG, JPEG or WebP image");
  out.stipple["init_image"] = DataUrl(image_type, image);
  // The PNG's own size and transparency: the mask must match it, and without a mask its
  // transparent pixels are what to repaint.
  std::optional<TransparencyMask> own;
  if (image_type == "image/png") {
    Result<TransparencyMask> read = MaskFromTransparency(image, "image");
    if (!read.ok()) return read.status();
    own = std::move(*read);
  }
  if (mask != nullptr) {
    Result<TransparencyMask> m = MaskFromTransparency(mask->body, "mask");
    if (!m.ok()) return m.status();
    if (!m->has_alpha) {
      return Bad("mask", "has no alpha channel: its fully transparent pixels mark what to edit");
    }
    if (own && (own->width != m->width || own->height != m->height)) {
      return Bad("mask", "is " + std::to_string(m->width) + "x" + std::to_string(m->height) +
                             " but the image is " + std::to_string(own->width) + "x" +
                             std::to_string(own->height) + ": they must be the same size");
    }
    if (m->png.empty()) {
      return Bad("mask", "has no fully transparent pixel: nothing to edit");
    }
    out.stipple["mask_image"] = DataUrl("image/png", m->png);
  } else if (own && !own->png.empty()) {
    out.stipple["mask_image"] = DataUrl("image/png", own->png);
  }
  return out;
}

}  // namespace stipple::http
