#include "imaging/image_decode.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <jpeglib.h>
// clang-format on
#include <webp/decode.h>

#include <csetjmp>
#include <cstring>
#include <string>

namespace stipple {
namespace {

bool StartsWith(std::string_view bytes, std::string_view prefix) {
  return bytes.substr(0, prefix.size()) == prefix;
}

std::string SizeText(int64_t width, int64_t height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

// --- PNG: the header is the IHDR chunk right after the signature, which libspng checks.

constexpr std::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);

// --- JPEG: libjpeg reports errors through error_exit, which must not return: it jumps back to
// the setjmp in the function that called libjpeg. Those functions hold only trivially
// destructible locals across the jump.

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void JpegErrorExit(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

// A warning (msg_level -1: corrupt data, a premature end of the file) is an error here: libjpeg
// would otherwise fill the missing rows with grey and succeed.
void JpegEmitMessage(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0) JpegErrorExit(cinfo);
}

struct JpegHeader {
  int width = 0;
  int height = 0;
  bool cmyk = false;
};

// Reads the header only (no pixel memory). Returns false with `message` set on an error.
bool ReadJpegHeader(std::string_view bytes, JpegHeader* header, char* message) {
  jpeg_decompress_struct cinfo;
  JpegError error;
  cinfo.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = JpegErrorExit;
  error.manager.emit_message = JpegEmitMessage;
  if (setjmp(error.jump)) {
    std::memcpy(message, error.message, sizeof error.message);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  header->width = static_cast<int>(cinfo.image_width);
  header->height = static_cast<int>(cinfo.image_height);
  header->cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  jpeg_destroy_decompress(&cinfo);
  return true;
}

// Decodes into `rgb` (already width * height * 3 bytes, from the header). The decoder's
// defaults (islow DCT, fancy upsampling) are PIL's.
bool DecodeJpegInto(std::string_view bytes, uint8_t* rgb, int width, int height, char* message) {
  jpeg_decompress_struct cinfo;
  JpegError error;
  cinfo.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = JpegErrorExit;
  error.manager.emit_message = JpegEmitMessage;
  if (setjmp(error.jump)) {
    std::memcpy(message, error.message, sizeof error.message);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (static_cast<int>(cinfo.output_width) != width ||
      static_cast<int>(cinfo.output_height) != height || cinfo.output_components != 3) {
    std::strcpy(message, "unexpected output size");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  const size_t stride = static_cast<size_t>(width) * 3;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = rgb + static_cast<size_t>(cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

Status JpegFailure(const char* what, const char* message) {
  return InvalidArgumentError(std::string("jpeg: ") + what + ": " + message);
}

}  // namespace

std::string_view ImageMediaType(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng: return "image/png";
    case ImageFormat::kJpeg: return "image/jpeg";
    case ImageFormat::kWebp: return "image/webp";
  }
  return "application/octet-stream";
}

Result<ImageInfo> ProbeImage(std::string_view bytes) {
  ImageInfo info;
  if (StartsWith(bytes, kPngSignature)) {
    info.format = ImageFormat::kPng;
    // Signature, IHDR length and type, then width and height (big-endian): 24 bytes. libspng
    // checks the rest of the chunk when it decodes.
    if (bytes.size() < 24 || bytes.substr(12, 4) != "IHDR") {
      return InvalidArgumentError("png: the file ends before its header (IHDR)");
    }
    auto be32 = [&](size_t at) {
      uint32_t v = 0;
      for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
      return v;
    };
    const uint32_t width = be32(16), height = be32(20);
    if (width == 0 || height == 0 || width > 0x7fffffff || height > 0x7fffffff) {
      return InvalidArgumentError("png: invalid size in the header");
    }
    info.width = static_cast<int>(width);
    info.height = static_cast<int>(height);
  } else if (StartsWith(bytes, "\xff\xd8\xff")) {
    info.format = ImageFormat::kJpeg;
    JpegHeader header;
    char message[JMSG_LENGTH_MAX] = {0};
    if (!ReadJpegHeader(bytes, &header, message)) return JpegFailure("header", message);
    if (header.cmyk) return InvalidArgumentError("jpeg: CMYK images are not supported");
    if (header.width <= 0 || header.height <= 0) {
      return InvalidArgumentError("jpeg: invalid size in the header");
    }
    info.width = header.width;
    info.height = header.height;
  } else if (StartsWith(bytes, "RIFF") && bytes.size() >= 12 && bytes.substr(8, 4) == "WEBP") {
    info.format = ImageFormat::kWebp;
    WebPBitstreamFeatures features;
    const VP8StatusCode rc =
        WebPGetFeatures(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &features);
    if (rc != VP8_STATUS_OK) {
      return InvalidArgumentError(rc == VP8_STATUS_NOT_ENOUGH_DATA
                                      ? "webp: the file ends before its header"
                                      : "webp: invalid header");
    }
    if (features.has_animation) {
      return InvalidArgumentError("webp: animated images are not supported");
    }
    info.width = features.width;
    info.height = features.height;
  } else if (StartsWith(bytes, "GIF87a") || StartsWith(bytes, "GIF89a")) {
    return InvalidArgumentError("a GIF image; only PNG, JPEG and WebP are supported");
  } else if (StartsWith(bytes, "BM")) {
    return InvalidArgumentError("a BMP image; only PNG, JPEG and WebP are supported");
  } else if (StartsWith(bytes, "II*") || StartsWith(bytes, "MM\0*")) {
    return InvalidArgumentError("a TIFF image; only PNG, JPEG and WebP are supported");
  } else {
    return InvalidArgumentError("not a PNG, JPEG or WebP image");
  }
  return info;
}

Result<RgbImage> DecodeImage(std::string_view bytes, int64_t max_pixels) {
  ASSIGN_OR_RETURN(ImageInfo info, ProbeImage(bytes));
  if (static_cast<int64_t>(info.width) * info.height > max_pixels) {
    return InvalidArgumentError(std::string(ImageMediaType(info.format)).substr(6) + ": " +
                                SizeText(info.width, info.height) + " is over the limit of " +
                                std::to_string(max_pixels) + " pixels");
  }
  switch (info.format) {
    case ImageFormat::kPng: return DecodePngRgb8(bytes, max_pixels);
    case ImageFormat::kJpeg: {
      RgbImage out;
      out.width = info.width;
      out.height = info.height;
      out.rgb.resize(static_cast<size_t>(info.width) * static_cast<size_t>(info.height) * 3);
      char message[JMSG_LENGTH_MAX] = {0};
      if (!DecodeJpegInto(bytes, out.rgb.data(), info.width, info.height, message)) {
        return JpegFailure("decode", message);
      }
      return out;
    }
    case ImageFormat::kWebp: {
      RgbImage out;
      out.width = info.width;
      out.height = info.height;
      out.rgb.resize(static_cast<size_t>(info.width) * static_cast<size_t>(info.height) * 3);
      if (WebPDecodeRGBInto(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                            out.rgb.data(), out.rgb.size(), info.width * 3) == nullptr) {
        return InvalidArgumentError("webp: truncated or corrupt image data");
      }
      return out;
    }
  }
  return InternalError("image: unknown format");
}

}  // namespace stipple
