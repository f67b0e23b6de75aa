#include "imaging/png.h"

#include <spng.h>

#include <memory>
#include <string>

namespace stipple {
namespace {

struct SpngContextDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};

Status SpngError(const char* what, int code) {
  return InternalError(std::string("png: ") + what + ": " + spng_strerror(code));
}

}  // namespace

Result<std::string> EncodePngRgb8(std::span<const uint8_t> rgb, int width, int height) {
  if (width <= 0 || height <= 0) return InvalidArgumentError("png: width and height must be > 0");
  if (rgb.size() != static_cast<size_t>(width) * static_cast<size_t>(height) * 3) {
    return InvalidArgumentError("png: expected " + std::to_string(width) + "x" +
                                std::to_string(height) + "x3 bytes, got " +
                                std::to_string(rgb.size()));
  }
  std::unique_ptr<spng_ctx, SpngContextDeleter> ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) return InternalError("png: cannot create an encoder");
  if (int rc = spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1); rc != 0) {
    return SpngError("set_option", rc);
  }
  spng_ihdr ihdr = {};
  ihdr.width = static_cast<uint32_t>(width);
  ihdr.height = static_cast<uint32_t>(height);
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR;
  if (int rc = spng_set_ihdr(ctx.get(), &ihdr); rc != 0) return SpngError("set_ihdr", rc);
  // spng reads the image through a non-const pointer but does not modify it.
  void* pixels = const_cast<uint8_t*>(rgb.data());
  if (int rc = spng_encode_image(ctx.get(), pixels, rgb.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
      rc != 0) {
    return SpngError("encode", rc);
  }
  size_t size = 0;
  int error = 0;
  void* buffer = spng_get_png_buffer(ctx.get(), &size, &error);
  if (buffer == nullptr) return SpngError("get_png_buffer", error);
  std::string out(static_cast<const char*>(buffer), size);
  free(buffer);  // NOLINT: spng allocates the buffer with malloc and hands it to the caller
  return out;
}

Result<RgbImage> DecodePngRgb8(std::string_view png, int64_t max_pixels) {
  std::unique_ptr<spng_ctx, SpngContextDeleter> ctx(spng_ctx_new(0));
  if (!ctx) return InternalError("png: cannot create a decoder");
  auto invalid = [](const char* what, int code) {
    return InvalidArgumentError(std::string("png: ") + what + ": " + spng_strerror(code));
  };
  if (int rc = spng_set_png_buffer(ctx.get(), png.data(), png.size()); rc != 0) {
    return invalid("buffer", rc);
  }
  spng_ihdr ihdr = {};
  if (int rc = spng_get_ihdr(ctx.get(), &ihdr); rc != 0) return invalid("header", rc);
  if (static_cast<int64_t>(ihdr.width) * ihdr.height > max_pixels) {
    return InvalidArgumentError("png: " + std::to_string(ihdr.width) + "x" +
                                std::to_string(ihdr.height) + " is over the pixel limit");
  }
  size_t size = 0;
  if (int rc = spng_decoded_image_size(ctx.get(), SPNG_FMT_RGB8, &size); rc != 0) {
    return invalid("size", rc);
  }
  RgbImage out;
  out.width = static_cast<int>(ihdr.width);
  out.height = static_cast<int>(ihdr.height);
  out.rgb.resize(size);
  if (int rc = spng_decode_image(ctx.get(), out.rgb.data(), size, SPNG_FMT_RGB8, 0); rc != 0) {
    return invalid("decode", rc);
  }
  return out;
}

}  // namespace stipple
