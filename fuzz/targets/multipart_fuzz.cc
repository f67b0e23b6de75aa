// Fuzz target: the multipart/form-data parser (src/api/multipart.h) and the OpenAI edit form
// built on it (src/api/openai_request.h). The first byte is the boundary's length, then the
// boundary, then the body. Properties: no crash; a parse that succeeds keeps to the bounds and
// every part's body lies inside the input; a refusal names a field.
#include <algorithm>

#include "api/multipart.h"
#include "api/openai_request.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t n = std::min<size_t>(data[0], size - 1);
  std::string_view input = stipple::fuzz::AsText(data + 1, size - 1);
  std::string_view boundary = input.substr(0, n);
  std::string_view body = input.substr(n);
  stipple::http::MultipartLimits limits;
  auto parts = stipple::http::ParseMultipart(body, boundary, limits);
  if (parts.ok()) {
    FUZZ_CHECK(parts->size() <= limits.max_parts, "too many parts");
    for (const auto& part : *parts) {
      FUZZ_CHECK(part.body.data() >= body.data() &&
                     part.body.data() + part.body.size() <= body.data() + body.size(),
                 "a part outside the body");
      FUZZ_CHECK(!part.name.empty() && part.name.size() <= limits.max_name_bytes, "name bounds");
    }
  } else {
    FUZZ_CHECK(!parts.status().field_errors().empty(), "a refusal without a field");
  }
  auto edit = stipple::http::TranslateEditRequest(
      "multipart/form-data; boundary=\"" + std::string(boundary) + "\"", body);
  if (!edit.ok()) {
    FUZZ_CHECK(!edit.status().field_errors().empty(), "an edit refusal without a field");
  }
  return 0;
}
