#include "shape_attributes.h"

#include <vector>

namespace stipple::shapes {
namespace {

constexpr std::string_view kCircleWords[] = {"circle"};
constexpr std::string_view kSquareWords[] = {"square"};
constexpr std::string_view kTriangleWords[] = {"triangle"};

constexpr std::string_view kRedWords[] = {"red"};
constexpr std::string_view kGreenWords[] = {"green"};
constexpr std::string_view kBlueWords[] = {"blue"};
constexpr std::string_view kYellowWords[] = {"yellow"};
constexpr std::string_view kPurpleWords[] = {"purple", "violet"};
constexpr std::string_view kOrangeWords[] = {"orange"};
constexpr std::string_view kCyanWords[] = {"cyan"};
constexpr std::string_view kWhiteWords[] = {"white"};

constexpr std::string_view kSmallWords[] = {"small", "little", "tiny"};
constexpr std::string_view kBigWords[] = {"big", "large"};

constexpr std::string_view kLeftWords[] = {"left"};
constexpr std::string_view kRightWords[] = {"right"};
constexpr std::string_view kTopWords[] = {"top"};
constexpr std::string_view kBottomWords[] = {"bottom"};
constexpr std::string_view kCenterWords[] = {"center", "centre", "middle"};

// Chosen far apart in CIELAB (the nearest pair, red/orange, is about 40 ΔE apart).
constexpr Rgb kPalette[] = {
    {220, 40, 40},    // red
    {30, 190, 50},    // green
    {40, 90, 230},    // blue
    {240, 220, 50},   // yellow
    {150, 60, 210},   // purple
    {245, 140, 30},   // orange
    {40, 210, 220},   // cyan
    {240, 240, 240},  // white
};

constexpr Rgb kBackgrounds[] = {
    {0, 0, 0},     // black
    {40, 40, 40},  // charcoal
    {30, 38, 56},  // slate
    {52, 40, 32},  // brown
    {80, 80, 80},  // grey
};

template <typename T>
std::span<const std::string_view> Words(T value, std::span<const std::string_view> const* table) {
  return table[static_cast<int>(value)];
}

}  // namespace

std::span<const Attributes> AllAttributeCombinations() {
  static const std::vector<Attributes> all = [] {
    std::vector<Attributes> out;
    for (Shape shape : kAllShapes)
      for (Colour colour : kAllColours)
        for (Size size : kAllSizes)
          for (Position position : kAllPositions) out.push_back({shape, colour, size, position});
    return out;
  }();
  return all;
}

std::span<const std::string_view> WordsFor(Shape shape) {
  static const std::span<const std::string_view> table[] = {kCircleWords, kSquareWords,
                                                            kTriangleWords};
  return Words(shape, table);
}

std::span<const std::string_view> WordsFor(Colour colour) {
  static const std::span<const std::string_view> table[] = {
      kRedWords,    kGreenWords,  kBlueWords, kYellowWords,
      kPurpleWords, kOrangeWords, kCyanWords, kWhiteWords};
  return Words(colour, table);
}

std::span<const std::string_view> WordsFor(Size size) {
  static const std::span<const std::string_view> table[] = {kSmallWords, kBigWords};
  return Words(size, table);
}

std::span<const std::string_view> WordsFor(Position position) {
  static const std::span<const std::string_view> table[] = {kLeftWords, kRightWords, kTopWords,
                                                            kBottomWords, kCenterWords};
  return Words(position, table);
}

std::string_view Name(Shape shape) { return WordsFor(shape).front(); }
std::string_view Name(Colour colour) { return WordsFor(colour).front(); }
std::string_view Name(Size size) { return WordsFor(size).front(); }
std::string_view Name(Position position) { return WordsFor(position).front(); }

std::string ToString(const Attributes& a) {
  std::string out;
  for (std::string_view word : {Name(a.size), Name(a.colour), Name(a.shape), Name(a.position)}) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

Rgb PaletteColour(Colour colour) { return kPalette[static_cast<int>(colour)]; }

std::span<const Rgb> BackgroundColours() { return kBackgrounds; }

}  // namespace stipple::shapes
