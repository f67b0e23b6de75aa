#include "webhook/url_guard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace stipple::webhook {
namespace {

bool Forbidden(const std::string& ip) {
  sockaddr_storage s{};
  if (inet_pton(AF_INET, ip.c_str(), &reinterpret_cast<sockaddr_in*>(&s)->sin_addr) == 1) {
    s.ss_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, ip.c_str(), &reinterpret_cast<sockaddr_in6*>(&s)->sin6_addr), 1);
    s.ss_family = AF_INET6;
  }
  return IsForbiddenAddress(reinterpret_cast<sockaddr*>(&s));
}

TEST(WebhookUrlGuard, RefusesLoopbackPrivateLinkLocalUniqueLocalMulticastAndMetadata) {
  for (const char* ip :
       {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00:ec2::254",
        "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1"}) {
    EXPECT_TRUE(Forbidden(ip)) << ip;
  }
}

TEST(WebhookUrlGuard, AllowsPublicAddresses) {
  for (const char* ip : {"93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111"}) {
    EXPECT_FALSE(Forbidden(ip)) << ip;
  }
}

TEST(WebhookUrlGuard, ParsesHostAndPort) {
  auto u = ParseWebhookUrl("HTTPS://Example.COM:8443/hook?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->HostKey(), "example.com:8443");
  auto v6 = ParseWebhookUrl("http://[::1]/h");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->HostKey(), "::1:80");
}

TEST(WebhookUrlGuard, RefusesOtherSchemesAndCredentialsNamingTheField) {
  for (const char* url : {"ftp://example.com/", "file:///etc/passwd", "gopher://x/",
                          "https://user:pw@example.com/", "https://:80/"}) {
    Status s = CheckWebhookTarget(url, true);
    ASSERT_FALSE(s.ok()) << url;
    ASSERT_EQ(s.field_errors().size(), 1u);
    EXPECT_EQ(s.field_errors()[0].field, "webhook.url");
  }
}

TEST(WebhookUrlGuard, RefusesPrivateTargetsAtSubmitUnlessAllowed) {
  for (const char* url : {"http://127.0.0.1:9/h", "http://localhost/h", "http://[::1]/h",
                          "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/"}) {
    EXPECT_FALSE(CheckWebhookTarget(url, false).ok()) << url;
    EXPECT_TRUE(CheckWebhookTarget(url, true).ok()) << url;
  }
  EXPECT_TRUE(CheckWebhookTarget("https://93.184.216.34/hook", false).ok());
}

TEST(WebhookUrlGuard, RefusesHostNamesThatAreLocalByDefinitionWhateverTheResolverSays) {
  for (const char* host :
       {"localhost.", "LocalHost", "a.b.localhost", "a.localhost.", "ip6-localhost",
        "ip6-localhost.", "ip6-loopback", "localhost.localdomain", "localhost.localdomain.",
        "localhost6", "localhost6.localdomain6", "metadata.google.internal."}) {
    const std::string url = std::string("http://") + host + ":8080/h";
    Status s = CheckWebhookTarget(url, false);
    ASSERT_FALSE(s.ok()) << url;
    ASSERT_EQ(s.field_errors().size(), 1u);
    EXPECT_EQ(s.field_errors()[0].field, "webhook.url");
    EXPECT_TRUE(CheckWebhookTarget(url, true).ok()) << url;
  }
  EXPECT_TRUE(IsLocalHostName("localhost."));
  EXPECT_FALSE(IsLocalHostName("localhost.example.com"));
  EXPECT_FALSE(IsLocalHostName("mylocalhost"));
  EXPECT_FALSE(IsLocalHostName("example.com"));
}

}  // namespace
}  // namespace stipple::webhook
