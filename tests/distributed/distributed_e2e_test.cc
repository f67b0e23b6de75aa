// The distributed deployment end to end, as separate processes: a real redis-server (AOF,
// appendfsync always), two `stipple gateway` processes on it and three `stipple worker`
// processes on the bundled model, each naming both gateways (cluster.h). Tasks go in through
// both gateways; every one completes exactly once and its output is readable from either.
// Faults: a worker killed mid-task (its task runs again elsewhere), a gateway killed (its workers
// fail over to the other, its tasks complete there), Redis killed and restarted (nothing
// acknowledged is lost; while it is down the gateways answer 503 with Retry-After, never hang).
//
// The workers list gateway 0 first, so they all serve through it until it fails. A synchronous
// wait or event stream on gateway 1 then sees work applied through gateway 0 only over the
// shared event bus: that is CrossGatewayWaitsAndEventStreams and APreviewIsServedByEveryGateway,
// the cases that need it.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/testing/http_test_support.h"
#include "cluster.h"

namespace stipple::testing {
namespace {

using Object = boost::json::object;

// Every worker tries gateway 0, then gateway 1.
std::vector<Cluster::WorkerSpec> AllOnGatewayZero(size_t workers = 3) {
  return std::vector<Cluster::WorkerSpec>(workers, Cluster::WorkerSpec{{0, 1}});
}

// One submission: what it answered.
struct Submitted {
  std::string id;
  int status = 0;        // the POST's HTTP status
  std::string answered;  // the task's status in the answer
  bool sync = false;
};

// Submits `count` tasks from 8 client threads, each taking the next task in turn; `route(i)`
// gives task i's gateway and whether it waits (Prefer: wait=25).
std::vector<Submitted> SubmitMany(Cluster& cluster, int count,
                                  const std::function<std::pair<size_t, bool>(int)>& route) {
  std::vector<Submitted> out(count);
  std::atomic<int> next{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        const auto [gateway, sync] = route(i);
        HttpAnswer r = SubmitTask(cluster.port(gateway), TaskBody(i), sync ? 25 : 0);
        Object task = Json(r.body);
        out[i] = {Str(task, "id"), r.status, Str(task, "status"), sync};
      }
    });
  }
  for (std::thread& c : clients) c.join();
  return out;
}

// The first output of a task, read through `port`; empty unless 200.
std::string Output(uint16_t port, const std::string& id, int index = 0) {
  HttpAnswer r = Call(port, "GET", "/v1/tasks/" + id + "/outputs/" + std::to_string(index));
  return r.status == 200 ? r.body : std::string();
}

// Every task ended succeeded, is the same through every gateway, with its output readable (and
// identical) through every gateway. `attempts`: the attempts each must show (0: any).
void ExpectSucceededEverywhere(Cluster& cluster, const std::vector<std::string>& ids, int attempts,
                               const std::vector<size_t>& gateways) {
  for (const std::string& id : ids) {
    std::optional<Object> done = AwaitTask(cluster.port(gateways.front()), id, Terminal);
    ASSERT_TRUE(done) << id << " never ended\n" << cluster.Logs();
    EXPECT_EQ(Str(*done, "status"), "succeeded") << id << ": " << boost::json::serialize(*done);
    if (attempts > 0) {
      EXPECT_EQ(Int(*done, "attempts"), attempts) << id;
    }
    std::string first_png;
    for (size_t g : gateways) {
      std::optional<Object> seen = GetTask(cluster.port(g), id);
      ASSERT_TRUE(seen) << id << " through gateway " << g;
      EXPECT_EQ(Str(*seen, "status"), "succeeded") << id << " through gateway " << g;
      EXPECT_EQ(Int(*seen, "attempts"), Int(*done, "attempts")) << id;
      const std::string png = Output(cluster.port(g), id);
      ASSERT_EQ(png.substr(1, 3), "PNG") << id << "'s output through gateway " << g;
      if (first_png.empty()) first_png = png;
      EXPECT_EQ(png, first_png) << id << ": the same image through every gateway";
    }
  }
}

std::vector<std::string> Ids(const std::vector<Submitted>& submitted) {
  std::vector<std::string> ids;
  for (const Submitted& s : submitted) ids.push_back(s.id);
  return ids;
}

