// The tiny model zoo's golden index (testdata/models/goldens.json, made by tools/goldens/sd_zoo.py)
// is readable from C++: every golden names a model folder that ReadDiffusersFolder accepts, a PNG
// of the golden's size and latents of shape (1, 4, H/8, W/8); the per-model text embeddings file
// holds one tensor per listed string.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "engine/diffusers_folder.h"
#include "engine/safetensors.h"

namespace stipple {
namespace {

namespace json = boost::json;

const std::string kZoo = std::string(STIPPLE_ENGINE_TESTDATA) + "/models/";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

uint32_t BigEndian32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

TEST(ZooGoldens, IndexNamesReadableFilesOfTheRightShapes) {
  const std::string text = ReadAll(kZoo + "goldens.json");
  ASSERT_FALSE(text.empty());
  std::error_code ec;
  json::value root = json::parse(text, ec);
  ASSERT_FALSE(ec) << ec.message();
  const json::array& goldens = root.at("goldens").as_array();
  EXPECT_EQ(goldens.size(), 54u);  // 3 models × 6 schedulers × 3 cases
  std::set<std::string> schedulers;
  for (const json::value& v : goldens) {
    const json::object& g = v.as_object();
    const std::string image(g.at("image").as_string());
    SCOPED_TRACE(image);
    const std::string model(g.at("model").as_string());
    schedulers.insert(std::string(g.at("scheduler").as_string()));
    ASSERT_TRUE(ReadDiffusersFolder(kZoo + model).ok());
    const int64_t width = g.at("width").as_int64(), height = g.at("height").as_int64();
    EXPECT_EQ(g.at("cfg").as_bool(), g.at("guidance").to_number<double>() > 1);
    EXPECT_EQ(g.at("timesteps").as_array().size(), size_t(g.at("steps").as_int64()));

    const std::string png = ReadAll(kZoo + image);
    ASSERT_GT(png.size(), 24u);
    EXPECT_EQ(png.substr(1, 3), "PNG");
    EXPECT_EQ(BigEndian32(png, 16), width);  // IHDR
    EXPECT_EQ(BigEndian32(png, 20), height);

    Result<SafetensorsFile> latents =
        ReadSafetensorsFile(kZoo + std::string(g.at("latents").as_string()));
    ASSERT_TRUE(latents.ok()) << latents.status().ToString();
    const std::vector<int64_t> shape = {1, 4, height / 8, width / 8};
    EXPECT_EQ(latents->tensors.at("latents").shape, shape);
    EXPECT_EQ(latents->tensors.at("noise").shape, shape);
  }
  EXPECT_EQ(schedulers,
            (std::set<std::string>{"ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "lcm"}));
  for (const auto& [model, entry] : root.at("text").as_object()) {
    SCOPED_TRACE(std::string(model));
    Result<SafetensorsFile> text_file =
        ReadSafetensorsFile(kZoo + std::string(entry.at("file").as_string()));
    ASSERT_TRUE(text_file.ok()) << text_file.status().ToString();
    const json::array& strings = entry.at("strings").as_array();
    for (size_t i = 0; i < strings.size(); ++i) {
      const FloatTensor& embeds = text_file->tensors.at("embeds." + std::to_string(i));
      EXPECT_EQ(embeds.shape.size(), 3u);
      EXPECT_EQ(embeds.shape[1], 77);
      for (const json::value& ids : strings[i].at("ids").as_array()) {
        EXPECT_EQ(ids.as_array().size(), 77u);
      }
    }
  }
}

}  // namespace
}  // namespace stipple
