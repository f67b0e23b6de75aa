// The S3 result store against a real S3-compatible server: s3rver under node, whose front checks
// every SigV4 signature with the independent `aws4` package (tests/support/s3rver.js).
#include "results/s3/s3_result_store.h"

#include <gtest/gtest.h>

#include "common/id.h"
#include "results/s3/testing/s3_test_server.h"
#include "results/testing/result_store_contract.h"

namespace stipple {
namespace {

using s3::S3TestServer;

constexpr char kBucket[] = "stipple-test";

S3ResultStoreOptions OptionsFor(const S3TestServer& server, std::string prefix) {
  S3ResultStoreOptions o;
  o.endpoint = server.endpoint();
  o.bucket = kBucket;
  o.prefix = std::move(prefix);
  o.credentials = {.access_key_id = S3TestServer::kAccessKeyId,
                   .secret_access_key = S3TestServer::kSecretAccessKey};
  return o;
}

// One server for the contract suite (node takes a while to start); each harness gets a fresh,
// empty store under a prefix of its own.
S3TestServer* SharedServer() {
  static std::unique_ptr<S3TestServer> server = [] {
    auto started = S3TestServer::Start();
    if (!started.ok()) ADD_FAILURE() << started.status().ToString();
    return started.ok() ? std::move(*started) : nullptr;
  }();
  return server.get();
}

class S3ResultHarness : public ResultStoreHarness {
 public:
  S3ResultHarness() {
    S3TestServer* server = SharedServer();
    if (server == nullptr) return;
    auto store = S3ResultStore::Open(OptionsFor(*server, "contract/" + NewId("run")));
    if (!store.ok()) ADD_FAILURE() << store.status().ToString();
    if (store.ok()) store_ = std::move(*store);
  }
  ResultStore& store() override { return *store_; }

 private:
  std::unique_ptr<S3ResultStore> store_;
};

std::unique_ptr<ResultStoreHarness> MakeS3Harness() { return std::make_unique<S3ResultHarness>(); }

INSTANTIATE_RESULT_STORE_CONTRACT(S3, &MakeS3Harness);

// ---- what only the S3 result store promises ----

class S3ResultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3TestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    auto store = S3ResultStore::Open(OptionsFor(*server_, "outputs"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    // A second client, to look behind the store.
    raw_ = std::make_unique<s3::Client>(
        s3::ClientOptions{.endpoint = *s3::ParseEndpoint(server_->endpoint()),
                          .bucket = kBucket,
                          .credentials = {.access_key_id = S3TestServer::kAccessKeyId,
                                          .secret_access_key = S3TestServer::kSecretAccessKey}});
  }
  std::unique_ptr<S3TestServer> server_;
  std::unique_ptr<S3ResultStore> store_;
  std::unique_ptr<s3::Client> raw_;
};

TEST_F(S3ResultStoreTest, AnOutputIsOnePlainObjectWithItsChecksumAsMetadata) {
  std::string bytes("\x89PNG\x00\x01\xff", 7);
  std::string id = NewId("tsk");
  auto put = store_->Put(id, 3, 1, bytes);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(store_->ObjectKey(id, 3, 1), "outputs/" + id + "/3-1");
  auto object = raw_->GetObject("outputs/" + id + "/3-1");
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ(object->body, bytes);
  EXPECT_EQ(object->headers["x-amz-meta-sha256"], put->sha256_hex);
  auto keys = raw_->ListKeys("outputs/" + id + "/");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, std::vector<std::string>{"outputs/" + id + "/3-1"});
}

TEST_F(S3ResultStoreTest, ChangedBytesAreDataLossNeverWrongBytes) {
  auto options = OptionsFor(*server_, "outputs");
  options.reread_window = Millis(100);
  auto store = S3ResultStore::Open(options);
  ASSERT_TRUE(store.ok());
  std::string id = NewId("tsk");
  auto put = (*store)->Put(id, 3, 0, "the real image");
  ASSERT_TRUE(put.ok());
  const std::string key = (*store)->ObjectKey(id, 3, 0);
  ASSERT_TRUE(raw_->PutObject(key, "the real imagX", {{"sha256", put->sha256_hex}}).ok());
  EXPECT_EQ((*store)->Get(id, 3, 0).status().code(), StatusCode::kDataLoss);
  ASSERT_TRUE(raw_->PutObject(key, "the real image", {}).ok());  // no checksum recorded
  auto got = (*store)->Get(id, 3, 0);
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find("no recorded checksum"), std::string::npos);
}

