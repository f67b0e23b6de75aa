#include "webhook/signing.h"

#include <gtest/gtest.h>

namespace stipple::webhook {
namespace {

// The example of the Standard Webhooks reference libraries' test suites.
TEST(WebhookSigning, MatchesTheStandardWebhooksReferenceSignature) {
  auto secret = ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(Sign({*secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSigning, SignsOncePerSecretSpaceSeparated) {
  SigningSecret a = GenerateSecret(), b = GenerateSecret();
  const std::string both = Sign({a, b}, "msg_1", 1, "{}");
  EXPECT_EQ(both, Sign({a}, "msg_1", 1, "{}") + " " + Sign({b}, "msg_1", 1, "{}"));
}

TEST(WebhookSigning, GeneratedSecretsParseBack) {
  SigningSecret s = GenerateSecret();
  auto parsed = ParseSecret(s.text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->key, s.key);
  EXPECT_EQ(s.key.size(), 32u);
}

TEST(WebhookSigning, RejectsMalformedSecrets) {
  EXPECT_FALSE(ParseSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").ok());  // no prefix
  EXPECT_FALSE(ParseSecret("whsec_not base64!").ok());
  EXPECT_FALSE(ParseSecret("whsec_YWJj").ok());  // 3 bytes: too short
}

}  // namespace
}  // namespace stipple::webhook
