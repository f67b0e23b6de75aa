// How fast NewId() makes task ids, against the cheapest unique id one could make instead: a
// counter formatted as text ("tsk_" + std::to_string(n)). The gap is the price of ids that are
// unique across processes and hosts and sort by time (clock read, lock, CSPRNG, base-32).
// The p50/p99 figures are over batches of 1000 ids: the mean time per id of each batch.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "common/id.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr int kBatch = 1000;    // ids per timed batch
constexpr int kBatches = 1000;  // per run: one million ids
constexpr int kRuns = 3;        // the median run is reported

// Where the ids' lengths go, so that the compiler cannot drop the calls that made them.
volatile size_t g_sink = 0;

// Times kBatches batches of kBatch calls to make(); returns the duration of each batch.
template <typename MakeId>
std::vector<nanoseconds> BatchTimes(MakeId make) {
  std::vector<nanoseconds> batches;
  batches.reserve(kBatches);
  size_t sink = 0;
  for (int b = 0; b < kBatches; ++b) {
    auto start = Clock::now();
    for (int i = 0; i < kBatch; ++i) sink += make().size();
    batches.push_back(Clock::now() - start);
  }
  g_sink = sink;
  return batches;
}

struct Timing {
  double ids_per_s = 0;
  double p50_ns = 0;  // per id
  double p99_ns = 0;
};

template <typename MakeId>
Timing Measure(MakeId make) {
  std::vector<Timing> runs;
  for (int r = 0; r < kRuns; ++r) {
    std::vector<nanoseconds> batches = BatchTimes(make);
    nanoseconds total{};
    for (nanoseconds t : batches) total += t;
    runs.push_back({
        .ids_per_s = kBatch * kBatches / std::chrono::duration<double>(total).count(),
        .p50_ns = static_cast<double>(stipple::bench::P50(batches).count()) / kBatch,
        .p99_ns = static_cast<double>(stipple::bench::P99(batches).count()) / kBatch,
    });
  }
  std::sort(runs.begin(), runs.end(),
            [](const Timing& a, const Timing& b) { return a.ids_per_s < b.ids_per_s; });
  return runs[runs.size() / 2];
}

}  // namespace

int main() {
  uint64_t counter = 0;
  Timing baseline = Measure([&counter] { return "tsk_" + std::to_string(++counter); });
  Timing new_id = Measure([] { return stipple::NewId("tsk"); });

  stipple::bench::BenchReport report("id_bench");
  report.Add("new_id_throughput", new_id.ids_per_s, "ids/s", baseline.ids_per_s);
  report.Add("new_id_p50", new_id.p50_ns, "ns/id", baseline.p50_ns);
  report.Add("new_id_p99", new_id.p99_ns, "ns/id", baseline.p99_ns);
  report.Print();
  return 0;
}
