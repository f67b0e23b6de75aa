#include "model_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace stipple::app {
namespace {

namespace fs = std::filesystem;

const OptionSpec kSpecs[] = {{.name = "model-dir", .value_name = "PATH"}};

Config Load(const std::vector<std::string>& args, const Environment& env = {}) {
  Result<Config> config = Config::Load(kSpecs, args, env);
  EXPECT_TRUE(config.ok()) << config.status().message();
  return *config;
}

class ModelDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        fs::temp_directory_path() /
        ("stipple_model_dir_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    tree_ = {.build_dir = root_ / "src" / "build", .source_dir = root_ / "src"};
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
  BuildTree tree_;
};

TEST_F(ModelDirTest, InstalledLayoutIsTriedFirstAndTheCheckoutOnlyFromTheBuildTree) {
  EXPECT_EQ(BundledModelCandidates("/usr/local/bin/stipple", tree_),
            (std::vector<fs::path>{"/usr/local/share/stipple/models/shapes-32"}));
  EXPECT_EQ(BundledModelCandidates(tree_.build_dir / "apps" / "stipple" / "stipple", tree_),
            (std::vector<fs::path>{
                tree_.build_dir / "apps" / "share" / "stipple" / "models" / "shapes-32",
                root_ / "src" / "models" / "shapes-32"}));
  // A sibling whose name merely starts like the build directory is not inside it.
  EXPECT_EQ(BundledModelCandidates(root_ / "src" / "build-other" / "bin" / "stipple", tree_).size(),
            1u);
}

TEST_F(ModelDirTest, FindsTheInstalledModelFromAnyWorkingDirectory) {
  fs::path prefix = root_ / "usr";
  fs::create_directories(prefix / "share" / "stipple" / "models" / "shapes-32");
  Result<std::string> dir = ResolveModelDir(Load({}), prefix / "bin" / "stipple", tree_);
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  EXPECT_EQ(*dir, (prefix / "share" / "stipple" / "models" / "shapes-32").string());
}

TEST_F(ModelDirTest, FindsTheCheckoutsModelFromTheBuildTree) {
  fs::create_directories(root_ / "src" / "models" / "shapes-32");
  Result<std::string> dir =
      ResolveModelDir(Load({}), tree_.build_dir / "apps" / "stipple" / "stipple", tree_);
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  EXPECT_EQ(*dir, (root_ / "src" / "models" / "shapes-32").string());
}

TEST_F(ModelDirTest, AnExplicitModelDirWinsEvenWhenItDoesNotExist) {
  fs::create_directories(root_ / "usr" / "share" / "stipple" / "models" / "shapes-32");
  fs::path exe = root_ / "usr" / "bin" / "stipple";
  Result<std::string> flag = ResolveModelDir(Load({"--model-dir", "/nowhere/m"}), exe, tree_);
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ(*flag, "/nowhere/m");
  Result<std::string> env = ResolveModelDir(Load({}, {{"STIPPLE_MODEL_DIR", "rel/m"}}), exe, tree_);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(*env, "rel/m");
}

TEST_F(ModelDirTest, NothingFoundIsNotFoundNamingEveryPathTried) {
  fs::path exe = tree_.build_dir / "apps" / "stipple" / "stipple";
  Result<std::string> dir = ResolveModelDir(Load({}), exe, tree_);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kNotFound);
  for (const fs::path& tried : BundledModelCandidates(exe, tree_)) {
    EXPECT_NE(dir.status().message().find(tried.string()), std::string::npos)
        << dir.status().message();
  }
  EXPECT_NE(dir.status().message().find("--model-dir"), std::string::npos);
}

TEST(ModelDir, ThisProcessFindsTheCheckoutsModel) {
  // The test binary lives in the build tree, so the default is the checkout's bundled model.
  Result<std::string> dir = ResolveModelDir(Load({}));
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  EXPECT_EQ(fs::path(*dir), fs::path(ThisBuildTree().source_dir) / "models" / "shapes-32");
}

}  // namespace
}  // namespace stipple::app
