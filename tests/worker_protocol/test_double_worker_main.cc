// A worker process for the worker-protocol tests: the same RunWorkerProcess as `stipple worker`,
// over a test-double engine instead of the real pipeline. Test-only: it is built for the tests
// and never installed. Its engine sleeps --step-ms per step and aborts the process on the prompt
// "poison" (a task that crashes every worker that runs it).
//
//   test_double_worker --gateway URL [--token T] [--step-ms N] [--lease-ms N] [--max-batch N]
//                      [--drain-grace-ms N]
// The token may come from STIPPLE_TOKEN instead (as a supervisor passes it).
#include <cstdlib>
#include <cstring>
#include <string>

#include "worker/testing/worker_test_doubles.h"
#include "worker/worker_process.h"

namespace stipple {
namespace {

class PoisonableTestDoubleEngine final : public Engine {
 public:
  explicit PoisonableTestDoubleEngine(TestDoubleEngineOptions options) : inner_(options) {}
  ModelLimits limits() const override { return inner_.limits(); }
  std::vector<Result<std::vector<GeneratedImage>>> Generate(std::span<const EngineJob> jobs,
                                                            const ProgressSink& progress) override {
    for (const EngineJob& job : jobs) {
      if (job.request.prompt == "poison") std::abort();
    }
    return inner_.Generate(jobs, progress);
  }

 private:
  TestDoubleEngine inner_;
};

}  // namespace
}  // namespace stipple

int main(int argc, char** argv) {
  using namespace stipple;
  WorkerProcessOptions options;
  options.remote.token = std::getenv("STIPPLE_TOKEN") ? std::getenv("STIPPLE_TOKEN") : "";
  options.remote.reconnect_max = Millis(500);
  options.worker.max_batch = 1;
  options.worker.batch_window = Millis(0);
  options.worker.lease_duration = Millis(2'000);
  options.worker.heartbeat_interval = Millis(100);
  options.worker.lease_wait = Millis(500);
  options.worker.retry_backoff_base = Millis(10);
  options.worker.preview_every = 0;
  TestDoubleEngineOptions engine;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--gateway") {
      options.remote.gateway_url = value;
    } else if (flag == "--token") {
      options.remote.token = value;
    } else if (flag == "--step-ms") {
      engine.step_delay = std::chrono::milliseconds(std::stoi(value));
    } else if (flag == "--lease-ms") {
      options.worker.lease_duration = Millis(std::stoi(value));
    } else if (flag == "--max-batch") {
      options.worker.max_batch = std::stoi(value);
    } else if (flag == "--drain-grace-ms") {
      options.drain_grace = Millis(std::stoi(value));
    } else if (flag == "--worker-id") {
      options.worker.worker_id = value;
    }  // other flags (--model-dir, --device from a supervisor) do not apply to a test double
  }
  PoisonableTestDoubleEngine poisonable(engine);
  return RunWorkerProcess({&poisonable}, options);
}
