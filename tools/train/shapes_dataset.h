// The procedural shapes-32 dataset: 32×32 RGB images of one coloured shape on a plain background,
// each with a varied English caption. Everything is a pure function of a seed, so a trainer can
// resume at any sample index and get the same data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "shape_attributes.h"
#include "shapes_rng.h"

namespace stipple::shapes {

inline constexpr int kImageSize = 32;

// An 8-bit RGB image, row-major, channels interleaved (HWC).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3

  static Image Filled(int width, int height, Rgb colour);
  Rgb At(int x, int y) const;
  void Set(int x, int y, Rgb colour);
};

// Geometry of the rendered shapes, in pixels. Pixel (x, y) covers [x, x+1) × [y, y+1).
struct ShapeGeometry {
  double small_min = 8.0, small_max = 10.0;  // width of a small shape
  double big_min = 16.0, big_max = 18.0;     // width of a big shape
  double jitter = 1.0;                       // ± offset of the centre on each axis
  double margin = 1.0;                       // the shape stays this far inside the image
  int colour_jitter = 12;                    // ± per channel around the palette colour
  int supersampling = 4;                     // anti-aliasing: n×n samples per pixel
};

// Renders the shape described by `attributes`: a background from BackgroundColours(), the shape
// filled with its (slightly jittered) palette colour. Width and placement are drawn from `rng`:
// the shape's bounding-box centre sits at the middle of the left/right/top/bottom third (or the
// image centre), pulled inwards where a big shape would not fit, plus a little jitter. Circles,
// axis-aligned squares and upward triangles (base = height = width).
Image Render(const Attributes& attributes, Rng& rng, const ShapeGeometry& geometry = {});

// A caption for `attributes` from one of several templates and synonyms, e.g.
// "a small blue triangle at the top", "on the left, a big red circle", "a yellow square, big,
// bottom". Lower case; words are separated by spaces, with commas glued to the word before.
std::string Caption(const Attributes& attributes, Rng& rng);

// Every word Caption() can produce, sorted: the tokenizer's vocabulary for the shipped model.
std::vector<std::string> CaptionVocabulary();

// Splits text into lower-case words, dropping punctuation: "On the left, a BIG circle." →
// {"on", "the", "left", "a", "big", "circle"}. The word-level tokenizer must split the same way.
std::vector<std::string> SplitWords(std::string_view text);

struct ShapeSample {
  Image image;
  std::string caption;
  Attributes attributes;
};

// Draws attributes uniformly and independently, renders and captions them. Sample i depends on
// (seed, i) only, so At() gives random access and Next() walks the sequence from index 0.
class ShapeSampler {
 public:
  explicit ShapeSampler(uint64_t seed, ShapeGeometry geometry = {})
      : seed_(seed), geometry_(geometry) {}

  ShapeSample At(uint64_t index) const;
  ShapeSample Next() { return At(next_index_++); }

 private:
  uint64_t seed_;
  ShapeGeometry geometry_;
  uint64_t next_index_ = 0;
};

// Writes a binary PPM (P6), for looking at samples while debugging.
Status WritePpm(const std::string& path, const Image& image);

}  // namespace stipple::shapes
