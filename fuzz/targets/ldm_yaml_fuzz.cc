// Fuzz target: the LDM inference yaml beside a single-file checkpoint (ParseLdmYaml,
// src/engine/ldm_yaml.cc, over libyaml). Property: overrides or a Status, never a crash.
#include "engine/ldm_checkpoint.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)stipple::ParseLdmYaml(stipple::fuzz::AsText(data, size), "fuzz.yaml");
  return 0;
}
