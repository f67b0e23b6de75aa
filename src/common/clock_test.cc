#include "common/clock.h"

#include <gtest/gtest.h>

namespace stipple {
namespace {

TEST(Rfc3339, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(1764114338123)), "2025-11-25T23:45:38.123Z");
}

TEST(Rfc3339, ParseIsTheInverseOfFormat) {
  Timestamp t = FromUnixMillis(1764114338123);
  EXPECT_EQ(*ParseRfc3339(FormatRfc3339(t)), t);
  EXPECT_EQ(*ParseRfc3339("2025-11-25T23:45:38Z"), FromUnixMillis(1764114338000));
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
  EXPECT_FALSE(ParseRfc3339("2025-11-25T23:45:38+01:00").ok());
}

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock clock(FromUnixMillis(1000));
  EXPECT_EQ(clock.Now(), FromUnixMillis(1000));
  clock.Advance(Millis(250));
  EXPECT_EQ(clock.Now(), FromUnixMillis(1250));
}

}  // namespace
}  // namespace stipple
