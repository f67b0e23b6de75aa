// The `stipple` client commands as a person or a script runs them: the real binary as a
// subprocess against a real `stipple serve` on the bundled model. Generate (sync, async, --json),
// status, wait, events, list, models, queue, cancel (by command and by Ctrl-C twice), and the
// documented exit codes (docs/cli.md).
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "process.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::ProcessResult;
using testing::RunProcess;
using testing::ServeProcess;

// Exit codes, as docs/cli.md documents them.
constexpr int kOk = 0, kFailed = 1, kUsage = 2, kCanceled = 3, kUnreachable = 5, kUnauthorized = 6,
              kNotFound = 7, kTimeout = 8;

// A prompt and settings that keep the single worker busy for a long while (canceled by tests).
const std::vector<std::string> kLongTask = {"a small blue square", "--steps", "150", "--n", "8"};

boost::json::object Json(const std::string& line) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  EXPECT_FALSE(ec) << "not JSON: " << line;
  return ec || !v.is_object() ? boost::json::object() : v.as_object();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class CliE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new std::string(testing::TempDir("stipple-cli-e2e-data"));
    serve_ = new ServeProcess(STIPPLE_BINARY, STIPPLE_MODEL_DIR, *data_, {"--workers", "1"});
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(serve_->Stop(SIGTERM), 0);
    delete serve_;
    fs::remove_all(*data_);
    delete data_;
  }
  void SetUp() override {
    ASSERT_NE(serve_->port(), 0) << "the server did not print its address";
    dir_ = testing::TempDir(
        "stipple-cli-e2e-" +
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `stipple ARGS... --server URL`.
  static std::vector<std::string> Command(std::vector<std::string> args) {
    args.insert(args.begin(), STIPPLE_BINARY);
    args.push_back("--server");
    args.push_back(serve_->url());
    return args;
  }
  static ProcessResult Stipple(std::vector<std::string> args) {
    return RunProcess(Command(std::move(args)));
  }
  // Submits the long task with --async and returns its id.
  static std::string SubmitLongTask() {
    std::vector<std::string> args = {"generate"};
    args.insert(args.end(), kLongTask.begin(), kLongTask.end());
    args.push_back("--async");
    ProcessResult r = Stipple(args);
    EXPECT_EQ(r.exit_code, kOk) << r.err;
    return Trim(r.out);
  }

  static std::string* data_;
  static ServeProcess* serve_;
  std::string dir_;
};

std::string* CliE2e::data_ = nullptr;
ServeProcess* CliE2e::serve_ = nullptr;

TEST_F(CliE2e, GenerateWritesThePngAndPrintsItsPath) {
  const std::string out = dir_ + "/circle.png";
  ProcessResult r =
      Stipple({"generate", "a big red circle", "--steps", "4", "--seed", "5", "-o", out});
  ASSERT_EQ(r.exit_code, kOk) << r.err;
  EXPECT_EQ(Trim(r.out), out + "  32x32  seed 5");
  std::ifstream png(out, std::ios::binary);
  std::stringstream bytes;
  bytes << png.rdbuf();
  EXPECT_EQ(bytes.str().substr(1, 3), "PNG");
  // Not on a terminal: plain progress lines on stderr, ending with the outcome.
  EXPECT_NE(r.err.find("succeeded in"), std::string::npos) << r.err;
}

TEST_F(CliE2e, GenerateJsonPrintsTheFinishedTaskWithItsFiles) {
  ProcessResult r = Stipple({"generate", "a green triangle", "--steps", "3", "--size", "32x32",
                             "--n", "2", "-o", dir_ + "/tri.png", "--json"});
  ASSERT_EQ(r.exit_code, kOk) << r.err;
  boost::json::object task = Json(Trim(r.out));
  EXPECT_EQ(task["status"].as_string(), "succeeded");
  EXPECT_EQ(task["outputs"].as_array().size(), 2u);
  ASSERT_EQ(task["files"].as_array().size(), 2u);
  EXPECT_EQ(task["files"].as_array()[1].as_string(), dir_ + "/tri-1.png");
  EXPECT_TRUE(fs::exists(dir_ + "/tri-0.png"));
  EXPECT_TRUE(fs::exists(dir_ + "/tri-1.png"));
}

TEST_F(CliE2e, AsyncGeneratePrintsTheIdThatWaitStatusEventsAndListShow) {
  ProcessResult submitted =
      Stipple({"generate", "a big yellow circle", "--steps", "3", "--async", "--json"});
  ASSERT_EQ(submitted.exit_code, kOk) << submitted.err;
  const std::string id(Json(Trim(submitted.out))["id"].as_string());
  ASSERT_TRUE(id.starts_with("tsk_")) << submitted.out;

  ProcessResult waited = Stipple({"wait", id, "--json"});
  ASSERT_EQ(waited.exit_code, kOk) << waited.err;
  EXPECT_EQ(Json(Trim(waited.out))["status"].as_string(), "succeeded");

  ProcessResult status = Stipple({"status", id, "--json"});
  ASSERT_EQ(status.exit_code, kOk) << status.err;
  EXPECT_EQ(Json(Trim(status.out))["id"].as_string(), id);
  ProcessResult human = Stipple({"status", id});
  EXPECT_NE(human.out.find(id + "  succeeded  1 image"), std::string::npos) << human.out;

  ProcessResult events = Stipple({"events", id, "--json"});
  ASSERT_EQ(events.exit_code, kOk) << events.err;
  std::istringstream lines(events.out);
  std::string line, last_type;
  int64_t last_seq = 0;
  while (std::getline(lines, line)) {
    boost::json::object event = Json(line);
    EXPECT_GT(event["seq"].as_int64(), last_seq);
    last_seq = event["seq"].as_int64();
    last_type = std::string(event["type"].as_string());
  }
  EXPECT_EQ(last_type, "succeeded");

  ProcessResult listed = Stipple({"list", "--json", "--limit", "100"});
  ASSERT_EQ(listed.exit_code, kOk) << listed.err;
  EXPECT_NE(listed.out.find(id), std::string::npos);
}

TEST_F(CliE2e, ModelsQueueAndWorkersPrintTheServersJson) {
  ProcessResult models = Stipple({"models", "--json"});
  ASSERT_EQ(models.exit_code, kOk) << models.err;
  EXPECT_EQ(Json(Trim(models.out))["data"].as_array()[0].as_object().at("id").as_string(),
            "shapes-32");
  ProcessResult queue = Stipple({"queue", "--json"});
  ASSERT_EQ(queue.exit_code, kOk) << queue.err;
  EXPECT_TRUE(Json(Trim(queue.out)).contains("workers"));
  ProcessResult human = Stipple({"models"});
  EXPECT_NE(human.out.find("shapes-32"), std::string::npos);

  // The server's in-process worker, with the model it runs.
  ProcessResult workers = Stipple({"workers", "--json"});
  ASSERT_EQ(workers.exit_code, kOk) << workers.err;
  boost::json::array list = Json(Trim(workers.out))["workers"].as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].as_object().at("models").as_array().at(0).as_string(), "shapes-32");
  ProcessResult table = Stipple({"workers"});
  ASSERT_EQ(table.exit_code, kOk) << table.err;
  EXPECT_NE(table.out.find("WORKER"), std::string::npos);
  EXPECT_NE(table.out.find("shapes-32"), std::string::npos);
}