TEST_F(S3ResultStoreTest, PrefixesKeepStoresApart) {
  auto other = S3ResultStore::Open(OptionsFor(*server_, "elsewhere/"));
  ASSERT_TRUE(other.ok());
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 1, 0, "mine").ok());
  ASSERT_TRUE((*other)->Put(id, 1, 0, "theirs").ok());
  ASSERT_TRUE((*other)->Delete(id).ok());
  EXPECT_EQ(store_->Get(id, 1, 0)->bytes, "mine");
  EXPECT_EQ((*other)->Get(id, 1, 0).status().code(), StatusCode::kNotFound);
}

TEST_F(S3ResultStoreTest, VirtualHostAddressingWorksToo) {
  auto options = OptionsFor(*server_, "vhost");
  options.endpoint = "http://s3.localhost:" + std::to_string(server_->port());
  options.addressing = S3ResultStoreOptions::Addressing::kVirtualHost;
  auto store = S3ResultStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::string id = NewId("tsk");
  ASSERT_TRUE((*store)->Put(id, 2, 0, "by host name").ok());
  EXPECT_EQ((*store)->Get(id, 2, 0)->bytes, "by host name");
  EXPECT_EQ(raw_->GetObject("vhost/" + id + "/2-0")->body, "by host name");  // the same bucket
  ASSERT_TRUE((*store)->Delete(id).ok());
  EXPECT_EQ((*store)->Get(id, 2, 0).status().code(), StatusCode::kNotFound);
}

TEST_F(S3ResultStoreTest, ListingsFollowContinuationTokens) {
  s3::Client paged(
      s3::ClientOptions{.endpoint = *s3::ParseEndpoint(server_->endpoint()),
                        .bucket = kBucket,
                        .credentials = {.access_key_id = S3TestServer::kAccessKeyId,
                                        .secret_access_key = S3TestServer::kSecretAccessKey},
                        .list_page_size = 2});
  std::vector<std::string> want;
  for (int i = 0; i < 5; ++i) {
    want.push_back("paged/" + std::to_string(i));
    ASSERT_TRUE(paged.PutObject(want.back(), "x", {}).ok());
  }
  auto keys = paged.ListKeys("paged/");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, want);
}

TEST_F(S3ResultStoreTest, AWrongSecretIsRefusedNamingTheCredentials) {
  auto options = OptionsFor(*server_, "outputs");
  options.credentials.secret_access_key = "not-the-secret";
  auto store = S3ResultStore::Open(options);
  ASSERT_EQ(store.status().code(), StatusCode::kPermissionDenied) << store.status().ToString();
  const std::string& message = store.status().message();
  EXPECT_NE(message.find("SignatureDoesNotMatch"), std::string::npos) << message;
  EXPECT_NE(message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << message;
  EXPECT_EQ(message.find("not-the-secret"), std::string::npos) << message;
}

TEST_F(S3ResultStoreTest, AnUnknownAccessKeyIsRefusedNamingTheCredentials) {
  auto options = OptionsFor(*server_, "outputs");
  options.credentials.access_key_id = "AKIDUNKNOWN";
  auto store = S3ResultStore::Open(options);
  ASSERT_EQ(store.status().code(), StatusCode::kPermissionDenied) << store.status().ToString();
  EXPECT_NE(store.status().message().find("InvalidAccessKeyId"), std::string::npos);
  EXPECT_NE(store.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

TEST_F(S3ResultStoreTest, AMissingBucketIsNamed) {
  auto options = OptionsFor(*server_, "outputs");
  options.bucket = "no-such-bucket";
  auto store = S3ResultStore::Open(options);
  ASSERT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
  EXPECT_NE(store.status().message().find("bucket 'no-such-bucket'"), std::string::npos)
      << store.status().message();
  EXPECT_NE(store.status().message().find("does not exist"), std::string::npos);
}

TEST_F(S3ResultStoreTest, ADownServerIsUnavailableAndStoredOutputsSurviveItsRestart) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 3, 0, "kept").ok());
  ASSERT_TRUE(server_->Stop().ok());
  EXPECT_EQ(store_->Get(id, 3, 0).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Put(id, 3, 1, "x").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Delete(id).code(), StatusCode::kUnavailable);
  auto down = S3ResultStore::Open(OptionsFor(*server_, "outputs"));
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(down.status().message().find(server_->endpoint()), std::string::npos);
  ASSERT_TRUE(server_->Restart().ok());
  auto got = store_->Get(id, 3, 0);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->bytes, "kept");
}

}  // namespace
}  // namespace stipple
