#include "engine/latent_preview.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace stipple {
namespace {

// The byte a channel value becomes.
int Byte(double v) { return static_cast<int>(std::lround((std::clamp(v, -1.0, 1.0) + 1) * 127.5)); }

TEST(LatentPreviewTest, SdFamiliesShareOneMapAndSdxlHasItsOwn) {
  const LatentPreviewMap& sd1 = LatentPreviewMapFor(LatentPreviewFamily::kSD1);
  const LatentPreviewMap& sd2 = LatentPreviewMapFor(LatentPreviewFamily::kSD2);
  const LatentPreviewMap& sdxl = LatentPreviewMapFor(LatentPreviewFamily::kSDXL);
  EXPECT_EQ(&sd1, &sd2);
  EXPECT_NE(sd1.factors, sdxl.factors);
  EXPECT_FLOAT_EQ(sd1.factors[0][0], 0.3512f);
  EXPECT_FLOAT_EQ(sd1.factors[3][2], -0.7177f);
  EXPECT_FLOAT_EQ(sdxl.factors[0][0], 0.3651f);
  EXPECT_FLOAT_EQ(sdxl.bias[0], 0.1084f);
}

TEST(LatentPreviewTest, MapsEveryPixelThroughTheMatrixAndBias) {
  LatentPreviewMap map = {};
  map.factors = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0.5f, -0.5f, 0}}};
  map.bias = {0.0f, 0.25f, -0.25f};
  // 4 channels of a 1x2 latent: pixel 0 = (0.1, -0.3, 0.7, 0.2), pixel 1 = (3, -3, 0, 0).
  const std::vector<float> latent = {0.1f, 3.0f, -0.3f, -3.0f, 0.7f, 0.0f, 0.2f, 0.0f};
  Result<LatentPreviewImage> image = LatentToPreviewRgb(map, latent, 1, 2);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  EXPECT_EQ(image->width, 2);
  EXPECT_EQ(image->height, 1);
  const std::vector<uint8_t> expected = {static_cast<uint8_t>(Byte(0.1 + 0.1)),
                                         static_cast<uint8_t>(Byte(-0.3 - 0.1 + 0.25)),
                                         static_cast<uint8_t>(Byte(0.7 - 0.25)),
                                         255,
                                         0,
                                         static_cast<uint8_t>(Byte(-0.25))};
  EXPECT_EQ(image->rgb, expected);
}

TEST(LatentPreviewTest, ZeroLatentIsTheBiasColour) {
  const std::vector<float> zeros(4 * 3 * 5, 0.0f);
  Result<LatentPreviewImage> sd =
      LatentToPreviewRgb(LatentPreviewMapFor(LatentPreviewFamily::kSD1), zeros, 3, 5);
  ASSERT_TRUE(sd.ok());
  EXPECT_EQ(sd->rgb, std::vector<uint8_t>(3 * 5 * 3, 128));  // round(127.5)
  Result<LatentPreviewImage> xl =
      LatentToPreviewRgb(LatentPreviewMapFor(LatentPreviewFamily::kSDXL), zeros, 3, 5);
  ASSERT_TRUE(xl.ok());
  EXPECT_EQ(xl->rgb[0], Byte(0.1084));
  EXPECT_EQ(xl->rgb[1], Byte(-0.0175));
  EXPECT_EQ(xl->rgb[2], Byte(-0.0011));
}

TEST(LatentPreviewTest, ScaleRepeatsEachLatentPixelNearest) {
  // A 2x2 latent whose channel 0 differs per pixel.
  std::vector<float> latent(4 * 4, 0.0f);
  latent[0] = -1.0f, latent[1] = -0.5f, latent[2] = 0.5f, latent[3] = 1.0f;
  const LatentPreviewMap& map = LatentPreviewMapFor(LatentPreviewFamily::kSD1);
  Result<LatentPreviewImage> small = LatentToPreviewRgb(map, latent, 2, 2, 1);
  Result<LatentPreviewImage> big = LatentToPreviewRgb(map, latent, 2, 2, 8);
  ASSERT_TRUE(small.ok() && big.ok());
  ASSERT_EQ(big->width, 16);
  ASSERT_EQ(big->height, 16);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) {
      for (int c = 0; c < 3; ++c) {
        ASSERT_EQ(big->rgb[(y * 16 + x) * 3 + c], small->rgb[((y / 8) * 2 + x / 8) * 3 + c]);
      }
    }
  }
}

TEST(LatentPreviewTest, BadSizesAreInvalidArgument) {
  const LatentPreviewMap& map = LatentPreviewMapFor(LatentPreviewFamily::kSD1);
  const std::vector<float> latent(4 * 2 * 2, 0.0f);
  EXPECT_EQ(LatentToPreviewRgb(map, latent, 2, 3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LatentToPreviewRgb(map, latent, 0, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LatentToPreviewRgb(map, latent, 2, 2, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LatentToPreviewRgb(map, std::vector<float>(3 * 2 * 2), 2, 2).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stipple
