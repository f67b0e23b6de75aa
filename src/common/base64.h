// Base64 (RFC 4648 §4, the standard alphabet with '=' padding): previews in task events and
// webhook signatures and secrets are carried as base64 text.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple {

// Encodes bytes as padded base64.
std::string Base64Encode(std::string_view bytes);

// Decodes base64 text, padded or not. kInvalidArgument for a character outside the alphabet
// (whitespace included), padding anywhere but at the end, or an impossible length.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace stipple
