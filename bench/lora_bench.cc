// lora_bench: what LoRA per request costs with the merged-weights approach the engine ships
// (src/engine/torch/lora_apply.h), on engine_bench's SD-shaped model (SD 1.5's structure at 3/10
// of its UNet widths, the full ViT-L text encoder, 128x128, 8 DDIM steps, guidance 7.5).
//
// Two random rank-16 LoRAs in the kohya format over every attention layer of the UNet (q, k, v,
// out, proj_in/out, feed-forward) and every Linear of the text encoder, as style LoRAs are made.
// The engine runs a batch as TorchEngine does: LoraMerger::Use(the batch's set), then the
// pipeline. Figures, each against its baseline measured in the same run:
//   - merging one set (from the cache) and restoring the loaded weights, against one 1-image call;
//   - loading a file (read, map, factors to the device) against taking it from the cache;
//   - two requests with different LoRA sets — two batches of one, a set switch before each —
//     against two requests with the same set in one batch of two (images/s).
//
//   lora_bench [--threads N] [--runs N] [--model-dir DIR]   (DIR: another SD 1.x folder, as is)
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "bench/bench_report.h"
#include "engine/lora_file.h"
#include "engine/model_files.h"
#include "engine/safetensors.h"
#include "engine/torch/lora_apply.h"
#include "engine/torch/sd_loader.h"
#include "engine/torch/testing/sd_shaped_fixture.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kSize = 128;
constexpr int kRank = 16;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// engine_bench's model (the same folder and stamp; written when missing).
bool EnsureModel(const std::string& dir) {
  constexpr const char* kStamp = "unet 96,192,384,384; vae 32,64,128,128; 128x128; seed 1";
  std::ifstream in(fs::path(dir) / "engine_bench_shape.txt");
  std::string line;
  if (in && std::getline(in, line) && line == kStamp) return true;
  std::fprintf(stderr, "lora_bench: writing the bench model to %s...\n", dir.c_str());
  std::error_code ec;
  fs::remove_all(dir, ec);
  SdShape shape;
  shape.unet_channels = {96, 192, 384, 384};
  shape.vae_channels = {32, 64, 128, 128};
  shape.sample_size = kSize / 8;
  if (Status s = WriteSdShapedModel(dir, shape, 1); !s.ok()) {
    std::fprintf(stderr, "lora_bench: %s\n", s.ToString().c_str());
    return false;
  }
  std::ofstream(fs::path(dir) / "engine_bench_shape.txt") << kStamp << "\n";
  return true;
}

FloatTensor Random(std::vector<int64_t> shape, std::mt19937& rng) {
  FloatTensor t;
  t.shape = std::move(shape);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  t.values.resize(static_cast<size_t>(t.NumElements()));
  for (float& v : t.values) v = normal(rng);
  return t;
}

// A random kohya-format LoRA over the model's attention layers and text-encoder Linears.
Status WriteLora(const torch_engine::SdModel& model, const std::string& path, uint32_t seed) {
  std::mt19937 rng(seed);
  SafetensorsFile file;
  file.metadata["ss_base_model_version"] = "sd_v1";
  auto add = [&](const std::string& prefix, const std::string& module, c10::IntArrayRef w) {
    const std::string key = prefix + module;
    std::vector<int64_t> down = {kRank, w[1]}, up = {w[0], kRank};
    if (w.size() == 4) down = {kRank, w[1], w[2], w[3]}, up = {w[0], kRank, 1, 1};
    file.tensors[key + ".lora_down.weight"] = Random(down, rng);
    file.tensors[key + ".lora_up.weight"] = Random(up, rng);
    file.tensors[key + ".alpha"] = FloatTensor{{}, {static_cast<float>(kRank / 2)}};
  };
  for (const auto& item : model.unet->named_parameters(true)) {
    const std::string& name = item.key();
    if (name.find("attentions") == std::string::npos || item.value().dim() < 2 || name.size() < 7 ||
        name.compare(name.size() - 7, 7, ".weight") != 0) {
      continue;
    }
    std::string module = name.substr(0, name.size() - 7);
    std::replace(module.begin(), module.end(), '.', '_');
    add("lora_unet_", module, item.value().sizes());
  }
  for (const auto& item : model.text_encoder->named_parameters(true)) {
    const std::string& name = item.key();
    if (name.find("layers") == std::string::npos || item.value().dim() != 2) continue;
    std::string module = name.substr(0, name.size() - 7);
    std::replace(module.begin(), module.end(), '.', '_');
    add("lora_te_", module, item.value().sizes());
  }
  return WriteSafetensorsFile(path, file);
}

