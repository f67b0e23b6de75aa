#include "eval_prompts.h"

#include <cstdio>

namespace stipple::shapes {

std::span<const EvalPrompt> EvalPrompts() {
  // clang-format off
  static constexpr EvalPrompt kPrompts[] = {
    {"a little red circle to the left", {Shape::kCircle, Colour::kRed, Size::kSmall, Position::kLeft}, false},
    {"draw one small green square over on the right", {Shape::kSquare, Colour::kGreen, Size::kSmall, Position::kRight}, true},
    {"tiny blue triangle at the top", {Shape::kTriangle, Colour::kBlue, Size::kSmall, Position::kTop}, false},
    {"small yellow circle placed at the bottom", {Shape::kCircle, Colour::kYellow, Size::kSmall, Position::kBottom}, true},
    {"a purple square, small, middle", {Shape::kSquare, Colour::kPurple, Size::kSmall, Position::kCenter}, false},
    {"please make a small orange triangle, near the left edge", {Shape::kTriangle, Colour::kOrange, Size::kSmall, Position::kLeft}, true},
    {"on the right side, a tiny cyan circle", {Shape::kCircle, Colour::kCyan, Size::kSmall, Position::kRight}, false},
    {"i want a white square that is small, near the top", {Shape::kSquare, Colour::kWhite, Size::kSmall, Position::kTop}, true},
    {"the triangle is green and big, on the bottom", {Shape::kTriangle, Colour::kGreen, Size::kBig, Position::kBottom}, false},
    {"show me one big blue circle sitting in the very middle", {Shape::kCircle, Colour::kBlue, Size::kBig, Position::kCenter}, true},
    {"a big yellow square to the left", {Shape::kSquare, Colour::kYellow, Size::kBig, Position::kLeft}, false},
    {"a picture with a big purple triangle near the right edge", {Shape::kTriangle, Colour::kPurple, Size::kBig, Position::kRight}, true},
    {"large orange circle on top", {Shape::kCircle, Colour::kOrange, Size::kBig, Position::kTop}, false},
    {"one square: cyan, large, along the bottom edge", {Shape::kSquare, Colour::kCyan, Size::kBig, Position::kBottom}, true},
    {"a white triangle, big, center", {Shape::kTriangle, Colour::kWhite, Size::kBig, Position::kCenter}, false},
    {"paint a big red circle on the left hand side, nothing else", {Shape::kCircle, Colour::kRed, Size::kBig, Position::kLeft}, true},
    {"to the right, a little blue square", {Shape::kSquare, Colour::kBlue, Size::kSmall, Position::kRight}, false},
    {"draw one small yellow triangle up at the top", {Shape::kTriangle, Colour::kYellow, Size::kSmall, Position::kTop}, true},
    {"the circle is purple and little, on the bottom", {Shape::kCircle, Colour::kPurple, Size::kSmall, Position::kBottom}, false},
    {"small orange square at the exact centre", {Shape::kSquare, Colour::kOrange, Size::kSmall, Position::kCenter}, true},
    {"a little cyan triangle at the left", {Shape::kTriangle, Colour::kCyan, Size::kSmall, Position::kLeft}, false},
    {"please make a tiny white circle, placed to the right", {Shape::kCircle, Colour::kWhite, Size::kSmall, Position::kRight}, true},
    {"small red square on top", {Shape::kSquare, Colour::kRed, Size::kSmall, Position::kTop}, false},
    {"i want a green triangle that is small, placed at the bottom", {Shape::kTriangle, Colour::kGreen, Size::kSmall, Position::kBottom}, true},
    {"a yellow circle, large, middle", {Shape::kCircle, Colour::kYellow, Size::kBig, Position::kCenter}, false},
    {"show me one big violet square sitting over on the left", {Shape::kSquare, Colour::kPurple, Size::kBig, Position::kLeft}, true},
    {"to the right, a big orange triangle", {Shape::kTriangle, Colour::kOrange, Size::kBig, Position::kRight}, false},
    {"a picture with a big cyan circle up at the top", {Shape::kCircle, Colour::kCyan, Size::kBig, Position::kTop}, true},
    {"the square is white and big, on the bottom", {Shape::kSquare, Colour::kWhite, Size::kBig, Position::kBottom}, false},
    {"one triangle: red, big, placed in the center", {Shape::kTriangle, Colour::kRed, Size::kBig, Position::kCenter}, true},
    {"a large green circle on the left", {Shape::kCircle, Colour::kGreen, Size::kBig, Position::kLeft}, false},
    {"paint a large blue square over on the right, nothing else", {Shape::kSquare, Colour::kBlue, Size::kBig, Position::kRight}, true},
    {"tiny violet triangle at the top", {Shape::kTriangle, Colour::kPurple, Size::kSmall, Position::kTop}, false},
    {"draw one small orange circle down at the bottom", {Shape::kCircle, Colour::kOrange, Size::kSmall, Position::kBottom}, true},
    {"a cyan square, small, middle", {Shape::kSquare, Colour::kCyan, Size::kSmall, Position::kCenter}, false},
    {"tiny white triangle over on the left", {Shape::kTriangle, Colour::kWhite, Size::kSmall, Position::kLeft}, true},
    {"on the right, a little red circle", {Shape::kCircle, Colour::kRed, Size::kSmall, Position::kRight}, false},
    {"please make a tiny green square, along the top edge", {Shape::kSquare, Colour::kGreen, Size::kSmall, Position::kTop}, true},
    {"the triangle is blue and small, on the bottom", {Shape::kTriangle, Colour::kBlue, Size::kSmall, Position::kBottom}, false},
    {"i want a yellow circle that is little, placed in the center", {Shape::kCircle, Colour::kYellow, Size::kSmall, Position::kCenter}, true},
    {"a big orange square at the left", {Shape::kSquare, Colour::kOrange, Size::kBig, Position::kLeft}, false},
    {"show me one big cyan triangle sitting placed to the right", {Shape::kTriangle, Colour::kCyan, Size::kBig, Position::kRight}, true},
    {"big white circle at the top", {Shape::kCircle, Colour::kWhite, Size::kBig, Position::kTop}, false},
    {"a picture with a large red square near the bottom", {Shape::kSquare, Colour::kRed, Size::kBig, Position::kBottom}, true},
    {"a green triangle, big, center", {Shape::kTriangle, Colour::kGreen, Size::kBig, Position::kCenter}, false},
    {"one circle: blue, large, placed to the left", {Shape::kCircle, Colour::kBlue, Size::kBig, Position::kLeft}, true},
    {"on the right, a big yellow square", {Shape::kSquare, Colour::kYellow, Size::kBig, Position::kRight}, false},
    {"paint a large violet triangle placed at the top, nothing else", {Shape::kTriangle, Colour::kPurple, Size::kBig, Position::kTop}, true},
    {"the circle is cyan and small, on the bottom", {Shape::kCircle, Colour::kCyan, Size::kSmall, Position::kBottom}, false},
    {"draw one little white square at the exact centre", {Shape::kSquare, Colour::kWhite, Size::kSmall, Position::kCenter}, true},
    {"a small red triangle on the left", {Shape::kTriangle, Colour::kRed, Size::kSmall, Position::kLeft}, false},
    {"tiny green circle on the right hand side", {Shape::kCircle, Colour::kGreen, Size::kSmall, Position::kRight}, true},
    {"tiny blue square at the top", {Shape::kSquare, Colour::kBlue, Size::kSmall, Position::kTop}, false},
    {"please make a tiny yellow triangle, down at the bottom", {Shape::kTriangle, Colour::kYellow, Size::kSmall, Position::kBottom}, true},
    {"a purple circle, tiny, middle", {Shape::kCircle, Colour::kPurple, Size::kSmall, Position::kCenter}, false},
    {"i want an orange square that is tiny, over on the left", {Shape::kSquare, Colour::kOrange, Size::kSmall, Position::kLeft}, true},
    {"to the right, a large white triangle", {Shape::kTriangle, Colour::kWhite, Size::kBig, Position::kRight}, false},
    {"show me one large red circle sitting up at the top", {Shape::kCircle, Colour::kRed, Size::kBig, Position::kTop}, true},
    {"the square is green and big, at the bottom", {Shape::kSquare, Colour::kGreen, Size::kBig, Position::kBottom}, false},
    {"a picture with a large blue triangle in the very center", {Shape::kTriangle, Colour::kBlue, Size::kBig, Position::kCenter}, true},
    {"a big yellow circle to the left", {Shape::kCircle, Colour::kYellow, Size::kBig, Position::kLeft}, false},
    {"one square: violet, big, on the right hand side", {Shape::kSquare, Colour::kPurple, Size::kBig, Position::kRight}, true},
    {"large orange triangle at the top", {Shape::kTriangle, Colour::kOrange, Size::kBig, Position::kTop}, false},
    {"paint a big cyan circle placed at the bottom, nothing else", {Shape::kCircle, Colour::kCyan, Size::kBig, Position::kBottom}, true},
    {"a red square, small, middle", {Shape::kSquare, Colour::kRed, Size::kSmall, Position::kCenter}, false},
    {"draw one tiny green triangle on the left hand side", {Shape::kTriangle, Colour::kGreen, Size::kSmall, Position::kLeft}, true},
    {"on the right side, a tiny blue circle", {Shape::kCircle, Colour::kBlue, Size::kSmall, Position::kRight}, false},
    {"tiny yellow square placed at the top", {Shape::kSquare, Colour::kYellow, Size::kSmall, Position::kTop}, true},
    {"the triangle is purple and tiny, on the bottom", {Shape::kTriangle, Colour::kPurple, Size::kSmall, Position::kBottom}, false},
    {"please make a little orange circle, in the very center", {Shape::kCircle, Colour::kOrange, Size::kSmall, Position::kCenter}, true},
    {"a tiny cyan square to the left", {Shape::kSquare, Colour::kCyan, Size::kSmall, Position::kLeft}, false},
    {"i want a white triangle that is tiny, near the right edge", {Shape::kTriangle, Colour::kWhite, Size::kSmall, Position::kRight}, true},
    {"big green circle at the top", {Shape::kCircle, Colour::kGreen, Size::kBig, Position::kTop}, false},
    {"show me one large blue square sitting placed at the bottom", {Shape::kSquare, Colour::kBlue, Size::kBig, Position::kBottom}, true},
    {"a yellow triangle, large, center", {Shape::kTriangle, Colour::kYellow, Size::kBig, Position::kCenter}, false},
    {"a picture with a big purple circle placed to the left", {Shape::kCircle, Colour::kPurple, Size::kBig, Position::kLeft}, true},
    {"on the right, a big orange square", {Shape::kSquare, Colour::kOrange, Size::kBig, Position::kRight}, false},
    {"one triangle: cyan, big, up at the top", {Shape::kTriangle, Colour::kCyan, Size::kBig, Position::kTop}, true},
    {"the circle is white and large, on the bottom", {Shape::kCircle, Colour::kWhite, Size::kBig, Position::kBottom}, false},
    {"paint a large red square in the very center, nothing else", {Shape::kSquare, Colour::kRed, Size::kBig, Position::kCenter}, true},
  };
  // clang-format on
  return kPrompts;
}

AttributeAccuracy Score(const std::vector<std::pair<Attributes, Measurement>>& results) {
  AttributeAccuracy accuracy;
  accuracy.count = static_cast<int>(results.size());
  if (results.empty()) return accuracy;
  int colour = 0, shape = 0, size = 0, position = 0, all = 0;
  for (const auto& [target, measured] : results) {
    if (!measured.found) continue;
    ++accuracy.found;
    const Attributes& got = measured.attributes;
    colour += got.colour == target.colour;
    shape += got.shape == target.shape;
    size += got.size == target.size;
    position += got.position == target.position;
    all += got == target;
  }
  const double n = static_cast<double>(results.size());
  accuracy.colour = colour / n;
  accuracy.shape = shape / n;
  accuracy.size = size / n;
  accuracy.position = position / n;
  accuracy.all = all / n;
  return accuracy;
}

std::string ToString(const AttributeAccuracy& a) {
  char text[160];
  std::snprintf(text, sizeof(text),
                "colour %.1f%% shape %.1f%% size %.1f%% position %.1f%% all %.1f%% (found %d/%d)",
                100 * a.colour, 100 * a.shape, 100 * a.size, 100 * a.position, 100 * a.all, a.found,
                a.count);
  return text;
}

}  // namespace stipple::shapes
