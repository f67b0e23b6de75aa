// Chaos under load, CI-sized (ctest label chaos): each deployment on the null model takes 30 s
// of mixed load while its processes are killed every 1–3 s (and started again), then must show 0
// violations (chaos_check.h). STIPPLE_CHAOS_SEED=N replays a run's choices; the seed is printed.
#include <gtest/gtest.h>

#include <cstdio>

#include "chaos_options.h"

namespace stipple::chaos {
namespace {

DeploymentOptions Options() {
  return DeploymentOptions{.binary = STIPPLE_BINARY,
                           .model_dir = STIPPLE_MODEL_DIR,
                           .lease_s = 3,
                           .worker_processes = 2,
                           .gateways = 2};
}

void RunUnderChaos(Deployment& deployment, const char* mode) {
  const uint64_t seed = ChaosSeed();
  std::printf("chaos %s: seed %llu (STIPPLE_CHAOS_SEED=%llu replays it)\n", mode,
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  Result<ChaosReport> report =
      RunChaos(deployment, MakeChaosOptions(seed, 15, std::chrono::seconds(30)));
  ASSERT_TRUE(report.ok()) << report.status().ToString() << "\n" << deployment.Logs();
  std::printf("%s", report->Summary().c_str());
  for (const std::string& line : report->log) std::printf("  %s\n", line.c_str());
  // A restarted serve takes seconds to be ready on a loaded machine: few faults fit, but some.
  EXPECT_GE(report->TotalFaults(), 3);
  EXPECT_GT(report->acknowledged, 0);
  EXPECT_TRUE(report->violations.empty()) << report->Summary(50) << deployment.Logs();
}

TEST(Chaos, EmbeddedServeAndItsWorkerProcessesKilledUnderLoad) {
  Result<std::unique_ptr<Deployment>> d = MakeEmbedded(Options());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  RunUnderChaos(**d, "embedded");
}

TEST(Chaos, DistributedGatewaysWorkersAndRedisKilledUnderLoad) {
  Result<std::unique_ptr<Deployment>> d = MakeDistributed(Options());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  RunUnderChaos(**d, "distributed");
}

}  // namespace
}  // namespace stipple::chaos
