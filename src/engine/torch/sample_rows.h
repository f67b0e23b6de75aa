// SampleRows: the images a pipeline is sampling, one row each, with what every pipeline keeps
// per image — the job it belongs to, its index in that job, its seed and its own CPU generator —
// and the two things done to all rows alike: drawing noise (from each row's generator, so a row's
// numbers never depend on the other rows, and on the CPU, so they are the same on every device)
// and dropping rows whose job was cancelled.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace stipple::torch_engine {

struct SampleRows {
  std::vector<size_t> job;         // the job each row belongs to (rows of a job are contiguous)
  std::vector<int> index_in_job;   // image i of that job
  std::vector<uint32_t> seed;      // request seed + i (mod 2^32)
  std::vector<at::Generator> rng;  // the row's own noise source, seeded with `seed`

  size_t size() const { return job.size(); }

  // One row per image of every admitted job, in job order.
  void AddJobs(std::span<const EngineJob> jobs, const std::vector<Status>& admitted) {
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (!admitted[j].ok()) continue;
      const GenerationRequest& r = jobs[j].request;
      for (int i = 0; i < r.num_images; ++i) {
        job.push_back(j);
        index_in_job.push_back(i);
        seed.push_back(r.seed + static_cast<uint32_t>(i));  // wraps mod 2^32
        rng.push_back(at::detail::createCPUGenerator(seed.back()));
      }
    }
  }

  // One standard normal draw of `shape` per row, stacked: (rows, shape...), fp32 on the CPU.
  torch::Tensor Noise(c10::IntArrayRef shape) {
    std::vector<torch::Tensor> draws;
    draws.reserve(rng.size());
    for (at::Generator& g : rng) draws.push_back(torch::randn(shape, g, torch::kFloat));
    return torch::stack(draws);
  }

  // Rows whose job's token is cancelled: their job's result becomes kCancelled ("cancelled
  // after step `step` of `steps`"). Returns the rows to keep (ascending), all of them when none
  // was cancelled.
  std::vector<int64_t> Cancelled(std::span<const EngineJob> jobs, int step, int steps,
                                 std::vector<Result<std::vector<GeneratedImage>>>& results) const {
    std::vector<int64_t> keep;
    for (size_t r = 0; r < size(); ++r) {
      const CancelToken* token = jobs[job[r]].cancel;
      if (token != nullptr && token->cancelled()) {
        results[job[r]] =
            Status(StatusCode::kCancelled,
                   "cancelled after step " + std::to_string(step) + " of " + std::to_string(steps));
      } else {
        keep.push_back(static_cast<int64_t>(r));
      }
    }
    return keep;
  }

  // Keeps only `rows` (ascending) of the bookkeeping and of each tensor in `tensors` (dim 0;
  // undefined tensors stay undefined).
  void Keep(const std::vector<int64_t>& rows, std::initializer_list<torch::Tensor*> tensors) {
    auto pick = [&](auto& v) {
      std::decay_t<decltype(v)> kept;
      for (int64_t r : rows) kept.push_back(v[r]);
      v = std::move(kept);
    };
    pick(job);
    pick(index_in_job);
    pick(seed);
    pick(rng);
    for (torch::Tensor* t : tensors) {
      if (!t->defined()) continue;
      torch::Tensor index = torch::tensor(rows, torch::kLong).to(t->device());
      *t = t->index_select(0, index);
    }
  }
};

}  // namespace stipple::torch_engine
