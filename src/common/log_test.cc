#include "common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace stipple {
namespace {

TEST(Log, HumanLineHasTimeLevelMessageAndQuotedFields) {
  EXPECT_EQ(FormatLogLine(LogFormat::kHuman, LogLevel::kWarn, "T", "lease lost",
                          {{"task_id", "tsk_1"}, {"why", "two words"}}),
            "T WARN lease lost task_id=tsk_1 why=\"two words\"\n");
}

TEST(Log, JsonLineIsOneEscapedObject) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, LogLevel::kInfo, "T", "say \"hi\"\n", {{"k", "v\t"}}),
            "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"say \\\"hi\\\"\\n\",\"k\":\"v\\t\"}\n");
}

TEST(Log, ContextFieldsAppearOnEveryLineOfTheThreadWhileAlive) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ConfigureLogging({LogLevel::kDebug, LogFormat::kJson, fds[1]});
  {
    LogContext ctx(LogFields{{"request_id", "req-7"}});
    LogInfo("inside");
  }
  LogInfo("outside");
  ConfigureLogging({});
  close(fds[1]);
  char buf[1024];
  ssize_t n = read(fds[0], buf, sizeof buf);
  close(fds[0]);
  std::string out(buf, n > 0 ? static_cast<size_t>(n) : 0);
  size_t inside = out.find("inside");
  size_t outside = out.find("outside");
  ASSERT_NE(inside, std::string::npos);
  ASSERT_NE(outside, std::string::npos);
  EXPECT_NE(out.substr(0, outside).find("\"request_id\":\"req-7\""), std::string::npos);
  EXPECT_EQ(out.substr(outside).find("request_id"), std::string::npos);
}

TEST(Log, LevelAndFormatNamesParse) {
  LogLevel l;
  LogFormat f;
  EXPECT_TRUE(ParseLogLevel("warn", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud", &l));
  EXPECT_TRUE(ParseLogFormat("json", &f));
  EXPECT_EQ(f, LogFormat::kJson);
}

}  // namespace
}  // namespace stipple
