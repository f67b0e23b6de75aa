// The SSRF guard of webhook targets: only http and https, and by default no host that resolves
// to a loopback, private, link-local, unique-local, multicast, unspecified or cloud-metadata
// address. Checked when a task is submitted and again for the address actually connected to
// (the dispatcher's socket callback), so a name that changes its answer (DNS rebinding) is
// still refused.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple::webhook {

struct WebhookUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6 literals
  int port = 0;        // the explicit port, else 80/443
  // "host:port" (the per-host concurrency key).
  std::string HostKey() const { return host + ":" + std::to_string(port); }
};

// kInvalidArgument (field "webhook.url") unless an absolute http(s) URL with a host.
Result<WebhookUrl> ParseWebhookUrl(std::string_view url);

// Whether a webhook may not connect to this address (see the file comment).
bool IsForbiddenAddress(const sockaddr* address);

// An IPv4 or IPv6 address as text ("127.0.0.1", "::1"); "" for other families. What the
// connect-time guards name in their refusals.
std::string AddressText(const sockaddr* address);

// Whether a host name is local by definition, whatever a resolver answers: "localhost" and every
// name under ".localhost" (RFC 6761), "localhost.localdomain", "localhost6",
// "localhost6.localdomain6", "ip6-localhost", "ip6-loopback", and the cloud metadata name
// "metadata.google.internal" — each with or without the trailing dot, in any case.
bool IsLocalHostName(std::string_view host);

// At submit: parses the URL and, unless `allow_private`, refuses (field "webhook.url") a host
// that IsLocalHostName, then resolves the host and refuses when any address is forbidden. A name
// that does not resolve is allowed (it may resolve later; the connect-time check still applies).
// Blocks for the DNS lookup.
Status CheckWebhookTarget(std::string_view url, bool allow_private);

}  // namespace stipple::webhook
