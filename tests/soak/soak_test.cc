// The soak harness, CI-sized (ctest label soak): a few seconds of the mixed load against
// `stipple serve --model null --worker-processes 1`, sampled four times a second; the samples
// must see both processes, and the CSV, the PNG and the summary must be written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "process.h"
#include "soak_run.h"

namespace stipple::soak {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Soak, ShortRunSamplesServeAndItsWorkerAndWritesTheCsvAndThePlot) {
  const std::string out = testing::TempDir("stipple-soak-test");
  SoakOptions options{.binary = STIPPLE_BINARY,
                      .worker_processes = 1,
                      .rate = 10,
                      .duration = std::chrono::seconds(4),
                      .interval = std::chrono::milliseconds(250),
                      .p99_window_s = 1,
                      .drain = std::chrono::seconds(20),
                      .out_dir = out};
  Result<SoakResult> result = RunSoak(options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->run.requests.size(), 40u);
  ASSERT_GE(result->rows.size(), 12u);  // 4 s at 4 a second, and the drain
  int64_t with_worker = 0, answered = 0;
  for (const Row& r : result->rows) {
    EXPECT_GT(r.rss_mb, r.serve_rss_mb);
    EXPECT_GT(r.serve_rss_mb, 0);
    EXPECT_GT(r.fds, r.serve_fds);
    EXPECT_GT(r.threads, r.serve_threads);
    EXPECT_GE(r.queued, 0);
    if (r.processes == 2) ++with_worker;
    answered += r.answered;
  }
  EXPECT_EQ(with_worker, int64_t(result->rows.size()));
  EXPECT_GT(answered, 30);
  ASSERT_EQ(result->growth.size(), 5u);
  EXPECT_GT(result->growth[0].median, 0);  // rss_mb

  const std::string csv = ReadAll(out + "/soak.csv");
  EXPECT_EQ(csv.rfind("t_s,load,processes,rss_mb", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), int64_t(result->rows.size()) + 1);
  EXPECT_EQ(ReadAll(out + "/soak.png").substr(1, 3), "PNG");
  const std::string summary = ReadAll(out + "/soak.txt");
  EXPECT_NE(summary.find("growth under load"), std::string::npos);
  EXPECT_NE(summary.find("--worker-processes 1"), std::string::npos);
  std::filesystem::remove_all(out);
}

}  // namespace
}  // namespace stipple::soak
