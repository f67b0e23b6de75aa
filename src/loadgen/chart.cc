#include "loadgen/chart.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "imaging/png.h"

namespace stipple::loadgen {
namespace {

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kInk{40, 40, 40};
constexpr Rgb kGrid{225, 225, 225};
constexpr int kScale = 2;                // font pixels per glyph pixel
constexpr int kAdvance = 6 * kScale;     // glyph width 5 + 1 space
constexpr int kLineHeight = 9 * kScale;  // glyph height 7 + 2

// 5x7 glyphs, one byte per row (bit 4 is the left column).
struct Glyph {
  char c;
  std::array<uint8_t, 7> rows;
};
constexpr Glyph kGlyphs[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'a', {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}},
    {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'c', {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}},
    {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
    {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'g', {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}},
    {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}},
    {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}},
    {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}},
    {'p', {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}},
    {'q', {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}},
    {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},
    {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}},
    {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}},
    {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'y', {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
    {'z', {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
};

const Glyph* FindGlyph(char c) {
  if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (const Glyph& g : kGlyphs) {
    if (g.c == c) return &g;
  }
  return nullptr;  // a space, or a character the font lacks
}

class Canvas {
 public:
  Canvas(int width, int height)
      : width_(width), height_(height), rgb_(size_t(width) * size_t(height) * 3, 255) {}

  void Set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    uint8_t* p = &rgb_[(size_t(y) * size_t(width_) + size_t(x)) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }
  void Fill(int x0, int y0, int x1, int y1, Rgb c) {
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) Set(x, y, c);
    }
  }
  // A line `thick` pixels wide (Bresenham, with a square pen).
  void Line(int x0, int y0, int x1, int y1, Rgb c, int thick = 1) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
      Fill(x0 - thick / 2, y0 - thick / 2, x0 - thick / 2 + thick, y0 - thick / 2 + thick, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }
  void Text(int x, int y, const std::string& text, Rgb c) {
    for (char ch : text) {
      if (const Glyph* g = FindGlyph(ch)) {
        for (int row = 0; row < 7; ++row) {
          for (int col = 0; col < 5; ++col) {
            if ((g->rows[row] >> (4 - col)) & 1) {
              Fill(x + col * kScale, y + row * kScale, x + (col + 1) * kScale,
                   y + (row + 1) * kScale, c);
            }
          }
        }
      }
      x += kAdvance;
    }
  }
  static int TextWidth(const std::string& text) { return int(text.size()) * kAdvance; }

  Result<std::string> Png() const { return EncodePngRgb8(rgb_, width_, height_); }

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

// Maps values of one axis to pixels.
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  int p0 = 0, p1 = 1;  // pixel of lo, pixel of hi
  double Pixel(double v) const {
    double t =
        log ? (std::log10(std::max(v, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
            : (v - lo) / (hi - lo);
    t = std::clamp(t, -0.02, 1.02);
    return p0 + t * (p1 - p0);
  }
};

void DrawPanel(Canvas& canvas, const Panel& panel, const Axis& x_axis, int top, int bottom,
               int left, int right) {
  canvas.Text(left, top - 2 * kLineHeight - 4, panel.title, kInk);
  double min_pos = INFINITY, max_y = 0;
  for (const Series& s : panel.series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      max_y = std::max(max_y, y);
      if (y > 0) min_pos = std::min(min_pos, y);
    }
  }
  Axis y_axis{.log = panel.log_y, .p0 = bottom, .p1 = top};
  std::vector<double> ticks;
  if (panel.log_y) {
    if (!std::isfinite(min_pos)) min_pos = max_y = 1;
    ticks = LogTicks(min_pos, max_y);
  } else {
    ticks = LinearTicks(max_y, 5);
  }
  y_axis.lo = ticks.front();
  y_axis.hi = ticks.back();
  for (double t : ticks) {
    const int y = int(std::lround(y_axis.Pixel(t)));
    canvas.Line(left, y, right, y, kGrid);
    const std::string label = TickLabel(t);
    canvas.Text(left - 8 - Canvas::TextWidth(label), y - 7, label, kInk);
  }
  // The legend, on the line under the title, right-aligned.
  int lx = right;
  for (auto it = panel.series.rbegin(); it != panel.series.rend(); ++it) {
    lx -= Canvas::TextWidth(it->label) + 34;
    canvas.Fill(lx, top - kLineHeight + 2, lx + 20, top - kLineHeight + 6, it->colour);
    canvas.Text(lx + 26, top - kLineHeight - 2, it->label, kInk);
  }
  // The first series is drawn last, on top of the others.
  for (auto it = panel.series.rbegin(); it != panel.series.rend(); ++it) {
    const Series& s = *it;
    bool have = false;
    int px = 0, py = 0;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y) || (panel.log_y && y <= 0)) {
        have = false;
        continue;
      }
      const int nx = int(std::lround(x_axis.Pixel(x))), ny = int(std::lround(y_axis.Pixel(y)));
      if (have) {
        canvas.Line(px, py, nx, ny, s.colour, 2);
      } else {
        canvas.Fill(nx - 1, ny - 1, nx + 2, ny + 2, s.colour);
      }
      px = nx;
      py = ny;
      have = true;
    }
  }
  canvas.Line(left, top, left, bottom, kInk);
  canvas.Line(left, bottom, right, bottom, kInk);
}

}  // namespace

