#include "core/generation_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/generation_request_codec.h"
#include "core/json.h"

namespace stipple {
namespace {

using ::testing::HasSubstr;

ModelCatalog TestCatalog() {
  ModelLimits shapes;
  shapes.name = "shapes-32";
  shapes.width = 32;
  shapes.height = 32;
  shapes.sizes = {{64, 64}, {32, 64}};
  ModelLimits tiny;
  tiny.name = "tiny-16";
  tiny.width = 16;
  tiny.height = 16;
  tiny.sizes = {{32, 32}};
  tiny.max_steps = 50;
  tiny.schedulers = {"ddim", "ddpm"};
  tiny.default_steps = 10;
  tiny.default_guidance_scale = 2.5;
  tiny.default_scheduler = "ddpm";
  tiny.max_clip_skip = 2;
  return ModelCatalog{{shapes, tiny}};
}

SeedSource FixedSeeds(uint32_t seed, int* calls = nullptr) {
  return [seed, calls] {
    if (calls != nullptr) ++*calls;
    return seed;
  };
}

Result<GenerationRequest> Parse(std::string_view body) {
  return ParseGenerationRequest(body, TestCatalog(), FixedSeeds(7));
}

// A valid body with `extra` ("\"steps\":0") added after the prompt.
std::string Body(const std::string& extra) { return R"({"prompt":"a red circle",)" + extra + "}"; }

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::vector<std::string> FieldsOf(const Status& status) {
  std::vector<std::string> fields;
  for (const FieldError& e : status.field_errors()) fields.push_back(e.field);
  return fields;
}

struct BadRequest {
  std::string name;
  std::string body;
  std::vector<std::string> fields;  // exactly these, in any order
};

std::vector<BadRequest> BadRequests() {
  const std::string url = R"("url":"https://example.com/hook")";
  return {
      {"MalformedJson", R"({"prompt":)", {"body"}},
      {"EmptyBody", "", {"body"}},
      {"ArrayBody", R"(["prompt"])", {"body"}},
      {"StringBody", R"("a red circle")", {"body"}},
      {"UnknownTopLevelField", Body(R"("colour":"red")"), {"colour"}},
      {"MissingPrompt", R"({"steps":20})", {"prompt"}},
      {"NullPrompt", R"({"prompt":null})", {"prompt"}},
      {"EmptyPrompt", R"({"prompt":""})", {"prompt"}},
      {"PromptNotString", R"({"prompt":42})", {"prompt"}},
      {"Prompt1001Chars", R"({"prompt":")" + Repeat("a", 1001) + R"("})", {"prompt"}},
      {"Prompt1001MultiByteChars", R"({"prompt":")" + Repeat("é", 1001) + R"("})", {"prompt"}},
      {"NegativePromptNotString", Body(R"("negative_prompt":["blue"])"), {"negative_prompt"}},
      {"NegativePrompt1001Chars",
       Body(R"("negative_prompt":")" + Repeat("b", 1001) + "\""),
       {"negative_prompt"}},
      {"ModelNotString", Body(R"("model":7)"), {"model"}},
      {"UnknownModel", Body(R"("model":"sdxl")"), {"model"}},
      {"WidthString", Body(R"("width":"32")"), {"width"}},
      {"WidthFractional", Body(R"("width":32.5)"), {"width"}},
      {"WidthBool", Body(R"("width":true)"), {"width"}},
      {"WidthNotAllowed", Body(R"("width":48)"), {"width"}},
      {"WidthAloneMakesDisallowedSize", Body(R"("width":64)"), {"width"}},
      {"HeightString", Body(R"("height":"32")"), {"height"}},
      {"HeightNotAllowed", Body(R"("height":48)"), {"height"}},
      {"HeightNegative", Body(R"("height":-32)"), {"height"}},
      {"WidthAndHeightPairNotAllowed", Body(R"("width":64,"height":32)"), {"width", "height"}},
      {"WidthBadWithAllowedHeight", Body(R"("width":48,"height":64)"), {"width"}},
      {"SizeNotAllowedForChosenModel",
       Body(R"("model":"tiny-16","width":64,"height":64)"),
       {"width", "height"}},
      {"StepsString", Body(R"("steps":"20")"), {"steps"}},
      {"StepsFractional", Body(R"("steps":20.5)"), {"steps"}},
      {"StepsZero", Body(R"("steps":0)"), {"steps"}},
      {"Steps151", Body(R"("steps":151)"), {"steps"}},
      {"StepsHuge", Body(R"("steps":18446744073709551616)"), {"steps"}},
      {"StepsAboveModelMax", Body(R"("model":"tiny-16","steps":51)"), {"steps"}},
      {"GuidanceString", Body(R"("guidance_scale":"4")"), {"guidance_scale"}},
      {"GuidanceBool", Body(R"("guidance_scale":false)"), {"guidance_scale"}},
      {"GuidanceNegative", Body(R"("guidance_scale":-0.1)"), {"guidance_scale"}},
      {"GuidanceAbove30", Body(R"("guidance_scale":30.01)"), {"guidance_scale"}},
      {"SchedulerNotString", Body(R"("scheduler":1)"), {"scheduler"}},
      {"SchedulerUnknown", Body(R"("scheduler":"plms")"), {"scheduler"}},
      {"SchedulerNotOfferedByModel",
       Body(R"("model":"tiny-16","scheduler":"euler_a")"),
       {"scheduler"}},
      {"ClipSkipString", Body(R"("model":"tiny-16","clip_skip":"1")"), {"clip_skip"}},
      {"ClipSkipFractional", Body(R"("model":"tiny-16","clip_skip":1.5)"), {"clip_skip"}},
      {"ClipSkipNegative", Body(R"("model":"tiny-16","clip_skip":-1)"), {"clip_skip"}},
      {"ClipSkipAboveModelMax", Body(R"("model":"tiny-16","clip_skip":3)"), {"clip_skip"}},
      {"ClipSkipOnAModelWithoutLayers", Body(R"("clip_skip":1)"), {"clip_skip"}},
      {"SeedString", Body(R"("seed":"42")"), {"seed"}},
      {"SeedFractional", Body(R"("seed":1.5)"), {"seed"}},
      {"SeedMinusOne", Body(R"("seed":-1)"), {"seed"}},
      {"Seed2Pow32", Body(R"("seed":4294967296)"), {"seed"}},
      {"NumImagesString", Body(R"("num_images":"1")"), {"num_images"}},
      {"NumImagesZero", Body(R"("num_images":0)"), {"num_images"}},
      {"NumImagesNine", Body(R"("num_images":9)"), {"num_images"}},
      {"PriorityNotString", Body(R"("priority":0)"), {"priority"}},
      {"PriorityUnknown", Body(R"("priority":"urgent")"), {"priority"}},
      {"PriorityWrongCase", Body(R"("priority":"High")"), {"priority"}},
      {"TtlString", Body(R"("ttl_s":"600")"), {"ttl_s"}},
      {"TtlZero", Body(R"("ttl_s":0)"), {"ttl_s"}},
      {"TtlAboveOneWeek", Body(R"("ttl_s":604801)"), {"ttl_s"}},
      {"TimeoutString", Body(R"("timeout_s":"300")"), {"timeout_s"}},
      {"TimeoutZero", Body(R"("timeout_s":0)"), {"timeout_s"}},
      {"TimeoutAboveOneHour", Body(R"("timeout_s":3601)"), {"timeout_s"}},
      {"WebhookNotObject", Body(R"("webhook":"https://example.com/hook")"), {"webhook"}},
      {"WebhookMissingUrl", Body(R"("webhook":{"events":["completed"]})"), {"webhook.url"}},
      {"WebhookUrlNotString", Body(R"("webhook":{"url":42})"), {"webhook.url"}},
      {"WebhookUrlFtpScheme",
       Body(R"("webhook":{"url":"ftp://example.com/hook"})"),
       {"webhook.url"}},
      {"WebhookUrlNoScheme", Body(R"("webhook":{"url":"example.com/hook"})"), {"webhook.url"}},
      {"WebhookUrlNoHost", Body(R"("webhook":{"url":"https:///hook"})"), {"webhook.url"}},
      {"WebhookUrlBadPort",
       Body(R"("webhook":{"url":"https://example.com:99999/"})"),
       {"webhook.url"}},
      {"WebhookUrlWithSpace",
       Body(R"("webhook":{"url":"https://exa mple.com/"})"),
       {"webhook.url"}},
      {"WebhookUrlOver2048Bytes",
       Body(R"("webhook":{"url":"https://example.com/)" + Repeat("a", 2030) + "\"}"),
       {"webhook.url"}},
      {"WebhookUnknownField",
       Body(R"("webhook":{)" + url + R"(,"secret":"x"})"),
       {"webhook.secret"}},
      {"WebhookEventsNotArray",
       Body(R"("webhook":{)" + url + R"(,"events":"completed"})"),
       {"webhook.events"}},
      {"WebhookEventsEmpty", Body(R"("webhook":{)" + url + R"(,"events":[]})"), {"webhook.events"}},
      {"WebhookEventUnknown",
       Body(R"("webhook":{)" + url + R"(,"events":["done"]})"),
       {"webhook.events"}},
      {"WebhookEventNotString",
       Body(R"("webhook":{)" + url + R"(,"events":[1]})"),
       {"webhook.events"}},
      {"WebhookEventsDuplicate",
       Body(R"("webhook":{)" + url + R"(,"events":["started","started"]})"),
       {"webhook.events"}},
      {"MetadataArray", Body(R"("metadata":[1,2])"), {"metadata"}},
      {"MetadataString", Body(R"("metadata":"{}")"), {"metadata"}},
      {"MetadataOver4KiB", Body(R"("metadata":{"k":")" + Repeat("x", 4090) + "\"}"), {"metadata"}},
  };
}

void PrintTo(const BadRequest& row, std::ostream* os) { *os << row.name; }

class BadRequestTest : public ::testing::TestWithParam<BadRequest> {};

TEST_P(BadRequestTest, IsRejectedNamingExactlyTheOffendingFields) {
  const BadRequest& row = GetParam();
  Result<GenerationRequest> r = Parse(row.body);
  ASSERT_FALSE(r.ok()) << row.body;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(FieldsOf(r.status()), ::testing::UnorderedElementsAreArray(row.fields))
      << r.status().ToString();
  for (const FieldError& e : r.status().field_errors()) EXPECT_FALSE(e.message.empty()) << e.field;
}

INSTANTIATE_TEST_SUITE_P(GenerationRequest, BadRequestTest, ::testing::ValuesIn(BadRequests()),
                         [](const auto& info) { return info.param.name; });

struct GoodRequest {
  std::string name;
  std::string body;
};

void PrintTo(const GoodRequest& row, std::ostream* os) { *os << row.name; }

class GoodRequestTest : public ::testing::TestWithParam<GoodRequest> {};

TEST_P(GoodRequestTest, IsAccepted) {
  Result<GenerationRequest> r = Parse(GetParam().body);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(
    GenerationRequest, GoodRequestTest,
    ::testing::ValuesIn(std::vector<GoodRequest>{
        {"Prompt1000Chars", R"({"prompt":")" + Repeat("a", 1000) + R"("})"},
        {"Prompt1000TwoByteChars", R"({"prompt":")" + Repeat("é", 1000) + R"("})"},
        {"Prompt1000FourByteChars", R"({"prompt":")" + Repeat("🟥", 1000) + R"("})"},
        {"Steps1", Body(R"("steps":1)")},
        {"Steps150", Body(R"("steps":150)")},
        {"Guidance0", Body(R"("guidance_scale":0)")},
        {"Guidance30", Body(R"("guidance_scale":30.0)")},
        {"ClipSkip0", Body(R"("clip_skip":0)")},
        {"ClipSkipModelMax", Body(R"("model":"tiny-16","clip_skip":2)")},
        {"Seed0", Body(R"("seed":0)")},
        {"SeedMax", Body(R"("seed":4294967295)")},
        {"NumImages8", Body(R"("num_images":8)")},
        {"Ttl1", Body(R"("ttl_s":1)")},
        {"TtlOneWeek", Body(R"("ttl_s":604800)")},
        {"Timeout3600", Body(R"("timeout_s":3600)")},
        {"AllowedNonNativeSize", Body(R"("width":64,"height":64)")},
        {"NativeSizeGivenExplicitly", Body(R"("width":32,"height":32)")},
        {"WebhookHttpWithPort", Body(R"("webhook":{"url":"http://localhost:8080/hook"})")},
        {"WebhookIpv6Literal", Body(R"("webhook":{"url":"https://[::1]:9000/hook?x=1"})")},
        {"WebhookAllEvents",
         Body(R"("webhook":{"url":"https://e.com","events":["completed","started","progress"]})")},
        {"Metadata4096Bytes", Body(R"("metadata":{"k":")" + Repeat("x", 4088) + "\"}")},
        {"NullOptionalFields",
         Body(R"("model":null,"seed":null,"ttl_s":null,"webhook":null,"metadata":null)")},
    }),
    [](const auto& info) { return info.param.name; });

TEST(GenerationRequest, SeveralBadFieldsGiveOneErrorPerField) {
  Result<GenerationRequest> r =
      Parse(R"({"prompt":"","steps":0,"seed":-1,"priority":"x","colour":1})");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(FieldsOf(r.status()),
              ::testing::UnorderedElementsAre("prompt", "steps", "seed", "priority", "colour"));
  EXPECT_EQ(r.status().message(), "invalid request");
}

TEST(GenerationRequest, RangeErrorSaysTheBounds) {
  Result<GenerationRequest> r = Parse(Body(R"("steps":151)"));
  ASSERT_EQ(r.status().field_errors().size(), 1u);
  EXPECT_EQ(r.status().field_errors()[0].message, "must be between 1 and 150");
}

TEST(GenerationRequest, WrongTypeErrorSaysTheExpectedType) {
  EXPECT_EQ(Parse(Body(R"("steps":"20")")).status().field_errors()[0].message,
            "must be an integer");
  EXPECT_EQ(Parse(Body(R"("guidance_scale":"4")")).status().field_errors()[0].message,
            "must be a number");
  EXPECT_EQ(Parse(R"({"prompt":1})").status().field_errors()[0].message, "must be a string");
  EXPECT_EQ(Parse(Body(R"("webhook":1)")).status().field_errors()[0].message, "must be an object");
}

TEST(GenerationRequest, UnknownFieldErrorSaysUnknownField) {
  EXPECT_EQ(Parse(Body(R"("colour":1)")).status().field_errors()[0].message, "unknown field");
}

TEST(GenerationRequest, MalformedBodyErrorSaysItIsNotJson) {
  EXPECT_THAT(Parse("{nope").status().field_errors()[0].message, HasSubstr("not valid JSON"));
  EXPECT_EQ(Parse("[]").status().field_errors()[0].message, "must be a JSON object");
}

TEST(GenerationRequest, UnknownModelErrorListsAvailableModels) {
  std::string message = Parse(Body(R"("model":"sdxl")")).status().field_errors()[0].message;
  EXPECT_THAT(message, HasSubstr("shapes-32"));
  EXPECT_THAT(message, HasSubstr("tiny-16"));
}

TEST(GenerationRequest, SizeErrorSaysWhichSizesAreAllowed) {
  std::string message = Parse(Body(R"("width":48)")).status().field_errors()[0].message;
  EXPECT_THAT(message, HasSubstr("32x32"));
  EXPECT_THAT(message, HasSubstr("64x64"));
  EXPECT_THAT(message, HasSubstr("32x64"));
}

TEST(GenerationRequest, ASizeRuleAllowsMultiplesWithinItsRange) {
  ModelLimits sd;
  sd.name = "sd";
  sd.width = 512;
  sd.height = 512;
  sd.size_multiple = 8;
  sd.min_size = 64;
  sd.max_size = 1024;
  EXPECT_TRUE(sd.AllowsSize(512, 512));
  EXPECT_TRUE(sd.AllowsSize(256, 768));
  EXPECT_TRUE(sd.AllowsSize(64, 1024));
  EXPECT_FALSE(sd.AllowsSize(260, 256));   // not a multiple of 8
  EXPECT_FALSE(sd.AllowsSize(56, 256));    // below the minimum
  EXPECT_FALSE(sd.AllowsSize(1032, 512));  // above the maximum
  const ModelCatalog catalog{{sd}};
  Result<GenerationRequest> ok =
      ParseGenerationRequest(R"({"prompt":"x","width":256,"height":384})", catalog, FixedSeeds(1));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->width, 256);
  EXPECT_EQ(ok->height, 384);
  Result<GenerationRequest> bad =
      ParseGenerationRequest(R"({"prompt":"x","width":250,"height":384})", catalog, FixedSeeds(1));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(FieldsOf(bad.status()), ::testing::ElementsAre("width"));
  EXPECT_THAT(bad.status().field_errors()[0].message, HasSubstr("multiples of 8 in 64..1024"));
}

TEST(GenerationRequest, WithoutASizeRuleOnlyListedSizesAreAllowed) {
  const ModelCatalog catalog = TestCatalog();
  const ModelLimits& shapes = catalog.models[0];
  EXPECT_TRUE(shapes.AllowsSize(32, 32));
  EXPECT_TRUE(shapes.AllowsSize(32, 64));
  EXPECT_FALSE(shapes.AllowsSize(64, 32));
  EXPECT_FALSE(shapes.AllowsSize(40, 40));
}

TEST(GenerationRequest, SchedulerErrorListsTheModelsSchedulers) {
  EXPECT_EQ(
      Parse(Body(R"("model":"tiny-16","scheduler":"euler_a")")).status().field_errors()[0].message,
      "must be one of: ddim, ddpm");
}

TEST(GenerationRequest, ClipSkipErrorsSayTheModelsLimit) {
  Result<GenerationRequest> above = Parse(Body(R"("model":"tiny-16","clip_skip":3)"));
  ASSERT_EQ(above.status().field_errors().size(), 1u);
  EXPECT_THAT(above.status().field_errors()[0].message,
              HasSubstr("must be 0..2 for model tiny-16"));
  Result<GenerationRequest> none = Parse(Body(R"("clip_skip":1)"));
  ASSERT_EQ(none.status().field_errors().size(), 1u);
  EXPECT_THAT(none.status().field_errors()[0].message,
              HasSubstr("shapes-32 has no text encoder layers to skip"));
  Result<GenerationRequest> given = Parse(Body(R"("model":"tiny-16","clip_skip":2)"));
  ASSERT_TRUE(given.ok()) << given.status().ToString();
  EXPECT_EQ(given->clip_skip, 2);
  EXPECT_EQ(Parse(Body(R"("model":"tiny-16")"))->clip_skip, 0);
}

TEST(GenerationRequest, EmptyCatalogRejectsTheRequestOnModel) {
  Result<GenerationRequest> r =
      ParseGenerationRequest(R"({"prompt":"x"})", ModelCatalog{}, FixedSeeds(1));
  EXPECT_THAT(FieldsOf(r.status()), ::testing::ElementsAre("model"));
}

TEST(GenerationRequest, DefaultsAreFilledFromTheDefaultModel) {
  Result<GenerationRequest> r = Parse(R"({"prompt":"a red circle"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->prompt, "a red circle");
  EXPECT_EQ(r->negative_prompt, "");
  EXPECT_EQ(r->model, "shapes-32");
  EXPECT_EQ(r->width, 32);
  EXPECT_EQ(r->height, 32);
  EXPECT_EQ(r->steps, 20);
  EXPECT_EQ(r->guidance_scale, 4.0);
  EXPECT_EQ(r->scheduler, "ddim");
  EXPECT_EQ(r->num_images, 1);
  EXPECT_EQ(r->priority, Priority::kNormal);
  EXPECT_EQ(r->ttl_s, std::nullopt);
  EXPECT_EQ(r->timeout_s, 300);
  EXPECT_EQ(r->webhook, std::nullopt);
  EXPECT_EQ(r->metadata_json, "{}");
}

TEST(GenerationRequest, DefaultsAreFilledFromTheChosenModel) {
  Result<GenerationRequest> r = Parse(Body(R"("model":"tiny-16")"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model, "tiny-16");
  EXPECT_EQ(r->width, 16);
  EXPECT_EQ(r->height, 16);
  EXPECT_EQ(r->steps, 10);
  EXPECT_EQ(r->guidance_scale, 2.5);
  EXPECT_EQ(r->scheduler, "ddpm");
}

TEST(GenerationRequest, MissingDimensionDefaultsToTheNativeOne) {
  Result<GenerationRequest> r = Parse(Body(R"("height":64)"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->width, 32);
  EXPECT_EQ(r->height, 64);
}

TEST(GenerationRequest, IntegralDoubleIsAcceptedAsAnInteger) {
  Result<GenerationRequest> r = Parse(Body(R"("steps":20.0,"seed":4e3)"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->steps, 20);
  EXPECT_EQ(r->seed, 4000u);
}

TEST(GenerationRequest, AbsentSeedIsDrawnFromTheSeedSource) {
  int calls = 0;
  Result<GenerationRequest> r =
      ParseGenerationRequest(R"({"prompt":"x"})", TestCatalog(), FixedSeeds(123456789, &calls));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seed, 123456789u);
  EXPECT_EQ(calls, 1);
}

TEST(GenerationRequest, NullSeedIsDrawnFromTheSeedSource) {
  Result<GenerationRequest> r =
      ParseGenerationRequest(R"({"prompt":"x","seed":null})", TestCatalog(), FixedSeeds(99));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seed, 99u);
}

TEST(GenerationRequest, ExplicitSeedIsKeptAndNoSeedIsDrawn) {
  int calls = 0;
  Result<GenerationRequest> r = ParseGenerationRequest(R"({"prompt":"x","seed":4294967295})",
                                                       TestCatalog(), FixedSeeds(1, &calls));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seed, 4294967295u);
  EXPECT_EQ(calls, 0);
}

TEST(GenerationRequest, WebhookEventsDefaultToCompleted) {
  Result<GenerationRequest> r = Parse(Body(R"("webhook":{"url":"https://example.com/hook"})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->webhook.has_value());
  EXPECT_EQ(r->webhook->url, "https://example.com/hook");
  EXPECT_EQ(r->webhook->events, std::vector<std::string>{"completed"});
}

TEST(GenerationRequest, MetadataIsStoredAsCompactJson) {
  Result<GenerationRequest> r =
      Parse(Body(R"( "metadata" : { "a" : 1 , "b" : [ true, null, 2.5 ] } )"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->metadata_json, R"({"a":1,"b":[true,null,2.5]})");
}

GenerationRequest FullRequest() {
  GenerationRequest r;
  r.prompt = "a big red circle on the left — «ünïcödé»";
  r.negative_prompt = "blue \"square\"\n";
  r.model = "tiny-16";
  r.width = 32;
  r.height = 32;
  r.steps = 37;
  r.guidance_scale = 7.25;
  r.scheduler = "ddpm";
  r.clip_skip = 2;
  r.seed = 4294967295u;
  r.num_images = 8;
  r.priority = Priority::kLow;
  r.ttl_s = 600;
  r.timeout_s = 42;
  r.webhook = WebhookSpec{"https://example.com/hook", {"progress", "completed"}};
  r.metadata_json = R"({"user":"u1","n":[1,2.5,{"deep":null}]})";
  return r;
}

TEST(GenerationRequest, RoundTripsThroughToJson) {
  GenerationRequest r = FullRequest();
  Result<GenerationRequest> back =
      ParseGenerationRequest(WriteJson(GenerationRequestToJson(r)), TestCatalog(), FixedSeeds(1));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
}

TEST(GenerationRequest, NormalizedRequestRoundTripsThroughToJson) {
  Result<GenerationRequest> r = Parse(R"({"prompt":"x","guidance_scale":4})");
  ASSERT_TRUE(r.ok());
  Result<GenerationRequest> back =
      ParseGenerationRequest(WriteJson(GenerationRequestToJson(*r)), TestCatalog(), FixedSeeds(1));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, *r);
}

TEST(GenerationRequest, ToJsonWritesEveryFieldInAFixedOrder) {
  GenerationRequest r = FullRequest();
  r.ttl_s.reset();
  r.webhook.reset();
  r.metadata_json = "{}";
  r.guidance_scale = 4;
  EXPECT_EQ(
      WriteJson(GenerationRequestToJson(r)),
      R"({"prompt":"a big red circle on the left — «ünïcödé»","negative_prompt":"blue \"square\"\n",)"
      R"("model":"tiny-16","width":32,"height":32,"steps":37,"guidance_scale":4.0,"scheduler":"ddpm",)"
      R"("clip_skip":2,"seed":4294967295,"num_images":8,"priority":"low","ttl_s":null,"timeout_s":42,"webhook":null,)"
      R"("metadata":{},"init_image":null,"mask_image":null,"strength":null,"loras":[]})");
}

TEST(RequestFingerprint, IsTheSameAcrossKeyOrderAndWhitespace) {
  EXPECT_EQ(
      RequestFingerprint(R"({"prompt":"x","steps":20,"metadata":{"a":1,"b":{"c":2,"d":3}}})"),
      RequestFingerprint(
          R"( { "metadata" : { "b" : {"d":3, "c":2}, "a" : 1 }, "steps": 20, "prompt":"x" } )"));
}

TEST(RequestFingerprint, DiffersForDifferentValues) {
  EXPECT_NE(RequestFingerprint(R"({"prompt":"x","steps":20})"),
            RequestFingerprint(R"({"prompt":"x","steps":21})"));
  EXPECT_NE(RequestFingerprint(R"({"prompt":"x"})"), RequestFingerprint(R"({"prompt":"y"})"));
  EXPECT_NE(RequestFingerprint(R"({"metadata":{"a":[1,2]}})"),
            RequestFingerprint(R"({"metadata":{"a":[2,1]}})"));
}

TEST(RequestFingerprint, IsLowerCaseHexSha256) {
  // SHA-256 of the canonical text "{}".
  EXPECT_EQ(RequestFingerprint(" { } "),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
}

TEST(ModelCatalog, FindsModelsByExactNameAndDefaultsToTheFirst) {
  ModelCatalog catalog = TestCatalog();
  ASSERT_NE(catalog.Find("tiny-16"), nullptr);
  EXPECT_EQ(catalog.Find("tiny-16")->width, 16);
  EXPECT_EQ(catalog.Find("TINY-16"), nullptr);
  EXPECT_EQ(catalog.Default()->name, "shapes-32");
  EXPECT_EQ(ModelCatalog{}.Default(), nullptr);
}

TEST(RandomSeedSource, DrawsVaryingSeeds) {
  SeedSource seeds = RandomSeedSource();
  std::set<uint32_t> drawn;
  for (int i = 0; i < 16; ++i) drawn.insert(seeds());
  EXPECT_GT(drawn.size(), 1u);
}

}  // namespace
}  // namespace stipple
