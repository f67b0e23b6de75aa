// PNG encoding of the engine's images and previews (libspng).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"

namespace stipple {

// Encodes `rgb` (height rows of width pixels, 3 bytes each, no padding) as an 8-bit RGB PNG.
// The bytes depend only on the pixels, so equal images give equal PNGs. kInvalidArgument when the
// size is not positive or `rgb` has the wrong length; kInternal if libspng fails.
Result<std::string> EncodePngRgb8(std::span<const uint8_t> rgb, int width, int height);

}  // namespace stipple
