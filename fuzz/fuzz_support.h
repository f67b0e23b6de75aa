// Helpers shared by stipple's fuzz targets (fuzz/targets/*.cc).
//
// Every target defines LLVMFuzzerTestOneInput: it hands the bytes to one of stipple's parsers and
// checks the properties that parser promises (no crash, errors as Status, round trips). The same
// function is linked two ways (fuzz/CMakeLists.txt): with libFuzzer in the clang build
// (STIPPLE_FUZZ=ON, `make fuzz`), and with replay_main.cc in the ordinary build, where ctest
// replays the committed corpus through it.
//
// FUZZ_CHECK(cond, what): a broken property aborts with a message (libFuzzer then saves the
// input); it is never compiled out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond, what)                                                             \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: property broken: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                             \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace stipple::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits `text` at every occurrence of `separator` (a line of its own in the seeds, e.g.
// "\n--8<--\n"): the way a target that takes several files or chunks reads one input.
inline std::vector<std::string_view> SplitAt(std::string_view text, std::string_view separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    size_t at = text.find(separator);
    if (at == std::string_view::npos) break;
    parts.push_back(text.substr(0, at));
    text.remove_prefix(at + separator.size());
  }
  parts.push_back(text);
  return parts;
}

}  // namespace stipple::fuzz