TEST_F(CliE2e, CancelStopsATaskAndWaitThenExitsWithTheCanceledCode) {
  const std::string id = SubmitLongTask();
  ProcessResult canceled = Stipple({"cancel", id});
  ASSERT_EQ(canceled.exit_code, kOk) << canceled.err;
  ProcessResult waited = Stipple({"wait", id});
  EXPECT_EQ(waited.exit_code, kCanceled) << waited.out << waited.err;
  EXPECT_NE(waited.out.find("canceled"), std::string::npos);
  // A second cancel finds it ended.
  EXPECT_EQ(Stipple({"cancel", id}).exit_code, kFailed);
}

TEST_F(CliE2e, CtrlCOnceAsksAndTwiceCancelsTheTask) {
  std::vector<std::string> args = {"generate"};
  args.insert(args.end(), kLongTask.begin(), kLongTask.end());
  ChildProcess generate(Command(args));
  ASSERT_TRUE(generate.WaitForStderr("tsk_")) << generate.err();  // it follows the task
  generate.Signal(SIGINT);
  ASSERT_TRUE(generate.WaitForStderr("press Ctrl-C again to cancel")) << generate.err();
  generate.Signal(SIGINT);
  ProcessResult r = generate.Finish();
  EXPECT_EQ(r.exit_code, kCanceled) << r.err;
  EXPECT_NE(r.err.find("canceled"), std::string::npos) << r.err;
}

