#include <gtest/gtest.h>

#include "core/generation_request.h"

namespace stipple {
namespace {

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
  auto back = GenerationRequestFromJson(GenerationRequestToJson(r));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
}

TEST(GenerationRequestFromJson, ReadsARequestWithoutOptionalParts) {
  GenerationRequest r = Full();
  r.ttl_s.reset();
  r.webhook.reset();
  r.metadata_json = "{}";
  EXPECT_EQ(*GenerationRequestFromJson(GenerationRequestToJson(r)), r);
}

TEST(GenerationRequestFromJson, ARequestStoredBeforeClipSkipExistedReadsAsZero) {
  auto back = GenerationRequestFromJson(R"({"prompt":"x","model":"m","scheduler":"ddim"})");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->clip_skip, 0);
}

// Found by the generation_request fuzz target: a double outside int's range was cast to int
// (undefined behaviour; on x86 it read as INT_MIN), and a large integer wrapped.
TEST(GenerationRequestFromJson, IntegersOutsideTheirTypeReadAsTheDefault) {
  auto back = GenerationRequestFromJson(
      R"({"prompt":"x","num_images":4.9e85,"width":-1e300,"height":4294967328,)"
      R"("steps":1e10,"seed":4294967296,"clip_skip":-2147483649,"timeout_s":18446744073709551615,)"
      R"("ttl_s":3e9})");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->num_images, 1);
  EXPECT_EQ(back->width, 0);
  EXPECT_EQ(back->height, 0);
  EXPECT_EQ(back->steps, 0);
  EXPECT_EQ(back->seed, 0u);
  EXPECT_EQ(back->clip_skip, 0);
  EXPECT_EQ(back->timeout_s, RequestLimits::kDefaultTimeoutS);
  EXPECT_EQ(back->ttl_s, 0);
  // In range: read as written (a double cut toward zero).
  back = GenerationRequestFromJson(R"({"num_images":2.0,"seed":4294967295,"width":-7.9})");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->num_images, 2);
  EXPECT_EQ(back->seed, 4294967295u);
  EXPECT_EQ(back->width, -7);
}

TEST(GenerationRequestFromJson, NotAnObjectIsDataLoss) {
  EXPECT_EQ(GenerationRequestFromJson("[1]").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(GenerationRequestFromJson("{").status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace stipple
