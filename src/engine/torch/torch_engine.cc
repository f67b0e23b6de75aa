#include "engine/torch_engine.h"

#include <torch/torch.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <thread>

#include "engine/ldm_checkpoint.h"
#include "engine/model_files.h"
#include "engine/torch/lora_apply.h"
#include "engine/torch/sd_loader.h"

namespace stipple {
namespace {

using torch_engine::LoraMerger;
using torch_engine::SdPipeline;

Result<torch::Device> ParseDevice(const std::string& text) {
  if (text == "cpu") return torch::Device(torch::kCPU);
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (text != "cuda") {
      const std::string digits = text.substr(5);
      if (digits.empty() || digits.size() > 3 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        return InvalidArgumentError("device '" + text + "': expected cpu, cuda or cuda:N");
      }
      index = std::stoi(digits);
    }
    if (!torch::cuda::is_available()) {
      return FailedPreconditionError("device '" + text +
                                     "': CUDA is not available (no GPU, or a CPU-only libtorch)");
    }
    if (index >= static_cast<int>(torch::cuda::device_count())) {
      return InvalidArgumentError("device '" + text + "': there are only " +
                                  std::to_string(torch::cuda::device_count()) + " CUDA devices");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return InvalidArgumentError("device '" + text + "': expected cpu, cuda or cuda:N");
}

class LoadedTorchEngine final : public Engine {
 public:
  LoadedTorchEngine(std::unique_ptr<SdPipeline> pipeline, int threads,
                    const TorchEngineOptions& options)
      : pipeline_(std::move(pipeline)),
        limits_(pipeline_->limits()),
        threads_(threads),
        loras_({pipeline_->model().unet.ptr(),
                pipeline_->model().text_encoder.is_empty() ? nullptr
                                                           : pipeline_->model().text_encoder.ptr(),
                pipeline_->model().text_encoder_2.is_empty()
                    ? nullptr
                    : pipeline_->model().text_encoder_2.ptr()},
               pipeline_->model().family, options.lora_files, options.lora_cache_bytes) {}

  ModelLimits limits() const override { return limits_; }

  std::vector<Result<std::vector<GeneratedImage>>> Generate(std::span<const EngineJob> jobs,
                                                            const ProgressSink& progress) override {
    std::vector<Status> admitted = CheckEngineJobs(jobs, limits_);
    Status failure;
    {
      std::lock_guard<std::mutex> lock(mu_);
      try {
        // Process-wide in libtorch: set on every call so engines with other settings coexist,
        // but only when it differs — each set also rebuilds libtorch's pthreadpool.
        if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
        // CheckEngineJobs admits only jobs with the first admitted job's LoRA set.
        auto first =
            std::find_if(admitted.begin(), admitted.end(), [](const Status& s) { return s.ok(); });
        if (first != admitted.end()) {
          Result<bool> changed = loras_.Use(jobs[first - admitted.begin()].request.loras);
          if (!changed.ok()) {
            failure = changed.status();
          } else if (*changed) {
            pipeline_->ForgetTextMemo();  // ""'s text conditions belong to the encoders' weights
          }
        }
        if (failure.ok()) return pipeline_->Run(jobs, admitted, progress);
      } catch (const c10::OutOfMemoryError& e) {
        failure = ResourceExhaustedError(std::string("engine: out of device memory: ") +
                                         e.what_without_backtrace());
      } catch (const c10::Error& e) {
        failure = InternalError(std::string("engine: libtorch: ") + e.what_without_backtrace());
      } catch (const std::bad_alloc&) {
        failure = ResourceExhaustedError("engine: out of memory");
      } catch (const std::exception& e) {
        failure = InternalError(std::string("engine: ") + e.what());
      }
    }
    std::vector<Result<std::vector<GeneratedImage>>> results;
    for (const Status& status : admitted) results.emplace_back(status.ok() ? failure : status);
    return results;
  }

 private:
  std::mutex mu_;  // one batch at a time on the model
  std::unique_ptr<SdPipeline> pipeline_;
  const ModelLimits limits_;
  const int threads_;
  LoraMerger loras_;  // the LoRA set merged into the model's weights
};

Result<torch::ScalarType> ParseDtype(const std::string& text, const torch::Device& device) {
  if (text == "auto") return device.is_cuda() ? torch::kHalf : torch::kFloat;
  if (text == "fp32") return torch::kFloat;
  if (text == "bf16") return torch::kBFloat16;
  if (text == "fp16") {
    if (!device.is_cuda()) {
      return InvalidArgumentError(
          "dtype 'fp16': half precision needs a CUDA device (on the CPU "
          "use fp32 or bf16)");
    }
    return torch::kHalf;
  }
  return InvalidArgumentError("dtype '" + text + "': expected auto, fp32, fp16 or bf16");
}

int ThreadsFor(const TorchEngineOptions& options) {
  return options.threads > 0 ? options.threads
                             : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Result<std::unique_ptr<Engine>> LoadOrThrow(const std::string& path,
                                            const TorchEngineOptions& options) {
  RETURN_IF_ERROR(RefusePickleCheckpoint(path));
  ASSIGN_OR_RETURN(torch::Device device, ParseDevice(options.device));
  ASSIGN_OR_RETURN(torch::ScalarType dtype, ParseDtype(options.dtype, device));
  const int threads = ThreadsFor(options);
  at::set_num_threads(threads);
  ASSIGN_OR_RETURN(ModelPath model, ModelAt(path));
  ASSIGN_OR_RETURN(std::unique_ptr<SdPipeline> pipeline,
                   torch_engine::LoadSdPipeline(model, options, device, dtype));
  return std::unique_ptr<Engine>(new LoadedTorchEngine(std::move(pipeline), threads, options));
}

}  // namespace

Result<std::unique_ptr<Engine>> TorchEngine::Load(const std::string& model_dir,
                                                  const TorchEngineOptions& options) {
  if (options.preview_every < 0) return InvalidArgumentError("preview_every must be >= 0");
  if (options.threads < 0) return InvalidArgumentError("threads must be >= 0");
  try {
    return LoadOrThrow(model_dir, options);
  } catch (const c10::Error& e) {
    return InternalError("loading " + model_dir + ": libtorch: " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("loading " + model_dir + ": out of memory");
  } catch (const std::exception& e) {
    return InternalError("loading " + model_dir + ": " + e.what());
  }
}

}  // namespace stipple
