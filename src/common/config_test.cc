#include "common/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace stipple {
namespace {

const std::vector<OptionSpec> kSpecs = {
    {.name = "listen", .default_value = "127.0.0.1:8080", .help = "address"},
    {.name = "data-dir", .default_value = "./stipple-data", .help = "data"},
    {.name = "workers", .default_value = "1", .help = "n"},
    {.name = "worker-token", .help = "tokens", .kind = OptionKind::kList},
    {.name = "verbose", .help = "more", .kind = OptionKind::kFlag},
    {.name = "output", .help = "file", .short_name = 'o'},
};

Result<Config> LoadArgs(const std::vector<std::string>& args, const Environment& env = {}) {
  return Config::Load(kSpecs, args, env);
}

// One file per test: ctest runs the tests of this binary in parallel processes.
std::string WriteFile(const std::string& text) {
  std::string path = ::testing::TempDir() + "/stipple_config_test_" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".conf";
  std::ofstream(path) << text;
  return path;
}

TEST(Config, DefaultsApplyWhenNothingIsGiven) {
  auto c = LoadArgs({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->GetString("listen"), "127.0.0.1:8080");
  EXPECT_EQ(c->SourceOf("listen"), ConfigSource::kDefault);
  EXPECT_FALSE(c->Has("output"));
}

TEST(Config, FlagsBeatEnvironmentWhichBeatsTheFile) {
  std::string file = WriteFile("# comment\nlisten = \"0.0.0.0:1\"\nworkers = 3\ndata_dir = /f\n");
  auto c = LoadArgs({"--config", file, "--listen=0.0.0.0:9"},
                    {{"STIPPLE_LISTEN", "0.0.0.0:2"}, {"STIPPLE_WORKERS", "4"}});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->GetString("listen"), "0.0.0.0:9");
  EXPECT_EQ(c->SourceOf("listen"), ConfigSource::kFlag);
  EXPECT_EQ(*c->GetInt("workers"), 4);
  EXPECT_EQ(c->SourceOf("workers"), ConfigSource::kEnvironment);
  EXPECT_EQ(c->GetString("data-dir"), "/f");
  EXPECT_EQ(c->SourceOf("data-dir"), ConfigSource::kFile);
}

TEST(Config, ConfigFileCanBeNamedByTheEnvironment) {
  std::string file = WriteFile("workers = 7\n");
  auto c = LoadArgs({}, {{"STIPPLE_CONFIG", file}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c->GetInt("workers"), 7);
}

TEST(Config, ListsRepeatOnTheCommandLineAndSplitCommasInTheEnvironment) {
  auto flags = LoadArgs({"--worker-token", "a", "--worker-token=b"});
  EXPECT_EQ(flags->GetList("worker-token"), (std::vector<std::string>{"a", "b"}));
  auto env = LoadArgs({}, {{"STIPPLE_WORKER_TOKEN", "x, y"}});
  EXPECT_EQ(env->GetList("worker-token"), (std::vector<std::string>{"x", "y"}));
}

TEST(Config, FlagsShortNamesAndPositionals) {
  auto c = LoadArgs({"a red circle", "-o", "out.png", "--verbose", "--", "--not-a-flag"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(*c->GetBool("verbose"));
  EXPECT_EQ(c->GetString("output"), "out.png");
  EXPECT_EQ(c->positional(), (std::vector<std::string>{"a red circle", "--not-a-flag"}));
}

TEST(Config, UnknownFlagIsAnErrorNamingIt) {
  auto c = LoadArgs({"--colour", "red"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--colour"), std::string::npos);
}

TEST(Config, UnknownFileKeyIsAnErrorNamingFileLineAndKey) {
  std::string file = WriteFile("listen = x\nbogus = 1\n");
  auto c = LoadArgs({"--config", file});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(":2: unknown option 'bogus'"), std::string::npos);
}

TEST(Config, BadIntegerNamesTheOptionAndItsSource) {
  auto c = LoadArgs({}, {{"STIPPLE_WORKERS", "many"}});
  ASSERT_TRUE(c.ok());
  auto n = c->GetInt("workers");
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("--workers (environment)"), std::string::npos);
}

TEST(Config, MissingValueIsAnError) { EXPECT_FALSE(LoadArgs({"--listen"}).ok()); }

TEST(Config, HelpIsRequestedAndListsEnvironmentNames) {
  EXPECT_TRUE(LoadArgs({"--help"})->help_requested());
  std::string help = Config::Help("stipple serve", kSpecs);
  EXPECT_NE(help.find("STIPPLE_DATA_DIR"), std::string::npos);
  EXPECT_NE(help.find("default: 127.0.0.1:8080"), std::string::npos);
}

}  // namespace
}  // namespace stipple