TEST(DistributedE2e, TasksThroughBothGatewaysCompleteExactlyOnceAndAreReadableFromEither) {
  Cluster cluster("stipple-dist-nofault");
  ASSERT_TRUE(cluster.Start(2, AllOnGatewayZero())) << cluster.error() << cluster.Logs();
  constexpr int kTasks = 200;
  // Every fourth synchronous, through gateway 0 (the one its workers serve through); the others
  // asynchronous, through both gateways in turn.
  std::vector<Submitted> submitted = SubmitMany(cluster, kTasks, [](int i) {
    return i % 4 == 0 ? std::pair<size_t, bool>{0, true}
                      : std::pair<size_t, bool>{static_cast<size_t>(i % 2), false};
  });
  std::set<std::string> distinct;
  for (const Submitted& s : submitted) {
    ASSERT_FALSE(s.id.empty()) << "HTTP " << s.status;
    distinct.insert(s.id);
    if (s.sync) {
      EXPECT_EQ(s.status, 200) << s.id;
      EXPECT_EQ(s.answered, "succeeded") << s.id;
    } else {
      EXPECT_EQ(s.status, 202) << s.id;
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kTasks));
  ExpectSucceededEverywhere(cluster, Ids(submitted), /*attempts=*/1, {1, 0});
  // Exactly one terminal transition per task, over both gateways together.
  EXPECT_EQ(EndedTotal(cluster.port(0), "succeeded") + EndedTotal(cluster.port(1), "succeeded"),
            kTasks);
  for (const char* status : {"failed", "canceled", "expired"}) {
    EXPECT_EQ(EndedTotal(cluster.port(0), status) + EndedTotal(cluster.port(1), status), 0)
        << status;
  }
  // Nothing invented: the store lists exactly these tasks.
  std::set<std::string> listed;
  std::string cursor;
  do {
    HttpAnswer page = Call(cluster.port(1), "GET", "/v1/tasks?limit=100" + cursor);
    ASSERT_EQ(page.status, 200) << page.body;
    Object body = Json(page.body);
    for (const boost::json::value& t : body.at("data").as_array()) {
      listed.insert(Str(t.as_object(), "id"));
    }
    const std::string next = Str(body, "next_cursor");
    cursor = next.empty() ? "" : "&cursor=" + next;
  } while (!cursor.empty());
  EXPECT_EQ(listed, distinct);
}

// Needs the event bus shared between gateways: a wait or stream on gateway 1 for a task whose
// completion gateway 0 applied.
TEST(DistributedE2e, CrossGatewayWaitsAndEventStreams) {
  Cluster cluster("stipple-dist-cross");
  ASSERT_TRUE(cluster.Start(2, AllOnGatewayZero())) << cluster.error() << cluster.Logs();
  // First one synchronous request through gateway 1, whose completion gateway 0 applies: without
  // a shared event bus it is answered 202 when its wait ends, and the rest would only repeat it.
  HttpAnswer probe = SubmitTask(cluster.port(1), TaskBody(400, /*steps=*/20), /*wait_s=*/25);
  ASSERT_EQ(probe.status, 200)
      << "a synchronous wait on gateway 1 did not see the completion applied through gateway 0: "
      << probe.body;
  EXPECT_EQ(Str(Json(probe.body), "status"), "succeeded");

  // An event stream on gateway 1 follows a task run through gateway 0: its progress, exactly one
  // terminal event, then the stream ends.
  for (int i = 0; i < 5; ++i) {
    HttpAnswer created = SubmitTask(cluster.port(0), TaskBody(500 + i, /*steps=*/20));
    ASSERT_EQ(created.status, 202);
    const std::string id = Str(Json(created.body), "id");
    http::testing::StreamReader stream(
        cluster.port(1), "GET /v1/tasks/" + id + "/events HTTP/1.1\r\nHost: e2e\r\n\r\n");
    std::string seen = stream.ReadUntil("event: succeeded", std::chrono::seconds(60));
    ASSERT_NE(seen.find("event: succeeded"), std::string::npos)
        << id << ": no terminal event through gateway 1; the stream said:\n"
        << seen;
    seen = stream.ReadUntil("\n\nnever\n", std::chrono::seconds(30));  // until it closes
    EXPECT_TRUE(stream.closed()) << id << ": the stream ends after the terminal event";
    size_t terminal = 0;
    for (const char* type :
         {"event: succeeded", "event: failed", "event: canceled", "event: expired"}) {
      for (size_t at = seen.find(type); at != std::string::npos; at = seen.find(type, at + 1)) {
        ++terminal;
      }
    }
    EXPECT_EQ(terminal, 1u) << id << ":\n" << seen;
    EXPECT_NE(seen.find("event: progress"), std::string::npos) << id << ":\n" << seen;
  }

  // 200 tasks, synchronous and asynchronous, through both gateways in turn.
  constexpr int kTasks = 200;
  std::vector<Submitted> submitted = SubmitMany(cluster, kTasks, [](int i) {
    return std::pair<size_t, bool>{static_cast<size_t>(i % 2), i % 4 < 2};
  });
  for (const Submitted& s : submitted) {
    ASSERT_FALSE(s.id.empty()) << "HTTP " << s.status;
    if (!s.sync) continue;
    EXPECT_EQ(s.status, 200) << s.id << ": a synchronous wait must see the completion";
    EXPECT_EQ(s.answered, "succeeded") << s.id;
  }
  ExpectSucceededEverywhere(cluster, Ids(submitted), /*attempts=*/1, {0, 1});
}

