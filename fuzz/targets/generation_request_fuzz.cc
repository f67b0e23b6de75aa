// Fuzz target: the generation-request parser and validator (src/core/generation_request.h), the
// one entry point of every front door. Properties: any bytes give a request or a Status; a parsed
// request is normalized (ParseGenerationRequest(GenerationRequestToJson(r)) == r, and
// GenerationRequestFromJson reads it back equal); the stored-request reader survives any bytes.
#include "core/generation_request.h"

#include "core/generation_request_codec.h"
#include "core/json.h"
#include "fuzz_support.h"

namespace {

const stipple::ModelCatalog& Catalog() {
  static const stipple::ModelCatalog catalog = [] {
    stipple::ModelLimits shapes;
    shapes.name = "shapes-32";
    shapes.sizes = {{32, 32}, {64, 32}};
    stipple::ModelLimits sd;
    sd.name = "sd15";
    sd.family = "sd1";
    sd.width = 512;
    sd.height = 512;
    sd.size_multiple = 8;
    sd.min_size = 256;
    sd.max_size = 1024;
    sd.max_clip_skip = 11;
    sd.default_scheduler = "euler_a";
    return stipple::ModelCatalog{{shapes, sd}};
  }();
  return catalog;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body = stipple::fuzz::AsText(data, size);
  const stipple::SeedSource seeds = [] { return 1234u; };

  auto parsed = stipple::ParseGenerationRequest(body, Catalog(), seeds);
  if (parsed.ok()) {
    const stipple::GenerationRequest& request = parsed.value();
    std::string json = stipple::WriteJson(stipple::GenerationRequestToJson(request));
    auto again = stipple::ParseGenerationRequest(json, Catalog(), seeds);
    FUZZ_CHECK(again.ok(), again.status().ToString());
    FUZZ_CHECK(again.value() == request, json);
    auto object = stipple::ParseJsonObject(json);
    FUZZ_CHECK(object.ok(), object.status().ToString());
    FUZZ_CHECK(stipple::GenerationRequestFromJson(object.value()) == request, json);
    FUZZ_CHECK(stipple::RequestFingerprint(body) == stipple::RequestFingerprint(body), json);
  } else {
    FUZZ_CHECK(parsed.status().code() == stipple::StatusCode::kInvalidArgument,
               parsed.status().ToString());
  }
  if (auto any = stipple::ParseJsonObject(body); any.ok()) {
    (void)stipple::GenerationRequestFromJson(any.value());
  }
  return 0;
}
