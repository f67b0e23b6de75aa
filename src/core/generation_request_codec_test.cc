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

TEST(GenerationRequestFromJson, NotAnObjectIsDataLoss) {
  EXPECT_EQ(GenerationRequestFromJson("[1]").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(GenerationRequestFromJson("{").status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace stipple
