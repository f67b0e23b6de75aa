// The fixed prompt set of `stipple eval` and how its measurements are scored. Half the prompts
// are phrased the way training captions are; the other half use phrasings the captions never
// do ("draw one large orange circle placed to the right"), to test that the model keys on the
// attribute words rather than on memorised sentences. Every attribute word in every prompt is in
// the caption vocabulary; the novel half adds words outside it.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shape_attributes.h"
#include "shape_metrics.h"

namespace stipple::shapes {

struct EvalPrompt {
  std::string_view text;
  Attributes target;
  bool novel_phrasing = false;  // phrased unlike any training caption
};

// 80 prompts; every value of every attribute appears in both halves.
std::span<const EvalPrompt> EvalPrompts();

// Per-attribute accuracy in [0, 1] over a set of (target, measurement) pairs. A measurement that
// found no shape counts as wrong on every attribute. `all` is the share with all four right.
struct AttributeAccuracy {
  int count = 0;
  int found = 0;
  double colour = 0.0;
  double shape = 0.0;
  double size = 0.0;
  double position = 0.0;
  double all = 0.0;
};

AttributeAccuracy Score(const std::vector<std::pair<Attributes, Measurement>>& results);

// "colour 98.8% shape 97.5% size 100.0% position 100.0% all 96.3% (found 80/80)".
std::string ToString(const AttributeAccuracy& accuracy);

}  // namespace stipple::shapes
