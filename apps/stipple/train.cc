// `stipple train`: trains the shipped shapes-32 model (see tools/train/trainer.h), resumable.
#include <cstdio>

#include "commands.h"
#include "common_options.h"
#include "trainer.h"

namespace stipple::app {
namespace {

const OptionSpec kTrainOptions[] = {
    {.name = "model-dir",
     .default_value = "shapes-32-sd",
     .help = "the model directory to train (created if new; resumed from its checkpoint)",
     .value_name = "DIR"},
    {.name = "steps", .default_value = "20000", .help = "total steps", .value_name = "N"},
    {.name = "batch", .default_value = "32", .help = "images per step", .value_name = "N"},
    {.name = "lr", .default_value = "0.0005", .help = "peak learning rate", .value_name = "RATE"},
    {.name = "seed", .default_value = "1", .help = "dataset and noise seed", .value_name = "N"},
    {.name = "threads",
     .default_value = "0",
     .help = "libtorch threads; 0: every core",
     .value_name = "N"},
    {.name = "device", .default_value = "cpu", .help = "cpu, cuda or cuda:N", .value_name = "DEV"},
    {.name = "log-every",
     .default_value = "50",
     .help = "steps between reports",
     .value_name = "N"},
    {.name = "checkpoint-every",
     .default_value = "500",
     .help = "steps between checkpoints",
     .value_name = "N"},
};

constexpr const char* kUsage = "stipple train [OPTIONS]";

int Fail(int code, const Status& status) {
  std::fprintf(stderr, "stipple train: %s\n", status.ToString().c_str());
  return code;
}

}  // namespace

int RunTrain(std::span<const std::string> args) {
  ParsedOptions parsed = ParseCommandOptions(kUsage, kTrainOptions, args);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  if (!config.positional().empty()) {
    return Fail(kExitUsage, InvalidArgumentError("unexpected argument " + config.positional()[0]));
  }
  shapes::TrainOptions options;
  options.model_dir = config.GetString("model-dir");
  options.device = config.GetString("device");
  struct IntOption {
    const char* name;
    int64_t min;
    int64_t* out;
  };
  int64_t steps, batch, seed, threads, log_every, checkpoint_every;
  for (IntOption o :
       {IntOption{"steps", 1, &steps}, IntOption{"batch", 1, &batch}, IntOption{"seed", 0, &seed},
        IntOption{"threads", 0, &threads}, IntOption{"log-every", 1, &log_every},
        IntOption{"checkpoint-every", 1, &checkpoint_every}}) {
    Result<int64_t> v = config.GetInt(o.name);
    if (!v.ok()) return Fail(kExitUsage, v.status());
    if (*v < o.min) {
      return Fail(kExitUsage, InvalidArgumentError(std::string("--") + o.name +
                                                   " must be at least " + std::to_string(o.min)));
    }
    *o.out = *v;
  }
  Result<double> lr = config.GetDouble("lr");
  if (!lr.ok()) return Fail(kExitUsage, lr.status());
  options.steps = steps;
  options.batch_size = static_cast<int>(batch);
  options.seed = static_cast<uint64_t>(seed);
  options.threads = static_cast<int>(threads);
  options.log_every = static_cast<int>(log_every);
  options.checkpoint_every = static_cast<int>(checkpoint_every);
  options.learning_rate = *lr;
  options.on_progress = [](const shapes::TrainProgress& p) {
    std::printf("step %lld/%lld  loss %.5f  %.1f images/s  %.0f s\n",
                static_cast<long long>(p.step), static_cast<long long>(p.total_steps), p.loss,
                p.images_per_s, p.elapsed_s);
    std::fflush(stdout);
  };
  Status s = shapes::Train(options);
  if (!s.ok()) return Fail(kExitFailure, s);
  return kExitOk;
}

}  // namespace stipple::app
