// Image inputs across the parts: a real gateway (ApiServer on a ServiceStack with a SQLite task
// store and file results) with the real resolver (StoreImageInputs: decoders, result store, and
// the guarded fetch), and workers that read the inputs back by hash — embedded
// (StoreWorkSource) and remote (RemoteWorkSource over /v1/worker/input).
//
// The https:// cases: the parser admits only https:// URLs, and these tests have no TLS server,
// so the resolver's fetch is webhook::FetchImage on the same URL with http:// — the real libcurl
// fetch, the real connect-time guard (with 127.0.0.1 forbidden and the test servers on
// 127.0.0.2), only without TLS.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "api/api_server.h"
#include "api/testing/http_test_support.h"
#include "common/base64.h"
#include "common/digest.h"
#include "common/id.h"
#include "imaging/image_inputs.h"
#include "notify/in_memory_event_bus.h"
#include "results/fs_result_store.h"
#include "service/service_stack.h"
#include "store/sqlite/sqlite_task_store.h"
#include "worker/remote_work_source.h"
#include "worker/testing/worker_test_doubles.h"
#include "worker/testing/worker_test_fixture.h"
#include "worker/worker.h"

namespace stipple::testing {
namespace {

namespace fs = std::filesystem;
using http::testing::TestClient;
using http::testing::TestResponse;

constexpr const char* kToken = "worker-token-images";
const std::pair<std::string, std::string> kJson{"Content-Type", "application/json"};

// Answers every connection with `response` after the request head, or holds it unanswered when
// `response` is empty.
class RawServer {
 public:
  explicit RawServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::string head;
        char buf[1024];
        while (head.find("\r\n\r\n") == std::string::npos) {
          const ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          head.append(buf, static_cast<size_t>(n));
        }
        while (response_.empty() && !stop_) std::this_thread::sleep_for(Millis(10));
        (void)!::write(c, response_.data(), response_.size());
        ::close(c);
      }
    });
  }
  ~RawServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "https://127.0.0.2:" + std::to_string(port_) + path;
  }

 private:
  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string Png(int w, int h, uint8_t shade) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(shade + i % 7);
  return EncodePngRgb8(rgb, w, h).value();
}

std::string DataUrl(const std::string& bytes) {
  return "data:image/png;base64," + Base64Encode(bytes);
}

std::string Body(const std::string& fields) {
  return R"({"prompt":"a red circle","steps":2,)" + fields + "}";
}

