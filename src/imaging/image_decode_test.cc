#include "imaging/image_decode.h"

// clang-format off
#include <cstdio>
#include <jpeglib.h>
// clang-format on
#include <gtest/gtest.h>
#include <spng.h>
#include <webp/encode.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace stipple {
namespace {

std::vector<uint8_t> Gradient(int w, int h, int channels) {
  std::vector<uint8_t> pixels(static_cast<size_t>(w) * h * channels);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &pixels[(static_cast<size_t>(y) * w + x) * channels];
      p[0] = static_cast<uint8_t>(x * 255 / (w - 1));
      if (channels > 1) p[1] = static_cast<uint8_t>(y * 255 / (h - 1));
      if (channels > 2) p[2] = 128;
      if (channels > 3) p[3] = static_cast<uint8_t>(64 + x);
    }
  }
  return pixels;
}

std::vector<uint8_t> DropAlpha(const std::vector<uint8_t>& rgba) {
  std::vector<uint8_t> rgb;
  for (size_t i = 0; i < rgba.size(); i += 4) rgb.insert(rgb.end(), &rgba[i], &rgba[i] + 3);
  return rgb;
}

std::string EncodePng(const std::vector<uint8_t>& pixels, int w, int h, uint8_t color_type) {
  spng_ctx* ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr = {};
  ihdr.width = static_cast<uint32_t>(w);
  ihdr.height = static_cast<uint32_t>(h);
  ihdr.bit_depth = 8;
  ihdr.color_type = color_type;
  spng_set_ihdr(ctx, &ihdr);
  EXPECT_EQ(
      spng_encode_image(ctx, pixels.data(), pixels.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
  size_t size = 0;
  int error = 0;
  void* buffer = spng_get_png_buffer(ctx, &size, &error);
  std::string out(static_cast<const char*>(buffer), size);
  free(buffer);  // NOLINT: spng's malloc
  spng_ctx_free(ctx);
  return out;
}

std::string EncodeJpeg(const std::vector<uint8_t>& pixels, int w, int h, int components) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(w);
  cinfo.image_height = static_cast<JDIMENSION>(h);
  cinfo.input_components = components;
  cinfo.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 98, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(
        &pixels[static_cast<size_t>(cinfo.next_scanline) * w * static_cast<size_t>(components)]);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buffer), size);
  free(buffer);  // NOLINT: libjpeg's malloc
  return out;
}

std::string EncodeWebpLossless(const std::vector<uint8_t>& pixels, int w, int h, bool alpha) {
  uint8_t* out = nullptr;
  const size_t size = alpha ? WebPEncodeLosslessRGBA(pixels.data(), w, h, w * 4, &out)
                            : WebPEncodeLosslessRGB(pixels.data(), w, h, w * 3, &out);
  std::string bytes(reinterpret_cast<char*>(out), size);
  WebPFree(out);
  return bytes;
}

int MaxDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

std::vector<uint8_t> ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(STIPPLE_IMAGING_TESTDATA) + "/" + name, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The same pixels as PIL's Image.convert("RGB"), what diffusers decodes inputs with
// (tools/goldens/image_decode_goldens.py): baseline, progressive and grey JPEGs, lossy WebP, and
// WebP and PNG with alpha.
TEST(ImageDecode, TheSamePixelsAsPil) {
  for (const char* name :
       {"colour.jpg", "progressive.jpg", "grey.jpg", "lossy.webp", "alpha.webp", "alpha.png"}) {
    const std::vector<uint8_t> file = ReadTestdata(name);
    const std::vector<uint8_t> expected = ReadTestdata(std::string(name) + ".rgb");
    ASSERT_FALSE(file.empty()) << name;
    Result<RgbImage> image =
        DecodeImage(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
    ASSERT_TRUE(image.ok()) << name << ": " << image.status().ToString();
    ASSERT_EQ(image->rgb.size(), expected.size()) << name;
    EXPECT_LE(MaxDifference(image->rgb, expected), 0) << name;
  }
}

TEST(ImageDecode, PngRgbAndRgbaAlphaDroppedAsStored) {
  const std::vector<uint8_t> rgb = Gradient(9, 5, 3);
  Result<RgbImage> image = DecodeImage(EncodePng(rgb, 9, 5, SPNG_COLOR_TYPE_TRUECOLOR));
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->width, 9);
  EXPECT_EQ(image->height, 5);
  EXPECT_EQ(image->rgb, rgb);

  const std::vector<uint8_t> rgba = Gradient(9, 5, 4);
  Result<RgbImage> with_alpha = DecodeImage(EncodePng(rgba, 9, 5, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA));
  ASSERT_TRUE(with_alpha.ok()) << with_alpha.status().ToString();
  EXPECT_EQ(with_alpha->rgb, DropAlpha(rgba));  // not composited on black or white
}

