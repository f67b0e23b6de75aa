#include "client/sse_parser.h"

#include <gtest/gtest.h>

namespace stipple::client {
namespace {

TEST(SseParser, ParsesTypeIdAndData) {
  SseParser parser;
  auto events = parser.Feed("event: progress\nid: 3\ndata: {\"step\":1}\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "progress");
  EXPECT_EQ(events[0].id, "3");
  EXPECT_EQ(events[0].data, "{\"step\":1}");
}

TEST(SseParser, JoinsFramesSplitAcrossReads) {
  SseParser parser;
  EXPECT_TRUE(parser.Feed("event: que").empty());
  EXPECT_TRUE(parser.Feed("ued\r\nid: 1\r\nda").empty());
  auto events = parser.Feed("ta: x\r\n\r");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "queued");
  EXPECT_EQ(events[0].data, "x");
  EXPECT_TRUE(parser.Feed("\n").empty());  // the LF of the CRLF is not another blank line
}

TEST(SseParser, IgnoresCommentsAndJoinsDataLines) {
  SseParser parser;
  auto events = parser.Feed(": keep-alive\n\ndata: a\ndata: b\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[0].data, "a\nb");
}

TEST(SseParser, SeveralEventsInOneRead) {
  SseParser parser;
  auto events = parser.Feed("id: 1\ndata: a\n\nid: 2\ndata: b\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].id, "2");
}

}  // namespace
}  // namespace stipple::client
