// GET /v1/tasks/{id}/events: Server-Sent Events over real HTTP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/testing/http_test_support.h"

namespace stipple::http::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string EventsRequest(const std::string& id, const std::string& extra = "") {
  return "GET /v1/tasks/" + id + "/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" +
         extra + "\r\n";
}

TEST(Events, StreamsFramesAndClosesAfterTheTerminalEvent) {
  TestServer s;
  std::string id = s.CreateTask();
  StreamReader reader(s.port(), EventsRequest(id));
  std::string seen = reader.ReadUntil("event: queued");
  EXPECT_THAT(seen, ::testing::StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(seen, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(seen, HasSubstr("event: queued\nid: 1\ndata: {"));
  s.service.Start(id);
  s.service.Progress(id, 1, 20);
  s.service.Succeed(id);
  seen = reader.ReadUntil("event: succeeded");
  EXPECT_THAT(seen, HasSubstr("event: started\nid: 2\n"));
  EXPECT_THAT(seen, HasSubstr("event: progress\nid: 3\n"));
  EXPECT_THAT(seen, HasSubstr("event: succeeded\nid: 4\ndata: {"));
  reader.ReadUntil("never", std::chrono::milliseconds(2000));
  EXPECT_TRUE(reader.closed());
}

TEST(Events, LastEventIdResumesAfterThatEvent) {
  TestServer s;
  std::string id = s.CreateTask();
  s.service.Start(id);
  s.service.Progress(id, 1, 20);
  StreamReader reader(s.port(), EventsRequest(id, "Last-Event-ID: 2\r\n"));
  std::string seen = reader.ReadUntil("id: 3\n");
  EXPECT_THAT(seen, HasSubstr("event: progress\nid: 3\n"));
  EXPECT_THAT(seen, Not(HasSubstr("event: queued")));
  EXPECT_THAT(seen, Not(HasSubstr("event: started")));
}

TEST(Events, TerminalTaskSendsItsTerminalEventAndCloses) {
  TestServer s;
  std::string id = s.CreateTask();
  s.service.Fail(id);
  StreamReader reader(s.port(), EventsRequest(id));
  std::string seen = reader.ReadUntil("never", std::chrono::milliseconds(2000));
  EXPECT_THAT(seen, HasSubstr("event: failed\nid: 2\n"));
  EXPECT_TRUE(reader.closed());
}

TEST(Events, SendsKeepAliveComments) {
  TestServer s;  // keep-alive every 200 ms
  std::string id = s.CreateTask();
  StreamReader reader(s.port(), EventsRequest(id));
  EXPECT_THAT(reader.ReadUntil(": keep-alive\n\n"), HasSubstr(": keep-alive\n\n"));
}

TEST(Events, ClientGoingAwayEndsTheSubscription) {
  TestServer s;
  std::string id = s.CreateTask();
  {
    StreamReader reader(s.port(), EventsRequest(id));
    reader.ReadUntil("event: queued");
  }
  // The next keep-alive writes fail and the stream lets go of its subscription.
  for (int i = 0; i < 100 && s.service.active_subscriptions() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(s.service.active_subscriptions(), 0u);
}

}  // namespace
}  // namespace stipple::http::testing
