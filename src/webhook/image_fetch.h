// FetchImage: the one GET of an image input given as an https:// URL (a request's init_image or
// mask_image), made by the gateway at submit under the webhook SSRF guard (url_guard.h): the
// same forbidden addresses, checked for every address it connects to — the first and those of
// every redirect — so a name or a redirect that points at 127.0.0.1, a private network or a cloud
// metadata address is refused. Redirects are followed (at most max_redirects, https only); TLS is
// verified; the whole fetch, connect included, is bounded by `timeout`; the body by `max_bytes`
// (refused as soon as it passes the bound, or at once when Content-Length says so).
//
// Errors are kInvalidArgument with a message that says what went wrong ("answered HTTP 404",
// "connects to the forbidden address 127.0.0.1", "is larger than N bytes", "did not answer
// within N ms"), for the caller to put after the field's name. Blocks the calling thread.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace stipple::webhook {

struct ImageFetchOptions {
  bool allow_private = false;  // the webhooks' --webhook-allow-private: no address is forbidden
  Millis timeout{10'000};      // the whole fetch, redirects included
  size_t max_bytes = size_t{20} << 20;
  int max_redirects = 3;
  // Tests only: "HOST:PORT:ADDRESS" answers instead of DNS (libcurl's CURLOPT_RESOLVE); plain
  // http allowed besides https; and the guard's rule replaced (to forbid one loopback address
  // and allow another).
  std::vector<std::string> test_resolve;
  bool test_allow_http = false;
  std::function<bool(const sockaddr*)> test_forbidden;
};

Result<std::string> FetchImage(std::string_view url, const ImageFetchOptions& options);

}  // namespace stipple::webhook