TEST(ImageDecode, JpegColourAndGreyDecodeToRgb) {
  const std::vector<uint8_t> rgb = Gradient(16, 16, 3);
  const std::string jpeg = EncodeJpeg(rgb, 16, 16, 3);
  Result<ImageInfo> info = ProbeImage(jpeg);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->format, ImageFormat::kJpeg);
  EXPECT_EQ(ImageMediaType(info->format), "image/jpeg");
  EXPECT_EQ(info->width, 16);
  Result<RgbImage> image = DecodeImage(jpeg);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->rgb.size(), rgb.size());
  EXPECT_LE(MaxDifference(image->rgb, rgb), 12);  // lossy, at quality 98

  const std::vector<uint8_t> grey = Gradient(8, 8, 1);
  Result<RgbImage> expanded = DecodeImage(EncodeJpeg(grey, 8, 8, 1));
  ASSERT_TRUE(expanded.ok()) << expanded.status().ToString();
  ASSERT_EQ(expanded->rgb.size(), 8u * 8 * 3);
  for (size_t i = 0; i < expanded->rgb.size(); i += 3) {
    EXPECT_EQ(expanded->rgb[i], expanded->rgb[i + 1]);
    EXPECT_EQ(expanded->rgb[i], expanded->rgb[i + 2]);
  }
}

TEST(ImageDecode, WebpLosslessIsExactAndAlphaIsDropped) {
  const std::vector<uint8_t> rgb = Gradient(7, 6, 3);
  const std::string webp = EncodeWebpLossless(rgb, 7, 6, false);
  Result<ImageInfo> info = ProbeImage(webp);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->format, ImageFormat::kWebp);
  EXPECT_EQ(info->height, 6);
  Result<RgbImage> image = DecodeImage(webp);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->rgb, rgb);

  const std::vector<uint8_t> rgba = Gradient(7, 6, 4);
  Result<RgbImage> with_alpha = DecodeImage(EncodeWebpLossless(rgba, 7, 6, true));
  ASSERT_TRUE(with_alpha.ok()) << with_alpha.status().ToString();
  EXPECT_EQ(with_alpha->rgb, DropAlpha(rgba));
}

// A PNG whose header claims 50,000 x 50,000: refused from the header, nothing allocated.
TEST(ImageDecode, BombRefusedFromTheHeader) {
  std::string png = EncodePng(Gradient(4, 4, 3), 4, 4, SPNG_COLOR_TYPE_TRUECOLOR);
  const uint32_t side = 50000;
  for (size_t at : {size_t{16}, size_t{20}}) {
    for (int i = 0; i < 4; ++i) png[at + i] = static_cast<char>((side >> (24 - 8 * i)) & 0xff);
  }
  Result<ImageInfo> info = ProbeImage(png);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->width, 50000);
  Result<RgbImage> image = DecodeImage(png);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(image.status().message().find("50000x50000 is over the limit"), std::string::npos)
      << image.status().message();
}

TEST(ImageDecode, TruncatedFilesAreErrorsNotGreyImages) {
  const std::string png = EncodePng(Gradient(32, 32, 3), 32, 32, SPNG_COLOR_TYPE_TRUECOLOR);
  const std::string jpeg = EncodeJpeg(Gradient(32, 32, 3), 32, 32, 3);
  const std::string webp = EncodeWebpLossless(Gradient(32, 32, 3), 32, 32, false);
  for (const std::string* bytes : {&png, &jpeg, &webp}) {
    // (A PNG may lose the CRCs after its pixel data and still decode: not tried.)
    for (size_t keep : {bytes->size() / 2, bytes->size() - 20, size_t{10}}) {
      Result<RgbImage> image = DecodeImage(bytes->substr(0, keep));
      EXPECT_FALSE(image.ok()) << "kept " << keep << " of " << bytes->size() << ": "
                               << bytes->substr(0, 4);
      if (!image.ok()) {
        EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
      }
    }
  }
  std::string corrupt = jpeg;
  for (size_t i = corrupt.size() / 2; i < corrupt.size() / 2 + 64; ++i) corrupt[i] = '\xff';
  EXPECT_FALSE(DecodeImage(corrupt).ok());
}

TEST(ImageDecode, UnsupportedFormatsAreNamed) {
  struct Case {
    std::string bytes;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"GIF89a\x01\x00\x01\x00\x00\x00\x00", "a GIF image"},
      {"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00", "a BMP image"},
      {"hello, world", "not a PNG, JPEG or WebP image"},
      {"", "not a PNG, JPEG or WebP image"},
      {"RIFF\x10\x00\x00\x00WAVEfmt ", "not a PNG, JPEG or WebP image"},
  };
  for (const Case& c : cases) {
    Result<RgbImage> image = DecodeImage(c.bytes);
    ASSERT_FALSE(image.ok()) << c.says;
    EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(image.status().message().find(c.says), std::string::npos) << image.status().message();
  }
}

}  // namespace
}  // namespace stipple
