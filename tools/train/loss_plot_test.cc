#include "loss_plot.h"

#include <gtest/gtest.h>

#include "imaging/png.h"

namespace stipple::shapes {
namespace {

TEST(ParseLossCsv, ReadsStepLossLines) {
  auto points = ParseLossCsv("50,1.05\n100,0.5\n\n150,0.25\n");
  ASSERT_TRUE(points.ok());
  ASSERT_EQ(points->size(), 3u);
  EXPECT_DOUBLE_EQ((*points)[2].first, 150);
  EXPECT_DOUBLE_EQ((*points)[2].second, 0.25);
}

TEST(ParseLossCsv, NamesTheLineThatDoesNotParse) {
  auto points = ParseLossCsv("50,1.05\nfifty;1\n");
  ASSERT_FALSE(points.ok());
  EXPECT_NE(points.status().message().find("line 2"), std::string::npos);
}

TEST(LossPlotPng, DrawsAPngOfTheRequestedSize) {
  Result<std::string> png = LossPlotPng({{0, 1.0}, {100, 0.3}, {200, 0.05}}, 320, 200);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  RgbImage image = DecodePngRgb8(*png).value();
  EXPECT_EQ(image.width, 320);
  EXPECT_EQ(image.height, 200);
  size_t dark = 0;
  for (size_t i = 0; i < image.rgb.size(); i += 3) dark += image.rgb[i] < 100;
  EXPECT_GT(dark, 200u);  // axes, labels and the curve are drawn
}

TEST(LossPlotPng, RefusesTooFewPointsOrNonPositiveLosses) {
  EXPECT_FALSE(LossPlotPng({{0, 1.0}}).ok());
  EXPECT_FALSE(LossPlotPng({{0, 1.0}, {1, 0.0}}).ok());
}

}  // namespace
}  // namespace stipple::shapes
