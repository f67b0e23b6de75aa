// Races of the distributed deployment, as separate processes (cluster.h): clients submitting one
// Idempotency-Key at the same moment through one gateway and through two, workers on two gateways
// leasing one queue, a worker paused (SIGSTOP) past its lease that comes back (SIGCONT) with a
// late report, and an event stream resumed with Last-Event-ID on the other gateway. Each checks
// the promise whichever side wins: one task per key, no task leased twice under live leases,
// one end per task, and events after the id, none lost, none repeated.
#include <gtest/gtest.h>
#include <signal.h>

#include <barrier>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/testing/http_test_support.h"
#include "cluster.h"

namespace stipple::testing {
namespace {

using Object = boost::json::object;

// Every worker tries gateway 0, then gateway 1.
std::vector<Cluster::WorkerSpec> AllOnGatewayZero(size_t workers) {
  return std::vector<Cluster::WorkerSpec>(workers, Cluster::WorkerSpec{{0, 1}});
}

int64_t EndedEverywhere(Cluster& cluster, const std::string& status) {
  int64_t total = 0;
  for (size_t g = 0; g < cluster.gateways(); ++g) total += EndedTotal(cluster.port(g), status);
  return total;
}

// One server-sent event: its type and id.
struct Sse {
  std::string type;
  int64_t id = 0;
};

// The complete events of a stream's bytes (a frame cut off by the end of the read is left out,
// as a client would; comments are skipped).
std::vector<Sse> ParseEvents(const std::string& bytes) {
  std::vector<Sse> out;
  size_t at = bytes.find("\r\n\r\n");  // after the response's headers
  at = at == std::string::npos ? 0 : at + 4;
  for (size_t end = bytes.find("\n\n", at); end != std::string::npos;
       at = end + 2, end = bytes.find("\n\n", at)) {
    const std::string frame = bytes.substr(at, end - at);
    Sse e;
    std::istringstream lines(frame);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("event: ", 0) == 0) e.type = line.substr(7);
      if (line.rfind("id: ", 0) == 0) e.id = std::stoll(line.substr(4));
    }
    if (!e.type.empty()) out.push_back(e);
  }
  return out;
}

// The task's whole event stream from the start (Last-Event-ID: 0), read until the server closes
// it after the terminal event.
std::string History(uint16_t port, const std::string& id) {
  http::testing::StreamReader stream(
      port, "GET /v1/tasks/" + id + "/events HTTP/1.1\r\nHost: e2e\r\nLast-Event-ID: 0\r\n\r\n");
  std::string bytes = stream.ReadUntil("\x01never", std::chrono::seconds(30));
  EXPECT_TRUE(stream.closed()) << "the stream of an ended task closes after its end";
  return bytes;
}

bool IsTerminalType(const std::string& type) {
  return type == "succeeded" || type == "failed" || type == "canceled" || type == "expired";
}

TEST(DistributedRaces, ConcurrentSubmitsWithOneIdempotencyKeyMakeOneTaskOnOneOrTwoGateways) {
  Cluster cluster("stipple-race-idem");
  ASSERT_TRUE(cluster.Start(2, AllOnGatewayZero(1))) << cluster.error() << cluster.Logs();
  constexpr int kClients = 16;
  std::vector<std::string> tasks;
  for (const bool both : {false, true}) {
    const std::string key = both ? "race-both-gateways" : "race-one-gateway";
    std::vector<HttpAnswer> answers(kClients);
    std::barrier start(kClients);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        const uint16_t port = cluster.port(both ? c % 2 : 0);
        start.arrive_and_wait();
        answers[c] = Call(port, "POST", "/v1/tasks",
                          {{"Content-Type", "application/json"}, {"Idempotency-Key", key}},
                          TaskBody(both ? 2 : 1));
      });
    }
    for (std::thread& t : clients) t.join();
    std::set<std::string> named;
    for (int c = 0; c < kClients; ++c) {
      EXPECT_EQ(answers[c].status, 202) << key << ", client " << c << ": " << answers[c].body;
      named.insert(Str(Json(answers[c].body), "id"));
    }
    ASSERT_EQ(named.size(), 1u) << key << ": every answer names the same task";
    ASSERT_FALSE(named.begin()->empty()) << key;
    tasks.push_back(*named.begin());
  }
  EXPECT_NE(tasks[0], tasks[1]);
  for (const std::string& id : tasks) {
    std::optional<Object> done = AwaitTask(cluster.port(1), id, Terminal);
    ASSERT_TRUE(done) << cluster.Logs();
    EXPECT_EQ(Str(*done, "status"), "succeeded");
  }
  HttpAnswer page = Call(cluster.port(0), "GET", "/v1/tasks?limit=100");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(Json(page.body).at("data").as_array().size(), 2u) << "one task per key, no more";
  EXPECT_EQ(EndedEverywhere(cluster, "succeeded"), 2);
}

