// Shared set-up of the worker tests: an in-memory test WorkSource, a test-double engine and
// options with short intervals so the tests run in milliseconds.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "common/testing/eventually.h"
#include "worker/testing/worker_test_doubles.h"
#include "worker/worker.h"

namespace stipple {

using std::chrono::milliseconds;
inline constexpr milliseconds kWait{10'000};  // generous: only a broken worker waits this long

inline GenerationRequest TestRequest(std::string prompt, int steps = 4, int size = 8) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.model = "test-model";
  r.width = size;
  r.height = size;
  r.steps = steps;
  r.guidance_scale = 4;
  r.scheduler = "ddim";
  r.seed = 42;
  return r;
}

// For conditions that no test double signals, such as the engine's call count.
using stipple::testing::Eventually;

class WorkerTest : public ::testing::Test {
 protected:
  WorkerOptions Options() {
    WorkerOptions o;
    o.worker_id = "wkr_test";
    o.host = "test-host";
    o.max_batch = 4;
    o.batch_window = Millis(0);
    o.lease_duration = Millis(2'000);
    o.heartbeat_interval = Millis(20);
    o.lease_wait = Millis(50);
    o.retry_backoff_base = Millis(5);
    o.retry_backoff_max = Millis(1'000);
    o.preview_every = 1;
    return o;
  }

  void MakeEngine(TestDoubleEngineOptions options = {}) {
    engine_ = std::make_unique<TestDoubleEngine>(std::move(options));
  }

  Worker& StartWorker(WorkerOptions options) {
    if (!engine_) MakeEngine();
    worker_ =
        std::make_unique<Worker>(&source_, std::vector<Engine*>{engine_.get()}, std::move(options));
    Status started = worker_->Start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    return *worker_;
  }
  Worker& StartWorker() { return StartWorker(Options()); }

  void TearDown() override {
    if (worker_) worker_->Drain(Millis(0));
  }

  InMemoryTestWorkSource source_;
  std::unique_ptr<TestDoubleEngine> engine_;
  std::unique_ptr<Worker> worker_;
};

}  // namespace stipple
