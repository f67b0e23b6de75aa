// Fuzz target: the safetensors reader (src/engine/safetensors.h), which reads every weight file a
// model folder or checkpoint holds. Properties: any bytes give a file or a Status; the header-only
// read agrees with the full read on names and shapes; a parsed file serializes, and the
// serialized bytes parse back to the same tensors.
#include "engine/safetensors.h"

#include <cstring>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = stipple::fuzz::AsText(data, size);

  stipple::SafetensorsReadOptions header_only;
  header_only.header_only = true;
  auto header = stipple::ParseSafetensors(bytes, "fuzz.safetensors", header_only);

  stipple::SafetensorsReadOptions skipping;
  skipping.skip_other_dtypes = true;
  (void)stipple::ParseSafetensors(bytes, "fuzz.safetensors", skipping);

  auto file = stipple::ParseSafetensors(bytes, "fuzz.safetensors");
  if (!file.ok()) return 0;
  FUZZ_CHECK(header.ok(), header.status().ToString());
  FUZZ_CHECK(header.value().tensors.size() == file.value().tensors.size(), "tensor count");
  for (const auto& [name, tensor] : file.value().tensors) {
    auto it = header.value().tensors.find(name);
    FUZZ_CHECK(it != header.value().tensors.end(), name);
    FUZZ_CHECK(it->second.shape == tensor.shape, name);
  }

  auto serialized = stipple::SerializeSafetensors(file.value());
  FUZZ_CHECK(serialized.ok(), serialized.status().ToString());
  auto again = stipple::ParseSafetensors(serialized.value(), "serialized");
  FUZZ_CHECK(again.ok(), again.status().ToString());
  FUZZ_CHECK(again.value().tensors.size() == file.value().tensors.size(), "tensor count");
  for (const auto& [name, tensor] : file.value().tensors) {
    auto it = again.value().tensors.find(name);
    FUZZ_CHECK(it != again.value().tensors.end(), name);
    FUZZ_CHECK(it->second.shape == tensor.shape, name);
    FUZZ_CHECK(it->second.values.size() == tensor.values.size(), name);
    FUZZ_CHECK(tensor.values.empty() || std::memcmp(it->second.values.data(), tensor.values.data(),
                                                    tensor.values.size() * sizeof(float)) == 0,
               name);
  }
  return 0;
}
