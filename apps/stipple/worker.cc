// `stipple worker`: a worker process. It loads the model, connects to a gateway's worker
// protocol (docs/worker-protocol.md) with a worker token and runs tasks until SIGTERM or SIGINT,
// then drains: the running batch finishes within --drain-grace-s (past it, its tasks are given
// back to the queue) and it exits 0. Given several gateways (of one Redis store), it moves to
// the next whenever the one it is on cannot be reached.
#include <cstdio>

#include "commands.h"
#include "common_options.h"
#include "engine/torch_engine.h"
#include "model_dir.h"
#include "model_loading.h"
#include "worker/worker_process.h"

namespace stipple::app {
namespace {

const OptionSpec kWorkerOptions[] = {
    {.name = "gateway",
     .help = "the gateway to serve (required); several (repeated or comma-separated, sharing "
             "one Redis store): when one is unreachable the worker moves to the next",
     .kind = OptionKind::kList,
     .value_name = "http://HOST:PORT"},
    {.name = "token",
     .help = "a worker token of the gateways (their --worker-token; required)",
     .value_name = "TOKEN"},
    {.name = "model-dir",
     .help = "the models: one model (a diffusers folder or a single-file .safetensors "
             "checkpoint) or a folder of them (default: the bundled shapes-32 model)",
     .value_name = "PATH"},
    {.name = "model",
     .help = "run only this model of --model-dir (repeatable; default: every model); null: the "
             "built-in null model (no weights, for measuring the control plane)",
     .kind = OptionKind::kList,
     .value_name = "NAME"},
    {.name = "device", .default_value = "cpu", .help = "cpu, cuda or cuda:N", .value_name = "DEV"},
    {.name = "dtype",
     .default_value = "auto",
     .help = "compute dtype: auto (fp16 on CUDA, fp32 on the CPU), fp32, fp16 or bf16",
     .value_name = "DTYPE"},
    {.name = "max-batch",
     .default_value = "4",
     .help = "compatible tasks run as one batch",
     .value_name = "N"},
    {.name = "batch-window-ms",
     .default_value = "10",
     .help = "how long to wait to fill a batch while the queue has tasks",
     .value_name = "MS"},
    {.name = "lease-s",
     .default_value = "30",
     .help = "each lease; if this worker dies its tasks run again this long after",
     .value_name = "SECONDS"},
    {.name = "drain-grace-s",
     .default_value = "30",
     .help = "on SIGTERM, how long the running batch may take before it is given back",
     .value_name = "SECONDS"},
    {.name = "threads",
     .default_value = "0",
     .help = "libtorch threads; 0: every core",
     .value_name = "N"},
    {.name = "lora-cache-mb",
     .default_value = "1024",
     .help = "loaded LoRA files kept for reuse, in MiB (least recently used dropped first)",
     .value_name = "MB"},
    {.name = "worker-id",
     .help = "this worker's name in the registry (default: a new wkr_ id)",
     .value_name = "ID"},
};

int Fail(int code, const Status& status) {
  std::fprintf(stderr, "stipple worker: %s\n", status.ToString().c_str());
  return code;
}

Result<int64_t> Bounded(const Config& config, const char* name, int64_t min, int64_t max) {
  ASSIGN_OR_RETURN(int64_t v, config.GetInt(name));
  if (v < min || v > max) {
    return InvalidArgumentError("--" + std::string(name) + " must be in " + std::to_string(min) +
                                ".." + std::to_string(max));
  }
  return v;
}

Result<WorkerProcessOptions> ReadOptions(const Config& config) {
  WorkerProcessOptions o;
  if (!config.Has("gateway")) return InvalidArgumentError("--gateway is required");
  if (!config.Has("token")) {
    return InvalidArgumentError("--token is required (or STIPPLE_TOKEN in the environment)");
  }
  std::vector<std::string> gateways;
  for (const std::string& value : config.GetList("gateway")) {
    for (size_t start = 0; start <= value.size();) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      std::string url = value.substr(start, comma - start);
      while (!url.empty() && url.front() == ' ') url.erase(url.begin());
      while (!url.empty() && url.back() == ' ') url.pop_back();
      if (url.empty()) return InvalidArgumentError("--gateway: an empty gateway URL");
      gateways.push_back(std::move(url));
      start = comma + 1;
    }
  }
  o.remote.gateway_url = gateways.front();
  o.remote.other_gateways.assign(gateways.begin() + 1, gateways.end());
  o.remote.token = config.GetString("token");
  o.worker.device = config.GetString("device");
  if (config.Has("worker-id")) o.worker.worker_id = config.GetString("worker-id");
  ASSIGN_OR_RETURN(int64_t max_batch, Bounded(config, "max-batch", 1, 64));
  ASSIGN_OR_RETURN(int64_t window, Bounded(config, "batch-window-ms", 0, 10'000));
  ASSIGN_OR_RETURN(int64_t lease_s, Bounded(config, "lease-s", 1, 86'400));
  ASSIGN_OR_RETURN(int64_t grace_s, Bounded(config, "drain-grace-s", 0, 86'400));
  o.worker.max_batch = static_cast<int>(max_batch);
  o.worker.batch_window = Millis(window);
  o.worker.lease_duration = Millis(lease_s * 1000);
  o.worker.heartbeat_interval = Millis(0);  // lease / 10
  o.drain_grace = Millis(grace_s * 1000);
  o.remote.report_timeout = o.worker.lease_duration;
  return o;
}

}  // namespace

int RunWorker(std::span<const std::string> args) {
  ParsedOptions parsed =
      ParseCommandOptions("stipple worker --gateway URL [--gateway URL…] --token TOKEN [OPTIONS]",
                          kWorkerOptions, args);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  if (!config.positional().empty()) {
    return Fail(kExitUsage, InvalidArgumentError("unexpected argument " + config.positional()[0]));
  }
  FollowSupervisor();  // before loading the models, which takes a while
  Result<WorkerProcessOptions> options = ReadOptions(config);
  if (!options.ok()) return Fail(kExitUsage, options.status());
  Result<int64_t> threads = Bounded(config, "threads", 0, 1024);
  if (!threads.ok()) return Fail(kExitUsage, threads.status());
  Result<int64_t> lora_cache_mb = Bounded(config, "lora-cache-mb", 0, 1 << 20);
  if (!lora_cache_mb.ok()) return Fail(kExitUsage, lora_cache_mb.status());
  TorchEngineOptions engine_options;
  engine_options.lora_cache_bytes = *lora_cache_mb << 20;
  engine_options.device = config.GetString("device");
  engine_options.dtype = config.GetString("dtype");
  engine_options.threads = static_cast<int>(*threads);
  Result<std::string> model_dir = ResolveModelDir(config);
  if (!model_dir.ok()) return Fail(kExitFailure, model_dir.status());
  Result<LoadedModels> models =
      LoadModels(*model_dir, config.GetList("model"), engine_options, "worker");
  if (!models.ok()) return Fail(kExitFailure, models.status());
  return RunWorkerProcess(models->EnginePointers(), std::move(options).value());
}

}  // namespace stipple::app
