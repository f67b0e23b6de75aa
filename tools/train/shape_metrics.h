// The evaluator's measurement: reads a shape's attributes back from the pixels of an image, with
// no knowledge of how it was made. It is how `stipple eval` scores prompt adherence, so it must
// be right on clean renders and hold up on noisy, blurry ones.
//
// Method: the background is the per-channel median of the border pixels; pixels far from it seed
// the foreground, whose largest connected component gives the shape's colour. Each pixel's
// coverage is its position on the line from the background to that colour (0..1). The bounding
// box is the largest blob of smoothed coverage above ½. Then: colour = nearest palette colour in
// CIELAB; shape = from the taper (a triangle's rows widen from top to bottom) and the fill
// ratio area / (tallest column × widest row), all sums of coverage (circle ≈ π/4, square ≈ 1,
// triangle ≈ ½); size = the longer of tallest column and widest row against a threshold;
// position = the bounding box centre's offset from the image centre (big shapes cannot reach the
// outer thirds, so the offset rule replaces "which third").

#pragma once

#include "shape_attributes.h"
#include "shapes_dataset.h"

namespace stipple::shapes {

struct MeasureOptions {
  double seed_distance = 60.0;  // RGB distance from the background that seeds the foreground
  double min_contrast = 60.0;   // a foreground closer than this to the background is no shape
  int min_area = 12;            // pixels; fewer is noise, not a shape
  double triangle_taper = 0.1;  // above: triangle
  double triangle_fill = 0.7;   // fill ratio below: triangle
  double square_fill = 0.89;    // fill ratio at or above: square, else circle
  double big_extent = 13.0;     // extent in pixels at or above: big
  double center_offset = 3.0;   // centre offset in pixels below (on both axes): center
};

struct Measurement {
  bool found = false;     // false: no foreground shape; the fields below are then meaningless
  Attributes attributes;  // the measured shape, colour, size and position

  // The evidence, for diagnostics and for confidence thresholds.
  Rgb background;
  Rgb foreground;                // mean colour of the shape's core pixels
  double contrast = 0.0;         // RGB distance from background to foreground, 0..441
  double colour_distance = 0.0;  // CIELAB ΔE from foreground to the chosen palette colour
  int area = 0;                  // pixels in the shape's mask
  int width = 0;                 // bounding box, pixels
  int height = 0;
  double extent = 0.0;  // the longer of the tallest column and the widest row, pixels
  double fill_ratio =
      0.0;             // area / (tallest column × widest row): square 1, circle π/4, triangle ½
  double taper = 0.0;  // row width's growth from top to bottom: upward triangle ≈ 0.35, others 0
  double offset_x = 0.0;  // bounding-box centre − image centre, pixels (right, down positive)
  double offset_y = 0.0;
};

Measurement Measure(const Image& image, const MeasureOptions& options = {});

// The palette colour nearest to `rgb` in CIELAB, and its ΔE (CIE76) distance.
std::pair<Colour, double> NearestPaletteColour(Rgb rgb);

}  // namespace stipple::shapes