WorkerOptions Options(const std::string& id) {
  WorkerOptions o;
  o.worker_id = id;
  o.lease_duration = Millis(3'000);
  o.heartbeat_interval = Millis(100);
  o.lease_wait = Millis(200);
  o.retry_backoff_base = Millis(10);
  return o;
}

class ImageInputsAcrossParts : public ::testing::Test {
 protected:
  ImageInputsAcrossParts() {
    dir_ = fs::temp_directory_path() / ("stipple-image-inputs-" + NewId("d"));
    fs::create_directories(dir_);
    store_ =
        SqliteTaskStore::Open({.path = (dir_ / "tasks.db").string(), .sync_full = false}).value();
    results_ = FsResultStore::Open({.dir = (dir_ / "outputs").string(), .sync = false}).value();
    service_ = std::make_unique<ServiceStack>(*store_, bus_, *results_, ServiceOptions{});
    ImageInputOptions inputs;
    inputs.max_bytes = 1 << 20;
    inputs.fetch = [](std::string_view url) {
      webhook::ImageFetchOptions fetch;
      fetch.test_allow_http = true;
      fetch.timeout = Millis(500);
      fetch.test_forbidden = [](const sockaddr* a) {
        return a->sa_family == AF_INET &&
               reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
      };
      return webhook::FetchImage("http" + std::string(url.substr(5)), fetch);
    };
    image_inputs_ = std::make_unique<StoreImageInputs>(*results_, inputs);
    http::ApiServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    options.gateway.image_inputs = image_inputs_.get();
    ModelCatalog catalog{{engine_.limits()}};
    catalog.loras = {LoraInfo{"anime", "sdxl", 1000}};
    server_ = std::make_unique<http::ApiServer>(service_->tasks(), catalog, options);
    server_->gateway().EnableWorkerProtocol(service_->work(), {.tokens = {kToken}});
    EXPECT_TRUE(server_->Start().ok());
  }
  ~ImageInputsAcrossParts() override {
    server_.reset();
    service_.reset();
    fs::remove_all(dir_);
  }

  TestResponse Post(const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers = {kJson}) {
    TestClient client(server_->port());
    return client.Send("POST", "/v1/tasks", headers, body);
  }
  std::vector<Task> Tasks() { return service_->tasks().List(ListQuery{}).value().tasks; }
  size_t StoredRecords() { return results_->ListLeases().value().size(); }
  Task WaitEnd(const std::string& id) {
    Task task;
    EXPECT_TRUE(Eventually([&] {
      task = service_->tasks().Get("", id).value();
      return IsTerminal(task.state);
    }));
    return task;
  }
  // The pixels the engine got for the job of `prompt`'s first call.
  std::shared_ptr<const RgbImage> EngineInit(size_t call = 0) {
    std::vector<TestDoubleEngine::Call> calls = engine_.calls();
    return call < calls.size() && !calls[call].init_images.empty() ? calls[call].init_images[0]
                                                                   : nullptr;
  }

  TestDoubleEngine engine_{TestDoubleEngineOptions{.model = "test-model"}};
  fs::path dir_;
  std::unique_ptr<SqliteTaskStore> store_;
  std::unique_ptr<FsResultStore> results_;
  InMemoryEventBus bus_;
  std::unique_ptr<ServiceStack> service_;
  std::unique_ptr<StoreImageInputs> image_inputs_;
  std::unique_ptr<http::ApiServer> server_;
};

// Each bad input: a precise 400 naming the field, no task, no input bytes, the server unaffected.
TEST_F(ImageInputsAcrossParts, BadInputTable) {
  std::string bomb = Png(4, 4, 10);
  for (size_t at : {size_t{16}, size_t{20}}) {
    for (int i = 0; i < 4; ++i) bomb[at + i] = static_cast<char>((50000u >> (24 - 8 * i)) & 0xff);
  }
  const std::string png = Png(8, 8, 10);
  RawServer local_only(
      "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/x.png\r\n"
      "Content-Length: 0\r\nConnection: close\r\n\r\n");
  RawServer silent("");
  struct Case {
    std::string fields, field, says;
  };
  const std::vector<Case> cases = {
      {R"("init_image":"data:image/png;base64,!!!!")", "init_image", "not valid base64"},
      {R"("init_image":")" + DataUrl(png.substr(0, png.size() / 2)) + "\"", "init_image", "png:"},
      {R"("init_image":")" + DataUrl("GIF89a\x01\x00\x01\x00\x00\x00\x00") + "\"", "init_image",
       "a GIF image"},
      {R"("init_image":")" + DataUrl("BM\x3a\x00\x00\x00\x00\x00\x00\x00") + "\"", "init_image",
       "a BMP image"},
      {R"("init_image":")" + DataUrl(bomb) + "\"", "init_image", "50000x50000 is over the limit"},
      {R"("init_image":")" + DataUrl(png) + R"(","mask_image":")" + DataUrl(Png(16, 16, 0)) + "\"",
       "mask_image", "is 16x16, not the init image's 8x8"},
      {R"("width":16,"height":16,"init_image":")" + DataUrl(png) + "\"", "init_image",
       "is 8x8, not the request's 16x16"},
      {R"("init_image":")" + local_only.url("/moved.png") + "\"", "init_image",
       "forbidden address 127.0.0.1"},
      {R"("init_image":")" + silent.url("/slow.png") + "\"", "init_image",
       "did not answer within 500 ms"},
      {R"("loras":[{"name":"anime","scale":0.8}])", "loras[0].name", "is for sdxl models"},
  };
  for (const Case& c : cases) {
    TestResponse r = Post(Body(c.fields));
    EXPECT_EQ(r.status, 400) << c.says << ": " << r.body;
    boost::json::object problem = boost::json::parse(r.body).as_object();
    const boost::json::array& errors = problem["errors"].as_array();
    ASSERT_FALSE(errors.empty()) << r.body;
    EXPECT_EQ(errors[0].as_object().at("field").as_string(), c.field) << r.body;
    EXPECT_NE(std::string(errors[0].as_object().at("message").as_string()).find(c.says),
              std::string::npos)
        << r.body;
    EXPECT_TRUE(Tasks().empty()) << c.says;
    EXPECT_EQ(StoredRecords(), 0u) << c.says;
  }
  // The server goes on.
  TestResponse ok = Post(Body(R"("init_image":")" + DataUrl(png) + "\""));
  EXPECT_EQ(ok.status, 202) << ok.body;
}

