// The S3 result store against the Redis one (the other store a distributed deployment can use),
// side by side on this machine: the latency of one Put and one Get of a typical output (2 KB, the
// shipped model's PNGs are 1-2 KB) and of a larger one (256 KB), and Puts per second from 8
// threads, for
//  - S3ResultStore on a local s3rver (node, started by the benchmark in a temp dir; its front
//    checks every SigV4 signature, tests/support/s3rver.js);
//  - RedisResultStore on a local redis-server (appendfsync everysec): the baseline;
//  - FsResultStore with fsync on, for scale (no baseline).
// s3rver is a test server written in JavaScript, not a production object store: the S3 figures
// show what the client and the protocol cost on loopback plus s3rver's own, not AWS's latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "bench/bench_report.h"
#include "common/id.h"
#include "results/fs_result_store.h"
#include "results/redis/redis_result_store.h"
#include "results/s3/s3_result_store.h"
#include "results/s3/testing/s3_test_server.h"
#include "store/redis/testing/redis_test_server.h"

namespace stipple {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kSamples = 200;
constexpr int kThreads = 8;
constexpr Millis kDuration{2000};

[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "results_s3_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

struct Latency {
  double put_p50_ms = 0, put_p99_ms = 0, get_p50_ms = 0, get_p99_ms = 0;
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

Latency MeasureLatency(ResultStore& store, size_t size) {
  const std::string bytes(size, 'x');
  std::vector<double> puts, gets;
  for (int i = 0; i < kSamples; ++i) {
    const std::string id = NewId("tsk");
    auto t0 = SteadyClock::now();
    if (auto r = store.Put(id, 1, 0, bytes); !r.ok()) Die(r.status());
    auto t1 = SteadyClock::now();
    if (auto r = store.Get(id, 1, 0); !r.ok()) Die(r.status());
    auto t2 = SteadyClock::now();
    puts.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    gets.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  return {Percentile(puts, 0.5), Percentile(puts, 0.99), Percentile(gets, 0.5),
          Percentile(gets, 0.99)};
}

double PutsPerSecond(ResultStore& store) {
  const std::string bytes(2048, 'x');
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0};
  std::vector<std::thread> threads;
  const auto start = SteadyClock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        if (auto r = store.Put(NewId("tsk"), 1, 0, bytes); !r.ok()) Die(r.status());
        ++done;
      }
    });
  }
  std::this_thread::sleep_for(kDuration);
  stop = true;
  for (auto& t : threads) t.join();
  return static_cast<double>(done) /
         std::chrono::duration<double>(SteadyClock::now() - start).count();
}

int Run() {
  auto s3_server = s3::S3TestServer::Start();
  if (!s3_server.ok()) Die(s3_server.status());
  S3ResultStoreOptions s3_options;
  s3_options.endpoint = (*s3_server)->endpoint();
  s3_options.bucket = "stipple-test";
  s3_options.prefix = "bench";
  s3_options.credentials = {.access_key_id = s3::S3TestServer::kAccessKeyId,
                            .secret_access_key = s3::S3TestServer::kSecretAccessKey};
  auto s3_store = S3ResultStore::Open(s3_options);
  if (!s3_store.ok()) Die(s3_store.status());

  auto redis_server = redis::RedisTestServer::Start({.appendfsync = "everysec"});
  if (!redis_server.ok()) Die(redis_server.status());
  auto redis_store = RedisResultStore::Open({.url = (*redis_server)->url()});
  if (!redis_store.ok()) Die(redis_store.status());

  const auto fs_dir = std::filesystem::temp_directory_path() / ("stipple-bench-" + NewId("tmp"));
  auto fs_store = FsResultStore::Open({.dir = fs_dir.string(), .sync = true});
  if (!fs_store.ok()) Die(fs_store.status());

  bench::BenchReport report("results_s3_bench");
  for (const auto& [label, size] : {std::pair{"2kb", size_t{2048}}, {"256kb", size_t{262144}}}) {
    const Latency s3 = MeasureLatency(**s3_store, size);
    const Latency redis = MeasureLatency(**redis_store, size);
    const Latency fs = MeasureLatency(**fs_store, size);
    const std::string l = label;
    report.Add("s3_put_" + l + "_p50", s3.put_p50_ms, "ms", redis.put_p50_ms);
    report.Add("s3_put_" + l + "_p99", s3.put_p99_ms, "ms", redis.put_p99_ms);
    report.Add("s3_get_" + l + "_p50", s3.get_p50_ms, "ms", redis.get_p50_ms);
    report.Add("s3_get_" + l + "_p99", s3.get_p99_ms, "ms", redis.get_p99_ms);
    report.Add("fs_put_" + l + "_p50", fs.put_p50_ms, "ms");
    report.Add("fs_get_" + l + "_p50", fs.get_p50_ms, "ms");
  }
  report.Add("s3_puts_2kb_8_threads", PutsPerSecond(**s3_store), "puts/s",
             PutsPerSecond(**redis_store));
  report.Print();
  std::error_code ec;
  std::filesystem::remove_all(fs_dir, ec);
  return 0;
}

}  // namespace
}  // namespace stipple

int main() { return stipple::Run(); }
