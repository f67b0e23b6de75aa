#include "loadgen/chart.h"

#include <gtest/gtest.h>

#include <cmath>

#include "imaging/png.h"

namespace stipple::loadgen {
namespace {

bool HasColour(const RgbImage& png, Rgb c) {
  for (size_t i = 0; i + 2 < png.rgb.size(); i += 3) {
    if (png.rgb[i] == c.r && png.rgb[i + 1] == c.g && png.rgb[i + 2] == c.b) return true;
  }
  return false;
}

Chart TwoPanels() {
  Chart chart{.title = "stipple bench: 100/s", .x_label = "time (s)"};
  Panel latency{.title = "latency (ms)", .log_y = true};
  latency.series.push_back(
      {.label = "p50", .colour = {31, 119, 180}, .points = {{0, 0.5}, {1, 0.7}, {2, NAN}, {3, 2}}});
  latency.series.push_back({.label = "p99", .colour = {214, 39, 40}, .points = {{0, 3}, {3, 120}}});
  Panel queue{.title = "queued"};
  queue.series.push_back(
      {.label = "queued", .colour = {255, 127, 14}, .points = {{0, 0}, {3, 4200}}});
  chart.panels = {latency, queue};
  return chart;
}

TEST(RenderChart, DrawsEverySeriesInItsColourAtTheChartsSize) {
  Result<std::string> png = RenderChart(TwoPanels());
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  Result<RgbImage> decoded = DecodePngRgb8(*png);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->width, 960);
  EXPECT_EQ(decoded->height, 640);
  EXPECT_TRUE(HasColour(*decoded, {31, 119, 180}));
  EXPECT_TRUE(HasColour(*decoded, {214, 39, 40}));
  EXPECT_TRUE(HasColour(*decoded, {255, 127, 14}));
  EXPECT_TRUE(HasColour(*decoded, {40, 40, 40}));  // axes and text
  EXPECT_EQ(*RenderChart(TwoPanels()), *png);      // deterministic
}

TEST(RenderChart, RefusesNoPanelsOrABadSizeAndCopesWithEmptySeries) {
  EXPECT_FALSE(RenderChart(Chart{}).ok());
  Chart tiny = TwoPanels();
  tiny.width = 100;
  EXPECT_EQ(RenderChart(tiny).status().code(), StatusCode::kInvalidArgument);
  Chart empty{.panels = {Panel{.title = "nothing", .log_y = true}, Panel{}}};
  EXPECT_TRUE(RenderChart(empty).ok());
}

TEST(Ticks, RoundValuesCoveringTheRange) {
  EXPECT_EQ(LinearTicks(4200, 5), (std::vector<double>{0, 1000, 2000, 3000, 4000, 5000}));
  EXPECT_EQ(LinearTicks(9, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(LinearTicks(0, 5), (std::vector<double>{0, 1}));
  EXPECT_EQ(LogTicks(0.5, 120), (std::vector<double>{0.1, 1, 10, 100, 1000}));
  EXPECT_EQ(LogTicks(10, 10), (std::vector<double>{10, 100}));
  EXPECT_EQ(TickLabel(20000), "20k");
  EXPECT_EQ(TickLabel(0.01), "0.01");
  EXPECT_EQ(TickLabel(2.5), "2.5");
}

}  // namespace
}  // namespace stipple::loadgen