TEST_F(CliE2e, WaitLimitEndsWithTheTimeoutCodeAndTheTaskGoesOn) {
  std::vector<std::string> args = {"generate"};
  args.insert(args.end(), kLongTask.begin(), kLongTask.end());
  args.insert(args.end(), {"--wait", "0.5"});
  ProcessResult r = Stipple(args);
  EXPECT_EQ(r.exit_code, kTimeout) << r.err;
  const size_t at = r.err.find("tsk_");
  ASSERT_NE(at, std::string::npos) << r.err;
  const std::string id = r.err.substr(at, 30);
  EXPECT_EQ(Stipple({"cancel", id}).exit_code, kOk);  // it was still going
}

TEST_F(CliE2e, ErrorsHaveDocumentedExitCodesAndOneLineMessages) {
  ProcessResult unknown = Stipple({"status", "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V"});
  EXPECT_EQ(unknown.exit_code, kNotFound);

  ProcessResult invalid = Stipple({"generate", "a red circle", "--steps", "0"});
  EXPECT_EQ(invalid.exit_code, kUsage);
  EXPECT_NE(invalid.err.find("steps"), std::string::npos) << invalid.err;

  EXPECT_EQ(Stipple({"generate"}).exit_code, kUsage);  // no prompt
  EXPECT_EQ(Stipple({"status"}).exit_code, kUsage);    // no id

  ProcessResult unreachable =
      RunProcess({STIPPLE_BINARY, "models", "--server", "http://127.0.0.1:1", "--retries", "0"});
  EXPECT_EQ(unreachable.exit_code, kUnreachable);
  EXPECT_NE(unreachable.err.find("cannot reach http://127.0.0.1:1"), std::string::npos);
  EXPECT_EQ(std::count(unreachable.err.begin(), unreachable.err.end(), '\n'), 1) << unreachable.err;
}

TEST_F(CliE2e, ServerUrlAndKeyComeFromTheEnvironmentAndARefusedKeyIsReported) {
  const std::string keys = dir_ + "/keys";
  std::ofstream(keys) << "alice secret-of-alice\n";
  const std::string data = testing::TempDir("stipple-cli-e2e-keys");
  ServeProcess guarded(STIPPLE_BINARY, STIPPLE_MODEL_DIR, data, {"--api-keys", keys});
  ASSERT_NE(guarded.port(), 0);

  ProcessResult refused = RunProcess(
      {STIPPLE_BINARY, "models"},
      {{"STIPPLE_URL", guarded.url()}, {"STIPPLE_API_KEY", "nope"}, {"STIPPLE_SERVER", ""}});
  EXPECT_EQ(refused.exit_code, kUnauthorized) << refused.err;
  EXPECT_NE(refused.err.find("refused the API key"), std::string::npos) << refused.err;

  ProcessResult missing =
      RunProcess({STIPPLE_BINARY, "models", "--server", guarded.url()}, {{"STIPPLE_API_KEY", ""}});
  EXPECT_EQ(missing.exit_code, kUnauthorized);
  EXPECT_NE(missing.err.find("needs an API key"), std::string::npos) << missing.err;

  ProcessResult accepted =
      RunProcess({STIPPLE_BINARY, "models", "--json"}, {{"STIPPLE_URL", guarded.url()},
                                                        {"STIPPLE_API_KEY", "secret-of-alice"},
                                                        {"STIPPLE_SERVER", ""}});
  EXPECT_EQ(accepted.exit_code, kOk) << accepted.err;
  EXPECT_EQ(guarded.Stop(SIGTERM), 0);
  fs::remove_all(data);
}

}  // namespace
}  // namespace stipple
