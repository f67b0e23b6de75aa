// Parsing of what configures the S3 store: endpoints, s3:// URLs, the environment's fallbacks,
// the XML of S3's answers, and the option checks Open makes before any request.
#include <gtest/gtest.h>

#include "results/s3/s3_client.h"
#include "results/s3/s3_result_store.h"

namespace stipple {
namespace {

using s3::ParseEndpoint;
using s3::ParseS3Url;

TEST(S3Endpoint, ParsesSchemeHostAndPort) {
  auto e = ParseEndpoint("http://127.0.0.1:9000");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->scheme, "http");
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 9000);
  EXPECT_EQ(e->HostPort(), "127.0.0.1:9000");
  e = ParseEndpoint("https://s3.eu-west-1.amazonaws.com/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->HostPort(), "s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(e->ToString(), "https://s3.eu-west-1.amazonaws.com");
  e = ParseEndpoint("http://[::1]:4568");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "[::1]");
  EXPECT_EQ(e->port, 4568);
  EXPECT_EQ(ParseEndpoint("https://minio:443")->HostPort(), "minio");  // the default port
}

TEST(S3Endpoint, RefusesWhatIsNotSchemeHostPort) {
  for (const char* bad :
       {"127.0.0.1:9000", "ftp://host", "http://", "http://host:0", "http://host:99999",
        "http://host:x", "http://host/path", "http://user:pw@host", "http://host?x=1"}) {
    auto e = ParseEndpoint(bad);
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(e.status().message().find("S3 endpoint"), std::string::npos) << bad;
  }
}

TEST(S3Url, BucketAndPrefix) {
  auto u = ParseS3Url("s3://my-bucket");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->bucket, "my-bucket");
  EXPECT_EQ(u->prefix, "");
  EXPECT_EQ(ParseS3Url("s3://my-bucket/")->prefix, "");
  EXPECT_EQ(ParseS3Url("s3://my-bucket/stipple")->prefix, "stipple/");
  EXPECT_EQ(ParseS3Url("s3://my-bucket/a/b/")->prefix, "a/b/");
  EXPECT_EQ(ParseS3Url("s3://my.dotted.bucket/x")->bucket, "my.dotted.bucket");
}

TEST(S3Url, BadBucketNamesAreNamed) {
  for (const char* bad : {"s3://", "s3://ab", "s3://Upper", "s3://under_score", "s3://-dash",
                          "redis://host", "s3://b\x01z"}) {
    auto u = ParseS3Url(bad);
    EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseS3Url("s3://Upper").status().message().find("bucket name 'Upper'"),
            std::string::npos);
  EXPECT_EQ(ParseS3Url("s3://bucket/a\nb").status().code(), StatusCode::kInvalidArgument);
}

TEST(S3Options, FlagsComeFirstThenTheEnvironment) {
  const std::map<std::string, std::string> env = {
      {"AWS_ACCESS_KEY_ID", "AKID"},          {"AWS_SECRET_ACCESS_KEY", "secret"},
      {"AWS_SESSION_TOKEN", "token"},         {"AWS_ENDPOINT_URL", "http://generic:1"},
      {"AWS_ENDPOINT_URL_S3", "http://s3:2"}, {"AWS_REGION", "eu-west-3"},
      {"AWS_DEFAULT_REGION", "ap-south-1"}};
  auto o = S3ResultStoreOptionsFor("s3://bkt/pre", "", "", env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->bucket, "bkt");
  EXPECT_EQ(o->prefix, "pre/");
  EXPECT_EQ(o->endpoint, "http://s3:2");  // the S3-specific variable wins
  EXPECT_EQ(o->region, "eu-west-3");
  EXPECT_EQ(o->credentials.access_key_id, "AKID");
  EXPECT_EQ(o->credentials.secret_access_key, "secret");
  EXPECT_EQ(o->credentials.session_token, "token");
  o = S3ResultStoreOptionsFor("s3://bkt", "http://flag:3", "us-west-2", env);
  EXPECT_EQ(o->endpoint, "http://flag:3");
  EXPECT_EQ(o->region, "us-west-2");
  o = S3ResultStoreOptionsFor(
      "s3://bkt", "", "",
      {{"AWS_ENDPOINT_URL", "http://generic:1"}, {"AWS_DEFAULT_REGION", "ap-south-1"}});
  EXPECT_EQ(o->endpoint, "http://generic:1");
  EXPECT_EQ(o->region, "ap-south-1");
  o = S3ResultStoreOptionsFor("s3://bkt", "", "", {});
  EXPECT_EQ(o->endpoint, "");  // AWS's endpoint for the region
  EXPECT_EQ(o->region, "us-east-1");
}

TEST(S3Options, OpenChecksOptionsBeforeAnyRequest) {
  S3ResultStoreOptions o{.endpoint = "http://127.0.0.1:9", .bucket = "bkt"};
  auto store = S3ResultStore::Open(o);  // no credentials
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
  o.credentials = {.access_key_id = "AKID", .secret_access_key = "the-secret"};
  o.region = "Not A Region";
  store = S3ResultStore::Open(o);
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("region"), std::string::npos);
  o.region = "us-east-1";
  o.endpoint = "127.0.0.1:9";
  store = S3ResultStore::Open(o);
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.status().message().find("the-secret"), std::string::npos);
}

TEST(S3Xml, ElementsAndEntities) {
  const std::string xml =
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a&amp;b&lt;c&#x41;</Key>"
      "</Contents><Contents><Key>d</Key></Contents></ListBucketResult>";
  EXPECT_EQ(s3::XmlElement(xml, "IsTruncated"), "false");
  size_t pos = 0;
  EXPECT_EQ(s3::XmlElement(xml, "Key", &pos), "a&b<cA");
  EXPECT_EQ(s3::XmlElement(xml, "Key", &pos), "d");
  EXPECT_EQ(s3::XmlElement(xml, "Key", &pos), "");
  EXPECT_EQ(pos, std::string::npos);
  EXPECT_EQ(s3::XmlElement(xml, "Missing"), "");
}

}  // namespace
}  // namespace stipple
