// PNG encoding and decoding (libspng), and RgbImage: the one pixel type from the decoders
// (imaging/image_decode.h) to the engine.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple {

// Encodes `rgb` (height rows of width pixels, 3 bytes each, no padding) as an 8-bit RGB PNG.
// The bytes depend only on the pixels, so equal images give equal PNGs. kInvalidArgument when the
// size is not positive or `rgb` has the wrong length; kInternal if libspng fails.
Result<std::string> EncodePngRgb8(std::span<const uint8_t> rgb, int width, int height);

// A decoded image: the one pixel type from decoders to the engine.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height rows of width pixels, 3 bytes each
};

// Decodes any PNG to 8-bit RGB (alpha dropped, palettes and grey expanded). kInvalidArgument for
// bytes that are not a valid PNG or an image over `max_pixels`.
Result<RgbImage> DecodePngRgb8(std::string_view png, int64_t max_pixels = int64_t{1} << 26);

}  // namespace stipple
