// Chart: line charts drawn into an RGB raster and written as PNG with the engine's encoder
// (imaging/png.h) — stacked panels sharing one time axis, each with its own y axis (linear from 0,
// or log10 for latencies), labelled ticks, a legend and a title, in a built-in 5x7 pixel font
// (digits, lower-case letters — capitals are drawn lower-case — and . - ( ) / : % = , +).
// For `stipple bench --plot`. Deterministic: the same chart gives the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace stipple::loadgen {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

struct Series {
  std::string label;
  Rgb colour;
  std::vector<std::pair<double, double>> points;  // (x, y) in x order; non-finite y: a gap
};

struct Panel {
  std::string title;  // above the panel, e.g. "submit latency (ms)"
  bool log_y = false;
  std::vector<Series> series;
};

struct Chart {
  std::string title;    // above everything
  std::string x_label;  // under the shared x axis, e.g. "time (s)"
  std::vector<Panel> panels;
  int width = 960;
  int height = 640;
};

// The chart as PNG bytes. kInvalidArgument for a chart with no panels or a size under 200x150
// or over 4096x4096.
Result<std::string> RenderChart(const Chart& chart);

// Axis ticks: about `target` round values (1, 2 or 5 × 10^k apart) covering [0, max];
// {0, 1} when max <= 0.
std::vector<double> LinearTicks(double max, int target);
// Log axis ticks: the powers of ten from 10^floor(log10 min) to 10^ceil(log10 max) (min > 0).
std::vector<double> LogTicks(double min, double max);
// A tick's label: "0", "2.5", "100", "1k", "20k", "0.01".
std::string TickLabel(double value);

}  // namespace stipple::loadgen
