// Fuzz target: the single-file checkpoint converter's planning (src/engine/ldm_*.cc): a
// safetensors header read as LoadLdmCheckpoint does with header_only, then converted. The tensor
// names and shapes decide the family, every config and the renaming plan, so they are the input
// that matters; seeds are the headers of the tiny checkpoints in src/engine/testdata/ldm.
// Property: a checkpoint description or a Status, never a crash.
#include "engine/ldm_checkpoint.h"
#include "engine/safetensors.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stipple::SafetensorsReadOptions read;
  read.header_only = true;
  read.skip_other_dtypes = true;
  auto file =
      stipple::ParseSafetensors(stipple::fuzz::AsText(data, size), "fuzz.safetensors", read);
  if (!file.ok()) return 0;
  stipple::LdmOptions options;
  options.header_only = true;
  options.allow_inpainting = size % 2 == 1;
  (void)stipple::ConvertLdmCheckpoint(std::move(file.value()), "fuzz.safetensors", options);
  return 0;
}