// The preview a worker reports to gateway 0 is served by gateway 1 too (it travels in the
// progress event over the shared bus), and is gone from both once the task ended.
TEST(DistributedE2e, APreviewIsServedByEveryGateway) {
  Cluster cluster("stipple-dist-preview");
  ASSERT_TRUE(cluster.Start(2, AllOnGatewayZero(1))) << cluster.error() << cluster.Logs();
  // Many steps of several images, so the task runs long enough to be seen running.
  HttpAnswer created = SubmitTask(cluster.port(0), TaskBody(700, /*steps=*/150, /*images=*/4));
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = Str(Json(created.body), "id");
  std::string answered;
  ASSERT_TRUE(Eventually(
      [&] {
        HttpAnswer preview = Call(cluster.port(1), "GET", "/v1/tasks/" + id + "/preview");
        answered = std::to_string(preview.status) + " " + preview.body.substr(0, 200);
        return preview.status == 200 && preview.body.substr(1, 3) == "PNG";
      },
      std::chrono::seconds(60)))
      << "gateway 1 never served the preview reported to gateway 0; last answer: " << answered
      << cluster.Logs();
  std::optional<Object> done = AwaitTask(cluster.port(1), id, Terminal);
  ASSERT_TRUE(done) << cluster.Logs();
  EXPECT_EQ(Str(*done, "status"), "succeeded");
  for (size_t g : {0, 1}) {
    EXPECT_TRUE(Eventually(
        [&] { return Call(cluster.port(g), "GET", "/v1/tasks/" + id + "/preview").status == 404; },
        std::chrono::seconds(10)))
        << "an ended task has no preview, through gateway " << g;
  }
}

TEST(DistributedE2e, AWorkerKilledMidTaskIsRequeuedAndCompletedByAnother) {
  Cluster cluster("stipple-dist-worker-kill");
  // Short leases: the dead worker's lease lapses soon.
  ASSERT_TRUE(cluster.Start(2, AllOnGatewayZero(), /*lease_s=*/4))
      << cluster.error() << cluster.Logs();
  HttpAnswer created = SubmitTask(cluster.port(1), TaskBody(1, /*steps=*/40, /*images=*/2));
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = Str(Json(created.body), "id");
  ASSERT_TRUE(AwaitTask(cluster.port(1), id,
                        [](const Object& t) {
                          const boost::json::value* p = t.if_contains("progress");
                          return p != nullptr && p->is_object() && Int(p->as_object(), "step") >= 2;
                        }))
      << "never running\n"
      << cluster.Logs();
  std::vector<size_t> runner = cluster.WorkersThatLeased(id);
  ASSERT_EQ(runner.size(), 1u) << cluster.Logs();
  EXPECT_EQ(cluster.worker(runner[0]).Stop(SIGKILL), 128 + SIGKILL);

  std::optional<Object> done = AwaitTask(cluster.port(0), id, Terminal);
  ASSERT_TRUE(done) << cluster.Logs();
  EXPECT_EQ(Str(*done, "status"), "succeeded") << boost::json::serialize(*done);
  EXPECT_EQ(Int(*done, "attempts"), 2) << "the killed attempt counted";
  std::vector<size_t> leased = cluster.WorkersThatLeased(id);
  EXPECT_EQ(leased.size(), 2u) << "run again by another worker";
  for (size_t g : {0, 1}) {
    std::optional<Object> seen = GetTask(cluster.port(g), id);
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->at("outputs").as_array().size(), 2u);
    EXPECT_EQ(Output(cluster.port(g), id, 1).substr(1, 3), "PNG") << "through gateway " << g;
  }
  EXPECT_EQ(EndedTotal(cluster.port(0), "succeeded") + EndedTotal(cluster.port(1), "succeeded"), 1);
}

