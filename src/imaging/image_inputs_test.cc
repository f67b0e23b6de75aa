#include "imaging/image_inputs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/base64.h"
#include "common/digest.h"
#include "common/id.h"
#include "results/fs_result_store.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;

std::string Png(int w, int h, uint8_t shade = 200) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3, shade);
  return *EncodePngRgb8(rgb, w, h);
}

std::string DataUrl(const std::string& bytes, const std::string& type = "image/png") {
  return "data:" + type + ";base64," + Base64Encode(bytes);
}

ImageInput Source(std::string source) {
  ImageInput input;
  input.source = std::move(source);
  return input;
}

ModelLimits Model() {
  ModelLimits model;
  model.name = "shapes";
  model.width = 32;
  model.height = 32;
  model.size_multiple = 8;
  model.min_size = 16;
  model.max_size = 64;
  return model;
}

class ImageInputsTest : public ::testing::Test {
 protected:
  ImageInputsTest() : dir_(fs::path(::testing::TempDir()) / ("stipple-inputs-" + NewId("tmp"))) {
    store_ = std::move(FsResultStore::Open({dir_.string(), false}).value());
    ImageInputOptions options;
    options.max_bytes = 64 * 1024;
    options.max_pixels = 128 * 128;
    options.fetch = [this](std::string_view url) -> Result<std::string> {
      fetched_.emplace_back(url);
      if (url == "https://images.example/shape.png") return Png(32, 32);
      return InvalidArgumentError("answered HTTP 404, not 2xx");
    };
    inputs_ = std::make_unique<StoreImageInputs>(*store_, options);
  }
  ~ImageInputsTest() override { fs::remove_all(dir_); }

  // The field the error names, or "" for OK.
  std::string FieldOf(const Status& status) {
    if (status.ok()) return "";
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
    EXPECT_EQ(status.field_errors().size(), 1u) << status.ToString();
    return status.field_errors().empty() ? "?" : status.field_errors()[0].field;
  }
  std::string MessageOf(const Status& status) {
    return status.field_errors().empty() ? status.message() : status.field_errors()[0].message;
  }
  size_t StoredRecords() { return store_->ListLeases()->size(); }

  fs::path dir_;
  std::unique_ptr<FsResultStore> store_;
  std::unique_ptr<StoreImageInputs> inputs_;
  std::vector<std::string> fetched_;
};

TEST_F(ImageInputsTest, DataUrlIsStoredOnceByHashAndTheRequestHoldsOnlyTheReference) {
  const std::string png = Png(24, 40);
  GenerationRequest request;                                // width and height 0: the image's
  request.init_image = Source(DataUrl(png, "image/jpeg"));  // the declared type is not trusted
  ASSERT_TRUE(inputs_->Resolve(request, Model()).ok());
  ASSERT_TRUE(request.init_image->resolved());
  EXPECT_EQ(request.init_image->source, "");
  EXPECT_EQ(request.init_image->sha256, Sha256Hex(png));
  EXPECT_EQ(request.init_image->media_type, "image/png");
  EXPECT_EQ(request.init_image->width, 24);
  EXPECT_EQ(request.init_image->height, 40);
  EXPECT_EQ(request.width, 24);
  EXPECT_EQ(request.height, 40);
  Result<OutputBytes> stored = store_->GetInput(Sha256Hex(png));
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->bytes, png);

  GenerationRequest again;  // the same image again: the same one record
  again.width = again.height = 0;
  again.init_image = Source(DataUrl(png));
  ASSERT_TRUE(inputs_->Resolve(again, Model()).ok());
  EXPECT_EQ(again.init_image, request.init_image);
  EXPECT_EQ(StoredRecords(), 1u);
  // Resolving a resolved request changes nothing.
  GenerationRequest copy = again;
  ASSERT_TRUE(inputs_->Resolve(copy, Model()).ok());
  EXPECT_EQ(copy, again);
}

TEST_F(ImageInputsTest, InitAndMaskOfTheGivenSize) {
  GenerationRequest request;
  request.width = 32;
  request.height = 32;
  request.init_image = Source("https://images.example/shape.png");
  request.mask_image = Source(DataUrl(Png(32, 32, 255)));
  ASSERT_TRUE(inputs_->Resolve(request, Model()).ok());
  EXPECT_EQ(fetched_, std::vector<std::string>{"https://images.example/shape.png"});
  EXPECT_EQ(request.init_image->sha256, Sha256Hex(Png(32, 32)));
  EXPECT_EQ(request.mask_image->sha256, Sha256Hex(Png(32, 32, 255)));
  EXPECT_EQ(StoredRecords(), 2u);
}

// Every refusal names its field and stores nothing.
TEST_F(ImageInputsTest, BadInputsNameTheFieldAndStoreNothing) {
  std::string bomb = Png(4, 4);
  for (size_t at : {size_t{16}, size_t{20}}) {
    const uint32_t side = 50000;
    for (int i = 0; i < 4; ++i) bomb[at + i] = static_cast<char>((side >> (24 - 8 * i)) & 0xff);
  }
  const std::string png = Png(32, 32);
  struct Case {
    std::string init, mask;
    int width = 0, height = 0;
    std::string field, says;
  };
  const std::vector<Case> cases = {
      {"data:image/png;base64,@@@@", "", 0, 0, "init_image", "not valid base64"},
      {DataUrl("hello"), "", 0, 0, "init_image", "not a PNG, JPEG or WebP image"},
      {DataUrl("GIF89a\x01\x00\x01\x00\x00\x00\x00"), "", 0, 0, "init_image", "a GIF image"},
      {DataUrl("BM\x3a\x00\x00\x00\x00\x00\x00\x00"), "", 0, 0, "init_image", "a BMP image"},
      {DataUrl(png.substr(0, png.size() / 2)), "", 0, 0, "init_image", "png:"},
      {DataUrl(bomb), "", 0, 0, "init_image", "50000x50000 is over the limit"},
      {DataUrl(std::string(70 * 1024, 'x')), "", 0, 0, "init_image", "larger than 65536"},
      {DataUrl(Png(40, 40)), "", 32, 32, "init_image", "is 40x40, not the request's 32x32"},
      {DataUrl(Png(33, 32)), "", 0, 0, "init_image", "33x32, not an allowed size"},
      {DataUrl(png), DataUrl(Png(16, 16)), 32, 32, "mask_image",
       "is 16x16, not the init image's 32x32"},
      {DataUrl(png), DataUrl("not an image"), 32, 32, "mask_image", "not a PNG"},
      {"https://images.example/missing.png", "", 0, 0, "init_image", "answered HTTP 404"},
  };
  for (const Case& c : cases) {
    GenerationRequest request;
    request.width = c.width;
    request.height = c.height;
    request.init_image = Source(c.init);
    if (!c.mask.empty()) request.mask_image = Source(c.mask);
    const GenerationRequest before = request;
    Status status = inputs_->Resolve(request, Model());
    EXPECT_EQ(FieldOf(status), c.field) << c.says;
    EXPECT_NE(MessageOf(status).find(c.says), std::string::npos) << MessageOf(status);
    EXPECT_EQ(request, before) << c.says;
    EXPECT_EQ(StoredRecords(), 0u) << c.says;
  }
}

}  // namespace
}  // namespace stipple
