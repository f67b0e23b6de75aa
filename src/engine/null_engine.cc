#include "engine/null_engine.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <thread>
#include <utility>

#include "engine/schedulers.h"
#include "imaging/png.h"

namespace stipple {
namespace {

constexpr int kSizeMultiple = 8;
constexpr int kMaxSize = 1024;

Status BadKey(const std::string& path, const std::string& key, const std::string& why) {
  return InvalidArgumentError(path + ": " + key + " " + why, {FieldError{key, why}});
}

// The integer at `key` within [min, max] into *out; absent keys leave *out alone.
Status ReadInt(const boost::json::object& o, const std::string& path, const char* key, int64_t min,
               int64_t max, int64_t* out) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
    return BadKey(path, key,
                  "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
  }
  *out = v->as_int64();
  return Status::Ok();
}

// A 32-bit mix of the seed (murmur3's finalizer): neighbouring seeds get unrelated colours.
uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

}  // namespace

Result<NullModelOptions> ParseNullModelJson(std::string_view text, const std::string& path,
                                            std::string name) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec);
  if (ec) return InvalidArgumentError(path + ": not valid JSON: " + ec.message());
  if (!doc.is_object()) return InvalidArgumentError(path + ": must be a JSON object");
  const boost::json::object& o = doc.as_object();
  for (const auto& [key, value] : o) {
    if (key != "step_delay_ms" && key != "width" && key != "height" && key != "default_steps") {
      return BadKey(path, std::string(key),
                    "is not a key of " + std::string(kNullModelFile) +
                        " (step_delay_ms, width, height, default_steps)");
    }
  }
  NullModelOptions options;
  options.name = std::move(name);
  int64_t width = options.width, height = options.height, steps = options.default_steps;
  // The delay may be fractional (0.5 ms); the sizes must follow the size rule.
  if (const boost::json::value* v = o.if_contains("step_delay_ms")) {
    const bool number = v->is_int64() || v->is_double();
    const double ms =
        v->is_int64() ? static_cast<double>(v->as_int64()) : (v->is_double() ? v->as_double() : -1);
    if (!number || !(ms >= 0 && ms <= 60'000)) {
      return BadKey(path, "step_delay_ms", "must be a number of milliseconds in 0..60000");
    }
    options.step_delay = std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
  }
  RETURN_IF_ERROR(ReadInt(o, path, "width", kSizeMultiple, kMaxSize, &width));
  RETURN_IF_ERROR(ReadInt(o, path, "height", kSizeMultiple, kMaxSize, &height));
  RETURN_IF_ERROR(ReadInt(o, path, "default_steps", 1, RequestLimits::kMaxSteps, &steps));
  if (width % kSizeMultiple != 0 || height % kSizeMultiple != 0) {
    return BadKey(path, width % kSizeMultiple != 0 ? "width" : "height",
                  "must be a multiple of " + std::to_string(kSizeMultiple));
  }
  options.width = static_cast<int>(width);
  options.height = static_cast<int>(height);
  options.default_steps = static_cast<int>(steps);
  return options;
}

ModelLimits NullModelLimits(const NullModelOptions& options) {
  ModelLimits limits;
  limits.name = options.name;
  limits.family = "null";
  limits.width = options.width;
  limits.height = options.height;
  limits.size_multiple = kSizeMultiple;
  limits.min_size = kSizeMultiple;
  limits.max_size = kMaxSize;
  limits.max_steps = RequestLimits::kMaxSteps;
  limits.schedulers = SchedulerNames();
  limits.default_steps = options.default_steps;
  limits.default_guidance_scale = 1.0;
  limits.default_scheduler = "euler";
  limits.max_clip_skip = 0;
  return limits;
}

Result<std::string> NullModelImage(uint32_t seed, int width, int height) {
  const uint32_t colour = Mix(seed);
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
  for (size_t i = 0; i < rgb.size(); i += 3) {
    rgb[i] = static_cast<uint8_t>(colour);
    rgb[i + 1] = static_cast<uint8_t>(colour >> 8);
    rgb[i + 2] = static_cast<uint8_t>(colour >> 16);
  }
  return EncodePngRgb8(rgb, width, height);
}

NullEngine::NullEngine(NullModelOptions options)
    : options_(std::move(options)), limits_(NullModelLimits(options_)) {}

std::vector<Result<std::vector<GeneratedImage>>> NullEngine::Generate(
    std::span<const EngineJob> jobs, const ProgressSink& progress) {
  std::vector<Status> checks = CheckEngineJobs(jobs, limits_);
  std::vector<Result<std::vector<GeneratedImage>>> out;
  out.reserve(jobs.size());
  std::vector<bool> running(jobs.size(), false);
  int steps = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!checks[i].ok()) {
      out.emplace_back(std::move(checks[i]));
      continue;
    }
    out.emplace_back(std::vector<GeneratedImage>{});
    running[i] = true;
    steps = jobs[i].request.steps;  // every valid job has the first valid job's steps
  }
  MutexLock lock(run_mu_);
  for (int step = 1; step <= steps; ++step) {
    bool any = false;
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (running[i] && jobs[i].cancel != nullptr && jobs[i].cancel->cancelled()) {
        running[i] = false;
        out[i] = Status(StatusCode::kCancelled, "canceled at step " + std::to_string(step - 1) +
                                                    " of " + std::to_string(steps));
      }
      any = any || running[i];
    }
    if (!any) break;
    if (options_.step_delay.count() > 0) std::this_thread::sleep_for(options_.step_delay);
    if (!progress) continue;
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (running[i]) progress(ProgressEvent{.job_index = i, .step = step, .steps = steps});
    }
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!running[i]) continue;
    const GenerationRequest& r = jobs[i].request;
    std::vector<GeneratedImage> images;
    for (int k = 0; k < r.num_images; ++k) {
      const uint32_t seed = static_cast<uint32_t>(r.seed) + static_cast<uint32_t>(k);
      Result<std::string> png = NullModelImage(seed, r.width, r.height);
      if (!png.ok()) {
        out[i] = png.status();
        break;
      }
      images.push_back(GeneratedImage{
          .png = std::move(*png), .width = r.width, .height = r.height, .seed = seed});
    }
    if (out[i].ok()) out[i] = std::move(images);
  }
  return out;
}

}  // namespace stipple
