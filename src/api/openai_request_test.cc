// The OpenAI requests as stipple bodies: POST /v1/images/edits' form (image, mask and their
// conversion to init_image / mask_image) and the errors naming the OpenAI field.
#include "api/openai_request.h"

#include <gtest/gtest.h>
#include <spng.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <vector>

#include "api/openai_mask.h"
#include "common/base64.h"

namespace stipple::http {
namespace {

namespace json = boost::json;
using namespace std::literals;

std::string Text(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : ""; }

// An 8-bit PNG of `channels` channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
std::string EncodePng(const std::vector<uint8_t>& pixels, int width, int height, int channels) {
  spng_ctx* ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr = {};
  ihdr.width = width;
  ihdr.height = height;
  ihdr.bit_depth = 8;
  ihdr.color_type = channels == 1   ? SPNG_COLOR_TYPE_GRAYSCALE
                    : channels == 2 ? SPNG_COLOR_TYPE_GRAYSCALE_ALPHA
                    : channels == 3 ? SPNG_COLOR_TYPE_TRUECOLOR
                                    : SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
  spng_set_ihdr(ctx, &ihdr);
  EXPECT_EQ(spng_encode_image(ctx, const_cast<uint8_t*>(pixels.data()), pixels.size(), SPNG_FMT_PNG,
                              SPNG_ENCODE_FINALIZE),
            0);
  size_t size = 0;
  int error = 0;
  void* buffer = spng_get_png_buffer(ctx, &size, &error);
  std::string out(static_cast<const char*>(buffer), size);
  free(buffer);
  spng_ctx_free(ctx);
  return out;
}

// A width x height RGBA image, opaque grey but for alpha 0 where transparent(x, y).
template <typename F>
std::string RgbaPng(int width, int height, F transparent) {
  std::vector<uint8_t> px;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      px.insert(px.end(), {90, 120, 150, static_cast<uint8_t>(transparent(x, y) ? 0 : 255)});
    }
  }
  return EncodePng(px, width, height, 4);
}

// The luminance bytes of a PNG data: URL.
std::vector<uint8_t> DecodeGreyDataUrl(const json::value& url, int* width, int* height) {
  std::string text(url.as_string());
  const std::string prefix = "data:image/png;base64,";
  EXPECT_EQ(text.substr(0, prefix.size()), prefix);
  std::string png = Base64Decode(text.substr(prefix.size())).value();
  spng_ctx* ctx = spng_ctx_new(0);
  spng_set_png_buffer(ctx, png.data(), png.size());
  spng_ihdr ihdr = {};
  spng_get_ihdr(ctx, &ihdr);
  *width = static_cast<int>(ihdr.width);
  *height = static_cast<int>(ihdr.height);
  size_t size = 0;
  spng_decoded_image_size(ctx, SPNG_FMT_G8, &size);
  std::vector<uint8_t> grey(size);
  EXPECT_EQ(spng_decode_image(ctx, grey.data(), size, SPNG_FMT_G8, 0), 0);
  spng_ctx_free(ctx);
  return grey;
}

