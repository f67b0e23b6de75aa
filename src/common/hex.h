// Hexadecimal and percent-encoding of bytes: digests in result records, ETags, script ids, API
// key files and tokens are carried as lower-case hex; URL paths and queries (the S3 signer, the
// client) percent-encode with upper-case digits, as RFC 3986 recommends.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple {

// Two lower-case hex digits per byte, most significant nibble first.
std::string HexEncode(std::string_view bytes);
std::string HexEncode(std::span<const uint8_t> bytes);

// Decodes hex digits (either case) into bytes. kInvalidArgument for an odd length or a
// character that is not a hex digit.
Result<std::string> HexDecode(std::string_view hex);

// RFC 3986 percent-encoding: the unreserved characters A-Z a-z 0-9 - . _ ~ are kept, every other
// byte becomes %XX (upper-case digits); '/' is kept too when `keep_slash` (paths), encoded
// otherwise (path segments, query names and values).
std::string PercentEncode(std::string_view text, bool keep_slash = false);

}  // namespace stipple
