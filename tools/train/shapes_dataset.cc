#include "shapes_dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <utility>

namespace stipple::shapes {
namespace {

// Where a shape lands, in continuous pixel coordinates: its bounding-box centre and width.
struct Placement {
  double cx = 0.0;
  double cy = 0.0;
  double width = 0.0;
};

bool Covers(Shape shape, const Placement& p, double x, double y) {
  const double half = p.width / 2.0;
  const double dx = x - p.cx;
  const double dy = y - p.cy;
  switch (shape) {
    case Shape::kCircle: return dx * dx + dy * dy <= half * half;
    case Shape::kSquare: return std::abs(dx) <= half && std::abs(dy) <= half;
    case Shape::kTriangle:
      // Apex at (cx, cy - half), base from cx - half to cx + half at cy + half.
      if (dy < -half || dy > half) return false;
      return std::abs(dx) <= (dy + half) / 2.0;
  }
  return false;
}

Placement Place(const Attributes& a, Rng& rng, const ShapeGeometry& g) {
  constexpr double kSize = kImageSize;
  Placement p;
  p.width = a.size == Size::kSmall ? rng.Uniform(g.small_min, g.small_max)
                                   : rng.Uniform(g.big_min, g.big_max);
  const double near = kSize / 6.0;  // middle of the first third
  const double far = kSize - near;  // middle of the last third
  const double mid = kSize / 2.0;
  switch (a.position) {
    case Position::kLeft: p.cx = near, p.cy = mid; break;
    case Position::kRight: p.cx = far, p.cy = mid; break;
    case Position::kTop: p.cx = mid, p.cy = near; break;
    case Position::kBottom: p.cx = mid, p.cy = far; break;
    case Position::kCenter: p.cx = mid, p.cy = mid; break;
  }
  const double lo = p.width / 2.0 + g.margin;
  const double hi = kSize - lo;
  // Pull inwards first so that jitter moves a clamped big shape back towards the centre only.
  p.cx = std::clamp(std::clamp(p.cx, lo, hi) + rng.Uniform(-g.jitter, g.jitter), lo, hi);
  p.cy = std::clamp(std::clamp(p.cy, lo, hi) + rng.Uniform(-g.jitter, g.jitter), lo, hi);
  return p;
}

uint8_t Jitter(uint8_t value, int amount, Rng& rng) {
  if (amount <= 0) return value;
  return static_cast<uint8_t>(std::clamp(value + rng.Below(2 * amount + 1) - amount, 0, 255));
}

// Position phrases the captions use; the bare words come from WordsFor(Position).
std::span<const std::string_view> PhrasesFor(Position position) {
  static constexpr std::string_view kLeft[] = {"on the left", "at the left", "to the left",
                                               "on the left side"};
  static constexpr std::string_view kRight[] = {"on the right", "at the right", "to the right",
                                                "on the right side"};
  static constexpr std::string_view kTop[] = {"at the top", "on top", "at the top of the image"};
  static constexpr std::string_view kBottom[] = {"at the bottom", "on the bottom",
                                                 "at the bottom of the image"};
  static constexpr std::string_view kCenter[] = {"in the center", "in the centre", "in the middle",
                                                 "at the center"};
  static const std::span<const std::string_view> table[] = {kLeft, kRight, kTop, kBottom, kCenter};
  return table[static_cast<int>(position)];
}

// "a" or "an" before `word`.
std::string WithArticle(std::string_view word) {
  const bool vowel = !word.empty() && std::string_view("aeiou").find(word[0]) != std::string::npos;
  return std::string(vowel ? "an " : "a ") + std::string(word);
}

uint64_t Mix(uint64_t a, uint64_t b) { return Rng(a ^ (b * 0xD1B54A32D192ED03ull)).NextU64(); }

}  // namespace

Image Image::Filled(int width, int height, Rgb colour) {
  Image image{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) image.Set(x, y, colour);
  return image;
}

Rgb Image::At(int x, int y) const {
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  return {rgb[i], rgb[i + 1], rgb[i + 2]};
}

void Image::Set(int x, int y, Rgb colour) {
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  rgb[i] = colour.r, rgb[i + 1] = colour.g, rgb[i + 2] = colour.b;
}

Image Render(const Attributes& attributes, Rng& rng, const ShapeGeometry& geometry) {
  const Rgb background = rng.Pick(BackgroundColours());
  const Rgb nominal = PaletteColour(attributes.colour);
  const Rgb fill{Jitter(nominal.r, geometry.colour_jitter, rng),
                 Jitter(nominal.g, geometry.colour_jitter, rng),
                 Jitter(nominal.b, geometry.colour_jitter, rng)};
  const Placement placement = Place(attributes, rng, geometry);

  Image image = Image::Filled(kImageSize, kImageSize, background);
  const int n = std::max(1, geometry.supersampling);
  auto blend = [](uint8_t bg, uint8_t fg, double t) {
    return static_cast<uint8_t>(std::lround(bg + (fg - bg) * t));
  };
  for (int y = 0; y < kImageSize; ++y) {
    for (int x = 0; x < kImageSize; ++x) {
      int covered = 0;
      for (int sy = 0; sy < n; ++sy)
        for (int sx = 0; sx < n; ++sx)
          covered += Covers(attributes.shape, placement, x + (sx + 0.5) / n, y + (sy + 0.5) / n);
      if (covered == 0) continue;
      const double t = static_cast<double>(covered) / (n * n);
      image.Set(x, y,
                {blend(background.r, fill.r, t), blend(background.g, fill.g, t),
                 blend(background.b, fill.b, t)});
    }
  }
  return image;
}

std::string Caption(const Attributes& a, Rng& rng) {
  const std::string size(rng.Pick(WordsFor(a.size)));
  const std::string colour(rng.Pick(WordsFor(a.colour)));
  const std::string shape(rng.Pick(WordsFor(a.shape)));
  const std::string where(rng.Pick(PhrasesFor(a.position)));
  const std::string place(rng.Pick(WordsFor(a.position)));
  switch (rng.Below(8)) {
    case 0: return WithArticle(size) + " " + colour + " " + shape + " " + where;
    case 1: return size + " " + colour + " " + shape + " " + where;
    case 2: return WithArticle(colour) + " " + shape + ", " + size + ", " + place;
    case 3: return where + ", " + WithArticle(size) + " " + colour + " " + shape;
    case 4: return "the " + shape + " is " + colour + " and " + size + ", " + where;
    case 5: return WithArticle(colour) + " " + shape + " " + where + ", " + size;
    case 6: return colour + " " + shape + ", " + size + ", " + where;
    default: {
      // Bare keywords in a random order, so no attribute is tied to a slot.
      std::string words[] = {size, colour, shape, place};
      for (int i = 3; i > 0; --i) std::swap(words[i], words[rng.Below(i + 1)]);
      return words[0] + " " + words[1] + " " + words[2] + " " + words[3];
    }
  }
}

std::vector<std::string> CaptionVocabulary() {
  std::set<std::string> words = {"a", "an", "the", "is", "and"};
  auto add = [&](std::string_view text) {
    for (std::string& w : SplitWords(text)) words.insert(std::move(w));
  };
  for (Shape v : kAllShapes)
    for (std::string_view w : WordsFor(v)) add(w);
  for (Colour v : kAllColours)
    for (std::string_view w : WordsFor(v)) add(w);
  for (Size v : kAllSizes)
    for (std::string_view w : WordsFor(v)) add(w);
  for (Position v : kAllPositions) {
    for (std::string_view w : WordsFor(v)) add(w);
    for (std::string_view w : PhrasesFor(v)) add(w);
  }
  return {words.begin(), words.end()};
}

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      current += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!current.empty()) {
      out.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

ShapeSample ShapeSampler::At(uint64_t index) const {
  Rng rng(Mix(seed_, index));
  ShapeSample sample;
  sample.attributes = {rng.Pick(kAllShapes), rng.Pick(kAllColours), rng.Pick(kAllSizes),
                       rng.Pick(kAllPositions)};
  sample.caption = Caption(sample.attributes, rng);
  sample.image = Render(sample.attributes, rng, geometry_);
  return sample;
}

Status WritePpm(const std::string& path, const Image& image) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return UnavailableError("cannot open " + path + " for writing");
  out << "P6\n" << image.width << " " << image.height << "\n255\n";
  out.write(reinterpret_cast<const char*>(image.rgb.data()),
            static_cast<std::streamsize>(image.rgb.size()));
  if (!out) return UnavailableError("cannot write " + path);
  return Status::Ok();
}

}  // namespace stipple::shapes
