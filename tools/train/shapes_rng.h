// A small seeded random generator with its own distributions, so that a dataset seed gives the
// same images and captions with every compiler and standard library (std:: distributions do not
// promise that).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace stipple::shapes {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  // SplitMix64: full period over 2^64, passes BigCrush; plenty for a toy dataset.
  uint64_t NextU64() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform in [0, n); n > 0. The modulo bias is below 2^-40 for the small n used here.
  int Below(int n) { return static_cast<int>(NextU64() % static_cast<uint64_t>(n)); }
  // Standard normal (Box–Muller).
  double Normal() {
    const double u = 1.0 - Uniform();  // (0, 1]
    const double v = Uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * v);
  }
  template <typename Container>
  const auto& Pick(const Container& items) {
    return items[Below(static_cast<int>(std::size(items)))];
  }

 private:
  uint64_t state_;
};

}  // namespace stipple::shapes
