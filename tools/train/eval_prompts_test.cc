#include "eval_prompts.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "shapes_dataset.h"

namespace stipple::shapes {
namespace {

// The values of attribute T whose words appear in `words`.
template <typename T, size_t N>
std::vector<T> Mentioned(const std::vector<std::string>& words, const std::array<T, N>& values) {
  std::vector<T> out;
  for (T value : values) {
    const auto synonyms = WordsFor(value);
    if (std::any_of(words.begin(), words.end(), [&](const std::string& w) {
          return std::find(synonyms.begin(), synonyms.end(), w) != synonyms.end();
        }))
      out.push_back(value);
  }
  return out;
}

TEST(EvalPrompts, HoldsAtLeastSixtyDistinctPrompts) {
  std::set<std::string_view> texts;
  for (const EvalPrompt& p : EvalPrompts()) texts.insert(p.text);
  EXPECT_GE(EvalPrompts().size(), 60u);
  EXPECT_EQ(texts.size(), EvalPrompts().size());
}

TEST(EvalPrompts, CoverEveryAttributeValueInBothHalves) {
  for (bool novel : {false, true}) {
    std::set<std::string_view> seen;
    for (const EvalPrompt& p : EvalPrompts()) {
      if (p.novel_phrasing != novel) continue;
      const Attributes& t = p.target;
      for (std::string_view n : {Name(t.shape), Name(t.colour), Name(t.size), Name(t.position)})
        seen.insert(n);
    }
    EXPECT_EQ(seen.size(),
              kAllShapes.size() + kAllColours.size() + kAllSizes.size() + kAllPositions.size())
        << (novel ? "novel" : "training-style");
  }
}

TEST(EvalPrompts, NameExactlyTheirTargetAttributes) {
  for (const EvalPrompt& p : EvalPrompts()) {
    const std::vector<std::string> words = SplitWords(p.text);
    EXPECT_EQ(Mentioned(words, kAllShapes), std::vector{p.target.shape}) << p.text;
    EXPECT_EQ(Mentioned(words, kAllColours), std::vector{p.target.colour}) << p.text;
    EXPECT_EQ(Mentioned(words, kAllSizes), std::vector{p.target.size}) << p.text;
    EXPECT_EQ(Mentioned(words, kAllPositions), std::vector{p.target.position}) << p.text;
  }
}

TEST(EvalPrompts, NovelOnesUseWordsNoCaptionUsesAndTheOthersDoNot) {
  const std::vector<std::string> vocabulary = CaptionVocabulary();
  int novel = 0;
  for (const EvalPrompt& p : EvalPrompts()) {
    int unknown = 0;
    for (const std::string& w : SplitWords(p.text))
      unknown += !std::binary_search(vocabulary.begin(), vocabulary.end(), w);
    if (p.novel_phrasing) {
      ++novel;
      EXPECT_GT(unknown, 0) << p.text;
    } else {
      EXPECT_EQ(unknown, 0) << p.text;
    }
  }
  EXPECT_GE(novel, 30);
}

TEST(EvalPrompts, TargetsOfEveryPromptAreMeasurableFromARender) {
  Rng rng(17);
  std::vector<std::pair<Attributes, Measurement>> results;
  for (const EvalPrompt& p : EvalPrompts())
    results.emplace_back(p.target, Measure(Render(p.target, rng)));
  EXPECT_EQ(Score(results).all, 1.0);
}

Measurement Found(Attributes a) {
  Measurement m;
  m.found = true;
  m.attributes = a;
  return m;
}

TEST(Score, GivesTheShareRightPerAttribute) {
  const Attributes target{Shape::kCircle, Colour::kRed, Size::kBig, Position::kLeft};
  Attributes wrong_colour = target, wrong_shape_and_size = target;
  wrong_colour.colour = Colour::kBlue;
  wrong_shape_and_size.shape = Shape::kSquare;
  wrong_shape_and_size.size = Size::kSmall;
  const AttributeAccuracy a = Score({{target, Found(target)},
                                     {target, Found(wrong_colour)},
                                     {target, Found(wrong_shape_and_size)},
                                     {target, Found(target)}});
  EXPECT_EQ(a.count, 4);
  EXPECT_EQ(a.found, 4);
  EXPECT_DOUBLE_EQ(a.colour, 0.75);
  EXPECT_DOUBLE_EQ(a.shape, 0.75);
  EXPECT_DOUBLE_EQ(a.size, 0.75);
  EXPECT_DOUBLE_EQ(a.position, 1.0);
  EXPECT_DOUBLE_EQ(a.all, 0.5);
}

TEST(Score, CountsAShapeNotFoundAsWrongOnEveryAttribute) {
  const Attributes target{};
  Measurement missing;  // found = false, attributes happen to equal the target
  missing.attributes = target;
  const AttributeAccuracy a = Score({{target, missing}, {target, Found(target)}});
  EXPECT_EQ(a.found, 1);
  EXPECT_DOUBLE_EQ(a.colour, 0.5);
  EXPECT_DOUBLE_EQ(a.position, 0.5);
  EXPECT_DOUBLE_EQ(a.all, 0.5);
}

TEST(Score, OfNothingIsZero) {
  const AttributeAccuracy a = Score({});
  EXPECT_EQ(a.count, 0);
  EXPECT_EQ(a.all, 0.0);
}

TEST(AttributeAccuracy, PrintsAsPercentages) {
  AttributeAccuracy a{
      .count = 2, .found = 1, .colour = 0.5, .shape = 1, .size = 1, .position = 1, .all = 0.5};
  EXPECT_EQ(ToString(a),
            "colour 50.0% shape 100.0% size 100.0% position 100.0% all 50.0% (found 1/2)");
}

}  // namespace
}  // namespace stipple::shapes
