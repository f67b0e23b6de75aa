#include "commands.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common_options.h"

namespace stipple::app {
namespace {

using ::testing::internal::CaptureStderr;
using ::testing::internal::CaptureStdout;
using ::testing::internal::GetCapturedStderr;
using ::testing::internal::GetCapturedStdout;

int RunArgs(std::vector<std::string> args) { return RunCommandLine(args); }

TEST(Commands, VersionPrintsTheProjectVersion) {
  CaptureStdout();
  EXPECT_EQ(RunArgs({"version"}), kExitOk);
  EXPECT_EQ(GetCapturedStdout(), "stipple " + std::string(Version()) + "\n");
  EXPECT_EQ(Version(), "0.1.0");
}

TEST(Commands, HelpListsEveryCommandWithItsHelp) {
  for (const char* word : {"help", "--help", "-h"}) {
    CaptureStdout();
    EXPECT_EQ(RunArgs({word}), kExitOk);
    std::string out = GetCapturedStdout();
    for (const Command& command : Commands()) {
      EXPECT_NE(out.find(std::string(command.name)), std::string::npos) << command.name;
      EXPECT_NE(out.find(std::string(command.help)), std::string::npos) << command.name;
    }
  }
}

TEST(Commands, UnknownCommandIsAUsageErrorOnStderr) {
  CaptureStderr();
  EXPECT_EQ(RunArgs({"frobnicate"}), kExitUsage);
  EXPECT_NE(GetCapturedStderr().find("unknown command 'frobnicate'"), std::string::npos);
}

TEST(Commands, NoCommandIsAUsageError) {
  CaptureStderr();
  EXPECT_EQ(RunArgs({}), kExitUsage);
  EXPECT_NE(GetCapturedStderr().find("usage: stipple COMMAND"), std::string::npos);
}

TEST(Commands, CommandHelpListsTheCommonOptions) {
  CaptureStdout();
  EXPECT_EQ(RunArgs({"help", "version"}), kExitOk);
  std::string out = GetCapturedStdout();
  EXPECT_NE(out.find("--log-level LEVEL"), std::string::npos);
  EXPECT_NE(out.find("STIPPLE_LOG_FORMAT"), std::string::npos);
}

TEST(Commands, BadLogLevelIsAUsageErrorNamingTheOption) {
  CaptureStderr();
  EXPECT_EQ(RunArgs({"version", "--log-level", "loud"}), kExitUsage);
  EXPECT_NE(GetCapturedStderr().find("--log-level (flag)"), std::string::npos);
}

TEST(Commands, UnknownOptionIsAUsageError) {
  CaptureStderr();
  EXPECT_EQ(RunArgs({"version", "--no-such-option"}), kExitUsage);
  EXPECT_NE(GetCapturedStderr().find("unknown option --no-such-option"), std::string::npos);
}

}  // namespace
}  // namespace stipple::app
