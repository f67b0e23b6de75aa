// Webhooks as a user meets them: the real `stipple serve` on the bundled model delivering to a
// real receiver on loopback (tests/webhooks/receiver.js) that verifies every signature with the
// standardwebhooks npm package — an implementation independent of stipple's. Covers the event
// filter and per-task order, the generated secret and key rotation, retries (receiver down then
// up, 500s, a hanging receiver), 410 Gone, a kill -9 between completion and delivery, and the
// SSRF guard at submit; and the same on the Redis task store, with two gateways sharing it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/testing/http_test_support.h"
#include "store/redis/redis_client.h"
#include "store/redis/testing/redis_test_server.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using http::testing::TestClient;
using http::testing::TestResponse;

// Forks `argv`, reads its first stdout line and returns it; the child keeps running.
pid_t Spawn(std::vector<std::string> args, std::string* first_line) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') first_line->push_back(c);
  close(fds[0]);
  return pid;
}

int StopChild(pid_t pid, int signo) {
  kill(pid, signo);
  for (int i = 0; i < 600; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

// One `stipple serve` on a free port, with quick webhook retries.
class Serve {
 public:
  Serve(const std::string& data_dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {STIPPLE_BINARY,
                                     "serve",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--data-dir",
                                     data_dir,
                                     "--model-dir",
                                     STIPPLE_MODEL_DIR,
                                     "--threads",
                                     "1",
                                     "--log-level",
                                     "warn",
                                     "--webhook-retry-schedule",
                                     "0.3,0.3,0.5,0.5,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1",
                                     "--webhook-progress-interval-s",
                                     "0.05"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string line;
    pid_ = Spawn(args, &line);
    const size_t at = line.find("http://127.0.0.1:");
    if (at != std::string::npos) port_ = static_cast<uint16_t>(std::stoi(line.substr(at + 17)));
  }
  ~Serve() {
    if (pid_ > 0) StopChild(pid_, SIGKILL);
  }
  uint16_t port() const { return port_; }
  int Stop(int signo) {
    int r = StopChild(pid_, signo);
    pid_ = -1;
    return r;
  }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// The Node.js receiver (receiver.js).
class Receiver {
 public:
  Receiver(int port, std::vector<std::string> secrets, const std::string& answers = "") {
    std::vector<std::string> args = {STIPPLE_NODE, STIPPLE_RECEIVER_JS, "--port",
                                     std::to_string(port)};
    for (const std::string& s : secrets) {
      args.push_back("--secret");
      args.push_back(s);
    }
    if (!answers.empty()) {
      args.push_back("--answers");
      args.push_back(answers);
    }
    std::string line;
    pid_ = Spawn(args, &line);
    if (line.rfind("listening ", 0) == 0) port_ = std::stoi(line.substr(10));
  }
  ~Receiver() { StopChild(pid_, SIGKILL); }
  int port() const { return port_; }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

  json::array Deliveries() const {
    TestClient client(static_cast<uint16_t>(port_));
    TestResponse r = client.Send("GET", "/deliveries");
    return json::parse(r.body).as_array();
  }
  // Waits until `done(deliveries)` holds (up to 120 s).
  json::array WaitUntil(const std::function<bool(const json::array&)>& done) const {
    json::array d;
    for (int i = 0; i < 1200; ++i) {
      d = Deliveries();
      if (done(d)) return d;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "receiver never got what was expected; got " << json::serialize(d);
    return d;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

std::string TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / (name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// A loopback port nobody listens on (for a receiver started later).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

const std::vector<std::pair<std::string, std::string>> kJson = {
    {"Content-Type", "application/json"}};
constexpr char kSecret1[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kSecret2[] = "whsec_c3RpcHBsZS1yb3RhdGVkLWtleS0wMDAwMDAwMDE=";

std::string Submit(uint16_t port, const std::string& url, const std::string& events,
                   int steps = 4) {
  TestClient client(port);
  TestResponse r =
      client.Send("POST", "/v1/tasks", kJson,
                  R"({"prompt":"a red circle","steps":)" + std::to_string(steps) +
                      R"(,"seed":1,"webhook":{"url":")" + url + R"(","events":)" + events + "}}");
  EXPECT_EQ(r.status, 202) << r.body;
  return std::string(json::parse(r.body).at("id").as_string());
}

json::object WaitForTask(uint16_t port, const std::string& id) {
  TestClient client(port);
  TestResponse r = client.Send("GET", "/v1/tasks/" + id, {{"Prefer", "wait=120"}});
  EXPECT_EQ(r.status, 200) << r.body;
  return json::parse(r.body).as_object();
}

json::array DeliveryLog(uint16_t port, const std::string& id) {
  TestClient client(port);
  TestResponse r = client.Send("GET", "/v1/tasks/" + id + "/webhooks");
  EXPECT_EQ(r.status, 200) << r.body;
  return json::parse(r.body).at("data").as_array();
}

// The delivery log of `id` once its first delivery is recorded as delivered (up to 60 s): the
// gateway records the outcome after the receiver has answered, so a receiver that has the
// delivery can be a moment ahead of the log.
json::array DeliveredLog(uint16_t port, const std::string& id) {
  json::array log;
  for (int i = 0; i < 600; ++i) {
    log = DeliveryLog(port, id);
    if (!log.empty() && log[0].at("status").as_string() == "delivered") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return log;
}

std::vector<std::string> TypesOf(const json::array& deliveries, const std::string& task_id) {
  std::vector<std::string> out;
  for (const auto& d : deliveries) {
    const json::object& o = d.as_object();
    if (o.at("task_id").is_string() && o.at("task_id").as_string() == task_id) {
      out.push_back(std::string(o.at("type").as_string()));
    }
  }
  return out;
}

bool HasTerminal(const json::array& deliveries, const std::string& task_id) {
  for (const std::string& t : TypesOf(deliveries, task_id)) {
    if (t == "task.succeeded") return true;
  }
  return false;
}

TEST(WebhooksE2e, TheGeneratedSecretVerifiesAndOnlyTheAskedForEventsArriveInOrder) {
  const std::string data = TempDir("stipple-webhooks-filter");
  Serve serve(data, {"--webhook-allow-private"});
  ASSERT_NE(serve.port(), 0);
  std::ifstream secret_file(fs::path(data) / "webhook-secret");
  std::string secret;
  std::getline(secret_file, secret);
  ASSERT_EQ(secret.rfind("whsec_", 0), 0u) << "no generated secret in the data dir";
  Receiver receiver(0, {secret});
  const std::string all =
      Submit(serve.port(), receiver.Url(), R"(["started","progress","completed"])", 20);
  const std::string done = Submit(serve.port(), receiver.Url(), R"(["completed"])");
  const std::string started = Submit(serve.port(), receiver.Url(), R"(["started"])");
  for (const auto& id : {all, done, started}) WaitForTask(serve.port(), id);
  json::array got = receiver.WaitUntil([&](const json::array& d) {
    return HasTerminal(d, all) && HasTerminal(d, done) && !TypesOf(d, started).empty();
  });
  for (const auto& d : got) {  // every delivery verified with the secret
    EXPECT_EQ(d.as_object().at("verified_with").as_array().size(), 1u) << json::serialize(d);
  }
  std::vector<std::string> all_types = TypesOf(got, all);
  ASSERT_GE(all_types.size(), 3u);
  EXPECT_EQ(all_types.front(), "task.started");
  EXPECT_EQ(all_types.back(), "task.succeeded");
  for (size_t i = 1; i + 1 < all_types.size(); ++i) EXPECT_EQ(all_types[i], "task.progress");
  EXPECT_EQ(TypesOf(got, done), std::vector<std::string>{"task.succeeded"});
  EXPECT_EQ(TypesOf(got, started), std::vector<std::string>{"task.started"});
  json::array log = DeliveredLog(serve.port(), done);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("status").as_string(), "delivered");
  EXPECT_EQ(log[0].at("attempts").as_array()[0].at("response_status").as_int64(), 200);
  EXPECT_EQ(serve.Stop(SIGTERM), 0);
  fs::remove_all(data);
}

TEST(WebhooksE2e, AReceiverThatIsDownThenUpGetsTheDeliveryOnce) {
  const std::string data = TempDir("stipple-webhooks-down");
  Serve serve(data, {"--webhook-allow-private", "--webhook-secret", kSecret1});
  const int port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  const std::string id = Submit(serve.port(), url, R"(["completed"])");
  WaitForTask(serve.port(), id);
  for (int i = 0; i < 600; ++i) {  // until an attempt has failed
    json::array log = DeliveryLog(serve.port(), id);
    if (!log.empty() && !log[0].at("attempts").as_array().empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  json::array log = DeliveryLog(serve.port(), id);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_FALSE(log[0].at("attempts").as_array()[0].at("error").as_string().empty());
  EXPECT_EQ(log[0].at("status").as_string(), "pending");
  EXPECT_FALSE(log[0].at("next_attempt_at").is_null());
  Receiver receiver(port, {kSecret1});
  receiver.WaitUntil([&](const json::array& d) { return HasTerminal(d, id); });
  DeliveredLog(serve.port(), id);
  EXPECT_EQ(DeliveryLog(serve.port(), id)[0].at("status").as_string(), "delivered");
  EXPECT_EQ(receiver.Deliveries().size(), 1u);  // delivered: no further attempt
  fs::remove_all(data);
}

TEST(WebhooksE2e, FiveHundredsAreRetriedUntilA200AndEachSignatureVerifiesWithEitherKey) {
  const std::string data = TempDir("stipple-webhooks-500");
  // Two secrets while rotating: the receiver knows only the new one.
  Serve serve(data, {"--webhook-allow-private", "--webhook-secret", kSecret1, "--webhook-secret",
                     kSecret2});
  Receiver receiver(0, {kSecret2}, "500,503,200");
  const std::string id = Submit(serve.port(), receiver.Url(), R"(["completed"])");
  json::array got = receiver.WaitUntil([](const json::array& d) { return d.size() >= 3; });
  ASSERT_EQ(got.size(), 3u);
  for (const auto& d : got) {
    EXPECT_EQ(d.at("verified_with").as_array().size(), 1u);
    EXPECT_EQ(d.at("id").as_string(), got[0].at("id").as_string());  // stable across retries
  }
  DeliveredLog(serve.port(), id);
  json::array attempts = DeliveryLog(serve.port(), id)[0].at("attempts").as_array();
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0].at("response_status").as_int64(), 500);
  EXPECT_EQ(attempts[1].at("response_status").as_int64(), 503);
  EXPECT_EQ(attempts[2].at("response_status").as_int64(), 200);
  fs::remove_all(data);
}

TEST(WebhooksE2e, AHangingReceiverTimesOutAndIsRetried) {
  const std::string data = TempDir("stipple-webhooks-hang");
  Serve serve(
      data, {"--webhook-allow-private", "--webhook-secret", kSecret1, "--webhook-timeout-s", "1"});
  Receiver receiver(0, {kSecret1}, "hang,200");
  const std::string id = Submit(serve.port(), receiver.Url(), R"(["completed"])");
  receiver.WaitUntil([](const json::array& d) { return d.size() >= 2; });
  DeliveredLog(serve.port(), id);
  json::array attempts = DeliveryLog(serve.port(), id)[0].at("attempts").as_array();
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_TRUE(attempts[0].at("response_status").is_null());
  EXPECT_NE(std::string(attempts[0].at("error").as_string()).find("timeout"), std::string::npos);
  EXPECT_EQ(attempts[1].at("response_status").as_int64(), 200);
  fs::remove_all(data);
}

TEST(WebhooksE2e, A410StopsEveryFurtherDeliveryOfTheTask) {
  const std::string data = TempDir("stipple-webhooks-gone");
  Serve serve(data, {"--webhook-allow-private", "--webhook-secret", kSecret1});
  Receiver receiver(0, {kSecret1}, "410");
  const std::string id = Submit(serve.port(), receiver.Url(), R"(["started","completed"])");
  WaitForTask(serve.port(), id);
  // The task ended (its terminal delivery was either refused at once, the task being gone, or
  // queued before the 410 and then failed with it): nothing is pending.
  json::array log;
  for (int i = 0; i < 600; ++i) {
    log = DeliveryLog(serve.port(), id);
    bool settled = !log.empty() && !log[0].at("attempts").as_array().empty();
    for (const auto& d : log) settled = settled && d.at("status").as_string() != "pending";
    if (settled) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(log.size(), 1u);
  EXPECT_EQ(log[0].at("event").as_string(), "task.started");
  EXPECT_EQ(log[0].at("status").as_string(), "failed");
  EXPECT_EQ(log[0].at("attempts").as_array().size(), 1u);
  for (size_t i = 1; i < log.size(); ++i) {
    EXPECT_EQ(log[i].at("status").as_string(), "failed");
    EXPECT_EQ(log[i].at("attempts").as_array().size(), 0u);
  }
  EXPECT_EQ(receiver.Deliveries().size(), 1u);
  fs::remove_all(data);
}

TEST(WebhooksE2e, AServerKilledBetweenCompletionAndDeliveryDeliversAfterRestartWithTheSameId) {
  const std::string data = TempDir("stipple-webhooks-kill");
  const int port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  const std::vector<std::string> flags = {"--webhook-allow-private", "--webhook-secret", kSecret1};
  std::string id, webhook_id;
  {
    Serve serve(data, flags);
    id = Submit(serve.port(), url, R"(["completed"])");
    EXPECT_EQ(WaitForTask(serve.port(), id).at("status").as_string(), "succeeded");
    json::array log = DeliveryLog(serve.port(), id);  // written with the completion
    ASSERT_EQ(log.size(), 1u);
    webhook_id = std::string(log[0].at("id").as_string());
    EXPECT_EQ(serve.Stop(SIGKILL), 128 + SIGKILL);
  }
  Receiver receiver(port, {kSecret1});
  Serve again(data, flags);
  json::array got = receiver.WaitUntil([&](const json::array& d) { return HasTerminal(d, id); });
  EXPECT_EQ(got[0].at("id").as_string(), webhook_id);
  EXPECT_EQ(got[0].at("verified_with").as_array().size(), 1u);
  fs::remove_all(data);
}

TEST(WebhooksE2e, InvalidOrForbiddenUrlsAreRefusedAtSubmitNamingTheField) {
  const std::string data = TempDir("stipple-webhooks-ssrf");
  Serve serve(data, {"--webhook-secret", kSecret1});  // private targets not allowed
  TestClient client(serve.port());
  for (const char* url :
       {"ftp://example.com/hook", "http://127.0.0.1:9/hook", "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/hook", "http://[::1]/hook",
        "http://[fd00:ec2::254]/", "not a url"}) {
    TestResponse r =
        client.Send("POST", "/v1/tasks", kJson,
                    std::string(R"({"prompt":"a red circle","webhook":{"url":")") + url + R"("}})");
    EXPECT_EQ(r.status, 400) << url;
    EXPECT_NE(r.body.find("\"webhook.url\""), std::string::npos) << url << ": " << r.body;
  }
  TestResponse listed = client.Send("GET", "/v1/tasks");
  EXPECT_EQ(json::parse(listed.body).at("data").as_array().size(), 0u);  // nothing created
  fs::remove_all(data);
}

// ---- on the Redis task store ----

std::unique_ptr<redis::RedisTestServer> StartRedis() {
  auto server = redis::RedisTestServer::Start({.appendfsync = "always"});
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(*server) : nullptr;
}

// The signing secret the first gateway generated and keeps in Redis.
std::string SharedSecret(const redis::RedisTestServer& server) {
  redis::RedisClient client({.url = *redis::ParseRedisUrl(server.url())});
  auto secret = client.Command({"GET", "stipple:wh:secret"});
  return secret.ok() ? redis::ReplyString(**secret) : "";
}

TEST(WebhooksE2e, TwoGatewaysOnOneRedisDeliverEachEventOnceInOrderWithTheSharedSecret) {
  auto redis = StartRedis();
  ASSERT_TRUE(redis);
  const std::string data_a = TempDir("stipple-webhooks-redis-a");
  const std::string data_b = TempDir("stipple-webhooks-redis-b");
  // A runs the worker; B only takes requests. Both run a webhook dispatcher on the shared outbox.
  Serve a(data_a, {"--webhook-allow-private", "--store", redis->url()});
  ASSERT_NE(a.port(), 0);
  Serve b(data_b, {"--webhook-allow-private", "--store", redis->url(), "--workers", "0"});
  ASSERT_NE(b.port(), 0);
  const std::string secret = SharedSecret(*redis);
  ASSERT_EQ(secret.rfind("whsec_", 0), 0u) << "no shared secret in Redis";
  EXPECT_FALSE(fs::exists(fs::path(data_a) / "webhook-secret"));
  Receiver receiver(0, {secret});
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(
        Submit(i % 2 ? b.port() : a.port(), receiver.Url(), R"(["started","completed"])"));
  }
  // And one with progress, submitted to the gateway without workers.
  const std::string with_progress =
      Submit(b.port(), receiver.Url(), R"(["started","progress","completed"])", 20);
  json::array got = receiver.WaitUntil([&](const json::array& d) {
    for (const auto& id : ids) {
      if (!HasTerminal(d, id)) return false;
    }
    return HasTerminal(d, with_progress);
  });
  std::set<std::string> webhook_ids;
  for (const auto& d : got) {
    EXPECT_EQ(d.at("verified_with").as_array().size(), 1u) << json::serialize(d);
    EXPECT_TRUE(webhook_ids.insert(std::string(d.at("id").as_string())).second)
        << "delivered twice: " << json::serialize(d);
  }
  for (const auto& id : ids) {
    EXPECT_EQ(TypesOf(got, id), (std::vector<std::string>{"task.started", "task.succeeded"}));
  }
  std::vector<std::string> progress_types = TypesOf(got, with_progress);
  ASSERT_GE(progress_types.size(), 2u);
  EXPECT_EQ(progress_types.front(), "task.started");
  EXPECT_EQ(progress_types.back(), "task.succeeded");
  for (size_t i = 1; i + 1 < progress_types.size(); ++i) {
    EXPECT_EQ(progress_types[i], "task.progress");
  }
  json::array log;  // the log reads the same from either gateway
  for (int i = 0; i < 600; ++i) {
    log = DeliveryLog(b.port(), ids[0]);
    if (log.size() == 2 && log[1].at("status").as_string() == "delivered") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].at("status").as_string(), "delivered");
  EXPECT_EQ(log[1].at("status").as_string(), "delivered");
  EXPECT_EQ(json::serialize(DeliveryLog(a.port(), ids[0])), json::serialize(log));
  EXPECT_EQ(b.Stop(SIGTERM), 0);
  EXPECT_EQ(a.Stop(SIGTERM), 0);
  fs::remove_all(data_a);
  fs::remove_all(data_b);
}

TEST(WebhooksE2e, OnRedisAGatewayKilledBeforeDeliveringLeavesTheDeliveryToTheNextWithTheSameId) {
  auto redis = StartRedis();
  ASSERT_TRUE(redis);
  const std::string data = TempDir("stipple-webhooks-redis-kill");
  const int port = FreePort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  const std::vector<std::string> flags = {"--webhook-allow-private", "--webhook-secret", kSecret1,
                                          "--store", redis->url()};
  std::string id, webhook_id;
  {
    Serve serve(data, flags);
    ASSERT_NE(serve.port(), 0);
    id = Submit(serve.port(), url, R"(["completed"])");
    EXPECT_EQ(WaitForTask(serve.port(), id).at("status").as_string(), "succeeded");
    json::array log = DeliveryLog(serve.port(), id);  // written with the completion
    ASSERT_EQ(log.size(), 1u);
    webhook_id = std::string(log[0].at("id").as_string());
    EXPECT_EQ(serve.Stop(SIGKILL), 128 + SIGKILL);
  }
  Receiver receiver(port, {kSecret1});
  Serve again(data, flags);
  json::array got = receiver.WaitUntil([&](const json::array& d) { return HasTerminal(d, id); });
  EXPECT_EQ(got[0].at("id").as_string(), webhook_id);
  EXPECT_EQ(got[0].at("verified_with").as_array().size(), 1u);
  fs::remove_all(data);
}

}  // namespace
}  // namespace stipple
