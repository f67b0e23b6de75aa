// The four attributes of a shapes-32 image — shape, colour, size, position — with their
// palette and the words captions use for them. The dataset renders and captions from these; the
// evaluator measures them back from pixels. Everything here is constant data.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace stipple::shapes {

enum class Shape { kCircle, kSquare, kTriangle };
enum class Colour { kRed, kGreen, kBlue, kYellow, kPurple, kOrange, kCyan, kWhite };
enum class Size { kSmall, kBig };
enum class Position { kLeft, kRight, kTop, kBottom, kCenter };

inline constexpr std::array kAllShapes = {Shape::kCircle, Shape::kSquare, Shape::kTriangle};
inline constexpr std::array kAllColours = {Colour::kRed,    Colour::kGreen,  Colour::kBlue,
                                           Colour::kYellow, Colour::kPurple, Colour::kOrange,
                                           Colour::kCyan,   Colour::kWhite};
inline constexpr std::array kAllSizes = {Size::kSmall, Size::kBig};
inline constexpr std::array kAllPositions = {Position::kLeft, Position::kRight, Position::kTop,
                                             Position::kBottom, Position::kCenter};

struct Attributes {
  Shape shape = Shape::kCircle;
  Colour colour = Colour::kRed;
  Size size = Size::kSmall;
  Position position = Position::kCenter;
  bool operator==(const Attributes&) const = default;
};

// Every combination of the four attributes, in a fixed order (shape-major).
std::span<const Attributes> AllAttributeCombinations();

// The canonical (first) word of each value: "circle", "red", "small", "left", "center".
std::string_view Name(Shape shape);
std::string_view Name(Colour colour);
std::string_view Name(Size size);
std::string_view Name(Position position);
// "small red circle center" — for logs and test failures.
std::string ToString(const Attributes& attributes);

// Every single word captions may use for a value, canonical word first. Position words are the
// bare words ("left", "middle"); captions wrap them in phrases ("on the left").
std::span<const std::string_view> WordsFor(Shape shape);
std::span<const std::string_view> WordsFor(Colour colour);
std::span<const std::string_view> WordsFor(Size size);
std::span<const std::string_view> WordsFor(Position position);

struct Rgb {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
  bool operator==(const Rgb&) const = default;
};

// The nominal sRGB of each shape colour. Renders jitter it a little per image.
Rgb PaletteColour(Colour colour);

// The plain backgrounds: dark and muted, so that every palette colour (white included) stands
// well apart from every background.
std::span<const Rgb> BackgroundColours();

}  // namespace stipple::shapes
