#include "results/s3/sigv4.h"

#include <gtest/gtest.h>

#include "common/digest.h"
#include "common/hex.h"

namespace stipple::s3 {
namespace {

// AWS's Signature Version 4 test suite ("get-vanilla" and friends): these credentials, this
// date, region us-east-1 and the service literally named "service".
const Credentials kSuite{.access_key_id = "AKIDEXAMPLE",
                         .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
constexpr char kSuiteDate[] = "20150830T123600Z";
// The examples of the S3 documentation ("Signature Calculations for the Authorization Header").
const Credentials kS3Doc{.access_key_id = "AKIAIOSFODNN7EXAMPLE",
                         .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
constexpr char kS3DocDate[] = "20130524T000000Z";
constexpr char kEmpty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

SigningRequest SuiteGet(std::vector<std::pair<std::string, std::string>> query = {}) {
  return SigningRequest{.method = "GET",
                        .path = "/",
                        .query = std::move(query),
                        .headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kSuiteDate}},
                        .payload_sha256_hex = kEmpty};
}

TEST(SigV4, GetVanilla) {
  Signature s = SignV4(SuiteGet(), kSuite, "us-east-1", "service", kSuiteDate);
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, GetVanillaQueryOrderKeyCase) {
  Signature s = SignV4(SuiteGet({{"Param2", "value2"}, {"Param1", "value1"}}), kSuite, "us-east-1",
                       "service", kSuiteDate);
  EXPECT_EQ(s.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4, PostVanilla) {
  SigningRequest r = SuiteGet();
  r.method = "POST";
  EXPECT_EQ(SignV4(r, kSuite, "us-east-1", "service", kSuiteDate).signature,
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4, S3GetObjectWithRange) {
  SigningRequest r{.method = "GET",
                   .path = "/test.txt",
                   .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                               {"Range", "bytes=0-9"},
                               {"x-amz-content-sha256", kEmpty},
                               {"x-amz-date", kS3DocDate}},
                   .payload_sha256_hex = kEmpty};
  EXPECT_EQ(SignV4(r, kS3Doc, "us-east-1", "s3", kS3DocDate).authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, S3PutObjectWithAnEncodedKey) {
  const std::string payload = Sha256Hex("Welcome to Amazon S3.");
  SigningRequest r{.method = "PUT",
                   .path = "/" + PercentEncode("test$file.text", true),
                   .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                               {"x-amz-date", kS3DocDate},
                               {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                               {"x-amz-content-sha256", payload}},
                   .payload_sha256_hex = payload};
  EXPECT_EQ(r.path, "/test%24file.text");
  EXPECT_EQ(SignV4(r, kS3Doc, "us-east-1", "s3", kS3DocDate).signature,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, S3QueriesWithAnEmptyValueAndWithValues) {
  SigningRequest r{.method = "GET",
                   .path = "/",
                   .query = {{"lifecycle", ""}},
                   .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                               {"x-amz-content-sha256", kEmpty},
                               {"x-amz-date", kS3DocDate}},
                   .payload_sha256_hex = kEmpty};
  EXPECT_EQ(SignV4(r, kS3Doc, "us-east-1", "s3", kS3DocDate).signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  r.query = {{"prefix", "J"}, {"max-keys", "2"}};
  EXPECT_EQ(SignV4(r, kS3Doc, "us-east-1", "s3", kS3DocDate).signature,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, HeaderValuesAreTrimmedAndSpacesCollapsed) {
  SigningRequest a = SuiteGet();
  a.headers.emplace_back("My-Header1", "  a   b  c ");
  SigningRequest b = SuiteGet();
  b.headers.emplace_back("my-header1", "a b c");
  EXPECT_EQ(SignV4(a, kSuite, "us-east-1", "service", kSuiteDate).signature,
            SignV4(b, kSuite, "us-east-1", "service", kSuiteDate).signature);
}

TEST(SigV4, AmzDateIsUtcBasicFormat) {
  EXPECT_EQ(AmzDate(std::chrono::system_clock::time_point(std::chrono::seconds(1440938160))),
            "20150830T123600Z");
}

}  // namespace
}  // namespace stipple::s3
