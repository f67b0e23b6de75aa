// OpenAI's edit masks in stipple's terms (POST /v1/images/edits). OpenAI repaints where a PNG's
// alpha is 0 (fully transparent): in the mask when one is given, else in the image itself.
// stipple's mask_image is white where it repaints and black elsewhere. libspng reads the PNG.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple::http {

// The largest image read here: 2048 x 2048, the largest size any model takes (twice SDXL's).
inline constexpr int64_t kMaxEditPixels = int64_t{2048} * 2048;

// "image/png", "image/jpeg" or "image/webp" from the bytes' signature; "" for anything else.
std::string SniffImageType(std::string_view bytes);

struct TransparencyMask {
  int width = 0;
  int height = 0;
  bool has_alpha = false;  // an alpha channel or a tRNS chunk
  // A greyscale PNG of the same size: white where the pixel's alpha is 0, black elsewhere;
  // empty when no pixel is fully transparent.
  std::string png;
};

// Reads the alpha of the PNG `png` (any colour type and bit depth; palettes and tRNS included).
// kInvalidArgument naming `field` when the bytes are not a PNG, the PNG is broken, or its size
// (read from the header, before decoding) is over kMaxEditPixels.
Result<TransparencyMask> MaskFromTransparency(std::string_view png, const std::string& field);

}  // namespace stipple::http