TEST(DistributedRaces, WorkersOnTwoGatewaysNeverLeaseATaskTwice) {
  Cluster cluster("stipple-race-lease");
  // Two workers on each gateway, each naming only its own: two gateways take from one queue.
  ASSERT_TRUE(cluster.Start(2, {{{0}}, {{0}}, {{1}}, {{1}}})) << cluster.error() << cluster.Logs();
  constexpr int kTasks = 80;
  std::vector<std::string> ids(kTasks);
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = c; i < kTasks; i += 4) {
        HttpAnswer created = SubmitTask(cluster.port(i % 2), TaskBody(i));
        ids[i] = Str(Json(created.body), "id");
      }
    });
  }
  for (std::thread& t : clients) t.join();
  std::set<size_t> leasers;
  for (const std::string& id : ids) {
    ASSERT_FALSE(id.empty());
    std::optional<Object> done = AwaitTask(cluster.port(0), id, Terminal);
    ASSERT_TRUE(done) << id << " never ended\n" << cluster.Logs();
    EXPECT_EQ(Str(*done, "status"), "succeeded") << id;
    EXPECT_EQ(Int(*done, "attempts"), 1) << id << ": leased once (the leases were 6 s, all live)";
    const std::vector<size_t> leased = cluster.WorkersThatLeased(id);
    EXPECT_EQ(leased.size(), 1u) << id << ": leased by more than one worker";
    leasers.insert(leased.begin(), leased.end());
  }
  EXPECT_EQ(EndedEverywhere(cluster, "succeeded"), kTasks);
  // Both gateways leased: otherwise this proved nothing about two of them.
  EXPECT_TRUE(leasers.count(0) + leasers.count(1) > 0 && leasers.count(2) + leasers.count(3) > 0)
      << "workers of only one gateway leased anything";
}

