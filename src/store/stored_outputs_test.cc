// The stores' text edge: a request and outputs as an earlier stipple wrote them (the bytes of a
// SQLite `request`/`outputs` column or a Redis hash field) read back, and written again to the
// same bytes.
#include "store/stored_outputs.h"

#include <gtest/gtest.h>

namespace stipple {
namespace {

// A request as stored before the codecs moved to parsed values (GenerationRequestToJson's text).
constexpr char kStoredRequest[] =
    R"({"prompt":"a red circle","negative_prompt":"","model":"sd15","width":64,"height":64,)"
    R"("steps":20,"guidance_scale":7.5,"scheduler":"euler_a","clip_skip":1,"seed":4294967295,)"
    R"("num_images":2,"priority":"high","ttl_s":600,"timeout_s":120,)"
    R"("webhook":{"url":"https://example.com/hook","events":["started","completed"]},)"
    R"("metadata":{"user":"u1","score":4.0},)"
    R"("init_image":{"sha256":"aaaa","media_type":"image/png","width":64,"height":64},)"
    R"("mask_image":null,"strength":0.5,"loras":[{"name":"ink","scale":0.5}]})";

TEST(StoredRequest, ReadsTheBytesAnEarlierVersionWroteAndWritesThemAgain) {
  Result<GenerationRequest> read = StoredRequestFromJson(kStoredRequest);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->prompt, "a red circle");
  EXPECT_EQ(read->seed, 4294967295u);
  EXPECT_EQ(read->priority, Priority::kHigh);
  EXPECT_EQ(read->ttl_s, 600);
  ASSERT_TRUE(read->webhook);
  EXPECT_EQ(read->webhook->events, (std::vector<std::string>{"started", "completed"}));
  EXPECT_EQ(read->metadata_json, R"({"user":"u1","score":4.0})");
  ASSERT_TRUE(read->init_image);
  EXPECT_EQ(read->init_image->sha256, "aaaa");
  EXPECT_EQ(read->strength, 0.5);
  EXPECT_EQ(read->loras, (std::vector<LoraRequest>{{"ink", 0.5}}));
  EXPECT_EQ(StoredRequestToJson(*read), kStoredRequest);
}

TEST(StoredRequest, BytesThatAreNotAnObjectAreDataLoss) {
  EXPECT_EQ(StoredRequestFromJson("[1]").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(StoredRequestFromJson("{").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(StoredRequestFromJson("").status().code(), StatusCode::kDataLoss);
}

TEST(StoredOutputs, ReadTheBytesAnEarlierVersionWroteAndWriteThemAgain) {
  const std::string stored =
      R"([{"index":0,"content_type":"image/png","width":64,"height":64,"seed":7,)"
      R"("size_bytes":1234,"etag":"\"e0\""}])";
  Result<std::vector<TaskOutput>> read = StoredOutputsFromJson(stored);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0], (TaskOutput{0, "image/png", 64, 64, 7, 1234, "\"e0\""}));
  EXPECT_EQ(StoredOutputsToJson(*read), stored);
  EXPECT_TRUE(StoredOutputsFromJson("")->empty());
  EXPECT_EQ(StoredOutputsToJson({}), "");
}

}  // namespace
}  // namespace stipple