TEST_F(ImageInputsAcrossParts, TheEmbeddedWorkerGetsThePixelsByHash) {
  const std::string init = Png(8, 8, 40), mask = Png(8, 8, 200);
  RawServer served("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(init.size()) +
                   "\r\nConnection: close\r\n\r\n" + init);
  TestResponse r = Post(Body(R"("init_image":")" + served.url("/init.png") + R"(","mask_image":")" +
                             DataUrl(mask) + R"(","strength":0.5)"));
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id(boost::json::parse(r.body).as_object().at("id").as_string());
  const Task stored = service_->tasks().Get("", id).value();
  ASSERT_TRUE(stored.request.init_image && stored.request.init_image->resolved());
  EXPECT_EQ(stored.request.init_image->sha256, Sha256Hex(init));
  EXPECT_EQ(stored.request.mask_image->sha256, Sha256Hex(mask));
  EXPECT_EQ(stored.request.width, 8);  // the image's size
  EXPECT_EQ(r.body.find("https://"), std::string::npos);

  Worker worker(&service_->work(), {&engine_}, Options("wkr_embedded"));
  ASSERT_TRUE(worker.Start().ok());
  const Task done = WaitEnd(id);
  worker.Drain(Millis(2000));
  EXPECT_EQ(done.state, TaskState::kSucceeded) << (done.error ? done.error->message : "");
  ASSERT_NE(EngineInit(), nullptr);
  EXPECT_EQ(EngineInit()->rgb, DecodePngRgb8(init)->rgb);
  EXPECT_EQ(engine_.calls()[0].mask_images[0]->rgb, DecodePngRgb8(mask)->rgb);
}

TEST_F(ImageInputsAcrossParts, ARemoteWorkerReadsTheInputThroughTheGateway) {
  const std::string init = Png(16, 16, 90);
  TestResponse r = Post(Body(R"("init_image":")" + DataUrl(init) + "\""));
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id(boost::json::parse(r.body).as_object().at("id").as_string());

  RemoteWorkSourceOptions remote;
  remote.gateway_url = "http://127.0.0.1:" + std::to_string(server_->port());
  remote.token = kToken;
  auto source = RemoteWorkSource::Create(remote).value();
  Worker worker(source.get(), {&engine_}, Options("wkr_remote"));
  ASSERT_TRUE(worker.Start().ok());
  const Task done = WaitEnd(id);
  worker.Drain(Millis(2000));
  EXPECT_EQ(done.state, TaskState::kSucceeded) << (done.error ? done.error->message : "");
  ASSERT_NE(EngineInit(), nullptr);
  EXPECT_EQ(EngineInit()->width, 16);
  EXPECT_EQ(EngineInit()->rgb, DecodePngRgb8(init)->rgb);
  EXPECT_EQ(source->GetInput(Sha256Hex("never stored")).status().code(), StatusCode::kNotFound);
}

TEST_F(ImageInputsAcrossParts, AMissingInputFailsTheTaskPermanently) {
  NewTask task;
  task.id = NewId("tsk");
  task.tenant = "acme";
  task.request = TestRequest("a lost image", 2, 8);
  task.request.model = "test-model";
  ImageInput gone;
  gone.sha256 = Sha256Hex("bytes nobody stored");
  gone.media_type = "image/png";
  gone.width = gone.height = 8;
  task.request.init_image = gone;
  task.request.strength = 0.5;
  ASSERT_TRUE(service_->tasks().Submit(task).ok());
  Worker worker(&service_->work(), {&engine_}, Options("wkr_missing"));
  ASSERT_TRUE(worker.Start().ok());
  const Task done = WaitEnd(task.id);
  worker.Drain(Millis(2000));
  EXPECT_EQ(done.state, TaskState::kFailed);
  ASSERT_TRUE(done.error.has_value());
  EXPECT_EQ(done.error->code, "input_missing");
  EXPECT_EQ(done.attempts, 1);
  EXPECT_TRUE(engine_.calls().empty());
}

TEST_F(ImageInputsAcrossParts, AnIdempotentResubmitWithAnotherImageIsAConflict) {
  const auto key = std::pair<std::string, std::string>{"Idempotency-Key", "edit-1"};
  const std::string first = Body(R"("init_image":")" + DataUrl(Png(8, 8, 1)) + "\"");
  TestResponse created = Post(first, {kJson, key});
  ASSERT_EQ(created.status, 202) << created.body;
  TestResponse replayed = Post(first, {kJson, key});
  EXPECT_LT(replayed.status, 300) << replayed.body;
  TestResponse other = Post(Body(R"("init_image":")" + DataUrl(Png(8, 8, 2)) + "\""), {kJson, key});
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(Tasks().size(), 1u);
}

}  // namespace
}  // namespace stipple::testing
