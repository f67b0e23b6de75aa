#include <gtest/gtest.h>

#include "core/generation_request_codec.h"

#include "core/json.h"

namespace stipple {
namespace {

// The request in stored text, read as the stores read it (their bytes parsed, then the codec).
GenerationRequest FromText(std::string_view text) {
  Result<boost::json::object> object = ParseJsonObject(text);
  EXPECT_TRUE(object.ok()) << text;
  return GenerationRequestFromJson(object.ok() ? *object : boost::json::object{});
}

GenerationRequest Full() {
  GenerationRequest r;
  r.prompt = "a small blue triangle at the top";
  r.negative_prompt = "green";
  r.model = "shapes-32";
  r.width = 32;
  r.height = 32;
  r.steps = 25;
  r.guidance_scale = 4.5;
  r.scheduler = "euler_a";
  r.clip_skip = 1;
  r.seed = 4294967295u;
  r.num_images = 3;
  r.priority = Priority::kHigh;
  r.ttl_s = 600;
  r.timeout_s = 120;
  r.webhook = WebhookSpec{"https://example.com/hook", {"started", "completed"}};
  r.metadata_json = R"({"user":"u1","score":4.0,"tags":["a","b"]})";
  return r;
}

TEST(GenerationRequestFromJson, ReadsBackEveryFieldToJsonWrote) {
  GenerationRequest r = Full();
  EXPECT_EQ(GenerationRequestFromJson(GenerationRequestToJson(r)), r);
  // And through the text the stores keep.
  EXPECT_EQ(FromText(WriteJson(GenerationRequestToJson(r))), r);
}

TEST(GenerationRequestFromJson, ReadsARequestWithoutOptionalParts) {
  GenerationRequest r = Full();
  r.ttl_s.reset();
  r.webhook.reset();
  r.metadata_json = "{}";
  EXPECT_EQ(GenerationRequestFromJson(GenerationRequestToJson(r)), r);
}

TEST(GenerationRequestFromJson, ARequestStoredBeforeClipSkipExistedReadsAsZero) {
  GenerationRequest back = FromText(R"({"prompt":"x","model":"m","scheduler":"ddim"})");
  EXPECT_EQ(back.clip_skip, 0);
}

// Found by the generation_request fuzz target: a double outside int's range was cast to int
// (undefined behaviour; on x86 it read as INT_MIN), and a large integer wrapped.
TEST(GenerationRequestFromJson, IntegersOutsideTheirTypeReadAsTheDefault) {
  GenerationRequest back = FromText(
      R"({"prompt":"x","num_images":4.9e85,"width":-1e300,"height":4294967328,)"
      R"("steps":1e10,"seed":4294967296,"clip_skip":-2147483649,"timeout_s":18446744073709551615,)"
      R"("ttl_s":3e9})");
  EXPECT_EQ(back.num_images, 1);
  EXPECT_EQ(back.width, 0);
  EXPECT_EQ(back.height, 0);
  EXPECT_EQ(back.steps, 0);
  EXPECT_EQ(back.seed, 0u);
  EXPECT_EQ(back.clip_skip, 0);
  EXPECT_EQ(back.timeout_s, RequestLimits::kDefaultTimeoutS);
  EXPECT_EQ(back.ttl_s, 0);
  // In range: read as written (a double cut toward zero).
  back = FromText(R"({"num_images":2.0,"seed":4294967295,"width":-7.9})");
  EXPECT_EQ(back.num_images, 2);
  EXPECT_EQ(back.seed, 4294967295u);
  EXPECT_EQ(back.width, -7);
}

TEST(ParseJsonObject, TextThatIsNotOneObjectIsInvalid) {
  EXPECT_EQ(ParseJsonObject("[1]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJsonObject("{").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseJsonObject(R"({"a":1})").ok());
}

}  // namespace
}  // namespace stipple
