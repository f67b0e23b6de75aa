#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "common_options.h"
#include "engine/testing/tiny_sd_model.h"
#include "imaging/png.h"

namespace stipple::app {
namespace {

namespace fs = std::filesystem;
using ::testing::internal::CaptureStderr;
using ::testing::internal::CaptureStdout;
using ::testing::internal::GetCapturedStderr;
using ::testing::internal::GetCapturedStdout;

class GenerateLocal : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stipple_generate_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  int Run(std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "generate", "--local", "a red circle", "--model-dir", TinySdModelDir(), "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCommandLine(args);
  }

  static std::string Read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
};

TEST_F(GenerateLocal, WritesThePngAndPrintsItsSeed) {
  CaptureStdout();
  ASSERT_EQ(Run({"-o", (dir_ / "out.png").string(), "--seed", "5", "--steps", "3"}), kExitOk);
  EXPECT_NE(GetCapturedStdout().find("64x64  seed 5"), std::string::npos);
  EXPECT_EQ(Read(dir_ / "out.png").substr(1, 3), "PNG");
}

TEST_F(GenerateLocal, SameSeedWritesTheSameBytes) {
  CaptureStdout();
  ASSERT_EQ(Run({"-o", (dir_ / "a.png").string(), "--seed", "9", "--scheduler", "euler_a"}),
            kExitOk);
  ASSERT_EQ(Run({"-o", (dir_ / "b.png").string(), "--seed", "9", "--scheduler", "euler_a"}),
            kExitOk);
  GetCapturedStdout();
  EXPECT_EQ(Read(dir_ / "a.png"), Read(dir_ / "b.png"));
}

TEST_F(GenerateLocal, SeveralImagesGetNumberedFiles) {
  CaptureStdout();
  ASSERT_EQ(Run({"-o", (dir_ / "out.png").string(), "--n", "2", "--seed", "1"}), kExitOk);
  GetCapturedStdout();
  EXPECT_TRUE(fs::exists(dir_ / "out-0.png"));
  EXPECT_TRUE(fs::exists(dir_ / "out-1.png"));
}

TEST_F(GenerateLocal, InvalidSettingIsAUsageErrorNamingTheField) {
  CaptureStderr();
  EXPECT_EQ(Run({"-o", (dir_ / "out.png").string(), "--steps", "0"}), kExitUsage);
  EXPECT_NE(GetCapturedStderr().find("steps"), std::string::npos);
}

TEST_F(GenerateLocal, ClipSkipBeyondTheTextEncodersLayersIsAUsageErrorNamingTheField) {
  CaptureStderr();
  EXPECT_EQ(Run({"-o", (dir_ / "out.png").string(), "--clip-skip", "40"}), kExitUsage);
  EXPECT_NE(GetCapturedStderr().find("clip_skip"), std::string::npos);
}

TEST_F(GenerateLocal, ASingleFileCheckpointWithClipSkip) {
  const std::string file = std::string(STIPPLE_ENGINE_TESTDATA) + "/ldm/sd1.safetensors";
  CaptureStdout();
  ASSERT_EQ(RunCommandLine(std::vector<std::string>{
                "generate", "--local", "a red circle", "--model-dir", file, "--threads", "1", "-o",
                (dir_ / "sd1.png").string(), "--size", "32x32", "--steps", "2", "--seed", "3",
                "--clip-skip", "1", "--negative", ""}),
            kExitOk);
  EXPECT_NE(GetCapturedStdout().find("32x32  seed 3"), std::string::npos);
  EXPECT_EQ(Read(dir_ / "sd1.png").substr(1, 3), "PNG");
}

TEST_F(GenerateLocal, LorasFromTheModelsFolderOrAnyPathMatchTheirGoldens) {
  const std::string loras = std::string(STIPPLE_ENGINE_TESTDATA) + "/models/loras";
  auto run = [&](const std::string& out, std::vector<std::string> lora_flags) {
    std::vector<std::string> args = {"generate",
                                     "--local",
                                     "a photo of an astronaut riding a horse on mars",
                                     "--model-dir",
                                     TinySdModelDir(),
                                     "--threads",
                                     "2",
                                     "--steps",
                                     "4",
                                     "--guidance",
                                     "7.5",
                                     "--seed",
                                     "0",
                                     "--negative",
                                     "",
                                     "--scheduler",
                                     "ddim",
                                     "--size",
                                     "64x64",
                                     "-o",
                                     (dir_ / out).string()};
    args.insert(args.end(), lora_flags.begin(), lora_flags.end());
    return RunCommandLine(args);
  };
  CaptureStdout();
  // By name from loras/ beside the model folder, and by a path (split at the last ':').
  ASSERT_EQ(run("k.png", {"--lora", "tiny-kohya:0.5"}), kExitOk);
  ASSERT_EQ(run("p.png", {"--lora", loras + "/tiny-peft.safetensors:1"}), kExitOk);
  GetCapturedStdout();
  EXPECT_LE(
      MaxPixelDifference(Read(dir_ / "k.png"), Read(fs::path(loras) / "expected/kohya-0.5.png")),
      2);
  EXPECT_LE(MaxPixelDifference(Read(dir_ / "p.png"), Read(fs::path(loras) / "expected/peft-1.png")),
            2);

  CaptureStderr();
  EXPECT_EQ(run("x.png", {"--lora", "nope:1"}), kExitUsage);
  EXPECT_NE(GetCapturedStderr().find("loras[0].name"), std::string::npos);
  CaptureStderr();
  EXPECT_EQ(run("x.png", {"--lora", "tiny-kohya"}), kExitUsage);
  EXPECT_NE(GetCapturedStderr().find("option --lora 'tiny-kohya': no :SCALE"), std::string::npos);
}

TEST_F(GenerateLocal, WithoutLocalGoesToTheServerAndSaysWhenItCannotReachIt) {
  CaptureStderr();
  EXPECT_EQ(RunCommandLine(std::vector<std::string>{"generate", "a red circle", "-o",
                                                    (dir_ / "x.png").string(), "--server",
                                                    "http://127.0.0.1:1", "--retries", "0"}),
            kExitUnreachable);
  EXPECT_NE(GetCapturedStderr().find("cannot reach http://127.0.0.1:1"), std::string::npos);
}

// --image and --mask are read and checked here, by the server's rules, naming the option.
TEST_F(GenerateLocal, ImageInputsOfTheWrongSizeOrFormatAreUsageErrorsNamingTheOption) {
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return (dir_ / name).string();
  };
  const std::string small =
      write("small.png", *EncodePngRgb8(std::vector<uint8_t>(8 * 8 * 3), 8, 8));
  const std::string square =
      write("square.png", *EncodePngRgb8(std::vector<uint8_t>(64 * 64 * 3), 64, 64));
  const std::string gif = write("x.gif", "GIF89a\x01\x00\x01\x00\x00\x00\x00");
  const std::string out = (dir_ / "out.png").string();
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--image", square, "--size", "32x32"}, "option --image: is 64x64, not the requested 32x32"},
      {{"--image", gif}, "option --image: a GIF image"},
      {{"--image", square, "--mask", small}, "option --mask: is 8x8, not the image's 64x64"},
      {{"--image", (dir_ / "none.png").string()}, "option --image: "},
      {{"--mask", small}, "mask_image: needs init_image"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"-o", out, "--steps", "2"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    CaptureStderr();
    EXPECT_EQ(Run(args), kExitUsage) << c.says;
    const std::string err = GetCapturedStderr();
    EXPECT_NE(err.find(c.says), std::string::npos) << err;
  }
}

TEST_F(GenerateLocal, MissingModelDirectoryFails) {
  CaptureStderr();
  EXPECT_EQ(RunCommandLine(std::vector<std::string>{"generate", "--local", "a red circle", "-o",
                                                    (dir_ / "x.png").string(), "--model-dir",
                                                    "/nonexistent"}),
            kExitFailure);
  EXPECT_NE(GetCapturedStderr().find("NOT_FOUND"), std::string::npos);
}

}  // namespace
}  // namespace stipple::app
