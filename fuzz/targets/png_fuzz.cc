// Fuzz target: the PNG decoder (src/imaging/png.h, over libspng). Property: an image or a Status,
// never a crash; a decoded image has width * height * 3 bytes, and encoding it and decoding the
// result gives the same pixels.
#include "imaging/png.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A small pixel budget: the fuzzer's memory limit, not the server's, bounds this run.
  auto image = stipple::DecodePngRgb8(stipple::fuzz::AsText(data, size), int64_t{1} << 20);
  if (!image.ok()) return 0;
  const stipple::RgbImage& png = image.value();
  FUZZ_CHECK(png.width > 0 && png.height > 0, "size");
  FUZZ_CHECK(png.rgb.size() == static_cast<size_t>(png.width) * png.height * 3, "bytes");
  auto encoded = stipple::EncodePngRgb8(png.rgb, png.width, png.height);
  FUZZ_CHECK(encoded.ok(), encoded.status().ToString());
  auto again = stipple::DecodePngRgb8(encoded.value());
  FUZZ_CHECK(again.ok(), again.status().ToString());
  FUZZ_CHECK(again.value().rgb == png.rgb, "pixels");
  return 0;
}
