#include "webhook/signing.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/id.h"

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

TEST(WebhookSigning, AGeneratedSecretFileIsNamedOnStderrButTheSecretNeverShown) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("stipple-secret-" + NewId("tmp"));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "webhook-secret").string();
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  Result<SigningSecret> made = LoadOrCreateSecretFile(path);
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_EQ(err.find(made->text), std::string::npos) << err;
  EXPECT_EQ(out.find(made->text), std::string::npos) << out;
  EXPECT_EQ(err.find(made->text.substr(6, 12)), std::string::npos) << err;  // nor a part of it
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // A later start reads it back, silently.
  ::testing::internal::CaptureStderr();
  Result<SigningSecret> again = LoadOrCreateSecretFile(path);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->text, made->text);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stipple::webhook
