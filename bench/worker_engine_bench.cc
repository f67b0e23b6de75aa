// worker_engine_bench: a Worker driving the real engine (models/shapes-32 on this CPU) under a
// full queue — images/s at max_batch 1, 4 and 8, and the share of wall time the engine is busy
// (target ≥ 99 %): whether leasing, progress, heartbeats and completions keep the engine fed.
//
// The queue is the in-memory test-double WorkSource (worker_test_doubles.h), so no store is
// measured; the engine is the real TorchEngine (20 DDIM steps, previews every 5 steps as
// `stipple serve` makes them), wrapped only to time its Generate calls. Busy share = the sum of
// Generate call times ÷ the wall time from the first call's start to the last call's end.
//
//   worker_engine_bench [MODEL_DIR]     default: the repository's models/shapes-32
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "engine/torch_engine.h"
#include "worker/testing/worker_test_doubles.h"
#include "worker/worker.h"

namespace stipple {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Times every Generate call of the engine it wraps.
class TimedEngine final : public Engine {
 public:
  explicit TimedEngine(Engine& inner) : inner_(inner) {}
  ModelLimits limits() const override { return inner_.limits(); }
  std::vector<Result<std::vector<GeneratedImage>>> Generate(std::span<const EngineJob> jobs,
                                                            const ProgressSink& progress) override {
    const auto start = SteadyClock::now();
    auto results = inner_.Generate(jobs, progress);
    std::lock_guard lock(mu_);
    calls_.push_back({start, SteadyClock::now(), jobs.size()});
    return results;
  }
  struct Call {
    SteadyClock::time_point start, end;
    size_t jobs;
  };
  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  Engine& inner_;
  mutable std::mutex mu_;
  std::vector<Call> calls_;
};

struct Figures {
  double images_per_s = 0;
  double busy_share = 0;
  double mean_batch = 0;
};

Figures Measure(Engine& engine, int max_batch, int tasks) {
  const ModelLimits limits = engine.limits();
  InMemoryTestWorkSource source;
  std::vector<std::string> ids;
  for (int i = 0; i < tasks; ++i) {
    GenerationRequest r;
    r.prompt = i % 2 ? "a small blue triangle at the top" : "a big red circle on the left";
    r.model = limits.name;
    r.width = limits.width;
    r.height = limits.height;
    r.steps = 20;
    r.guidance_scale = limits.default_guidance_scale;
    r.scheduler = "ddim";
    r.seed = static_cast<uint32_t>(i);
    ids.push_back(source.Enqueue(r));
  }
  TimedEngine timed(engine);
  WorkerOptions options;
  options.worker_id = "bench";
  options.max_batch = max_batch;
  options.lease_wait = Millis(50);
  Worker worker(&source, {&timed}, options);
  if (!worker.Start().ok()) return {};
  source.WaitForTerminal(ids, std::chrono::minutes(30));
  worker.Drain(Millis(0));
  std::vector<TimedEngine::Call> calls = timed.calls();
  if (calls.empty()) return {};
  double busy = 0;
  size_t jobs = 0;
  for (const auto& c : calls) {
    busy += std::chrono::duration<double>(c.end - c.start).count();
    jobs += c.jobs;
  }
  const double wall = std::chrono::duration<double>(calls.back().end - calls.front().start).count();
  return {.images_per_s = static_cast<double>(jobs) / wall,
          .busy_share = busy / wall,
          .mean_batch = static_cast<double>(jobs) / static_cast<double>(calls.size())};
}

int Run(const std::string& model_dir) {
  Result<std::unique_ptr<Engine>> loaded = TorchEngine::Load(model_dir, {.threads = 0});
  if (!loaded.ok()) {
    std::fprintf(stderr, "worker_engine_bench: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  Engine& engine = **loaded;
  Measure(engine, 1, 1);  // warm-up
  bench::BenchReport report("worker_engine_bench");
  double batch1 = 0;
  for (int batch : {1, 4, 8}) {
    const Figures f = Measure(engine, batch, std::max(8, 3 * batch));
    const std::string b = std::to_string(batch);
    if (batch == 1) {
      batch1 = f.images_per_s;
      report.Add("images_per_s_max_batch1", f.images_per_s, "images/s");
    } else {
      report.Add("images_per_s_max_batch" + b, f.images_per_s, "images/s", batch1);
    }
    report.Add("engine_busy_share_max_batch" + b, 100 * f.busy_share, "% of wall", 99);
    report.Add("mean_batch_max_batch" + b, f.mean_batch, "tasks");
  }
  report.Print();
  return 0;
}

}  // namespace
}  // namespace stipple

int main(int argc, char** argv) {
  return stipple::Run(argc > 1 ? argv[1] : STIPPLE_SOURCE_DIR "/models/shapes-32");
}