// `png` with its header saying 50,000 x 50,000 (a decompression bomb), the header's CRC fixed.
std::string Bomb(std::string png) {
  const char size[8] = {0, 0, '\xc3', '\x50', 0, 0, '\xc3', '\x50'};
  png.replace(16, 8, size, 8);
  uint32_t crc = 0xffffffff;
  for (size_t i = 12; i < 29; ++i) {  // "IHDR" and its 13 bytes
    crc ^= static_cast<uint8_t>(png[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320 & (0 - (crc & 1)));
  }
  crc ^= 0xffffffff;
  for (int k = 0; k < 4; ++k) png[29 + k] = static_cast<char>(crc >> (24 - 8 * k));
  return png;
}

struct Field {
  std::string name;
  std::string value;
  std::string filename;  // "" for a text field
};

const std::string kBoundary = "----stipple-test";
const std::string kContentType = "multipart/form-data; boundary=" + kBoundary;

std::string Form(const std::vector<Field>& fields) {
  std::string body;
  for (const Field& f : fields) {
    body += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + f.name + "\"";
    if (!f.filename.empty()) body += "; filename=\"" + f.filename + "\"\r\nContent-Type: image/png";
    body += "\r\n\r\n" + f.value + "\r\n";
  }
  return body + "--" + kBoundary + "--\r\n";
}

const std::string kOpaque = RgbaPng(8, 4, [](int, int) { return false; });
const std::string kLeftHalfClear = RgbaPng(8, 4, [](int x, int) { return x < 4; });

TEST(TranslateEditRequest, ImageAndMaskBecomeInitImageAndWhiteMeansRepaint) {
  Result<OpenAiRequest> r =
      TranslateEditRequest(kContentType, Form({{"image", kOpaque, "in.png"},
                                               {"mask", kLeftHalfClear, "mask.png"},
                                               {"prompt", "a red circle"},
                                               {"n", "2"},
                                               {"size", "8x4"},
                                               {"response_format", "url"},
                                               {"model", "shapes-32"},
                                               {"strength", "0.6"},
                                               {"steps", "12"}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  json::object& s = r->stipple;
  EXPECT_TRUE(r->url);
  EXPECT_EQ(s["prompt"], "a red circle");
  EXPECT_EQ(s["num_images"], 2);
  EXPECT_EQ(s["width"], 8);
  EXPECT_EQ(s["height"], 4);
  EXPECT_EQ(s["strength"], 0.6);
  EXPECT_EQ(s["steps"], 12);
  EXPECT_EQ(s["model"], "shapes-32");
  EXPECT_EQ(Text(s["init_image"]), "data:image/png;base64," + Base64Encode(kOpaque));
  int w = 0, h = 0;
  std::vector<uint8_t> mask = DecodeGreyDataUrl(s["mask_image"], &w, &h);
  ASSERT_EQ(w, 8);
  ASSERT_EQ(h, 4);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) EXPECT_EQ(mask[y * w + x], x < 4 ? 255 : 0) << x << "," << y;
  }
}

TEST(TranslateEditRequest, WithoutAMaskTheImagesOwnTransparencyIsTheArea) {
  std::string top_row_clear = RgbaPng(5, 3, [](int, int y) { return y == 0; });
  Result<OpenAiRequest> r = TranslateEditRequest(
      kContentType, Form({{"image[]", top_row_clear, "in.png"}, {"prompt", "sky"}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->url);
  int w = 0, h = 0;
  std::vector<uint8_t> mask = DecodeGreyDataUrl(r->stipple["mask_image"], &w, &h);
  ASSERT_EQ(mask.size(), 15u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(mask[i], i < 5 ? 255 : 0) << i;
  EXPECT_FALSE(r->stipple.contains("width"));  // the resolver takes the image's size
}

TEST(TranslateEditRequest, AnOpaqueOrNonPngImageWithoutMaskIsImageToImage) {
  std::string rgb = EncodePng(std::vector<uint8_t>(4 * 4 * 3, 7), 4, 4, 3);
  std::string jpeg = "\xff\xd8\xff\xe0 not decoded here";
  for (const std::string& image : {kOpaque, rgb, jpeg}) {
    Result<OpenAiRequest> r =
        TranslateEditRequest(kContentType, Form({{"image", image, "x"}, {"prompt", "p"}}));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(r->stipple.contains("init_image"));
    EXPECT_FALSE(r->stipple.contains("mask_image"));
  }
  Result<OpenAiRequest> r =
      TranslateEditRequest(kContentType, Form({{"image", jpeg, "x.jpg"}, {"prompt", "p"}}));
  EXPECT_EQ(Text(r->stipple["init_image"]), "data:image/jpeg;base64," + Base64Encode(jpeg));
}

TEST(TranslateEditRequest, ErrorsNameTheOpenAiField) {
  std::string grey_mask = EncodePng(std::vector<uint8_t>(8 * 4, 0), 8, 4, 1);
  std::string small_mask = RgbaPng(4, 4, [](int, int) { return true; });
  std::string bomb = Bomb(kOpaque);
  struct Case {
    std::vector<Field> form;
    std::string param;
    std::string says;
  };
  const Field image{"image", kOpaque, "a.png"};
  const Field prompt{"prompt", "p"};
  for (const Case& c : std::vector<Case>{
           {{prompt}, "image", "is required"},
           {{image}, "prompt", "is required"},
           {{image, {"image[]", kOpaque, "b.png"}, prompt}, "image", "takes one image; got 2"},
           {{{"image", "", "a.png"}, prompt}, "image", "is empty"},
           {{{"image", "GIF89a....", "a.gif"}, prompt}, "image", "PNG, JPEG or WebP"},
           {{{"image", std::string("\x89PNG\r\n\x1a\n", 8) + "junk", "a.png"}, prompt},
            "image",
            "not a readable PNG"},
           {{{"image", bomb, "a.png"}, prompt}, "image", "over the limit"},
           {{image, {"mask", "\xff\xd8\xff", "m.jpg"}, prompt}, "mask", "must be a PNG"},
           {{image, {"mask", grey_mask, "m.png"}, prompt}, "mask", "no alpha channel"},
           {{image, {"mask", kOpaque, "m.png"}, prompt}, "mask", "nothing to edit"},
           {{image, {"mask", small_mask, "m.png"}, prompt}, "mask", "is 4x4 but the image is 8x4"},
           {{image, prompt, {"size", "big"}}, "size", "WIDTHxHEIGHT"},
           {{image, prompt, {"response_format", "png"}}, "response_format", "b64_json or url"},
           {{image, prompt, {"quality", "hd"}}, "quality", "unknown field"},
           {{image, prompt, {"prompt", "again"}}, "prompt", "given twice"},
           {{image, prompt, {"negative_prompt", std::string(9000, 'a')}},
            "negative_prompt",
            "over 8192 bytes"},
       }) {
    Result<OpenAiRequest> r = TranslateEditRequest(kContentType, Form(c.form));
    ASSERT_FALSE(r.ok()) << c.param << " " << c.says;
    ASSERT_EQ(r.status().field_errors().size(), 1u);
    EXPECT_EQ(r.status().field_errors()[0].field, c.param) << r.status().message();
    EXPECT_NE(r.status().message().find(c.says), std::string::npos)
        << r.status().message() << " should say " << c.says;
  }
  Result<OpenAiRequest> r = TranslateEditRequest("multipart/form-data", Form({image, prompt}));
  EXPECT_EQ(r.status().field_errors().at(0).field, "Content-Type");
  r = TranslateEditRequest(kContentType, "--" + kBoundary + "\r\nbroken");
  EXPECT_EQ(r.status().field_errors().at(0).field, "body");
}

TEST(TranslateEditRequest, NumbersInTheFormAreNumbersElseLeftForValidation) {
  Result<OpenAiRequest> r = TranslateEditRequest(kContentType, Form({{"image", kOpaque, "a.png"},
                                                                     {"prompt", "7"},
                                                                     {"seed", "42"},
                                                                     {"guidance_scale", "7.5"},
                                                                     {"n", "two"}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stipple["prompt"], "7");  // a text field stays text
  EXPECT_EQ(r->stipple["seed"], 42);
  EXPECT_EQ(r->stipple["guidance_scale"], 7.5);
  EXPECT_EQ(r->stipple["num_images"], "two");  // ParseGenerationRequest names "num_images"
}

TEST(TranslateGenerationRequest, KeepsItsJsonContract) {
  Result<OpenAiRequest> r = TranslateGenerationRequest(R"({"prompt":"a","n":2,"size":"auto"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stipple["num_images"], 2);
  EXPECT_FALSE(r->stipple.contains("width"));
  EXPECT_EQ(TranslateGenerationRequest(R"({"prompt":"a","image":"x"})")
                .status()
                .field_errors()
                .at(0)
                .field,
            "image");
}

TEST(SniffImageType, KnowsPngJpegAndWebp) {
  EXPECT_EQ(SniffImageType(kOpaque), "image/png");
  EXPECT_EQ(SniffImageType("\xff\xd8\xff\xdb"sv), "image/jpeg");
  EXPECT_EQ(SniffImageType("RIFF\x10\0\0\0WEBPVP8 "sv), "image/webp");
  EXPECT_EQ(SniffImageType("RIFF\x10\0\0\0WAVE"sv), "");
  EXPECT_EQ(SniffImageType(""), "");
}

}  // namespace
}  // namespace stipple::http