std::vector<EngineJob> Jobs(int n, const std::vector<LoraRequest>& loras) {
  std::vector<EngineJob> jobs;
  for (int i = 0; i < n; ++i) {
    GenerationRequest r;
    r.prompt = i % 2 ? "a watercolor of a lighthouse at dusk" : "a photo of a cat on a sofa";
    r.width = r.height = kSize;
    r.steps = 8;
    r.guidance_scale = 7.5;
    r.scheduler = "ddim";
    r.seed = 1234 + static_cast<uint32_t>(i);
    r.loras = loras;
    jobs.push_back({r, nullptr});
  }
  return jobs;
}

int Run(int threads, int runs, std::string model_dir) {
  if (model_dir.empty()) {
    model_dir = STIPPLE_BENCH_MODEL_DIR;
    if (!EnsureModel(model_dir)) return 1;
  }
  at::set_num_threads(threads);
  Result<ModelPath> path = ModelAt(model_dir);
  if (!path.ok()) {
    std::fprintf(stderr, "lora_bench: %s\n", path.status().ToString().c_str());
    return 1;
  }
  auto loaded =
      torch_engine::LoadSdPipeline(*path, {.preview_every = 0}, torch::kCPU, torch::kFloat);
  if (!loaded.ok()) {
    std::fprintf(stderr, "lora_bench: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  torch_engine::SdPipeline& pipeline = **loaded;
  const torch_engine::SdModel& model = pipeline.model();
  const fs::path dir =
      fs::temp_directory_path() / ("stipple_lora_bench_" + std::to_string(getpid()));
  fs::create_directories(dir);
  for (const char* name : {"a", "b"}) {
    if (Status s = WriteLora(model, (dir / (std::string(name) + ".safetensors")).string(),
                             name[0] == 'a' ? 1 : 2);
        !s.ok()) {
      std::fprintf(stderr, "lora_bench: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  torch_engine::LoraMerger merger({model.unet.ptr(), model.text_encoder.ptr(), nullptr},
                                  model.family, FindLoraFiles(dir.string()), int64_t{1} << 30);
  const std::vector<LoraRequest> a = {{"a", 0.8}}, b = {{"b", 0.8}};
  // The engine's order: the batch's set, then the pipeline (the "" memo dropped on a change).
  auto run = [&](const std::vector<EngineJob>& jobs) {
    Result<bool> changed = merger.Use(jobs[0].request.loras);
    if (!changed.ok()) {
      std::fprintf(stderr, "lora_bench: %s\n", changed.status().ToString().c_str());
      std::exit(1);
    }
    if (*changed) pipeline.ForgetTextMemo();
    std::vector<Status> admitted(jobs.size());
    pipeline.Run(jobs, admitted, nullptr);
  };
  auto time = [](auto&& f) {
    const auto start = Clock::now();
    f();
    return Seconds(Clock::now() - start);
  };

  const double first_load = time([&] { (void)merger.Use(a); });
  (void)merger.Use(b);  // b in the cache too
  (void)merger.Use({});
  run(Jobs(1, {}));  // warm-up
  std::vector<double> merge, restore, call1, mixed, same;
  for (int i = 0; i < runs; ++i) {
    (void)merger.Use({});
    merge.push_back(time([&] { (void)merger.Use(b); }));  // from the cache
    restore.push_back(time([&] { (void)merger.Use({}); }));
    call1.push_back(time([&] { run(Jobs(1, {})); }));
    mixed.push_back(time([&] {
      run(Jobs(1, a));
      run(Jobs(1, b));
    }));
    same.push_back(time([&] { run(Jobs(2, a)); }));
  }
  fs::remove_all(dir);

  bench::BenchReport report("lora_bench");
  // Baselines: one 1-image call; for the first use, a merge from the cache.
  report.Add("merge_one_set", Median(merge) * 1e3, "ms", Median(call1) * 1e3);
  report.Add("restore", Median(restore) * 1e3, "ms", Median(call1) * 1e3);
  report.Add("first_use_from_file", first_load * 1e3, "ms", Median(merge) * 1e3);
  report.Add("two_sets_two_batches", 2 / Median(mixed), "images/s", 2 / Median(same));
  report.Add("lora_cache_bytes", static_cast<double>(merger.cached_bytes()), "bytes");
  report.Print();
  return 0;
}

}  // namespace
}  // namespace stipple

int main(int argc, char** argv) {
  int threads = 0, runs = 3;
  std::string model_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") {
      threads = std::atoi(argv[i + 1]);
    } else if (flag == "--runs") {
      runs = std::max(1, std::atoi(argv[i + 1]));
    } else if (flag == "--model-dir") {
      model_dir = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: lora_bench [--threads N] [--runs N] [--model-dir DIR]\n");
      return 2;
    }
  }
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return stipple::Run(threads, runs, model_dir);
}
