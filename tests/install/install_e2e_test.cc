// stipple as a user installs it. The installed root is STIPPLE_INSTALL_ROOT: by default the tree
// the ctest fixture install_e2e_setup fills with `cmake --install` (DESTDIR, prefix /usr: the
// Debian package's layout); `make package-test` points it at the .deb unpacked with `dpkg -x`.
// The installed binary serves from an unrelated working directory with no --model-dir — it must
// find its bundled model beside itself — and the installed client generates an image through it.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::RunProcess;
using testing::TempDir;

// The installed root: the environment's STIPPLE_INSTALL_ROOT, else the fixture's.
fs::path InstallRoot() {
  const char* root = std::getenv("STIPPLE_INSTALL_ROOT");
  return root != nullptr && *root != '\0' ? fs::path(root) : fs::path(STIPPLE_INSTALL_ROOT);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

class InstallE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = fs::current_path();
    dir_ = TempDir("stipple-install-e2e");
    prefix_ = InstallRoot() / "usr";
    ASSERT_TRUE(fs::is_regular_file(prefix_ / "bin" / "stipple"))
        << "nothing installed in " << InstallRoot() << " (run the install_e2e_setup test first)";
    // Inside the build tree the binary would fall back to the checkout's model.
    const fs::path inside =
        fs::weakly_canonical(prefix_).lexically_relative(fs::weakly_canonical(STIPPLE_BUILD_DIR));
    ASSERT_TRUE(inside.empty() || *inside.begin() == "..")
        << InstallRoot() << " lies in the build tree " << STIPPLE_BUILD_DIR;
    // Anywhere but the checkout or the build tree.
    elsewhere_ = dir_ / "elsewhere";
    fs::create_directories(elsewhere_);
    fs::current_path(elsewhere_);
  }
  void TearDown() override {
    fs::current_path(old_cwd_);
    fs::remove_all(dir_);
  }

  fs::path dir_, prefix_, elsewhere_, old_cwd_;
};

TEST_F(InstallE2e, LaysOutTheBinaryModelManPageUnitsAndExamples) {
  const fs::path model = prefix_ / "share" / "stipple" / "models" / "shapes-32";
  ASSERT_TRUE(fs::is_directory(model));
  // The whole model folder as it is in the checkout, whatever its format, minus checkpoints.
  for (const auto& entry : fs::recursive_directory_iterator(STIPPLE_SOURCE_MODEL)) {
    const fs::path relative = fs::relative(entry.path(), STIPPLE_SOURCE_MODEL);
    if (*relative.begin() == "checkpoint") continue;
    EXPECT_TRUE(fs::exists(model / relative)) << relative;
  }
  EXPECT_FALSE(fs::exists(model / "checkpoint"));
  const std::string man = ReadFile(prefix_ / "share" / "man" / "man1" / "stipple.1");
  EXPECT_NE(man.find(".TH STIPPLE 1"), std::string::npos);
  EXPECT_NE(man.find(".SS serve"), std::string::npos);
  EXPECT_NE(man.find("model\\-dir"), std::string::npos);
  for (const char* unit : {"stipple-gateway.service", "stipple-worker@.service"}) {
    const std::string text = ReadFile(prefix_ / "lib" / "systemd" / "system" / unit);
    EXPECT_NE(text.find("ExecStart=/usr/bin/stipple "), std::string::npos) << unit;
  }
  EXPECT_TRUE(
      fs::exists(prefix_ / "share" / "doc" / "stipple" / "examples" / "worker.env.example"));
  EXPECT_TRUE(fs::exists(prefix_ / "share" / "doc" / "stipple" / "operations.md"));
}

TEST_F(InstallE2e, ServesTheBundledModelFromAnUnrelatedDirectory) {
  const std::string stipple = (prefix_ / "bin" / "stipple").string();
  testing::ServeProcess serve(stipple, /*model_dir=*/"", (dir_ / "data").string());
  ASSERT_NE(serve.port(), 0) << "the installed stipple serve did not start";

  ProcessResult models = RunProcess({stipple, "models", "--server", serve.url()});
  ASSERT_EQ(models.exit_code, 0) << models.err;
  EXPECT_NE(models.out.find("shapes-32"), std::string::npos) << models.out;

  const std::string png = (elsewhere_ / "circle.png").string();
  ProcessResult generated = RunProcess({stipple, "generate", "a big red circle", "--steps", "4",
                                        "--seed", "5", "-o", png, "--server", serve.url()});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  EXPECT_EQ(ReadFile(png).substr(1, 3), "PNG");
  EXPECT_EQ(serve.Stop(SIGTERM), 0);
}

TEST_F(InstallE2e, GenerateLocalFindsTheBundledModelToo) {
  const std::string png = (elsewhere_ / "local.png").string();
  ProcessResult r =
      RunProcess({(prefix_ / "bin" / "stipple").string(), "generate", "--local", "a blue square",
                  "--steps", "2", "--seed", "1", "--threads", "1", "-o", png});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(png).substr(1, 3), "PNG");
}

}  // namespace
}  // namespace stipple
