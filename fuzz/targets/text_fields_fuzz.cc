// Fuzz target: the small parsers of text that comes from outside: a webhook URL and the local-name
// guard (src/webhook/url_guard.h), a signing secret and a retry schedule (src/webhook), the
// client's server URL and Retry-After (src/client), base64, hex and RFC 3339 times
// (src/common). Properties: a value or a Status, never a crash; what decodes re-encodes to text
// that decodes to the same bytes; a parsed time formats to text that parses to the same time.
#include "client/client.h"
#include "client/http_connection.h"
#include "common/base64.h"
#include "common/clock.h"
#include "common/hex.h"
#include "fuzz_support.h"
#include "webhook/dispatcher.h"
#include "webhook/signing.h"
#include "webhook/url_guard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = stipple::fuzz::AsText(data, size);

  if (auto url = stipple::webhook::ParseWebhookUrl(text); url.ok()) {
    FUZZ_CHECK(url.value().port > 0 && url.value().port < 65536, std::string(text));
    (void)stipple::webhook::IsLocalHostName(url.value().host);
  }
  (void)stipple::webhook::IsLocalHostName(text);
  (void)stipple::webhook::ParseSecret(text);
  (void)stipple::webhook::ParseRetrySchedule(text);
  (void)stipple::client::ParseServerUrl(text);
  (void)stipple::client::ParseRetryAfter(text);

  if (auto bytes = stipple::Base64Decode(text); bytes.ok()) {
    auto again = stipple::Base64Decode(stipple::Base64Encode(bytes.value()));
    FUZZ_CHECK(again.ok() && again.value() == bytes.value(), std::string(text));
  }
  if (auto bytes = stipple::HexDecode(text); bytes.ok()) {
    auto again = stipple::HexDecode(stipple::HexEncode(bytes.value()));
    FUZZ_CHECK(again.ok() && again.value() == bytes.value(), std::string(text));
  }
  if (auto time = stipple::ParseRfc3339(text); time.ok()) {
    std::string formatted = stipple::FormatRfc3339(time.value());
    auto again = stipple::ParseRfc3339(formatted);
    FUZZ_CHECK(again.ok(), formatted);
    FUZZ_CHECK(stipple::FormatRfc3339(again.value()) == formatted, formatted);
  }
  return 0;
}
