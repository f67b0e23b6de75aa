// img2img_bench: what an init image saves. Text-to-image against img2img at strength 0.5 and
// masked img2img (inpainting with an ordinary 4-channel UNet) at strength 0.5, with the same
// request otherwise (the model's default steps, guidance and scheduler, as stipple serve runs
// them), through the Engine interface, one image per call.
//
// The model is engine_bench's SD-shaped one (sd_shaped_fixture.h: SD 1.5's structure at 3/10 of
// its UNet widths, the full ViT-L/14 text encoder, 128×128 images), written once into the build
// folder; MODEL_DIR runs another model at its native size instead. The init image is a text-to-
// image result of the same model; the mask repaints the middle half of it.
//
// Figures: UNet calls per image (progress events: one per step, both guidance halves in one call)
// and seconds per image (median of --runs runs, the three kinds interleaved so that load drift hits
// all alike), img2img and inpainting each against text-to-image as the baseline.
//
//   img2img_bench [--device cpu|cuda[:N]] [--threads N] [--runs N] [MODEL_DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "engine/torch/testing/sd_shaped_fixture.h"
#include "engine/torch_engine.h"
#include "imaging/png.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kShapeStamp = "unet 96,192,384,384; vae 32,64,128,128; 128x128; seed 1";

bool EnsureModel(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "img2img_bench_shape.txt");
  std::string line;
  if (in && std::getline(in, line) && line == kShapeStamp) return true;
  std::fprintf(stderr, "img2img_bench: writing the bench model to %s...\n", dir.c_str());
  std::error_code ec;
  fs::remove_all(dir, ec);
  SdShape shape;
  shape.unet_channels = {96, 192, 384, 384};
  shape.vae_channels = {32, 64, 128, 128};
  shape.sample_size = 16;
  Status written = WriteSdShapedModel(dir, shape, 1);
  if (!written.ok()) {
    std::fprintf(stderr, "img2img_bench: %s\n", written.ToString().c_str());
    return false;
  }
  std::ofstream(fs::path(dir) / "img2img_bench_shape.txt") << kShapeStamp << "\n";
  return true;
}

struct Call {
  double seconds = 0;
  int unet_calls = 0;
  std::string png;
};

Call Generate(Engine& engine, const EngineJob& job) {
  Call call;
  const Clock::time_point start = Clock::now();
  auto results = engine.Generate(std::span<const EngineJob>(&job, 1),
                                 [&](const ProgressEvent&) { ++call.unet_calls; });
  call.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!results[0].ok()) {
    std::fprintf(stderr, "img2img_bench: %s\n", results[0].status().ToString().c_str());
    std::exit(1);
  }
  call.png = (*results[0])[0].png;
  return call;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int Main(int argc, char** argv) {
  TorchEngineOptions options;
  options.preview_every = 0;
  int runs = 5;
  std::string model_dir = STIPPLE_BENCH_MODEL_DIR;
  bool bench_model = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--device" && i + 1 < argc) {
      options.device = argv[++i];
    } else if (arg == "--threads" && i + 1 < argc) {
      options.threads = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr,
                   "usage: img2img_bench [--device cpu|cuda[:N]] [--threads N] [--runs N] "
                   "[MODEL_DIR]\n");
      return 2;
    } else {
      model_dir = arg;
      bench_model = false;
    }
  }
  if (bench_model && !EnsureModel(model_dir)) return 1;
  Result<std::unique_ptr<Engine>> engine = TorchEngine::Load(model_dir, options);
  if (!engine.ok()) {
    std::fprintf(stderr, "img2img_bench: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  const ModelLimits limits = (*engine)->limits();
  EngineJob text;
  GenerationRequest& r = text.request;
  r.prompt = "a photo of a cat on a sofa";
  r.width = limits.width;
  r.height = limits.height;
  r.steps = limits.default_steps;
  r.guidance_scale = limits.default_guidance_scale;
  r.scheduler = limits.default_scheduler;
  r.seed = 1234;

  // The init image: this model's own text-to-image result (also the warm-up); the mask repaints
  // the middle half.
  Result<RgbImage> init = DecodePngRgb8(Generate(**engine, text).png);
  if (!init.ok()) return 1;
  auto mask = std::make_shared<RgbImage>(*init);
  for (int y = 0; y < mask->height; ++y) {
    for (int x = 0; x < mask->width; ++x) {
      const bool inside = x >= mask->width / 4 && x < 3 * mask->width / 4 &&
                          y >= mask->height / 4 && y < 3 * mask->height / 4;
      std::fill_n(&mask->rgb[3 * (static_cast<size_t>(y) * mask->width + x)], 3, inside ? 255 : 0);
    }
  }
  EngineJob img2img = text;
  img2img.request.init_image = ImageInput{};
  img2img.request.strength = 0.5;
  img2img.init_image = std::make_shared<const RgbImage>(std::move(init).value());
  EngineJob inpaint = img2img;
  inpaint.request.mask_image = ImageInput{};
  inpaint.mask_image = mask;
  if (limits.inpainting) img2img = inpaint;  // such a model has no plain img2img

  std::vector<double> text_s, img2img_s, inpaint_s;
  Call t, i, m;
  Generate(**engine, img2img);  // warm-up of the encoder path
  for (int run = 0; run < runs; ++run) {
    t = Generate(**engine, text);
    i = Generate(**engine, img2img);
    m = Generate(**engine, inpaint);
    text_s.push_back(t.seconds);
    img2img_s.push_back(i.seconds);
    inpaint_s.push_back(m.seconds);
  }
  std::printf("model %s: %dx%d, %d %s steps, guidance %.1f, device %s, %d runs\n",
              limits.name.c_str(), r.width, r.height, r.steps, r.scheduler.c_str(),
              r.guidance_scale, options.device.c_str(), runs);
  bench::BenchReport report("img2img_bench");
  report.Add("unet_calls_img2img_0.5", i.unet_calls, "calls", t.unet_calls);
  report.Add("unet_calls_inpaint_0.5", m.unet_calls, "calls", t.unet_calls);
  report.Add("s_per_image_img2img_0.5", Median(img2img_s), "s", Median(text_s));
  report.Add("s_per_image_inpaint_0.5", Median(inpaint_s), "s", Median(text_s));
  report.Print();
  return 0;
}

}  // namespace
}  // namespace stipple

int main(int argc, char** argv) { return stipple::Main(argc, argv); }
