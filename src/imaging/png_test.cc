#include "imaging/png.h"

#include <gtest/gtest.h>
#include <spng.h>

#include <cstdint>
#include <vector>

namespace stipple {
namespace {

struct Decoded {
  uint32_t width = 0, height = 0;
  uint8_t color_type = 0, bit_depth = 0;
  std::vector<uint8_t> rgb;
};

Decoded Decode(const std::string& png) {
  Decoded out;
  spng_ctx* ctx = spng_ctx_new(0);
  EXPECT_EQ(spng_set_png_buffer(ctx, png.data(), png.size()), 0);
  spng_ihdr ihdr;
  EXPECT_EQ(spng_get_ihdr(ctx, &ihdr), 0);
  out.width = ihdr.width;
  out.height = ihdr.height;
  out.color_type = ihdr.color_type;
  out.bit_depth = ihdr.bit_depth;
  size_t size = 0;
  EXPECT_EQ(spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &size), 0);
  out.rgb.resize(size);
  EXPECT_EQ(spng_decode_image(ctx, out.rgb.data(), size, SPNG_FMT_RGB8, 0), 0);
  spng_ctx_free(ctx);
  return out;
}

TEST(Png, EncodedImageDecodesToTheSamePixels) {
  const int w = 5, h = 3;
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 37 % 256);
  Result<std::string> png = EncodePngRgb8(rgb, w, h);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  EXPECT_EQ(png->substr(1, 3), "PNG");
  Decoded d = Decode(*png);
  EXPECT_EQ(d.width, 5u);
  EXPECT_EQ(d.height, 3u);
  EXPECT_EQ(d.color_type, SPNG_COLOR_TYPE_TRUECOLOR);
  EXPECT_EQ(d.bit_depth, 8);
  EXPECT_EQ(d.rgb, rgb);
}

TEST(Png, SamePixelsGiveSameBytes) {
  std::vector<uint8_t> rgb(size_t{4} * 4 * 3, 200);
  EXPECT_EQ(EncodePngRgb8(rgb, 4, 4).value(), EncodePngRgb8(rgb, 4, 4).value());
}

TEST(Png, WrongBufferLengthIsInvalidArgument) {
  std::vector<uint8_t> rgb(10);
  EXPECT_EQ(EncodePngRgb8(rgb, 4, 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodePngRgb8(rgb, 0, 4).status().code(), StatusCode::kInvalidArgument);
}

TEST(Png, DecodeGivesBackTheEncodedPixels) {
  std::vector<uint8_t> rgb(size_t{6} * 2 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 11);
  Result<RgbImage> decoded = DecodePngRgb8(EncodePngRgb8(rgb, 6, 2).value());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->width, 6);
  EXPECT_EQ(decoded->height, 2);
  EXPECT_EQ(decoded->rgb, rgb);
}

TEST(Png, DecodeOfGarbageOrTruncatedBytesIsInvalidArgument) {
  EXPECT_EQ(DecodePngRgb8("not a png").status().code(), StatusCode::kInvalidArgument);
  std::string png = EncodePngRgb8(std::vector<uint8_t>(size_t{4} * 4 * 3, 9), 4, 4).value();
  EXPECT_EQ(DecodePngRgb8(png.substr(0, png.size() / 2)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Png, DecodeRefusesImagesOverThePixelLimit) {
  std::string png = EncodePngRgb8(std::vector<uint8_t>(size_t{4} * 4 * 3, 9), 4, 4).value();
  EXPECT_EQ(DecodePngRgb8(png, 15).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stipple
