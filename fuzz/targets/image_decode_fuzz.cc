// Fuzz target: the decoders of image inputs (src/imaging/image_decode.h: PNG, JPEG, WebP).
// Property: an image or a Status, never a crash; a decoded image has the size ProbeImage read
// from its header and width * height * 3 bytes.
#include "fuzz_support.h"
#include "imaging/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = stipple::fuzz::AsText(data, size);
  auto info = stipple::ProbeImage(bytes);
  // A small pixel budget: the fuzzer's memory limit, not the server's, bounds this run.
  auto image = stipple::DecodeImage(bytes, int64_t{1} << 20);
  if (!image.ok()) return 0;
  FUZZ_CHECK(info.ok(), "decoded what the probe refused");
  const stipple::RgbImage& rgb = image.value();
  FUZZ_CHECK(rgb.width == info.value().width && rgb.height == info.value().height, "size");
  FUZZ_CHECK(rgb.rgb.size() == static_cast<size_t>(rgb.width) * rgb.height * 3, "bytes");
  return 0;
}
