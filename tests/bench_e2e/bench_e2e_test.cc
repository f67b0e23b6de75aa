// `stipple bench` as an operator runs it: the real binary against a real `stipple serve` with the
// built-in null model (`--model null`), every kind of request in the mix, the figures as JSON
// lines and the plot; and the null model as /v1/models shows it.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "process.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::RunProcess;
using testing::ServeProcess;

constexpr int kOk = 0, kUsage = 2, kUnreachable = 5;

// metric → value, from the JSON lines of `stipple bench --json`.
std::map<std::string, double> Figures(const std::string& out) {
  std::map<std::string, double> figures;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    EXPECT_FALSE(ec) << "not JSON: " << line;
    if (ec || !v.is_object()) continue;
    const boost::json::object& o = v.as_object();
    EXPECT_EQ(o.at("bench").as_string(), "stipple_bench");
    figures[std::string(o.at("metric").as_string())] = o.at("value").to_number<double>();
  }
  return figures;
}

class BenchE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new std::string(testing::TempDir("stipple-bench-e2e-data"));
    serve_ = new ServeProcess(STIPPLE_BINARY, STIPPLE_MODEL_DIR, *data_,
                              {"--model", "null", "--webhook-allow-private"});
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(serve_->Stop(SIGTERM), 0);
    delete serve_;
    fs::remove_all(*data_);
    delete data_;
  }
  void SetUp() override { ASSERT_NE(serve_->port(), 0) << "the server did not print its address"; }

  static ProcessResult Stipple(std::vector<std::string> args) {
    args.insert(args.begin(), STIPPLE_BINARY);
    return RunProcess(args);
  }

  static std::string* data_;
  static ServeProcess* serve_;
};

std::string* BenchE2e::data_ = nullptr;
ServeProcess* BenchE2e::serve_ = nullptr;

TEST_F(BenchE2e, ServeListsTheBuiltInNullModel) {
  ProcessResult r = Stipple({"models", "--json", "--server", serve_->url()});
  ASSERT_EQ(r.exit_code, kOk) << r.err;
  EXPECT_NE(r.out.find("\"null\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("shapes-32"), std::string::npos) << r.out;  // --model null: only it
}

TEST_F(BenchE2e, EveryKindOfRequestIsAcknowledgedAndEndsAndThePlotIsAPng) {
  const std::string dir = testing::TempDir("stipple-bench-e2e-plot");
  const std::string plot = dir + "/bench.png";
  ProcessResult r = Stipple({"bench",
                             "--server",
                             serve_->url(),
                             "--model",
                             "null",
                             "--rate",
                             "50",
                             "--duration-s",
                             "2",
                             "--mix",
                             "async=2,sync=1,sse=1,webhook=1",
                             "--connections",
                             "8",
                             "--poll-ms",
                             "20",
                             "--drain-s",
                             "20",
                             "--json",
                             "--plot",
                             plot});
  ASSERT_EQ(r.exit_code, kOk) << r.out << r.err;
  std::map<std::string, double> f = Figures(r.out);
  EXPECT_EQ(f["sent"], 100);
  EXPECT_EQ(f["acknowledged"], 100);
  EXPECT_EQ(f["errors"], 0);
  EXPECT_EQ(f["lost"], 0);
  EXPECT_EQ(f["failed"], 0);
  EXPECT_GT(f["acknowledged_per_s"], 0);
  for (const char* metric : {"submit_p50", "submit_p99.9", "sync_p99", "queue_wait_p99",
                             "end_to_end_p50", "seen_end_to_end_p99"}) {
    EXPECT_TRUE(f.contains(metric)) << metric;
  }
  EXPECT_LE(f["submit_p50"], f["submit_p99"]);
  std::ifstream file(plot, std::ios::binary);
  std::string head(8, '\0');
  file.read(head.data(), 8);
  EXPECT_EQ(head, "\x89PNG\r\n\x1a\n");
  fs::remove_all(dir);
}

TEST_F(BenchE2e, TheTableNamesTheRunAndItsFigures) {
  ProcessResult r = Stipple({"bench", "--server", serve_->url(), "--rate", "20", "--duration-s",
                             "0.5", "--model", "null"});
  ASSERT_EQ(r.exit_code, kOk) << r.out << r.err;
  EXPECT_NE(r.out.find("stipple bench: " + serve_->url() + ", model null, 20/s for 0.5 s"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("acknowledged_per_s"), std::string::npos) << r.out;
}

TEST_F(BenchE2e, BadOptionsAndAnUnreachableServerHaveTheirExitCodes) {
  EXPECT_EQ(Stipple({"bench", "--mix", "grpc=1", "--server", serve_->url()}).exit_code, kUsage);
  EXPECT_EQ(Stipple({"bench", "--rate", "0", "--server", serve_->url()}).exit_code, kUsage);
  ProcessResult r = Stipple({"bench", "--server", "http://127.0.0.1:1", "--duration-s", "0.1"});
  EXPECT_EQ(r.exit_code, kUnreachable) << r.err;
}

}  // namespace
}  // namespace stipple
