// Stable Diffusion models through `stipple serve` as a user runs it: one server on a folder of
// models (a diffusers folder of each family and single-file checkpoints) lists each with its
// family and size rule and answers a synchronous request per model with a PNG of the asked size
// (the inpainting model with an init image and a mask);
// a model at SD 1.5's real dimensions (random weights, written once into the build folder as
// F16; skipped, saying so, where the disk has no room for it) answers a synchronous 256x256,
// 2-step request.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "api/testing/http_test_support.h"
#include "common/base64.h"
#include "engine/torch/testing/sd_shaped_fixture.h"
#include "imaging/png.h"
#include "process.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using http::testing::TestClient;
using http::testing::TestResponse;

boost::json::object Json(const TestResponse& r) { return boost::json::parse(r.body).as_object(); }

// The PNG's width and height from its IHDR chunk.
std::pair<int, int> PngSize(const std::string& png) {
  auto be32 = [&](size_t at) {
    return static_cast<int>(
        static_cast<uint8_t>(png[at]) << 24 | static_cast<uint8_t>(png[at + 1]) << 16 |
        static_cast<uint8_t>(png[at + 2]) << 8 | static_cast<uint8_t>(png[at + 3]));
  };
  if (png.size() < 24 || png.substr(1, 3) != "PNG") return {0, 0};
  return {be32(16), be32(20)};
}

// POST /v1/tasks with Prefer: wait (long-polling the task while it is not done), then the first
// output.
std::string Generate(TestClient& client, const std::string& body) {
  const std::vector<std::pair<std::string, std::string>> wait = {
      {"Content-Type", "application/json"}, {"Prefer", "wait=300"}};
  TestResponse response = client.Send("POST", "/v1/tasks", wait, body);
  EXPECT_TRUE(response.status == 200 || response.status == 202) << response.body;
  if (response.status != 200 && response.status != 202) return "";
  const std::string id(Json(response).at("id").as_string());
  for (int i = 0; i < 4 && response.status == 202; ++i) {
    response = client.Send("GET", "/v1/tasks/" + id, wait);
    if (Json(response).at("status").as_string() != "queued" &&
        Json(response).at("status").as_string() != "running") {
      break;
    }
  }
  EXPECT_EQ(Json(response).at("status").as_string(), "succeeded") << response.body;
  TestResponse image = client.Send("GET", "/v1/tasks/" + id + "/outputs/0");
  EXPECT_EQ(image.status, 200);
  return image.body;
}

TEST(SdE2e, OneServerServesEveryFamilyFromAFolderOfModels) {
  const std::string data = testing::TempDir("stipple-sd-e2e");
  testing::ServeProcess serve(STIPPLE_BINARY, STIPPLE_ZOO_DIR, data);
  ASSERT_NE(serve.port(), 0) << "the server did not start";
  TestClient client(serve.port());
  TestResponse models = client.Send("GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  std::map<std::string, boost::json::object> by_name;
  const boost::json::object listed = Json(models);
  for (const boost::json::value& m : listed.at("data").as_array()) {
    by_name[std::string(m.at("id").as_string())] = m.as_object();
  }
  ASSERT_GE(by_name.size(), 3u) << models.body;
  for (const auto& [name, m] : by_name) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(m.at("family").is_string()) << name;
    EXPECT_EQ(m.at("size_rule").at("multiple").as_int64(), 8);
    // A dedicated inpainting model needs an image to start from and a mask: a grey 32x48 image
    // whose right half is repainted.
    std::string inputs;
    if (m.at("inpainting").as_bool()) {
      std::vector<uint8_t> grey(32 * 48 * 3, 128), mask(32 * 48 * 3, 0);
      for (int y = 0; y < 48; ++y) {
        for (int x = 16; x < 32; ++x) {
          for (int c = 0; c < 3; ++c) mask[(y * 32 + x) * 3 + c] = 255;
        }
      }
      inputs = R"(,"init_image":"data:image/png;base64,)" +
               Base64Encode(EncodePngRgb8(grey, 32, 48).value()) +
               R"(","mask_image":"data:image/png;base64,)" +
               Base64Encode(EncodePngRgb8(mask, 32, 48).value()) + R"(")";
    }
    const std::string body = R"({"prompt":"a photo of a cat","model":")" + name +
                             R"(","width":32,"height":48,"steps":2,"seed":3)" + inputs + "}";
    const std::string png = Generate(client, body);
    EXPECT_EQ(PngSize(png), (std::pair<int, int>{32, 48}));
  }
  EXPECT_EQ(serve.Stop(SIGTERM), 0);
  fs::remove_all(data);
}

TEST(SdE2e, AModelAtSd15DimensionsAnswersASyncRequest) {
  const fs::path model = STIPPLE_SD15_SHAPED_DIR;
  const fs::path complete = model / ".complete";
  if (!fs::exists(complete)) {  // written once per build folder (about 2.2 GB, F16)
    fs::remove_all(model);
    // A machine without room for it cannot run this test: say so instead of failing half-way.
    const uint64_t needed = SdShapedModelBytes(SdShape{}) + (uint64_t{512} << 20);
    std::error_code ec;
    const fs::space_info space = fs::space(model.parent_path(), ec);
    if (!ec && space.available < needed) {
      GTEST_SKIP() << "needs " << (needed >> 20) << " MiB free under " << model.parent_path()
                   << " for the model; " << (space.available >> 20) << " MiB are";
    }
    Status written = WriteSd15ShapedModel(model.string());
    ASSERT_TRUE(written.ok()) << written.ToString();
    std::ofstream(complete).put('\n');
  }
  const std::string data = testing::TempDir("stipple-sd15-e2e");
  testing::ServeProcess serve(STIPPLE_BINARY, model.string(), data);
  ASSERT_NE(serve.port(), 0) << "the server did not start";
  TestClient client(serve.port());
  TestResponse models = client.Send("GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  boost::json::object m = Json(models).at("data").as_array().at(0).as_object();
  EXPECT_EQ(m.at("family").as_string(), "sd1");
  EXPECT_EQ(m.at("width").as_int64(), 512);
  const std::string png = Generate(
      client,
      R"({"prompt":"a photo of a cat","width":256,"height":256,"steps":2,"guidance_scale":1,"seed":1})");
  EXPECT_EQ(PngSize(png), (std::pair<int, int>{256, 256}));
  EXPECT_EQ(serve.Stop(SIGTERM), 0);
  fs::remove_all(data);
}

}  // namespace
}  // namespace stipple
