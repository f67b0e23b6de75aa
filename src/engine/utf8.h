// UTF-8 ↔ code points, for the CLIP tokenizer's text cleaning and the HTML unescaper.
// Never fails: a malformed UTF-8 sequence decodes to U+FFFD, and a code point that UTF-8 cannot
// hold (a surrogate, past U+10FFFF) encodes as U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace stipple {

std::u32string DecodeUtf8(std::string_view s);
std::string EncodeUtf8(std::u32string_view s);

}  // namespace stipple
