#include "webhook/image_fetch.h"

#include <curl/curl.h>

#include <memory>

#include "webhook/url_guard.h"

namespace stipple::webhook {
namespace {

struct Fetch {
  const ImageFetchOptions* options = nullptr;
  std::string body;
  bool too_large = false;
  std::string forbidden;  // the address the guard refused, if it did
};

// The connect-time guard, for the first connection and every redirect's.
curl_socket_t OpenSocket(void* clientp, curlsocktype, curl_sockaddr* address) {
  auto* fetch = static_cast<Fetch*>(clientp);
  const ImageFetchOptions& options = *fetch->options;
  const bool forbidden = options.test_forbidden ? options.test_forbidden(&address->addr)
                                                : IsForbiddenAddress(&address->addr);
  if (!options.allow_private && forbidden) {
    fetch->forbidden = AddressText(&address->addr);
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

size_t KeepBody(char* data, size_t size, size_t n, void* userp) {
  auto* fetch = static_cast<Fetch*>(userp);
  if (fetch->body.size() + size * n > fetch->options->max_bytes) {
    fetch->too_large = true;
    return 0;  // aborts the transfer
  }
  fetch->body.append(data, size * n);
  return size * n;
}

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

Status Refused(const std::string& message) { return InvalidArgumentError(message); }

}  // namespace

Result<std::string> FetchImage(std::string_view url, const ImageFetchOptions& options) {
  ASSIGN_OR_RETURN(WebhookUrl parsed, ParseWebhookUrl(url));
  if (parsed.scheme != "https" && !options.test_allow_http) return Refused("must be https");
  if (!options.allow_private && IsLocalHostName(parsed.host)) {
    return Refused("points at a loopback or metadata host");
  }
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return InternalError("cannot create a libcurl handle");
  std::unique_ptr<curl_slist, SlistDeleter> resolve;
  for (const std::string& entry : options.test_resolve) {
    resolve.reset(curl_slist_append(resolve.release(), entry.c_str()));
  }
  Fetch fetch;
  fetch.options = &options;
  char error[CURL_ERROR_SIZE] = {0};
  const std::string target(url);
  const char* protocols = options.test_allow_http ? "http,https" : "https";
  CURL* e = easy.get();
  curl_easy_setopt(e, CURLOPT_URL, target.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, static_cast<long>(options.max_redirects));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &KeepBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &fetch);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &OpenSocket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &fetch);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "stipple");
  if (resolve) curl_easy_setopt(e, CURLOPT_RESOLVE, resolve.get());
  const CURLcode rc = curl_easy_perform(e);
  if (!fetch.forbidden.empty()) {
    return Refused("connects to the forbidden address " + fetch.forbidden +
                   " (private, loopback, link-local or metadata)");
  }
  if (fetch.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return Refused("is larger than " + std::to_string(options.max_bytes) + " bytes");
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return Refused("did not answer within " + std::to_string(options.timeout.count()) + " ms");
  }
  if (rc == CURLE_TOO_MANY_REDIRECTS) {
    return Refused("redirects more than " + std::to_string(options.max_redirects) + " times");
  }
  if (rc != CURLE_OK) {
    return Refused(std::string("could not be fetched: ") +
                   (error[0] != '\0' ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return Refused("answered HTTP " + std::to_string(status) + ", not 2xx");
  }
  return std::move(fetch.body);
}

}  // namespace stipple::webhook
