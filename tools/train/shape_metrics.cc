#include "shape_metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace stipple::shapes {
namespace {

struct Lab {
  double l, a, b;
};

double SrgbToLinear(uint8_t v) {
  const double c = v / 255.0;
  return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
}

Lab ToLab(Rgb rgb) {
  const double r = SrgbToLinear(rgb.r), g = SrgbToLinear(rgb.g), b = SrgbToLinear(rgb.b);
  // sRGB → XYZ (D65), normalised by the white point.
  const double x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
  const double y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const double z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
  auto f = [](double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116.0; };
  const double fx = f(x), fy = f(y), fz = f(z);
  return {116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)};
}

double Distance(Rgb p, Rgb q) {
  const double dr = p.r - q.r, dg = p.g - q.g, db = p.b - q.b;
  return std::sqrt(dr * dr + dg * dg + db * db);
}

uint8_t Median(std::vector<uint8_t> values) {
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2),
                   values.end());
  return values[values.size() / 2];
}

Rgb BorderMedian(const Image& image) {
  std::vector<uint8_t> r, g, b;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      if (x != 0 && y != 0 && x != image.width - 1 && y != image.height - 1) continue;
      const Rgb p = image.At(x, y);
      r.push_back(p.r), g.push_back(p.g), b.push_back(p.b);
    }
  }
  return {Median(r), Median(g), Median(b)};
}

// Keeps only the largest 4-connected component of `mask`; returns its size.
int KeepLargestComponent(std::vector<uint8_t>& mask, int width, int height) {
  std::vector<int> label(mask.size(), 0);
  std::vector<int> stack;
  int best_label = 0, best_size = 0, next_label = 0;
  for (size_t start = 0; start < mask.size(); ++start) {
    if (!mask[start] || label[start]) continue;
    label[start] = ++next_label;
    int size = 0;
    stack.assign(1, static_cast<int>(start));
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      ++size;
      const int x = i % width, y = i / width;
      const int neighbours[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
      for (const auto& [nx, ny] : neighbours) {
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const int j = ny * width + nx;
        if (mask[j] && !label[j]) label[j] = next_label, stack.push_back(j);
      }
    }
    if (size > best_size) best_size = size, best_label = next_label;
  }
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = label[i] == best_label && best_size > 0;
  return best_size;
}

double MeanOfLargest(std::vector<double> values, size_t k) {
  k = std::min(k, values.size());
  if (k == 0) return 0.0;
  std::partial_sort(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end(),
                    std::greater<>());
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i) sum += values[i];
  return sum / static_cast<double>(k);
}

// How much wider the shape is below its vertical centroid than above it: the row widths one
// standard deviation below and above the centroid, (lower − upper) / (lower + upper). An upward
// triangle ≈ 0.35; circles and squares 0. Mass moments barely move when blur or noise shave off
// a thin apex or add a stray row, unlike the box's edges.
double Taper(std::span<const double> widths) {
  double mass = 0.0, first = 0.0;
  for (size_t i = 0; i < widths.size(); ++i) {
    mass += widths[i];
    first += static_cast<double>(i) * widths[i];
  }
  if (mass <= 0.0) return 0.0;
  const double centre = first / mass;
  double second = 0.0;
  for (size_t i = 0; i < widths.size(); ++i) {
    const double d = static_cast<double>(i) - centre;
    second += d * d * widths[i];
  }
  const double spread = std::sqrt(std::max(second / mass, 0.25));
  auto width_at = [&](double y) {
    const double clamped = std::clamp(y, 0.0, static_cast<double>(widths.size()) - 1.0);
    const size_t i = std::min(static_cast<size_t>(clamped), widths.size() - 2);
    const double f = clamped - static_cast<double>(i);
    return widths[i] * (1 - f) + widths[i + 1] * f;
  };
  const double upper = width_at(centre - spread), lower = width_at(centre + spread);
  return upper + lower > 0.0 ? (lower - upper) / (lower + upper) : 0.0;
}

Position ClassifyPosition(double dx, double dy, double center_offset) {
  if (std::abs(dx) < center_offset && std::abs(dy) < center_offset) return Position::kCenter;
  if (std::abs(dx) >= std::abs(dy)) return dx < 0 ? Position::kLeft : Position::kRight;
  return dy < 0 ? Position::kTop : Position::kBottom;
}

}  // namespace

std::pair<Colour, double> NearestPaletteColour(Rgb rgb) {
  const Lab lab = ToLab(rgb);
  Colour best = Colour::kRed;
  double best_distance = std::numeric_limits<double>::infinity();
  for (Colour colour : kAllColours) {
    const Lab p = ToLab(PaletteColour(colour));
    const double d = std::hypot(lab.l - p.l, lab.a - p.a, lab.b - p.b);
    if (d < best_distance) best_distance = d, best = colour;
  }
  return {best, best_distance};
}

