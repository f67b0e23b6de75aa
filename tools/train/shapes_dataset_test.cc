#include "shapes_dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace stipple::shapes {
namespace {

bool SameSample(const ShapeSample& a, const ShapeSample& b) {
  return a.image.rgb == b.image.rgb && a.caption == b.caption && a.attributes == b.attributes;
}

// Bounding box width and height of the pixels that differ from the corner pixel.
std::pair<int, int> PaintedExtent(const Image& image) {
  const Rgb bg = image.At(0, 0);
  int x0 = image.width, y0 = image.height, x1 = -1, y1 = -1;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      if (image.At(x, y) != bg)
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  return {x1 - x0 + 1, y1 - y0 + 1};
}

template <typename T, size_t N>
int ValuesMentioned(const std::vector<std::string>& words, const std::array<T, N>& values,
                    T expected, bool& expected_found) {
  int mentioned = 0;
  for (T value : values) {
    const auto synonyms = WordsFor(value);
    const bool hit = std::any_of(words.begin(), words.end(), [&](const std::string& w) {
      return std::find(synonyms.begin(), synonyms.end(), w) != synonyms.end();
    });
    mentioned += hit;
    if (hit && value == expected) expected_found = true;
  }
  return mentioned;
}

TEST(ShapeSampler, SameSeedGivesTheSameSamples) {
  ShapeSampler a(42), b(42);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(SameSample(a.Next(), b.Next())) << i;
}

TEST(ShapeSampler, NextWalksTheSameSequenceAsAt) {
  ShapeSampler sequential(7);
  const ShapeSampler random_access(7);
  for (uint64_t i = 0; i < 20; ++i) EXPECT_TRUE(SameSample(sequential.Next(), random_access.At(i)));
}

TEST(ShapeSampler, DifferentSeedsGiveDifferentSamples) {
  int same = 0;
  for (uint64_t i = 0; i < 20; ++i)
    same += SameSample(ShapeSampler(1).At(i), ShapeSampler(2).At(i));
  EXPECT_LT(same, 3);
}

TEST(ShapeSampler, DrawsEveryAttributeValueAboutEquallyOften) {
  ShapeSampler sampler(3);
  std::map<std::string, int> counts;
  constexpr int kSamples = 6000;
  for (int i = 0; i < kSamples; ++i) {
    const Attributes a = sampler.Next().attributes;
    ++counts[std::string(Name(a.shape))], ++counts[std::string(Name(a.colour))];
    ++counts[std::string(Name(a.size))], ++counts[std::string(Name(a.position))];
  }
  auto expect_share = [&](std::string_view name, int values) {
    const double expected = static_cast<double>(kSamples) / values;
    EXPECT_NEAR(counts[std::string(name)], expected, 0.15 * expected) << name;
  };
  for (Shape v : kAllShapes) expect_share(Name(v), kAllShapes.size());
  for (Colour v : kAllColours) expect_share(Name(v), kAllColours.size());
  for (Size v : kAllSizes) expect_share(Name(v), kAllSizes.size());
  for (Position v : kAllPositions) expect_share(Name(v), kAllPositions.size());
}

TEST(Render, IsDeterministicForTheRngSeed) {
  const Attributes a{Shape::kTriangle, Colour::kCyan, Size::kBig, Position::kLeft};
  Rng first(99), second(99);
  EXPECT_EQ(Render(a, first).rgb, Render(a, second).rgb);
}

TEST(Render, GivesA32By32ImageOnAPlainBackgroundBorder) {
  const auto backgrounds = BackgroundColours();
  Rng rng(5);
  for (const Attributes& a : AllAttributeCombinations()) {
    const Image image = Render(a, rng);
    ASSERT_EQ(image.width, 32);
    ASSERT_EQ(image.height, 32);
    ASSERT_EQ(image.rgb.size(), 32u * 32u * 3u);
    const Rgb bg = image.At(0, 0);
    EXPECT_NE(std::find(backgrounds.begin(), backgrounds.end(), bg), backgrounds.end());
    for (int i = 0; i < 32; ++i) {
      EXPECT_EQ(image.At(i, 0), bg) << ToString(a);
      EXPECT_EQ(image.At(i, 31), bg) << ToString(a);
      EXPECT_EQ(image.At(0, i), bg) << ToString(a);
      EXPECT_EQ(image.At(31, i), bg) << ToString(a);
    }
  }
}

TEST(Render, SmallShapesSpanAboutNinePixelsAndBigOnesAboutSeventeen) {
  Rng rng(11);
  for (const Attributes& a : AllAttributeCombinations()) {
    const auto [width, height] = PaintedExtent(Render(a, rng));
    const int extent = std::max(width, height);
    if (a.size == Size::kSmall) {
      EXPECT_GE(extent, 8) << ToString(a);
      EXPECT_LE(extent, 11) << ToString(a);
    } else {
      EXPECT_GE(extent, 16) << ToString(a);
      EXPECT_LE(extent, 19) << ToString(a);
    }
  }
}

TEST(Caption, NamesEachAttributeOnceAndNoOtherValue) {
  Rng rng(8);
  for (int round = 0; round < 10; ++round) {
    for (const Attributes& a : AllAttributeCombinations()) {
      const std::string caption = Caption(a, rng);
      const std::vector<std::string> words = SplitWords(caption);
      bool shape = false, colour = false, size = false, position = false;
      EXPECT_EQ(ValuesMentioned(words, kAllShapes, a.shape, shape), 1) << caption;
      EXPECT_EQ(ValuesMentioned(words, kAllColours, a.colour, colour), 1) << caption;
      EXPECT_EQ(ValuesMentioned(words, kAllSizes, a.size, size), 1) << caption;
      EXPECT_EQ(ValuesMentioned(words, kAllPositions, a.position, position), 1) << caption;
      EXPECT_TRUE(shape && colour && size && position) << caption << " for " << ToString(a);
    }
  }
}

TEST(Caption, VariesItsPhrasingForTheSameAttributes) {
  Rng rng(9);
  const Attributes a{Shape::kSquare, Colour::kOrange, Size::kSmall, Position::kCenter};
  std::set<std::string> captions;
  for (int i = 0; i < 2000; ++i) captions.insert(Caption(a, rng));
  EXPECT_GE(captions.size(), 100u);
  EXPECT_TRUE(captions.count("an orange square, small, center")) << "article before a vowel";
}

TEST(CaptionVocabulary, HoldsEveryCaptionWordAndNothingUnused) {
  const std::vector<std::string> vocabulary = CaptionVocabulary();
  ASSERT_TRUE(std::is_sorted(vocabulary.begin(), vocabulary.end()));
  std::set<std::string> used;
  ShapeSampler sampler(12);
  for (int i = 0; i < 20000; ++i)
    for (std::string& w : SplitWords(sampler.Next().caption)) used.insert(std::move(w));
  for (const std::string& w : used)
    EXPECT_TRUE(std::binary_search(vocabulary.begin(), vocabulary.end(), w)) << w;
  for (const std::string& w : vocabulary) EXPECT_TRUE(used.count(w)) << "never used: " << w;
  std::printf("caption vocabulary: %zu words\n", vocabulary.size());
}

TEST(SplitWords, LowerCasesAndDropsPunctuation) {
  EXPECT_EQ(SplitWords("On the left, a BIG circle."),
            (std::vector<std::string>{"on", "the", "left", "a", "big", "circle"}));
  EXPECT_TRUE(SplitWords("  ,. ").empty());
}

TEST(WritePpm, WritesAHeaderAndTheRawPixels) {
  const Image image = Image::Filled(2, 1, {1, 2, 3});
  const std::string path = testing::TempDir() + "/shapes_write_ppm_test.ppm";
  ASSERT_TRUE(WritePpm(path, image).ok());
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  EXPECT_EQ(bytes.str(), std::string("P6\n2 1\n255\n\x01\x02\x03\x01\x02\x03"));
  std::remove(path.c_str());
}

TEST(WritePpm, ReportsAnUnwritablePath) {
  EXPECT_FALSE(WritePpm("/nonexistent-dir/x.ppm", Image::Filled(1, 1, {})).ok());
}

}  // namespace
}  // namespace stipple::shapes
