// Fuzz target: every JSON config a model brings (src/engine): a null model's null_model.json,
// diffusers' unet/config.json, vae/config.json, text_encoder/config.json and
// scheduler/scheduler_config.json. Each parser gets the same bytes. Properties: a config or a
// Status, never a crash; a parsed null_model.json gives catalog limits its own native size
// passes; a parsed scheduler config either
// makes each scheduler or says why, and a made scheduler plans 1 and 20 steps (or says why) with
// exactly that many steps.
#include "engine/clip_text_config.h"
#include "engine/null_engine.h"
#include "engine/scheduler_config.h"
#include "engine/schedulers.h"
#include "engine/unet2d_config.h"
#include "engine/vae_config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = stipple::fuzz::AsText(data, size);

  if (auto model = stipple::ParseNullModelJson(text, "null_model.json", "fuzz"); model.ok()) {
    stipple::ModelLimits limits = stipple::NullModelLimits(model.value());
    FUZZ_CHECK(limits.AllowsSize(limits.width, limits.height), limits.name);
  }
  (void)stipple::ParseUNet2DConditionConfig(text, "unet/config.json");
  (void)stipple::ParseAutoencoderKLConfig(text, "vae/config.json");
  (void)stipple::ParseClipTextConfig(text, "text_encoder/config.json");

  auto scheduler = stipple::ParseSchedulerConfig(text, "scheduler/scheduler_config.json");
  if (scheduler.ok()) {
    for (const std::string& name : stipple::SchedulerNames()) {
      auto made = stipple::MakeScheduler(name, scheduler.value());
      if (!made.ok()) continue;
      for (int steps : {1, 20}) {
        auto plan = made.value()->Plan(steps);
        if (plan.ok()) FUZZ_CHECK(plan.value().steps.size() == static_cast<size_t>(steps), name);
      }
    }
  }
  return 0;
}