TEST(DistributedE2e, AGatewayKilledItsWorkersMoveToTheOtherAndItsTasksCompleteThere) {
  Cluster cluster("stipple-dist-gateway-kill");
  // Short leases: a lease lost with the dead gateway (a held ask's answer) lapses soon.
  ASSERT_TRUE(cluster.Start(2, AllOnGatewayZero(), /*lease_s=*/4))
      << cluster.error() << cluster.Logs();
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    HttpAnswer created = SubmitTask(cluster.port(0), TaskBody(i, /*steps=*/30));
    ASSERT_EQ(created.status, 202) << created.body;
    ids.push_back(Str(Json(created.body), "id"));
  }
  // Once one is running, gateway 0 dies.
  std::string running;
  ASSERT_TRUE(Eventually(
      [&] {
        for (const std::string& id : ids) {
          std::optional<Object> t = GetTask(cluster.port(1), id);
          if (t && Str(*t, "status") == "running" && t->if_contains("progress") &&
              t->at("progress").is_object()) {
            running = id;
            return true;
          }
        }
        return false;
      },
      kClusterWait))
      << cluster.Logs();
  EXPECT_EQ(cluster.gateway(0).Stop(SIGKILL), 128 + SIGKILL);

  ExpectSucceededEverywhere(cluster, ids, /*attempts=*/0, {1});
  for (const std::string& id : ids) {
    EXPECT_LE(Int(*GetTask(cluster.port(1), id), "attempts"), 2) << id;
  }
  EXPECT_EQ(Int(*GetTask(cluster.port(1), running), "attempts"), 1)
      << "the running task's lease survived the failover";
  for (size_t w = 0; w < cluster.workers(); ++w) {
    EXPECT_NE(cluster.worker(w).Log().find("trying the next one"), std::string::npos) << w;
  }
  EXPECT_TRUE(Eventually(
      [&] {
        return Json(Call(cluster.port(1), "GET", "/v1/queue").body)["workers"]
                   .as_object()["online"] == 3;
      },
      kClusterWait))
      << "every worker said hello to gateway 1";
  // The workers now serve through gateway 1: a synchronous request there completes.
  HttpAnswer sync = SubmitTask(cluster.port(1), TaskBody(99), /*wait_s=*/25);
  EXPECT_EQ(sync.status, 200) << sync.body;
  EXPECT_EQ(Str(Json(sync.body), "status"), "succeeded");
}

TEST(DistributedE2e, RedisDownAnswers503AndARestartWithAofLosesNothingAcknowledged) {
  Cluster cluster("stipple-dist-redis");
  ASSERT_TRUE(cluster.Start(2, AllOnGatewayZero())) << cluster.error() << cluster.Logs();
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 40; ++i) {
    HttpAnswer created = SubmitTask(cluster.port(i % 2), TaskBody(i, /*steps=*/8));
    ASSERT_EQ(created.status, 202) << created.body;
    acknowledged.push_back(Str(Json(created.body), "id"));
  }
  ASSERT_TRUE(cluster.redis().Stop(/*kill=*/true).ok());

  // Down: every answer comes, and is 503 with Retry-After — never a hang, never a 500.
  for (size_t g : {0, 1}) {
    const uint16_t port = cluster.port(g);
    HttpAnswer submit = SubmitTask(port, TaskBody(100));
    EXPECT_EQ(submit.status, 503) << "gateway " << g << ": " << submit.body;
    EXPECT_FALSE(submit.retry_after.empty()) << g;
    HttpAnswer sync = SubmitTask(port, TaskBody(101), /*wait_s=*/10);
    EXPECT_EQ(sync.status, 503) << "gateway " << g << ": " << sync.body;
    HttpAnswer get = Call(port, "GET", "/v1/tasks/" + acknowledged[g]);
    EXPECT_EQ(get.status, 503) << "gateway " << g << ": " << get.body;
    EXPECT_FALSE(get.retry_after.empty()) << g;
    HttpAnswer ready = Call(port, "GET", "/readyz");
    EXPECT_EQ(ready.status, 503) << g;
    EXPECT_FALSE(ready.retry_after.empty()) << g;
    EXPECT_EQ(Call(port, "GET", "/healthz").status, 200) << "the process itself still serves";
  }

  ASSERT_TRUE(cluster.redis().Restart().ok());
  for (size_t g : {0, 1}) {
    EXPECT_TRUE(Eventually([&] { return Call(cluster.port(g), "GET", "/readyz").status == 200; },
                           kClusterWait))
        << "gateway " << g << " ready again by itself";
  }
  ExpectSucceededEverywhere(cluster, acknowledged, /*attempts=*/0, {0, 1});
  HttpAnswer sync = SubmitTask(cluster.port(0), TaskBody(102), /*wait_s=*/25);
  EXPECT_EQ(sync.status, 200) << sync.body;
  EXPECT_EQ(Str(Json(sync.body), "status"), "succeeded");
}

}  // namespace
}  // namespace stipple::testing
