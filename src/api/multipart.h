// multipart/form-data bodies (RFC 7578 over RFC 2046's multipart syntax), as HTML forms and the
// OpenAI client libraries send them. Parsing is a pure function of the bytes, bounded in the
// number of parts, the size of each part's headers and its field name; the body's own size is
// the transport's bound (ServerOptions::max_body_bytes).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple::http {

struct MultipartLimits {
  size_t max_parts = 16;
  size_t max_header_bytes = 2048;  // one part's header block
  size_t max_name_bytes = 64;      // a field name
  size_t max_filename_bytes = 255;
};

// One part. The views point into the body given to ParseMultipart.
struct MultipartPart {
  std::string name;                     // Content-Disposition's name
  std::optional<std::string> filename;  // set for a file part (filename="..."), maybe empty
  std::string content_type;             // the part's Content-Type, lower case; "" when absent
  std::string_view body;
};

// The boundary of a Content-Type header "multipart/form-data; boundary=..." (quoted or not,
// 1..70 characters). kInvalidArgument naming "Content-Type" when the media type is another or
// the boundary is missing or malformed.
Result<std::string> MultipartBoundary(std::string_view content_type);

// The parts of `body` in order. kInvalidArgument naming "body" with what is wrong (no opening
// boundary, a part's headers unterminated or over the bound, a part without
// `Content-Disposition: form-data; name=...`, too many parts, no closing boundary). Never reads
// past `body`; text before the first boundary and after the last one is ignored, as RFC 2046 says.
Result<std::vector<MultipartPart>> ParseMultipart(std::string_view body, std::string_view boundary,
                                                  const MultipartLimits& limits = {});

}  // namespace stipple::http
