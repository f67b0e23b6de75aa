// What the C++ client costs per call, against a real gateway on loopback (with the task-service
// test double behind it, so the figures are the client's and the gateway's, not a store's):
// GET /v1/tasks/{id} over the client's pooled kept-alive connections, against the baseline of a
// new connection per call (a new Client each time), and POST /v1/tasks (each with its own
// idempotency key). The p50/p99 figures are per call.
#include <chrono>
#include <string>
#include <vector>

#include "api/testing/http_test_support.h"
#include "bench/bench_report.h"
#include "client/client.h"
#include "common/log.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;
using stipple::client::Client;
using stipple::client::ClientOptions;

constexpr int kCalls = 2000;

struct Timing {
  double per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  int failures = 0;
};

template <typename Call>
Timing Measure(Call call) {
  std::vector<nanoseconds> samples;
  samples.reserve(kCalls);
  Timing timing;
  const auto start = Clock::now();
  for (int i = 0; i < kCalls; ++i) {
    const auto t0 = Clock::now();
    if (!call()) ++timing.failures;
    samples.push_back(Clock::now() - t0);
  }
  timing.per_s = kCalls / std::chrono::duration<double>(Clock::now() - start).count();
  timing.p50_us = static_cast<double>(stipple::bench::P50(samples).count()) / 1000;
  timing.p99_us = static_cast<double>(stipple::bench::P99(std::move(samples)).count()) / 1000;
  return timing;
}

}  // namespace

int main() {
  stipple::ConfigureLogging({.level = stipple::LogLevel::kWarn});
  stipple::http::testing::TestServer server;
  ClientOptions options;
  options.server_url = "http://127.0.0.1:" + std::to_string(server.port());
  auto client = std::move(Client::Create(options)).value();
  const std::string id = server.CreateTask();

  Timing pooled = Measure([&] { return client->Get(id).ok(); });
  Timing fresh = Measure([&] { return std::move(Client::Create(options)).value()->Get(id).ok(); });
  Timing submit =
      Measure([&] { return client->Submit(R"({"prompt":"a red circle","steps":4})").ok(); });

  stipple::bench::BenchReport report("client_bench");
  report.Add("get_per_s_pooled", pooled.per_s, "calls/s", fresh.per_s);
  report.Add("get_p50_pooled", pooled.p50_us, "us", fresh.p50_us);
  report.Add("get_p99_pooled", pooled.p99_us, "us", fresh.p99_us);
  report.Add("submit_per_s", submit.per_s, "calls/s");
  report.Add("submit_p50", submit.p50_us, "us");
  report.Add("submit_p99", submit.p99_us, "us");
  report.Add("failed_calls", pooled.failures + fresh.failures + submit.failures, "calls");
  report.Print();
  return 0;
}
