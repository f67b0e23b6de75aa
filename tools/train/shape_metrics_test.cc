#include "shape_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "eval_prompts.h"

namespace stipple::shapes {
namespace {

constexpr int kSeedsPerCombination = 8;

// A 3×3 box blur (edges clamped), then Gaussian noise of σ = 0.05 of full scale per channel.
Image Degrade(const Image& image, Rng& rng) {
  Image out = image;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        double sum = 0.0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            const int sx = std::clamp(x + dx, 0, image.width - 1);
            const int sy = std::clamp(y + dy, 0, image.height - 1);
            sum += image.rgb[(static_cast<size_t>(sy) * image.width + sx) * 3 + c];
          }
        const double noisy = sum / 9.0 + 0.05 * 255.0 * rng.Normal();
        out.rgb[(static_cast<size_t>(y) * image.width + x) * 3 + c] =
            static_cast<uint8_t>(std::clamp(std::lround(noisy), 0l, 255l));
      }
    }
  }
  return out;
}

struct FeatureRange {
  double min = 1e9, max = -1e9;
  void Add(double v) { min = std::min(min, v), max = std::max(max, v); }
};

// Renders every combination of attributes several times, measures each, prints and returns the
// per-attribute accuracy together with the fill-ratio and taper range of each shape class.
AttributeAccuracy MeasureAllCombinations(bool degrade, const char* label) {
  Rng rng(degrade ? 2024 : 2023);
  std::vector<std::pair<Attributes, Measurement>> results;
  std::map<std::string, FeatureRange> fill, taper;
  for (int seed = 0; seed < kSeedsPerCombination; ++seed) {
    for (const Attributes& a : AllAttributeCombinations()) {
      Image image = Render(a, rng);
      if (degrade) image = Degrade(image, rng);
      const Measurement m = Measure(image);
      results.emplace_back(a, m);
      const std::string key = std::string(Name(a.shape)) + " " + std::string(Name(a.size));
      fill[key].Add(m.fill_ratio), taper[key].Add(m.taper);
    }
  }
  const AttributeAccuracy accuracy = Score(results);
  std::printf("%s renders (%zu images): %s\n", label, results.size(), ToString(accuracy).c_str());
  for (const auto& [key, range] : fill)
    std::printf("  %-15s fill %.2f..%.2f  taper %.2f..%.2f\n", key.c_str(), range.min, range.max,
                taper[key].min, taper[key].max);
  return accuracy;
}

TEST(Measure, RecoversEveryAttributeOfCleanRenders) {
  const AttributeAccuracy accuracy = MeasureAllCombinations(false, "clean");
  EXPECT_EQ(accuracy.found, accuracy.count);
  EXPECT_GE(accuracy.colour, 0.99);
  EXPECT_GE(accuracy.shape, 0.99);
  EXPECT_GE(accuracy.size, 0.99);
  EXPECT_GE(accuracy.position, 0.99);
}

TEST(Measure, RecoversEveryAttributeOfBlurredNoisyRenders) {
  const AttributeAccuracy accuracy = MeasureAllCombinations(true, "blurred+noisy");
  EXPECT_GE(accuracy.colour, 0.95);
  EXPECT_GE(accuracy.shape, 0.95);
  EXPECT_GE(accuracy.size, 0.95);
  EXPECT_GE(accuracy.position, 0.95);
}

TEST(Measure, FindsNoShapeOnAPlainBackground) {
  EXPECT_FALSE(Measure(Image::Filled(32, 32, {40, 40, 40})).found);
}

TEST(Measure, FindsNoShapeInNoiseAlone) {
  Rng rng(4);
  EXPECT_FALSE(Measure(Degrade(Image::Filled(32, 32, {80, 80, 80}), rng)).found);
}

TEST(Measure, FindsNoShapeInAnImageTooSmallOrMalformed) {
  EXPECT_FALSE(Measure(Image{}).found);
  Image broken = Image::Filled(32, 32, {0, 0, 0});
  broken.rgb.resize(10);
  EXPECT_FALSE(Measure(broken).found);
}

TEST(Measure, ReportsTheBackgroundAndTheShapeColour) {
  Rng rng(6);
  const Measurement m =
      Measure(Render({Shape::kSquare, Colour::kBlue, Size::kBig, Position::kCenter}, rng));
  ASSERT_TRUE(m.found);
  const auto backgrounds = BackgroundColours();
  EXPECT_NE(std::find(backgrounds.begin(), backgrounds.end(), m.background), backgrounds.end());
  EXPECT_LT(m.colour_distance, 10.0);
  EXPECT_GT(m.contrast, 100.0);
}

TEST(NearestPaletteColour, MapsEachPaletteColourToItself) {
  for (Colour colour : kAllColours) {
    const auto [nearest, distance] = NearestPaletteColour(PaletteColour(colour));
    EXPECT_EQ(nearest, colour) << Name(colour);
    EXPECT_NEAR(distance, 0.0, 1e-9);
  }
}

TEST(NearestPaletteColour, PaletteColoursAreFarApartAndFarFromEveryBackground) {
  for (Colour a : kAllColours) {
    for (Rgb bg : BackgroundColours()) {
      const Rgb p = PaletteColour(a);
      const double d = std::hypot(p.r - bg.r, p.g - bg.g, p.b - bg.b);
      EXPECT_GT(d, 120.0) << Name(a) << " on background " << int(bg.r) << "," << int(bg.g);
    }
  }
}

}  // namespace
}  // namespace stipple::shapes
