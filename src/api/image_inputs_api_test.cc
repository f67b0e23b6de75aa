// Image inputs through the gateway: every submit path calls the ImageInputs resolver before the
// task is stored, its refusals are 400s naming the field with nothing submitted, and submits may
// be larger than other requests (max_submit_body_bytes).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <mutex>
#include <string>

#include "api/testing/http_test_support.h"
#include "service/image_inputs.h"

namespace stipple::http::testing {
namespace {

namespace json = boost::json;

const std::pair<std::string, std::string> kJson{"Content-Type", "application/json"};

// Resolves "data:image/png;base64,GOOD..." to a fixed reference of 32x32 and refuses anything
// else as ImageInputs does (400 naming the field). A test double of StoreImageInputs.
class FakeImageInputs : public ImageInputs {
 public:
  Status Resolve(GenerationRequest& request, const ModelLimits&) override {
    MutexLock lock(mu_);
    ++calls_;
    for (auto [input, field] : {std::pair{&request.init_image, "init_image"},
                                std::pair{&request.mask_image, "mask_image"}}) {
      if (!*input || (*input)->resolved()) continue;
      if (!(*input)->source.starts_with("data:image/png;base64,GOOD")) {
        return InvalidArgumentError("invalid request", {{field, "not a PNG, JPEG or WebP image"}});
      }
    }
    for (auto* input : {&request.init_image, &request.mask_image}) {
      if (!*input) continue;
      ImageInput resolved;
      resolved.sha256 = std::string(64, 'a');
      resolved.media_type = "image/png";
      resolved.width = resolved.height = 32;
      **input = resolved;
    }
    if (request.width == 0) request.width = request.height = 32;
    return Status::Ok();
  }
  int calls() {
    MutexLock lock(mu_);
    return calls_;
  }

 private:
  Mutex mu_;
  int calls_ GUARDED_BY(mu_) = 0;
};

struct ImageServer {
  ImageServer() : server(Options(&inputs)) {}
  static ApiServerOptions Options(FakeImageInputs* inputs) {
    ApiServerOptions options = TestOptions();
    options.max_submit_body_bytes = 256 * 1024;  // TestOptions: 64 KiB, as max_body_bytes
    options.gateway.image_inputs = inputs;
    return options;
  }
  FakeImageInputs inputs;
  TestServer server;
};

TEST(ImageInputsApi, TheStoredRequestHoldsTheResolvedReferenceNeverTheDataUrl) {
  ImageServer s;
  const std::string data_url = "data:image/png;base64,GOOD" + std::string(100 * 1024, 'A');
  TestResponse r = s.server.Send(
      "POST", "/v1/tasks", {kJson},
      R"({"prompt":"a red circle","init_image":")" + data_url + R"(","strength":0.5})");
  ASSERT_EQ(r.status, 202) << r.body;  // 100 KiB: over max_body_bytes, a submit may be larger
  ASSERT_EQ(s.server.service.submitted().size(), 1u);
  const GenerationRequest stored = s.server.service.submitted()[0].request;
  ASSERT_TRUE(stored.init_image.has_value());
  EXPECT_TRUE(stored.init_image->resolved());
  EXPECT_EQ(stored.init_image->source, "");
  EXPECT_EQ(stored.width, 32);
  json::object request = json::parse(r.body).as_object()["request"].as_object();
  EXPECT_EQ(request["init_image"].as_object()["sha256"].as_string(), std::string(64, 'a'));
  EXPECT_EQ(request["init_image"].as_object()["width"], 32);
  EXPECT_EQ(r.body.find("base64"), std::string::npos);
}

TEST(ImageInputsApi, RefusalsNameTheFieldAndSubmitNothing) {
  ImageServer s;
  TestResponse bad_init = s.server.Send(
      "POST", "/v1/tasks", {kJson}, R"({"prompt":"x","init_image":"data:image/png;base64,R0lG"})");
  ASSERT_EQ(bad_init.status, 400) << bad_init.body;
  EXPECT_NE(bad_init.body.find("\"init_image\""), std::string::npos) << bad_init.body;
  TestResponse bad_mask =
      s.server.Send("POST", "/v1/tasks", {kJson},
                    R"({"prompt":"x","init_image":"data:image/png;base64,GOOD",)"
                    R"("mask_image":"data:image/png;base64,Qk0="})");
  ASSERT_EQ(bad_mask.status, 400) << bad_mask.body;
  EXPECT_NE(bad_mask.body.find("\"mask_image\""), std::string::npos) << bad_mask.body;
  EXPECT_EQ(s.server.service.submit_calls(), 0u);
  // The server goes on.
  EXPECT_EQ(s.server.Send("POST", "/v1/tasks", {kJson}, R"({"prompt":"x"})").status, 202);
  EXPECT_EQ(s.inputs.calls(), 2);  // a request without images is not resolved
}

TEST(ImageInputsApi, OnlySubmitsGetTheLargerBodyLimit) {
  ImageServer s;
  const std::string big(100 * 1024, 'x');
  TestResponse other =
      s.server.Send("POST", "/v1/tasks/" + std::string(kUnknownTaskId) + "/cancel", {kJson}, big);
  EXPECT_EQ(other.status, 413) << other.body;
  const std::string huge = R"({"prompt":")" + std::string(300 * 1024, 'x') + R"("})";
  TestServer& server = s.server;
  EXPECT_EQ(server.Send("POST", "/v1/tasks", {kJson}, huge).status, 413);
}

TEST(ImageInputsApi, WithoutAResolverImagesAreRefused) {
  TestServer s;
  TestResponse r = s.Send("POST", "/v1/tasks", {kJson},
                          R"({"prompt":"x","init_image":"data:image/png;base64,GOOD"})");
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("does not take image inputs"), std::string::npos) << r.body;
  EXPECT_EQ(s.service.submit_calls(), 0u);
}

}  // namespace
}  // namespace stipple::http::testing
