#include "webhook/url_guard.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cctype>
#include <cstring>
#include <memory>

namespace stipple::webhook {
namespace {

Status BadUrl(const std::string& message) {
  return InvalidArgumentError("invalid webhook", {{"webhook.url", message}});
}

bool ForbiddenV4(uint32_t a) {  // host byte order
  auto in = [a](uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
  return in(0x00000000, 8)      // 0.0.0.0/8 "this network"
         || in(0x0A000000, 8)   // 10/8
         || in(0x64400000, 10)  // 100.64/10 carrier-grade NAT
         || in(0x7F000000, 8)   // loopback
         || in(0xA9FE0000, 16)  // 169.254/16 link-local, cloud metadata (169.254.169.254)
         || in(0xAC100000, 12)  // 172.16/12
         || in(0xC0000000, 24)  // 192.0.0/24 IETF protocol assignments
         || in(0xC0A80000, 16)  // 192.168/16
         || in(0xC6120000, 15)  // 198.18/15 benchmarking
         || in(0xE0000000, 4)   // multicast
         || in(0xF0000000, 4);  // reserved, broadcast
}

}  // namespace

bool IsLocalHostName(std::string_view host) {
  std::string name;
  for (char c : host) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.ends_with('.')) name.pop_back();
  for (std::string_view local :
       {"localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6",
        "ip6-localhost", "ip6-loopback", "metadata.google.internal"}) {
    if (name == local) return true;
  }
  return name.ends_with(".localhost");
}

Result<WebhookUrl> ParseWebhookUrl(std::string_view url) {
  WebhookUrl out;
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos) return BadUrl("must be an absolute http or https URL");
  for (char c : url.substr(0, colon)) {
    out.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (out.scheme != "http" && out.scheme != "https") return BadUrl("must use http or https");
  std::string_view rest = url.substr(colon + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return BadUrl("must not carry credentials");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return BadUrl("has an unclosed IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return BadUrl("has a malformed host");
      port_text = after.substr(1);
    }
  } else {
    const size_t c = authority.rfind(':');
    out.host = std::string(authority.substr(0, c));
    if (c != std::string_view::npos) port_text = authority.substr(c + 1);
  }
  if (out.host.empty()) return BadUrl("has no host");
  for (char& c : out.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out.port = out.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(std::string(port_text)) < 1 || std::stoi(std::string(port_text)) > 65535) {
      return BadUrl("has a port outside 1..65535");
    }
    out.port = std::stoi(std::string(port_text));
  }
  return out;
}

std::string AddressText(const sockaddr* a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, buf, sizeof buf);
  } else if (a->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

bool IsForbiddenAddress(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return ForbiddenV4(ntohl(in->sin_addr.s_addr));
  }
  if (address->sa_family != AF_INET6) return true;
  const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
  const uint8_t* b = a.s6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&a) || IN6_IS_ADDR_V4COMPAT(&a)) {
    return ForbiddenV4((uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) |
                       b[15]);
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {  // 64:ff9b::/96 NAT64
    return ForbiddenV4((uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) |
                       b[15]);
  }
  return IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_LINKLOCAL(&a) ||
         IN6_IS_ADDR_SITELOCAL(&a) || IN6_IS_ADDR_MULTICAST(&a) ||
         (b[0] & 0xfe) == 0xfc  // fc00::/7 unique-local (fd00:ec2::254 is AWS's metadata)
         || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8);  // documentation
}

Status CheckWebhookTarget(std::string_view url, bool allow_private) {
  ASSIGN_OR_RETURN(WebhookUrl parsed, ParseWebhookUrl(url));
  if (allow_private) return Status::Ok();
  if (IsLocalHostName(parsed.host)) {
    return BadUrl("points at a loopback or metadata host (see --webhook-allow-private)");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(parsed.host.c_str(), nullptr, &hints, &found) != 0) return Status::Ok();
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, &freeaddrinfo);
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (IsForbiddenAddress(a->ai_addr)) {
      return BadUrl(
          "resolves to a private, loopback, link-local or metadata address (see "
          "--webhook-allow-private)");
    }
  }
  return Status::Ok();
}

}  // namespace stipple::webhook
