#include "loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "imaging/png.h"

namespace stipple::shapes {
namespace {

// 5×7 glyphs, one byte per row, bit 4 = leftmost column.
struct Glyph {
  char c;
  uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},
    {'2', {14, 17, 1, 2, 4, 8, 31}},     {'3', {31, 2, 4, 2, 1, 17, 14}},
    {'4', {2, 6, 10, 18, 31, 2, 2}},     {'5', {31, 16, 30, 1, 1, 17, 14}},
    {'6', {6, 8, 16, 30, 17, 17, 14}},   {'7', {31, 1, 2, 4, 8, 8, 8}},
    {'8', {14, 17, 17, 14, 17, 17, 14}}, {'9', {14, 17, 17, 15, 1, 2, 12}},
    {'.', {0, 0, 0, 0, 0, 12, 12}},      {'-', {0, 0, 0, 31, 0, 0, 0}},
    {'k', {16, 16, 18, 20, 24, 20, 18}}, {'l', {12, 4, 4, 4, 4, 4, 14}},
    {'o', {0, 0, 14, 17, 17, 17, 14}},   {'s', {0, 0, 15, 16, 14, 1, 30}},
    {'t', {8, 8, 28, 8, 8, 9, 6}},       {'e', {0, 0, 14, 17, 31, 16, 14}},
    {'p', {0, 0, 30, 17, 30, 16, 16}},   {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'(', {2, 4, 8, 8, 8, 4, 2}},        {')', {8, 4, 2, 2, 2, 4, 8}},
    {'g', {0, 15, 17, 17, 15, 1, 14}},   {'E', {31, 16, 16, 30, 16, 16, 31}},
    {'M', {17, 27, 21, 21, 17, 17, 17}}, {'A', {14, 17, 17, 31, 17, 17, 17}},
    {',', {0, 0, 0, 0, 12, 4, 8}},       {'a', {0, 0, 14, 1, 15, 17, 15}},
    {'r', {0, 0, 22, 25, 16, 16, 16}},   {'w', {0, 0, 17, 17, 21, 21, 10}},
    {'m', {0, 0, 26, 21, 21, 17, 17}},   {'h', {16, 16, 22, 25, 17, 17, 17}},
    {'d', {1, 1, 13, 19, 17, 17, 15}},   {'i', {4, 0, 12, 4, 4, 4, 14}},
};

struct Rgb8 {
  uint8_t r, g, b;
};

class Canvas {
 public:
  Canvas(int width, int height)
      : width_(width), height_(height), rgb_(static_cast<size_t>(width) * height * 3, 255) {}

  void Set(int x, int y, Rgb8 c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }
  void Line(double x0, double y0, double x1, double y1, Rgb8 c) {
    const int n = static_cast<int>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= n; ++i) {
      const double t = static_cast<double>(i) / n;
      Set(static_cast<int>(std::lround(x0 + (x1 - x0) * t)),
          static_cast<int>(std::lround(y0 + (y1 - y0) * t)), c);
    }
  }
  // Text with its top-left corner at (x, y); returns its width in pixels.
  int Text(int x, int y, const std::string& text, Rgb8 c) {
    for (size_t i = 0; i < text.size(); ++i) {
      for (const Glyph& g : kFont) {
        if (g.c != text[i]) continue;
        for (int row = 0; row < 7; ++row) {
          for (int col = 0; col < 5; ++col) {
            if (g.rows[row] & (16 >> col)) Set(x + static_cast<int>(i) * 6 + col, y + row, c);
          }
        }
      }
    }
    return static_cast<int>(text.size()) * 6;
  }
  Result<std::string> Png() const { return EncodePngRgb8(rgb_, width_, height_); }

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

std::string Format(double v) {
  char buffer[32];
  if (v >= 1000) {
    std::snprintf(buffer, sizeof buffer, "%gk", v / 1000);
  } else {
    std::snprintf(buffer, sizeof buffer, "%g", v);
  }
  return buffer;
}

}  // namespace

Result<std::vector<std::pair<double, double>>> ParseLossCsv(const std::string& text) {
  std::vector<std::pair<double, double>> points;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    double step = 0, loss = 0;
    char comma = 0;
    std::istringstream fields(line);
    if (!(fields >> step >> comma >> loss) || comma != ',') {
      return InvalidArgumentError("loss.csv line " + std::to_string(number) +
                                  ": expected 'step,loss'");
    }
    points.emplace_back(step, loss);
  }
  return points;
}

Result<std::string> LossPlotPng(const std::vector<std::pair<double, double>>& points, int width,
                                int height) {
  if (points.size() < 2) return InvalidArgumentError("loss plot: need at least two points");
  if (width < 200 || height < 120) return InvalidArgumentError("loss plot: at least 200x120");
  double lo = points[0].second, hi = lo;
  for (const auto& [step, loss] : points) {
    if (!(loss > 0)) return InvalidArgumentError("loss plot: losses must be positive");
    lo = std::min(lo, loss);
    hi = std::max(hi, loss);
  }
  const double log_lo = std::floor(std::log10(lo)), log_hi = std::ceil(std::log10(hi));
  const double top_log = log_hi > log_lo ? log_hi : log_lo + 1;
  const double max_step = points.back().first;
  const int left = 52, right = width - 16, top = 24, bottom = height - 28;
  auto px = [&](double step) { return left + (right - left) * step / max_step; };
  auto py = [&](double loss) {
    return bottom - (bottom - top) * (std::log10(loss) - log_lo) / (top_log - log_lo);
  };
  const Rgb8 black{0, 0, 0}, grid{225, 225, 225}, raw{170, 190, 230}, smooth{20, 70, 200};
  Canvas canvas(width, height);
  for (double decade = log_lo; decade <= top_log; ++decade) {  // log grid: 1, 2, 5 per decade
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10, decade);
      if (std::log10(v) > top_log + 1e-9) break;
      canvas.Line(left, py(v), right, py(v), grid);
      canvas.Text(4, static_cast<int>(py(v)) - 3, Format(v), black);
    }
  }
  for (int i = 0; i <= 4; ++i) {
    const double step = max_step * i / 4;
    canvas.Line(px(step), top, px(step), bottom, grid);
    canvas.Text(static_cast<int>(px(step)) - 6, bottom + 8, Format(std::round(step)), black);
  }
  canvas.Line(left, top, left, bottom, black);
  canvas.Line(left, bottom, right, bottom, black);
  canvas.Text(left, 8, "loss (log) - step", black);
  // The raw losses in a light colour, an exponential moving average over them in a dark one.
  double prev_x = px(points[0].first), prev_raw = py(points[0].second), prev_smooth = prev_raw;
  for (size_t i = 1; i < points.size(); ++i) {
    const double x = px(points[i].first);
    canvas.Line(prev_x, prev_raw, x, py(points[i].second), raw);
    prev_raw = py(points[i].second);
    prev_x = x;
  }
  double ema = points[0].second;
  prev_x = px(points[0].first);
  for (size_t i = 1; i < points.size(); ++i) {
    ema = 0.9 * ema + 0.1 * points[i].second;
    const double x = px(points[i].first);
    canvas.Line(prev_x, prev_smooth, x, py(ema), smooth);
    canvas.Line(prev_x, prev_smooth + 1, x, py(ema) + 1, smooth);
    prev_smooth = py(ema);
    prev_x = x;
  }
  return canvas.Png();
}

}  // namespace stipple::shapes
