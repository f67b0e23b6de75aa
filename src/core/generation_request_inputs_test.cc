// The request fields for image inputs (init_image, mask_image, strength) and LoRAs: their form
// checks, defaults and errors, and their stored JSON.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/generation_request.h"
#include "core/generation_request_codec.h"
#include "core/json.h"

namespace stipple {
namespace {

namespace json = boost::json;

ModelCatalog Catalog() {
  ModelLimits sd;
  sd.name = "sd-tiny";
  sd.family = "sd1";
  sd.width = 64;
  sd.height = 64;
  sd.size_multiple = 8;
  sd.min_size = 32;
  sd.max_size = 256;
  sd.default_steps = 10;
  ModelLimits inpaint = sd;
  inpaint.name = "sd-tiny-inpaint";
  inpaint.inpainting = true;
  ModelLimits xl = sd;
  xl.name = "xl-tiny";
  xl.family = "sdxl";
  ModelCatalog catalog{{sd, inpaint, xl}};
  catalog.loras = {{"ink", "sd1", 1000}, {"paper", "sd1", 2000}, {"xl-style", "sdxl", 3000}};
  return catalog;
}

Result<GenerationRequest> Parse(const std::string& extra) {
  return ParseGenerationRequest(R"({"prompt":"a cat")" + extra + "}", Catalog(), [] { return 7u; });
}

std::vector<std::string> FieldsOf(const Result<GenerationRequest>& r) {
  std::vector<std::string> fields;
  if (r.ok()) return fields;
  for (const FieldError& e : r.status().field_errors()) fields.push_back(e.field);
  return fields;
}

constexpr const char* kPng = R"(,"init_image":"data:image/png;base64,iVBORw0KGgo=")";

TEST(RequestInputs, AnInitImageLeavesTheSizeToTheImageAndDefaultsStrength) {
  Result<GenerationRequest> r = Parse(kPng);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->init_image.has_value());
  EXPECT_EQ(r->init_image->source, "data:image/png;base64,iVBORw0KGgo=");
  EXPECT_FALSE(r->init_image->resolved());
  EXPECT_EQ(r->width, 0);
  EXPECT_EQ(r->height, 0);
  EXPECT_DOUBLE_EQ(r->strength, 0.8);
  EXPECT_FALSE(r->mask_image.has_value());
}

TEST(RequestInputs, AMaskDefaultsStrengthToOneAndAGivenSizeIsChecked) {
  Result<GenerationRequest> r =
      Parse(std::string(kPng) + R"(,"mask_image":"https://example.com/m.png",)"
                                R"("width":96,"height":64)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->strength, 1.0);
  EXPECT_EQ(r->width, 96);
  EXPECT_EQ(r->mask_image->source, "https://example.com/m.png");
  EXPECT_EQ(FieldsOf(Parse(std::string(kPng) + R"(,"width":100,"height":64)")),
            std::vector<std::string>{"width"});
}

TEST(RequestInputs, TextToImageHasNoStrengthAndTheModelsSize) {
  Result<GenerationRequest> r = Parse("");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->strength, 0);
  EXPECT_EQ(r->width, 64);
  EXPECT_FALSE(r->init_image.has_value());
  EXPECT_TRUE(r->loras.empty());
}

TEST(RequestInputs, BadInputsNameTheirField) {
  struct Case {
    std::string extra;
    std::vector<std::string> fields;
  };
  const std::vector<Case> cases = {
      {R"(,"init_image":"http://example.com/a.png")", {"init_image"}},
      {R"(,"init_image":"data:image/gif;base64,R0lG")", {"init_image"}},
      {R"(,"init_image":"data:image/png,plain")", {"init_image"}},
      {R"(,"init_image":"data:image/png;base64")", {"init_image"}},
      {R"(,"init_image":5)", {"init_image"}},
      {R"(,"init_image":"https://")", {"init_image"}},
      {R"(,"mask_image":"data:image/png;base64,AAAA")", {"mask_image"}},
      {R"(,"strength":0.5)", {"strength"}},
      {std::string(kPng) + R"(,"strength":0)", {"strength"}},
      {std::string(kPng) + R"(,"strength":1.5)", {"strength"}},
      {std::string(kPng) + R"(,"strength":"half")", {"strength"}},
      {std::string(kPng) + R"(,"steps":3,"strength":0.3)", {"strength"}},
      {R"(,"model":"sd-tiny-inpaint")", {"init_image"}},
      {std::string(kPng) + R"(,"model":"sd-tiny-inpaint")", {"mask_image"}},
      {R"(,"loras":{})", {"loras"}},
      {R"(,"loras":[1])", {"loras[0]"}},
      {R"(,"loras":[{"scale":1}])", {"loras[0].name"}},
      {R"(,"loras":[{"name":"nope"}])", {"loras[0].name"}},
      {R"(,"loras":[{"name":"xl-style"}])", {"loras[0].name"}},
      {R"(,"loras":[{"name":"ink"},{"name":"ink"}])", {"loras[1].name"}},
      {R"(,"loras":[{"name":"ink","scale":11}])", {"loras[0].scale"}},
      {R"(,"loras":[{"name":"ink","weight":1}])", {"loras[0].weight"}},
      {R"(,"loras":[{"name":"ink"},{"name":"ink"},{"name":"ink"},{"name":"ink"},)"
       R"({"name":"ink"},{"name":"ink"},{"name":"ink"},{"name":"ink"},{"name":"ink"}])",
       {"loras"}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FieldsOf(Parse(c.extra)), c.fields) << c.extra;
  }
}

TEST(RequestInputs, LorasOfTheModelsFamilyAreKeptInOrder) {
  Result<GenerationRequest> r = Parse(R"(,"loras":[{"name":"paper","scale":-0.5},{"name":"ink"}])");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->loras.size(), 2u);
  EXPECT_EQ(r->loras[0], (LoraRequest{"paper", -0.5}));
  EXPECT_EQ(r->loras[1], (LoraRequest{"ink", 1.0}));
  Result<GenerationRequest> xl = Parse(R"(,"model":"xl-tiny","loras":[{"name":"xl-style"}])");
  EXPECT_TRUE(xl.ok()) << xl.status().ToString();
}

TEST(RequestInputs, TheResolvedFormIsWhatIsStoredAndReadBack) {
  GenerationRequest r = *Parse(std::string(kPng) + R"(,"loras":[{"name":"ink","scale":0.5}])");
  r.width = 64;
  r.height = 64;
  r.init_image = ImageInput{"", std::string(64, 'a'), "image/png", 64, 64};
  r.mask_image = ImageInput{"", std::string(64, 'b'), "image/webp", 64, 64};
  const std::string json = WriteJson(GenerationRequestToJson(r));
  EXPECT_NE(json.find(R"("init_image":{"sha256":")" + std::string(64, 'a') +
                      R"(","media_type":"image/png","width":64,"height":64})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("strength":0.8,"loras":[{"name":"ink","scale":0.5}])"), std::string::npos)
      << json;
  Result<json::object> parsed = ParseJsonObject(json);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(GenerationRequestFromJson(*parsed), r);
}

TEST(BatchCompatible, ImageInputsStrengthAndLoraSetsMustMatch) {
  GenerationRequest a = *Parse("");
  GenerationRequest b = a;
  b.prompt = "another";
  b.seed = 99;
  EXPECT_TRUE(BatchCompatible(a, b));
  GenerationRequest with_image = a;
  with_image.init_image = ImageInput{"", "x", "image/png", 64, 64};
  with_image.strength = 0.5;
  EXPECT_FALSE(BatchCompatible(a, with_image));
  GenerationRequest other_image = with_image;
  other_image.init_image->sha256 = "y";
  EXPECT_TRUE(BatchCompatible(with_image, other_image));
  other_image.strength = 0.6;
  EXPECT_FALSE(BatchCompatible(with_image, other_image));
  GenerationRequest masked = with_image;
  masked.mask_image = ImageInput{"", "m", "image/png", 64, 64};
  EXPECT_FALSE(BatchCompatible(with_image, masked));
  GenerationRequest lora = a;
  lora.loras = {{"ink", 1.0}};
  EXPECT_FALSE(BatchCompatible(a, lora));
  GenerationRequest lora_scaled = a;
  lora_scaled.loras = {{"ink", 0.5}};
  EXPECT_FALSE(BatchCompatible(lora, lora_scaled));
}

}  // namespace
}  // namespace stipple
