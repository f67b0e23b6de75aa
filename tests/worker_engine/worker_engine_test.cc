// The worker on the real pipeline (the tiny random-weight SD model,
// engine/testing/tiny_sd_model.h): a batch of four with one task canceled mid-run gives the other
// three the images the same requests give alone (within a level: docs/engine.md, "Determinism").
#include <memory>
#include <string>
#include <vector>

#include "engine/testing/tiny_sd_model.h"
#include "engine/torch_engine.h"
#include "worker/testing/worker_test_fixture.h"

namespace stipple {
namespace {

TEST(WorkerOnTorchEngine, ABatchOfFourWithOneCanceledGivesTheOthersTheirAloneImages) {
  Result<std::unique_ptr<Engine>> loaded = TorchEngine::Load(TinySdModelDir(), {.threads = 1});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  std::unique_ptr<Engine> engine = std::move(loaded).value();

  const std::vector<GenerationRequest> requests = {
      TinySdRequest("a red circle", 1), TinySdRequest("a blue square", 2),
      TinySdRequest("a small triangle", 3), TinySdRequest("big red square at the top", 4)};
  InMemoryTestWorkSource source;
  std::vector<std::string> ids;
  for (const GenerationRequest& r : requests) ids.push_back(source.Enqueue(r));
  const std::string canceled = ids[1];
  // At step 2 of the canceled task, ask for the cancel and hold the step until a heartbeat has
  // carried it to the worker: the engine then drops the task before step 3.
  source.SetOnProgress([&](const std::string& id, int step) {
    if (id != canceled || step != 2) return;
    source.RequestCancel(id);
    Eventually([&] { return source.cancel_seen_at_step(id).has_value(); },
               std::chrono::seconds(60));
  });

  WorkerOptions options;
  options.worker_id = "wkr_torch";
  options.max_batch = 4;
  options.heartbeat_interval = Millis(10);
  options.lease_wait = Millis(50);
  {
    Worker worker(&source, {engine.get()}, options);
    ASSERT_TRUE(worker.Start().ok());
    ASSERT_TRUE(source.WaitForTerminal(ids, std::chrono::seconds(300)));
    worker.Drain(Millis(0));
  }
  EXPECT_EQ(source.Get(canceled).state, TaskState::kCanceled);
  EXPECT_EQ(source.progress(canceled).size(), 2u);

  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == canceled) continue;
    ASSERT_EQ(source.Get(ids[i]).state, TaskState::kSucceeded) << i;
    std::vector<EngineJob> alone = {{requests[i], nullptr}};
    auto results = engine->Generate(alone, nullptr);
    ASSERT_TRUE(results[0].ok()) << results[0].status().ToString();
    std::vector<GeneratedImage> images = source.images(ids[i]);
    ASSERT_EQ(images.size(), 1u);
    EXPECT_LE(MaxPixelDifference(images[0].png, (*results[0])[0].png), 1) << "request " << i;
    EXPECT_EQ(images[0].seed, requests[i].seed);
  }
}

}  // namespace
}  // namespace stipple
