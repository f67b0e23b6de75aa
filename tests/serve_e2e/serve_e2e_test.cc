// `stipple serve` as a user runs it: the real binary, the bundled model, a data directory, real
// HTTP. A synchronous request returns the image; the task and its image survive a restart; a
// server killed with SIGKILL in the middle of a task loses nothing — on restart the task runs
// again (its lease belonged to the dead process) and completes exactly once; SIGTERM drains and
// exits 0. Image inputs reach both kinds of worker.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "api/testing/http_test_support.h"
#include "common/base64.h"
#include "imaging/png.h"
#include "process.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using http::testing::TestClient;
using http::testing::TestResponse;

// `stipple serve` on the bundled model (tests/support/process.h).
class ServeProcess : public testing::ServeProcess {
 public:
  explicit ServeProcess(const std::string& data_dir, std::vector<std::string> extra = {})
      : testing::ServeProcess(STIPPLE_BINARY, STIPPLE_MODEL_DIR, data_dir, std::move(extra)) {}
};

boost::json::object Json(const TestResponse& r) { return boost::json::parse(r.body).as_object(); }

using testing::TempDir;

const std::vector<std::pair<std::string, std::string>> kJson = {
    {"Content-Type", "application/json"}};

TEST(ServeE2e, SyncRequestReturnsTheImageAndBothSurviveARestart) {
  const std::string data = TempDir("stipple-serve-e2e");
  std::string id, etag;
  {
    ServeProcess serve(data);
    ASSERT_NE(serve.port(), 0) << "the server did not print its address";
    TestClient client(serve.port());
    auto headers = kJson;
    headers.push_back({"Prefer", "wait=60"});
    TestResponse created =
        client.Send("POST", "/v1/tasks", headers, R"({"prompt":"a big red circle","seed":5})");
    ASSERT_EQ(created.status, 200) << created.body;
    boost::json::object task = Json(created);
    EXPECT_EQ(task.at("status").as_string(), "succeeded");
    id = std::string(task.at("id").as_string());
    TestResponse image = client.Send("GET", "/v1/tasks/" + id + "/outputs/0");
    ASSERT_EQ(image.status, 200);
    EXPECT_EQ(image.body.substr(1, 3), "PNG");
    etag = std::string(image.headers.Get("ETag").value_or(""));
    EXPECT_EQ(serve.Stop(SIGTERM), 0);
  }
  ServeProcess again(data);
  TestClient client(again.port());
  TestResponse task = client.Send("GET", "/v1/tasks/" + id);
  ASSERT_EQ(task.status, 200);
  EXPECT_EQ(Json(task).at("status").as_string(), "succeeded");
  TestResponse image = client.Send("GET", "/v1/tasks/" + id + "/outputs/0");
  ASSERT_EQ(image.status, 200);
  EXPECT_EQ(image.headers.Get("ETag").value_or(""), etag);
  EXPECT_EQ(again.Stop(SIGTERM), 0);
  fs::remove_all(data);
}