// The worker running a task is stopped (SIGSTOP) until its lease lapsed and another worker leased
// the task, then continued (SIGCONT): whatever it reports first — a heartbeat or its completion —
// is refused as a lost lease, and the task ends once, by the new holder.
TEST(DistributedRaces, AWorkerPausedPastItsLeaseIsRefusedAndTheNewHolderEndsTheTask) {
  Cluster cluster("stipple-race-sigstop");
  ASSERT_TRUE(cluster.Start(2, {{{0, 1}}, {{1, 0}}}, /*lease_s=*/3))
      << cluster.error() << cluster.Logs();
  HttpAnswer created = SubmitTask(cluster.port(0), TaskBody(7, /*steps=*/60, /*images=*/2));
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = Str(Json(created.body), "id");
  ASSERT_TRUE(AwaitTask(cluster.port(1), id,
                        [](const Object& t) {
                          const boost::json::value* p = t.if_contains("progress");
                          return p != nullptr && p->is_object() && Int(p->as_object(), "step") >= 1;
                        }))
      << "never running\n"
      << cluster.Logs();
  const std::vector<size_t> first = cluster.WorkersThatLeased(id);
  ASSERT_EQ(first.size(), 1u) << cluster.Logs();
  const size_t paused = first[0];
  ASSERT_EQ(::kill(cluster.worker(paused).pid(), SIGSTOP), 0);
  const bool taken_over = Eventually([&] { return cluster.WorkersThatLeased(id).size() == 2; },
                                     std::chrono::seconds(90));
  ASSERT_EQ(::kill(cluster.worker(paused).pid(), SIGCONT), 0);
  ASSERT_TRUE(taken_over) << "the paused worker's lease never lapsed to the other\n"
                          << cluster.Logs();

  // The paused worker hears that its lease is gone, and drops the task.
  std::string refusal;
  auto refused = [&] {
    std::istringstream log(cluster.worker(paused).Log());
    for (std::string line; std::getline(log, line);) {
      if (line.find("lease lost") != std::string::npos && line.find(id) != std::string::npos) {
        refusal = line;
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(Eventually(refused, std::chrono::seconds(60)))
      << "the late worker's report was not refused\n"
      << cluster.worker(paused).Log();
  RecordProperty("late_report_refused", refusal);  // which report came back first
  std::optional<Object> done = AwaitTask(cluster.port(0), id, Terminal);
  ASSERT_TRUE(done) << cluster.Logs();
  EXPECT_EQ(Str(*done, "status"), "succeeded") << boost::json::serialize(*done);
  EXPECT_EQ(Int(*done, "attempts"), 2) << "the lapsed attempt counted, and no other";
  EXPECT_EQ(EndedEverywhere(cluster, "succeeded"), 1) << "ended once";
  for (const char* status : {"failed", "canceled", "expired"}) {
    EXPECT_EQ(EndedEverywhere(cluster, status), 0) << status;
  }
  // Its event history has one terminal event, the last.
  const std::string history = History(cluster.port(1), id);
  const std::vector<Sse> events = ParseEvents(history);
  size_t terminal = 0;
  for (const Sse& e : events) terminal += IsTerminalType(e.type);
  EXPECT_EQ(terminal, 1u) << history;
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "succeeded") << history;
  // The worker that came back still works.
  HttpAnswer sync = SubmitTask(cluster.port(0), TaskBody(8), /*wait_s=*/25);
  EXPECT_EQ(sync.status, 200) << sync.body;
}

// A client follows a task with an event stream that breaks after each new progress event and is
// resumed with Last-Event-ID on the other gateway each time: every resumed stream starts after
// the id, the state events are all there, nothing comes twice, and the end comes once, last.
TEST(DistributedRaces, LastEventIdResumesOnTheOtherGatewayWithNothingLostOrRepeated) {
  Cluster cluster("stipple-race-resume");
  ASSERT_TRUE(cluster.Start(2, AllOnGatewayZero(1))) << cluster.error() << cluster.Logs();
  HttpAnswer created = SubmitTask(cluster.port(0), TaskBody(9, /*steps=*/150, /*images=*/4));
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = Str(Json(created.body), "id");

  std::vector<Sse> followed;  // every event the client received, across its streams
  int64_t last = -1;          // -1: the first stream, without Last-Event-ID
  int streams = 0;
  bool ended = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  for (; !ended && std::chrono::steady_clock::now() < deadline; ++streams) {
    const uint16_t port = cluster.port((streams + 1) % 2);  // gateway 1 first, then alternate
    std::string request = "GET /v1/tasks/" + id + "/events HTTP/1.1\r\nHost: e2e\r\n";
    if (last >= 0) request += "Last-Event-ID: " + std::to_string(last) + "\r\n";
    http::testing::StreamReader stream(port, request + "\r\n");
    // Read until one new progress event arrived (then break the stream) or the task ended.
    std::vector<Sse> got;
    bool progressed = false;
    while (!progressed && !ended && std::chrono::steady_clock::now() < deadline) {
      got = ParseEvents(stream.ReadUntil("\x01never", std::chrono::milliseconds(250)));
      for (const Sse& e : got) {
        progressed = progressed || e.type == "progress";
        ended = ended || IsTerminalType(e.type);
      }
      if (stream.closed()) break;
    }
    ASSERT_FALSE(got.empty()) << "stream " << streams << " after id " << last << " got nothing";
    for (const Sse& e : got) {
      EXPECT_GT(e.id, last) << "stream " << streams << ": an event at or before Last-Event-ID";
      if (!followed.empty()) {
        EXPECT_GT(e.id, followed.back().id) << "stream " << streams << ": repeated or out of order";
      }
      followed.push_back(e);
    }
    last = followed.back().id;
  }
  ASSERT_TRUE(ended) << "the task never ended within " << streams << " streams";
  EXPECT_GE(streams, 3) << "the task ended before the stream could be resumed twice";

  // Nothing lost: every state event the bus holds for the task is among those followed, and the
  // one terminal event was the last.
  size_t terminal = 0;
  for (const Sse& e : followed) terminal += IsTerminalType(e.type);
  EXPECT_EQ(terminal, 1u);
  EXPECT_TRUE(IsTerminalType(followed.back().type));
  const std::string history = History(cluster.port(0), id);
  std::map<int64_t, std::string> seen;
  for (const Sse& e : followed) seen[e.id] = e.type;
  for (const Sse& e : ParseEvents(history)) {
    if (e.type == "progress") continue;  // progress may be thinned; state events may not
    auto it = seen.find(e.id);
    ASSERT_NE(it, seen.end()) << "state event " << e.type << " (id " << e.id << ") was lost";
    EXPECT_EQ(it->second, e.type) << "id " << e.id;
  }
}

}  // namespace
}  // namespace stipple::testing
