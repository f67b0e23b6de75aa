// `stipple serve --results s3://BUCKET/PREFIX` as an operator runs it: the real binary on the
// bundled model, credentials in the environment, a real S3-compatible server (s3rver, with
// signatures checked by the independent aws4 package). The image a task makes is one object in
// the bucket, served back byte for byte through the gateway with its etag, also after a restart;
// bad credentials or a missing bucket stop the server at start with a message that names the
// problem and never the secret.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "api/testing/http_test_support.h"
#include "process.h"
#include "results/s3/s3_client.h"
#include "results/s3/testing/s3_test_server.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using http::testing::TestClient;
using http::testing::TestResponse;
using s3::S3TestServer;

class ResultsS3E2e : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3TestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    data_ = testing::TempDir("stipple-results-s3");
  }
  void TearDown() override { fs::remove_all(data_); }

  std::vector<std::string> ServeArgs(const std::string& bucket = "stipple-test") const {
    return {STIPPLE_BINARY,  "serve",
            "--listen",      "127.0.0.1:0",
            "--data-dir",    data_,
            "--model-dir",   STIPPLE_MODEL_DIR,
            "--threads",     "1",
            "--results",     "s3://" + bucket + "/e2e",
            "--s3-endpoint", server_->endpoint()};
  }
  std::map<std::string, std::string> Credentials(const std::string& secret = "S3RVER") const {
    return {{"AWS_ACCESS_KEY_ID", S3TestServer::kAccessKeyId},
            {"AWS_SECRET_ACCESS_KEY", secret},
            {"AWS_SESSION_TOKEN", ""}};
  }

  std::unique_ptr<S3TestServer> server_;
  std::string data_;
};

// The port from the log line "http server listening address=127.0.0.1:PORT".
int PortOf(const std::string& err) {
  const size_t at = err.find("address=127.0.0.1:");
  return at == std::string::npos ? 0 : std::atoi(err.c_str() + at + 18);
}

TEST_F(ResultsS3E2e, TheImageIsAnObjectInTheBucketServedThroughTheGateway) {
  std::string id, etag, png;
  for (int run = 0; run < 2; ++run) {  // the second run: a restart on the same data directory
    testing::ChildProcess serve(ServeArgs(), Credentials());
    ASSERT_TRUE(serve.WaitForStderr("http server listening")) << serve.err();
    TestClient client(PortOf(serve.err()));
    if (run == 0) {
      TestResponse created = client.Send(
          "POST", "/v1/tasks", {{"Content-Type", "application/json"}, {"Prefer", "wait=60"}},
          R"({"prompt":"a big red circle","seed":5})");
      ASSERT_EQ(created.status, 200) << created.body;
      auto task = boost::json::parse(created.body).as_object();
      ASSERT_EQ(task.at("status").as_string(), "succeeded");
      id = std::string(task.at("id").as_string());
    }
    TestResponse image = client.Send("GET", "/v1/tasks/" + id + "/outputs/0");
    ASSERT_EQ(image.status, 200) << image.body;
    EXPECT_EQ(image.body.substr(1, 3), "PNG");
    if (run == 0) {
      png = image.body;
      etag = std::string(image.headers.Get("ETag").value_or(""));
    }
    EXPECT_EQ(image.body, png);
    EXPECT_EQ(image.headers.Get("ETag").value_or(""), etag);
    serve.Signal(SIGTERM);
    testing::ProcessResult done = serve.Finish();
    EXPECT_EQ(done.exit_code, 0);
    EXPECT_NE(done.out.find("images on s3://stipple-test/e2e/ at " + server_->endpoint()),
              std::string::npos)
        << done.out;
    EXPECT_EQ(done.out.find("S3RVER"), std::string::npos) << "a credential in the startup line";
  }
  // Behind the gateway: one object under the prefix, the image's bytes and checksum.
  s3::Client raw({.endpoint = *s3::ParseEndpoint(server_->endpoint()),
                  .bucket = "stipple-test",
                  .credentials = {.access_key_id = S3TestServer::kAccessKeyId,
                                  .secret_access_key = S3TestServer::kSecretAccessKey}});
  auto keys = raw.ListKeys("e2e/" + id + "/");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), 1u);
  auto object = raw.GetObject(keys->front());
  ASSERT_TRUE(object.ok());
  EXPECT_EQ(object->body, png);
  EXPECT_EQ("\"" + object->headers["x-amz-meta-sha256"] + "\"", etag);
}

TEST_F(ResultsS3E2e, AWrongSecretStopsTheServerNamingTheCredentialsNotTheSecret) {
  testing::ProcessResult r = testing::RunProcess(ServeArgs(), Credentials("a-wrong-secret-value"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("SignatureDoesNotMatch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("a-wrong-secret-value"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("stipple serving"), std::string::npos);
}

TEST_F(ResultsS3E2e, AMissingBucketStopsTheServerNamingTheBucket) {
  testing::ProcessResult r = testing::RunProcess(ServeArgs("no-such-bucket"), Credentials());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bucket 'no-such-bucket'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stipple