TEST(ServeE2e, AServerKilledMidTaskLosesNothingAndTheTaskCompletesOnceAfterRestart) {
  const std::string data = TempDir("stipple-serve-kill");
  std::string id;
  {
    ServeProcess serve(data);
    TestClient client(serve.port());
    TestResponse created =
        client.Send("POST", "/v1/tasks", kJson,
                    R"({"prompt":"a small blue square","steps":100,"num_images":8,"seed":9})");
    ASSERT_EQ(created.status, 202) << created.body;
    id = std::string(Json(created).at("id").as_string());
    for (int i = 0; i < 200; ++i) {  // until it is running
      if (Json(client.Send("GET", "/v1/tasks/" + id)).at("status").as_string() == "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(serve.Stop(SIGKILL), 128 + SIGKILL);
  }
  ServeProcess again(data);
  TestClient client(again.port());
  TestResponse done = client.Send("GET", "/v1/tasks/" + id, {{"Prefer", "wait=120"}});
  ASSERT_EQ(done.status, 200);
  boost::json::object task = Json(done);
  EXPECT_EQ(task.at("status").as_string(), "succeeded");
  EXPECT_EQ(task.at("attempts").as_int64(), 2);  // the killed attempt counted
  EXPECT_EQ(task.at("outputs").as_array().size(), 8u);
  TestResponse listed = client.Send("GET", "/v1/tasks?limit=100");
  EXPECT_EQ(Json(listed).at("data").as_array().size(), 1u);  // nothing invented
  EXPECT_EQ(again.Stop(SIGTERM), 0);
  fs::remove_all(data);
}

// Image inputs on the shipped (pixel-space) model, through the real resolver and both kinds of
// worker: the embedded one reads the input from the result store, a --worker-processes child
// through the gateway (POST /v1/worker/input). Needs the engine's img2img for the shapes model.
TEST(ServeE2e, InitImageAndMaskProduceAnImageOnTheShippedModel) {
  std::vector<uint8_t> rgb(32 * 32 * 3), white(32 * 32 * 3, 0);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 13 % 256);
  for (size_t i = 0; i < white.size() / 2; ++i) white[i] = 255;  // repaint the top half
  const std::string init = "data:image/png;base64," + Base64Encode(*EncodePngRgb8(rgb, 32, 32));
  const std::string mask = "data:image/png;base64," + Base64Encode(*EncodePngRgb8(white, 32, 32));
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--worker-processes", "1"}}) {
    const std::string data = TempDir("stipple-serve-img2img");
    ServeProcess serve(data, extra);
    ASSERT_NE(serve.port(), 0) << "the server did not print its address";
    TestClient client(serve.port());
    auto headers = kJson;
    headers.push_back({"Prefer", "wait=120"});
    const std::vector<std::string> inputs = {
        R"("init_image":")" + init + R"(","strength":0.5)",
        R"("init_image":")" + init + R"(","mask_image":")" + mask + "\""};
    for (const std::string& fields : inputs) {
      TestResponse done = client.Send("POST", "/v1/tasks", headers,
                                      R"({"prompt":"a big red circle","seed":3,)" + fields + "}");
      ASSERT_EQ(done.status, 200) << done.body;
      boost::json::object task = Json(done);
      ASSERT_EQ(task.at("status").as_string(), "succeeded") << done.body;
      EXPECT_EQ(task.at("request").at("init_image").at("width").as_int64(), 32);
      TestResponse image =
          client.Send("GET", "/v1/tasks/" + std::string(task.at("id").as_string()) + "/outputs/0");
      ASSERT_EQ(image.status, 200);
      EXPECT_EQ(image.body.substr(1, 3), "PNG");
    }
    // A bad image: 400 naming the field, and the server goes on.
    TestResponse gif = client.Send("POST", "/v1/tasks", kJson,
                                   R"({"prompt":"x","init_image":"data:image/png;base64,)" +
                                       Base64Encode("GIF89a\x01\x00\x01\x00") + "\"}");
    EXPECT_EQ(gif.status, 400) << gif.body;
    EXPECT_NE(gif.body.find("\"field\":\"init_image\""), std::string::npos) << gif.body;
    EXPECT_EQ(client.Send("GET", "/healthz").status, 200);
    EXPECT_EQ(serve.Stop(SIGTERM), 0);
    fs::remove_all(data);
  }
}

// A child process of `pid` (any of its threads may have started it); -1 when none.
pid_t ChildOf(pid_t pid) {
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream children(task.path() / "children");
    pid_t child = -1;
    if (children >> child) return child;
  }
  return -1;
}

TEST(ServeE2e, AWorkerProcessKilledIsRestartedAndTheApiKeepsServing) {
  const std::string data = TempDir("stipple-serve-procs");
  ServeProcess serve(data, {"--worker-processes", "1", "--lease-s", "5"});
  ASSERT_NE(serve.port(), 0) << "the server did not print its address";
  TestClient client(serve.port());
  auto headers = kJson;
  headers.push_back({"Prefer", "wait=120"});
  TestResponse first =
      client.Send("POST", "/v1/tasks", headers, R"({"prompt":"a big red circle","seed":5})");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(Json(first).at("status").as_string(), "succeeded");
  const pid_t worker = ChildOf(serve.pid());
  ASSERT_GT(worker, 0) << "the worker process";
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  EXPECT_EQ(client.Send("GET", "/healthz").status, 200);
  TestResponse second =
      client.Send("POST", "/v1/tasks", headers, R"({"prompt":"a small blue square","seed":6})");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Json(second).at("status").as_string(), "succeeded") << "served by the restarted one";
  EXPECT_NE(ChildOf(serve.pid()), worker);
}

