// HTML character references → characters, as Python's html.unescape does it (CLIP's text
// cleaning calls it, twice, before tokenizing):
//   &name; and the legacy names without ';' (&amp, &copy...; "&copyx" is "©x"), from the HTML
//     standard's table of named references; an unknown name stays as it is;
//   &#DDD; and &#xHHH; (the ';' optional): the code point, except that 0 and the surrogates and
//     values past U+10FFFF become U+FFFD, 0x80-0x9F are read as windows-1252, and the other
//     control characters and noncharacters are dropped.
// Works on code points; never fails.
#pragma once

#include <string>
#include <string_view>

namespace stipple {

std::u32string HtmlUnescape(std::u32string_view text);

}  // namespace stipple
