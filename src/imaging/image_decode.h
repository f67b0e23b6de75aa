// The decoders of image inputs (a request's init_image and mask_image): PNG (libspng), JPEG
// (libjpeg-turbo) and WebP (libwebp) to 8-bit RGB.
//
// Contract:
//  - The format is sniffed from the bytes' signature, never taken from a media type a client
//    gave: PNG "\x89PNG\r\n\x1a\n", JPEG "\xff\xd8\xff", WebP "RIFF....WEBP". GIF, BMP, TIFF and
//    anything else are refused (kInvalidArgument naming what was recognised).
//  - ProbeImage reads only the header: the format and the size, without decoding or allocating
//    pixels. DecodeImage probes first and refuses an image of more than `max_pixels` pixels
//    before it allocates anything (a decompression bomb: a 50,000 x 50,000 PNG header is refused
//    at once).
//  - Alpha is dropped, not composited: the colour channels as stored, as PIL's
//    Image.convert("RGB") (what diffusers uses) does for RGBA. Grey and palette images are
//    expanded to RGB; 16-bit PNG samples are reduced to 8 bits. CMYK JPEGs are refused.
//  - A truncated or corrupt file is kInvalidArgument, never a partly grey image: libjpeg's
//    "premature end of data" warning is an error here, as it is for PIL.
//  - Messages start with the format ("png: ...", "jpeg: ...", "webp: ...") so a caller can put
//    them after a field name.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "imaging/png.h"

namespace stipple {

enum class ImageFormat { kPng, kJpeg, kWebp };

// "image/png", "image/jpeg", "image/webp".
std::string_view ImageMediaType(ImageFormat format);

struct ImageInfo {
  ImageFormat format = ImageFormat::kPng;
  int width = 0;
  int height = 0;
};

// The default pixel bound of DecodeImage: 4096 x 4096.
inline constexpr int64_t kMaxInputImagePixels = int64_t{4096} * 4096;

// The format and size from the header (see the file comment). kInvalidArgument for an
// unsupported format, a header that is cut short or broken, or a zero size.
Result<ImageInfo> ProbeImage(std::string_view bytes);

// Decodes a PNG, JPEG or WebP to RGB (see the file comment). kInvalidArgument for anything
// ProbeImage refuses, an image over `max_pixels`, or a truncated or corrupt body.
Result<RgbImage> DecodeImage(std::string_view bytes, int64_t max_pixels = kMaxInputImagePixels);

}  // namespace stipple
