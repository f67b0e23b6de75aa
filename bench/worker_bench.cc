// The worker runtime's own cost: tasks/s through a Worker (lease, batch, progress, heartbeat,
// complete) and the idle gap the engine sees between consecutive batches, with a test-double
// engine and an in-memory test-double WorkSource, so neither the pipeline nor a store is
// measured.
//
// Baseline: the naive loop a worker could be — one thread that leases, runs and completes in
// turn — on the same doubles. The Worker's leaser prefetches the next batch while one runs, so
// the engine's idle gap is only the hand-over between two threads; the naive loop's gap holds
// a Complete and a Lease. Two engines: one that returns at once (the runtime's ceiling) and one
// that spends 1 ms per step (4 steps: work to hide the leasing behind).
//
// The in-memory double sorts its queue on every Lease, so part of each figure is the double's;
// the ratio against the baseline, on the same double, is the figure to read. The worker's
// threads need spare cores to overlap: on a machine whose cores are all busy, the leaser's work
// competes with the engine's thread, which the mean engine call time shows.
#include <chrono>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "worker/testing/worker_test_doubles.h"
#include "worker/worker.h"

namespace {

using stipple::Engine;
using stipple::GenerationRequest;
using stipple::InMemoryTestWorkSource;
using stipple::Millis;
using stipple::TestDoubleEngine;
using stipple::TestDoubleEngineOptions;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr int kTasks = 3000;

struct Run {
  double tasks_per_s = 0;
  nanoseconds gap_p50{};
  nanoseconds gap_p99{};
  double mean_batch = 0;
  double mean_call_us = 0;
};

GenerationRequest Request(int i) {
  GenerationRequest r;
  r.prompt = "task " + std::to_string(i);
  r.model = "test-model";
  r.width = 8;
  r.height = 8;
  r.steps = 4;
  r.guidance_scale = 4;
  r.scheduler = "ddim";
  return r;
}

// The engine's idle time between the end of one Generate call and the start of the next.
void Gaps(const TestDoubleEngine& engine, Run& run) {
  std::vector<TestDoubleEngine::Call> calls = engine.calls();
  std::vector<nanoseconds> gaps;
  for (size_t i = 1; i < calls.size(); ++i) gaps.push_back(calls[i].start - calls[i - 1].end);
  run.gap_p50 = stipple::bench::P50(gaps);
  run.gap_p99 = stipple::bench::P99(gaps);
  nanoseconds busy{};
  for (const auto& c : calls) busy += c.end - c.start;
  run.mean_batch = calls.empty() ? 0 : static_cast<double>(kTasks) / calls.size();
  run.mean_call_us =
      calls.empty() ? 0 : std::chrono::duration<double, std::micro>(busy).count() / calls.size();
}

Run MeasureWorker(int max_batch, Millis step_delay) {
  InMemoryTestWorkSource source;
  TestDoubleEngine engine(TestDoubleEngineOptions{.step_delay = step_delay, .preview_every = 0});
  for (int i = 0; i < kTasks; ++i) source.Enqueue(Request(i));
  stipple::WorkerOptions options;
  options.worker_id = "bench";
  options.max_batch = max_batch;
  options.lease_wait = Millis(50);
  stipple::Worker worker(&source, {&engine}, options);
  const auto start = SteadyClock::now();
  if (!worker.Start().ok()) return {};
  source.WaitFor([](const InMemoryTestWorkSource& s) { return s.TerminalCountLocked() >= kTasks; },
                 std::chrono::minutes(10));
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  worker.Drain(Millis(0));
  Run run{.tasks_per_s = kTasks / seconds};
  Gaps(engine, run);
  return run;
}

// The baseline: lease, run, complete, one after another on one thread.
Run MeasureNaiveLoop(int max_batch, Millis step_delay) {
  InMemoryTestWorkSource source;
  TestDoubleEngine engine(TestDoubleEngineOptions{.step_delay = step_delay, .preview_every = 0});
  for (int i = 0; i < kTasks; ++i) source.Enqueue(Request(i));
  stipple::LeaseRequest request{.worker_id = "naive",
                                .models = {"test-model"},
                                .max_tasks = max_batch,
                                .lease_duration = Millis(30'000),
                                .wait = Millis(0)};
  const auto start = SteadyClock::now();
  int done = 0;
  while (done < kTasks) {
    auto leased = source.Lease(request);
    if (!leased.ok() || leased->empty()) break;
    std::vector<stipple::EngineJob> jobs;
    for (const auto& t : *leased) jobs.push_back({t.task.request, nullptr});
    auto results = engine.Generate(jobs, [&](const stipple::ProgressEvent& e) {
      const auto& task = (*leased)[e.job_index].task;
      (void)source.Progress(task.id, task.fencing, {e.step, e.steps}, "");
    });
    for (size_t i = 0; i < results.size(); ++i) {
      std::vector<stipple::GeneratedImage> images;
      for (const auto& image : *results[i]) images.push_back({image.png, 8, 8, image.seed});
      (void)source.Complete((*leased)[i].task.id, (*leased)[i].task.fencing, std::move(images));
    }
    done += static_cast<int>(leased->size());
  }
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  Run run{.tasks_per_s = done / seconds};
  Gaps(engine, run);
  return run;
}

double Micros(nanoseconds d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

int main() {
  stipple::bench::BenchReport report("worker_bench");
  for (int batch : {1, 4}) {
    const std::string suffix = "_batch" + std::to_string(batch);
    Run worker = MeasureWorker(batch, Millis(0));
    Run naive = MeasureNaiveLoop(batch, Millis(0));
    report.Add("instant_engine_tasks_per_s" + suffix, worker.tasks_per_s, "tasks/s",
               naive.tasks_per_s);
    report.Add("instant_engine_idle_gap_p50" + suffix, Micros(worker.gap_p50), "us",
               Micros(naive.gap_p50));
    report.Add("instant_engine_idle_gap_p99" + suffix, Micros(worker.gap_p99), "us",
               Micros(naive.gap_p99));
  }
  Run worker = MeasureWorker(4, Millis(1));
  Run naive = MeasureNaiveLoop(4, Millis(1));
  report.Add("busy_engine_tasks_per_s_batch4", worker.tasks_per_s, "tasks/s", naive.tasks_per_s);
  report.Add("busy_engine_idle_gap_p50_batch4", Micros(worker.gap_p50), "us",
             Micros(naive.gap_p50));
  report.Add("busy_engine_mean_batch_size_batch4", worker.mean_batch, "tasks", naive.mean_batch);
  report.Add("busy_engine_mean_call_batch4", worker.mean_call_us, "us", naive.mean_call_us);
  report.Add("busy_engine_idle_gap_p99_batch4", Micros(worker.gap_p99), "us",
             Micros(naive.gap_p99));
  report.Print();
  return 0;
}