// Every child process of `pid` (started by any of its threads).
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream children(task.path() / "children");
    for (pid_t child; children >> child;) out.push_back(child);
  }
  return out;
}

// Whether a new socket can bind 127.0.0.1:port (nobody holds it listening).
bool CanBind(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // as the server binds
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok =
      bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

// kill -9 of `stipple serve` must not leave its worker processes holding the listening socket:
// they inherit none of its descriptors and end with it, so a restart on the same port works.
TEST(ServeE2e, WorkerProcessesEndWithAKilledServeAndFreeItsPort) {
  const std::string data = TempDir("stipple-serve-orphans");
  ServeProcess serve(data, {"--worker-processes", "2"});
  ASSERT_NE(serve.port(), 0) << "the server did not print its address";
  const uint16_t port = serve.port();
  TestClient client(port);
  auto headers = kJson;
  headers.push_back({"Prefer", "wait=120"});
  TestResponse done =
      client.Send("POST", "/v1/tasks", headers, R"({"prompt":"a big red circle","seed":5})");
  ASSERT_EQ(done.status, 200) << done.body;  // the workers are up and serving
  std::vector<pid_t> workers;
  for (int i = 0; i < 600 && workers.size() < 2; ++i) {  // the second may still be loading
    workers = ChildrenOf(serve.pid());
    if (workers.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(workers.size(), 2u);
  for (pid_t w : workers) {  // none holds the gateway's listening socket or its database
    for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(w) + "/fd")) {
      std::error_code ec;
      const std::string target = fs::read_symlink(fd.path(), ec).string();
      EXPECT_EQ(target.find("tasks.db"), std::string::npos) << "worker " << w << " " << target;
    }
  }
  EXPECT_EQ(serve.Stop(SIGKILL), 128 + SIGKILL);

  // The workers notice at once; the bound is generous for a loaded machine.
  bool gone = false, bindable = false;
  for (int i = 0; i < 300 && !(gone && bindable); ++i) {
    gone = std::all_of(workers.begin(), workers.end(),
                       [](pid_t w) { return kill(w, 0) != 0 && errno == ESRCH; });
    bindable = CanBind(port);
    if (!(gone && bindable)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << "a worker process outlived its serve";
  EXPECT_TRUE(bindable) << "port " << port << " is still held";
  ServeProcess again(data, {"--listen", "127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(again.port(), port) << "serve restarts on the same port";
  EXPECT_EQ(TestClient(port).Send("GET", "/healthz").status, 200);
  EXPECT_EQ(again.Stop(SIGTERM), 0);
  fs::remove_all(data);
}

TEST(ServeE2e, SighupReloadsTheApiKeysFile) {
  const std::string data = TempDir("stipple-serve-sighup");
  const std::string keys = data + "/keys.txt";
  auto write_keys = [&](const std::string& text) {
    const std::string tmp = keys + ".new";
    FILE* f = std::fopen(tmp.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
    fs::rename(tmp, keys);  // whole, never half-written
  };
  write_keys("alice key-a\n");
  ServeProcess serve(data + "/data", {"--api-keys", keys});
  ASSERT_NE(serve.port(), 0);
  auto status_with = [&](const std::string& key) {
    return TestClient(serve.port())
        .Send("GET", "/v1/models", {{"Authorization", "Bearer " + key}})
        .status;
  };
  EXPECT_EQ(status_with("key-a"), 200);
  EXPECT_EQ(status_with("key-b"), 401);
  write_keys("bob key-b\n");
  ASSERT_EQ(kill(serve.pid(), SIGHUP), 0);
  int b = 0;
  for (int i = 0; i < 300 && (b = status_with("key-b")) != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(b, 200);
  EXPECT_EQ(status_with("key-a"), 401);
  // A file that no longer parses keeps the keys in force.
  write_keys("bob\n");
  ASSERT_EQ(kill(serve.pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(status_with("key-b"), 200);
  EXPECT_EQ(serve.Stop(SIGTERM), 0);
  fs::remove_all(data);
}

}  // namespace
}  // namespace stipple
