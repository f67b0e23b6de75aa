#include "api/openai_mask.h"

#include <spng.h>

#include <cstdlib>
#include <memory>
#include <vector>

namespace stipple::http {
namespace {

struct SpngDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};
using SpngPtr = std::unique_ptr<spng_ctx, SpngDeleter>;

Result<std::string> EncodeGrey8(const std::vector<uint8_t>& grey, int width, int height) {
  SpngPtr ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) return InternalError("png: cannot create an encoder");
  spng_ihdr ihdr = {};
  ihdr.width = static_cast<uint32_t>(width);
  ihdr.height = static_cast<uint32_t>(height);
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_GRAYSCALE;
  void* pixels = const_cast<uint8_t*>(grey.data());  // read, not written
  int rc = spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
  if (rc == 0) rc = spng_set_ihdr(ctx.get(), &ihdr);
  if (rc == 0)
    rc = spng_encode_image(ctx.get(), pixels, grey.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
  if (rc != 0) return InternalError(std::string("png: encoding the mask: ") + spng_strerror(rc));
  size_t size = 0;
  void* buffer = spng_get_png_buffer(ctx.get(), &size, &rc);
  if (buffer == nullptr) return InternalError(std::string("png: ") + spng_strerror(rc));
  std::string out(static_cast<const char*>(buffer), size);
  free(buffer);  // NOLINT: spng hands over a malloc'd buffer
  return out;
}

}  // namespace

std::string SniffImageType(std::string_view b) {
  if (b.starts_with("\x89PNG\r\n\x1a\n")) return "image/png";
  if (b.starts_with("\xff\xd8\xff")) return "image/jpeg";
  if (b.size() >= 12 && b.starts_with("RIFF") && b.substr(8, 4) == "WEBP") return "image/webp";
  return "";
}

Result<TransparencyMask> MaskFromTransparency(std::string_view png, const std::string& field) {
  auto bad = [&field](const std::string& message) {
    return InvalidArgumentError(field + ": " + message, {{field, message}});
  };
  if (SniffImageType(png) != "image/png") return bad("must be a PNG");
  SpngPtr ctx(spng_ctx_new(0));
  if (!ctx) return InternalError("png: cannot create a decoder");
  spng_set_chunk_limits(ctx.get(), 1 << 20, 1 << 20);
  if (int rc = spng_set_png_buffer(ctx.get(), png.data(), png.size()); rc != 0) {
    return bad(std::string("is not a readable PNG: ") + spng_strerror(rc));
  }
  spng_ihdr ihdr = {};
  if (int rc = spng_get_ihdr(ctx.get(), &ihdr); rc != 0) {
    return bad(std::string("is not a readable PNG: ") + spng_strerror(rc));
  }
  if (static_cast<int64_t>(ihdr.width) * ihdr.height > kMaxEditPixels) {
    return bad(std::to_string(ihdr.width) + "x" + std::to_string(ihdr.height) +
               " is over the limit of " + std::to_string(kMaxEditPixels) + " pixels");
  }
  TransparencyMask out;
  out.width = static_cast<int>(ihdr.width);
  out.height = static_cast<int>(ihdr.height);
  spng_trns trns = {};
  out.has_alpha = ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA ||
                  ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ||
                  spng_get_trns(ctx.get(), &trns) == 0;
  if (!out.has_alpha) return out;
  size_t size = 0;
  if (int rc = spng_decoded_image_size(ctx.get(), SPNG_FMT_RGBA8, &size); rc != 0) {
    return bad(std::string("is not a readable PNG: ") + spng_strerror(rc));
  }
  std::vector<uint8_t> rgba(size);
  if (int rc = spng_decode_image(ctx.get(), rgba.data(), size, SPNG_FMT_RGBA8, SPNG_DECODE_TRNS);
      rc != 0) {
    return bad(std::string("is a broken PNG: ") + spng_strerror(rc));
  }
  std::vector<uint8_t> grey(size / 4);
  bool any = false;
  for (size_t i = 0; i < grey.size(); ++i) {
    grey[i] = rgba[4 * i + 3] == 0 ? 255 : 0;
    any = any || grey[i] != 0;
  }
  if (!any) return out;
  Result<std::string> encoded = EncodeGrey8(grey, out.width, out.height);
  if (!encoded.ok()) return encoded.status();
  out.png = std::move(*encoded);
  return out;
}

}  // namespace stipple::http