std::vector<double> LinearTicks(double max, int target) {
  if (!(max > 0) || !std::isfinite(max)) return {0, 1};
  const double raw = max / std::max(1, target);
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (int i = 0;; ++i) {
    ticks.push_back(i * step);
    if (i * step >= max * (1 - 1e-12)) break;
  }
  return ticks;
}

std::vector<double> LogTicks(double min, double max) {
  int lo = int(std::floor(std::log10(min) + 1e-9));
  int hi = int(std::ceil(std::log10(std::max(max, min)) - 1e-9));
  if (hi <= lo) hi = lo + 1;
  std::vector<double> ticks;
  for (int e = lo; e <= hi; ++e) ticks.push_back(std::pow(10, e));
  return ticks;
}

std::string TickLabel(double value) {
  char text[32];
  if (value >= 1000 && std::fmod(value, 1000) == 0) {
    std::snprintf(text, sizeof text, "%gk", value / 1000);
  } else {
    std::snprintf(text, sizeof text, "%g", value);
  }
  return text;
}

Result<std::string> RenderChart(const Chart& chart) {
  if (chart.panels.empty()) return InvalidArgumentError("chart: no panels");
  if (chart.width < 200 || chart.height < 150 || chart.width > 4096 || chart.height > 4096) {
    return InvalidArgumentError("chart: size must be 200x150..4096x4096");
  }
  Canvas canvas(chart.width, chart.height);
  canvas.Fill(0, 0, chart.width, chart.height, kWhite);
  double x_max = 0;
  for (const Panel& p : chart.panels) {
    for (const Series& s : p.series) {
      for (const auto& point : s.points) x_max = std::max(x_max, point.first);
    }
  }
  const std::vector<double> x_ticks = LinearTicks(x_max, 10);
  const int left = 90, right = chart.width - 24;
  const int title_h = 2 * kLineHeight + 8, x_axis_h = 2 * kLineHeight + 16;
  const int panel_gap = 3 * kLineHeight + 8;
  const int n = int(chart.panels.size());
  const int panel_h =
      (chart.height - title_h - x_axis_h - (n - 1) * panel_gap - 2 * kLineHeight) / n;
  canvas.Text(8, 8, chart.title, kInk);
  const Axis x_axis{.lo = 0, .hi = x_ticks.back(), .p0 = left, .p1 = right};
  int bottom = 0;
  for (int i = 0; i < n; ++i) {
    const int top = title_h + 2 * kLineHeight + i * (panel_h + panel_gap);
    bottom = top + panel_h;
    for (double t : x_ticks) {
      const int x = int(std::lround(x_axis.Pixel(t)));
      canvas.Line(x, top, x, bottom, kGrid);
    }
    DrawPanel(canvas, chart.panels[i], x_axis, top, bottom, left, right);
  }
  for (double t : x_ticks) {
    const int x = int(std::lround(x_axis.Pixel(t)));
    const std::string label = TickLabel(t);
    canvas.Line(x, bottom, x, bottom + 4, kInk);
    canvas.Text(x - Canvas::TextWidth(label) / 2, bottom + 8, label, kInk);
  }
  canvas.Text((left + right - Canvas::TextWidth(chart.x_label)) / 2, bottom + 8 + kLineHeight,
              chart.x_label, kInk);
  return canvas.Png();
}

}  // namespace stipple::loadgen