Measurement Measure(const Image& image, const MeasureOptions& options) {
  Measurement m;
  const int w = image.width, h = image.height;
  if (w < 3 || h < 3 || image.rgb.size() != static_cast<size_t>(w) * h * 3) return m;
  m.background = BorderMedian(image);

  // 1. Seed: pixels clearly away from the background; the largest blob is the shape.
  std::vector<uint8_t> mask(static_cast<size_t>(w) * h);
  std::vector<double> distance(mask.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int i = y * w + x;
      distance[i] = Distance(image.At(x, y), m.background);
      mask[i] = distance[i] > options.seed_distance;
    }
  if (KeepLargestComponent(mask, w, h) < options.min_area) return m;

  // 2. The shape's colour: the mean of the blob's farther half (its core, not its soft edge).
  std::vector<double> blob;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) blob.push_back(distance[i]);
  std::nth_element(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(blob.size() / 2),
                   blob.end());
  const double core = blob[blob.size() / 2];
  double sum[3] = {0, 0, 0};
  int count = 0;
  for (size_t i = 0; i < mask.size(); ++i) {
    if (!mask[i] || distance[i] < core) continue;
    for (int c = 0; c < 3; ++c) sum[c] += image.rgb[i * 3 + c];
    ++count;
  }
  auto mean = [&](int c) { return static_cast<uint8_t>(std::lround(sum[c] / count)); };
  m.foreground = {mean(0), mean(1), mean(2)};
  m.contrast = Distance(m.foreground, m.background);
  if (m.contrast < options.min_contrast) return m;

  // 3. Coverage t: how far each pixel lies from the background towards the shape's colour,
  // measured along that axis so that noise across it does not count (0 = background, 1 = shape).
  const double axis[3] = {static_cast<double>(m.foreground.r - m.background.r),
                          static_cast<double>(m.foreground.g - m.background.g),
                          static_cast<double>(m.foreground.b - m.background.b)};
  const uint8_t bg[3] = {m.background.r, m.background.g, m.background.b};
  std::vector<double> coverage(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) {
    double t = 0.0;
    for (int c = 0; c < 3; ++c) t += (image.rgb[i * 3 + c] - bg[c]) * axis[c];
    coverage[i] = t / (m.contrast * m.contrast);
  }

  // 4. The bounding box: the largest blob of the 3×3-smoothed coverage above one half. Smoothing
  // steadies a noisy edge and leaves a straight edge's half-way crossing where it was.
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double sum = 0.0;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx)
          sum += coverage[std::clamp(y + dy, 0, h - 1) * w + std::clamp(x + dx, 0, w - 1)];
      mask[y * w + x] = sum / 9.0 > 0.5;
    }
  m.area = KeepLargestComponent(mask, w, h);
  if (m.area < options.min_area) return m;
  int x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (mask[y * w + x]) {
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  m.width = x1 - x0 + 1;
  m.height = y1 - y0 + 1;
  m.offset_x = (x0 + x1 + 1) / 2.0 - w / 2.0;
  m.offset_y = (y0 + y1 + 1) / 2.0 - h / 2.0;

  // 5. Shape features from the raw coverage summed over the box plus a margin, which blur
  // preserves and noise averages out of: the soft area, the shape's tallest column and widest row
  // (mean of the three largest sums, so one noisy line does not decide), and the taper.
  const int rx0 = std::max(0, x0 - 2), rx1 = std::min(w - 1, x1 + 2);
  const int ry0 = std::max(0, y0 - 2), ry1 = std::min(h - 1, y1 + 2);
  std::vector<double> columns(rx1 - rx0 + 1, 0.0), rows(ry1 - ry0 + 1, 0.0);
  double soft_area = 0.0;
  for (int y = ry0; y <= ry1; ++y)
    for (int x = rx0; x <= rx1; ++x) {
      const double t = coverage[y * w + x];
      soft_area += t;
      columns[x - rx0] += t;
      rows[y - ry0] += t;
    }
  const double tallest = MeanOfLargest(columns, 3), widest = MeanOfLargest(rows, 3);
  if (soft_area <= 0.0 || tallest <= 0.0 || widest <= 0.0) return m;
  m.extent = std::max(tallest, widest);
  m.fill_ratio = soft_area / (tallest * widest);
  // The taper from rows of the box's own columns (one row of margin for a shaved apex), so that
  // less background noise enters the widths.
  const int ty0 = std::max(0, y0 - 1), ty1 = std::min(h - 1, y1 + 1);
  std::vector<double> widths(ty1 - ty0 + 1, 0.0);
  for (int y = ty0; y <= ty1; ++y)
    for (int x = x0; x <= x1; ++x) widths[y - ty0] += coverage[y * w + x];
  m.taper = Taper(widths);

  Attributes& a = m.attributes;
  std::tie(a.colour, m.colour_distance) = NearestPaletteColour(m.foreground);
  if (m.taper > options.triangle_taper || m.fill_ratio < options.triangle_fill) {
    a.shape = Shape::kTriangle;
  } else {
    a.shape = m.fill_ratio >= options.square_fill ? Shape::kSquare : Shape::kCircle;
  }
  a.size = m.extent >= options.big_extent ? Size::kBig : Size::kSmall;
  a.position = ClassifyPosition(m.offset_x, m.offset_y, options.center_offset);
  m.found = true;
  return m;
}

}  // namespace stipple::shapes
