#include "engine/utf8.h"

#include <unicode/utf8.h>

#include <cstdint>

namespace stipple {

std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  int32_t i = 0;
  const int32_t n = static_cast<int32_t>(s.size());
  while (i < n) {
    UChar32 c;
    U8_NEXT(s.data(), i, n, c);
    out.push_back(c < 0 ? U'\uFFFD' : static_cast<char32_t>(c));
  }
  return out;
}

std::string EncodeUtf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    uint8_t buf[4];
    int32_t len = 0;
    UBool error = false;
    U8_APPEND(buf, len, 4, static_cast<UChar32>(c), error);
    if (error) {
      len = 0;
      U8_APPEND_UNSAFE(buf, len, 0xFFFD);
    }
    out.append(reinterpret_cast<const char*>(buf), len);
  }
  return out;
}

}  // namespace stipple
