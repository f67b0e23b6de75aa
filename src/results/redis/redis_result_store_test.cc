#include "results/redis/redis_result_store.h"

#include <gtest/gtest.h>

#include "common/id.h"
#include "results/testing/result_store_contract.h"
#include "store/redis/testing/redis_test_server.h"

namespace stipple {
namespace {

using redis::RedisTestServer;

class RedisResultHarness : public ResultStoreHarness {
 public:
  RedisResultHarness() {
    auto server = RedisTestServer::Start();
    if (!server.ok()) {
      ADD_FAILURE() << server.status().ToString();
      return;
    }
    server_ = std::move(*server);
    auto store = RedisResultStore::Open({.url = server_->url()});
    if (!store.ok()) ADD_FAILURE() << store.status().ToString();
    if (store.ok()) store_ = std::move(*store);
  }
  ResultStore& store() override { return *store_; }

 private:
  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<RedisResultStore> store_;
};

std::unique_ptr<ResultStoreHarness> MakeRedisHarness() {
  return std::make_unique<RedisResultHarness>();
}

INSTANTIATE_RESULT_STORE_CONTRACT(Redis, &MakeRedisHarness);

// ---- what only the Redis result store promises ----

class RedisResultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisTestServer::Start({.appendfsync = "always"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    auto store = RedisResultStore::Open({.url = server_->url(), .ttl = Millis(3'600'000)});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    redis::RedisUrl url{.host = "127.0.0.1", .port = server_->port()};
    client_ = std::make_unique<redis::RedisClient>(redis::RedisClientOptions{.url = url});
  }
  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<RedisResultStore> store_;
  std::unique_ptr<redis::RedisClient> client_;  // a second client, to look behind the store
};

TEST_F(RedisResultStoreTest, BinaryBytesWithZerosRoundTrip) {
  std::string bytes("\x00\x01\xff\x00png", 7);
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 3, 0, bytes).ok());
  EXPECT_EQ(store_->Get(id, 3, 0)->bytes, bytes);
}

TEST_F(RedisResultStoreTest, OutputsCarryTheConfiguredTtl) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 3, 0, "x").ok());
  auto ttl = client_->Command({"PTTL", store_->OutputKey(id, 3, 0)});
  ASSERT_TRUE(ttl.ok());
  EXPECT_GT(redis::ReplyInt(**ttl), 0);
  EXPECT_LE(redis::ReplyInt(**ttl), 3'600'000);
}

TEST_F(RedisResultStoreTest, CorruptedBytesAreDataLossNeverWrongBytes) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 3, 0, "the real image").ok());
  ASSERT_TRUE(
      client_->Command({"HSET", store_->OutputKey(id, 3, 0), "data", "the real imagX"}).ok());
  EXPECT_EQ(store_->Get(id, 3, 0).status().code(), StatusCode::kDataLoss);
}

TEST_F(RedisResultStoreTest, AcknowledgedPutSurvivesAKillOfRedis) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 3, 0, "kept").ok());
  ASSERT_TRUE(server_->Stop(/*kill=*/true).ok());
  EXPECT_EQ(store_->Get(id, 3, 0).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(server_->Restart().ok());
  auto got = store_->Get(id, 3, 0);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->bytes, "kept");
}

}  // namespace
}  // namespace stipple
