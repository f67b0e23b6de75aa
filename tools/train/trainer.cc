#include "trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "common/file.h"
#include "common/log.h"
#include "engine/clip_text_config.h"
#include "engine/clip_tokenizer.h"
#include "engine/safetensors.h"
#include "engine/scheduler_config.h"
#include "engine/schedulers.h"
#include "engine/torch/clip_text_model.h"
#include "engine/torch/unet2d_condition.h"
#include "engine/torch/weights.h"
#include "engine/unet2d_config.h"
#include "loss_plot.h"
#include "shapes_dataset.h"
#include "shapes_model_files.h"

namespace stipple::shapes {
namespace {

namespace fs = std::filesystem;
using torch_engine::ClipTextModel;
using torch_engine::UNet2DCondition;

// The two trained parts under one root, so that one optimizer, one average and one checkpoint
// cover both: parameter names are "text_encoder." + Hugging Face's and "unet." + diffusers'.
struct ShapesModelImpl : torch::nn::Module {
  ShapesModelImpl(const ClipTextConfig& text, const UNet2DConditionConfig& unet_config)
      : text_encoder(register_module("text_encoder", ClipTextModel(text))),
        unet(register_module("unet", UNet2DCondition(unet_config))) {
    // Hugging Face's CLIP initialisation of the embeddings (N(0, 0.02)): libtorch's N(0, 1)
    // would leave the pieces of words the captions never use (never trained) as large random
    // vectors.
    torch::NoGradGuard no_grad;
    for (auto& item : text_encoder->named_parameters()) {
      if (item.key().find("embedding.weight") != std::string::npos) item.value().normal_(0, 0.02);
    }
  }
  torch::Tensor forward(const torch::Tensor& noisy, const torch::Tensor& t,
                        const torch::Tensor& tokens) {
    return unet->forward(noisy, t, text_encoder->forward(tokens).last_hidden_state);
  }
  ClipTextModel text_encoder;
  UNet2DCondition unet;
};
TORCH_MODULE(ShapesModel);

// Spreads the token-embedding rows the captions use — each caption word is one token — and the
// start and end tokens to N(0, 1), as the first version's word embeddings started (libtorch's
// default), while the pieces of other words stay at N(0, 0.02). At N(0, 0.02) for every token the
// text states start almost word-independent: the colour words, whose signal is strongest,
// separate first, and the position words never did (a 2,250-step run reached colour 97.5 % on
// caption-like prompts but position at chance, with the states of "top" and "bottom" 0.09 apart
// against 0.8 for two colours).
void SpreadCaptionWordEmbeddings(ShapesModel& model, const ClipTokenizer& tokenizer) {
  torch::NoGradGuard no_grad;
  torch::Tensor table;
  for (auto& item : model->text_encoder->named_parameters()) {
    if (item.key().find("token_embedding.weight") != std::string::npos) table = item.value();
  }
  std::vector<int64_t> rows = {tokenizer.bos_id(), tokenizer.eos_id()};
  for (const std::string& word : CaptionVocabulary()) {
    const std::vector<int32_t> ids = tokenizer.Encode(word);  // <start>, the word, <end>, …
    rows.push_back(ids[1]);
  }
  for (int64_t row : rows) table[row].normal_(0, 1);
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return UnavailableError("cannot write " + path.string());
  return Status::Ok();
}

// The tensors of `all` whose names start with `prefix`, without it.
SafetensorsFile Part(const SafetensorsFile& all, const std::string& prefix) {
  SafetensorsFile part;
  for (const auto& [name, tensor] : all.tensors) {
    if (name.rfind(prefix, 0) == 0) part.tensors.emplace(name.substr(prefix.size()), tensor);
  }
  return part;
}

Result<std::string> ReadPart(const fs::path& path) { return ReadTextFile(path.string()); }

// The step a checkpoint was written at; 0 when there is none.
int64_t CheckpointStep(const fs::path& dir) {
  std::ifstream in(dir / "step.txt");
  int64_t step = 0;
  in >> step;
  return in ? step : 0;
}

// The batch of samples [first, first + n) as image tensors in [-1, 1] and token ids.
void MakeBatch(const ShapeSampler& sampler, uint64_t first, int n, const Tokenizer& tokenizer,
               double uncond_probability, std::mt19937_64& rng, torch::Tensor* images,
               torch::Tensor* tokens) {
  const int length = tokenizer.max_length();
  std::vector<float> pixels(static_cast<size_t>(n) * 3 * kImageSize * kImageSize);
  std::vector<int64_t> ids(static_cast<size_t>(n) * static_cast<size_t>(length));
  std::bernoulli_distribution drop(uncond_probability);
  const size_t plane = static_cast<size_t>(kImageSize) * kImageSize;
  for (int i = 0; i < n; ++i) {
    ShapeSample s = sampler.At(first + static_cast<uint64_t>(i));
    for (size_t p = 0; p < plane; ++p) {
      for (size_t c = 0; c < 3; ++c) {
        pixels[static_cast<size_t>(i) * 3 * plane + c * plane + p] =
            static_cast<float>(s.image.rgb[p * 3 + c]) / 127.5f - 1.0f;
      }
    }
    std::vector<int32_t> encoded = tokenizer.Encode(drop(rng) ? std::string() : s.caption);
    for (int k = 0; k < length; ++k)
      ids[static_cast<size_t>(i * length + k)] = encoded[static_cast<size_t>(k)];
  }
  *images = torch::from_blob(pixels.data(), {n, 3, kImageSize, kImageSize}).clone();
  *tokens = torch::from_blob(ids.data(), {n, length}, torch::kInt64).clone();
}

// <dir>/loss.png from <dir>/loss.csv: the model card's plot, redrawn at every checkpoint.
Status WriteLossPlot(const fs::path& dir) {
  std::ifstream in(dir / "loss.csv");
  std::string csv((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSIGN_OR_RETURN(auto points, ParseLossCsv(csv));
  if (points.size() < 2) return Status::Ok();  // nothing to draw yet
  ASSIGN_OR_RETURN(std::string png, LossPlotPng(points));
  return WriteText(dir / "loss.png", png);
}

}  // namespace

Status Train(const TrainOptions& options) {
  RETURN_IF_ERROR(InitializeShapesModelDir(options.model_dir));
  fs::path dir(options.model_dir);
  fs::path checkpoint = dir / "checkpoint";
  ASSIGN_OR_RETURN(std::string text_json, ReadPart(dir / "text_encoder" / "config.json"));
  ASSIGN_OR_RETURN(ClipTextConfig text_config,
                   ParseClipTextConfig(text_json, "text_encoder/config.json"));
  ASSIGN_OR_RETURN(std::string unet_json, ReadPart(dir / "unet" / "config.json"));
  ASSIGN_OR_RETURN(UNet2DConditionConfig unet_config,
                   ParseUNet2DConditionConfig(unet_json, "unet/config.json"));
  if (unet_config.in_channels != 3 || unet_config.out_channels != 3) {
    return InvalidArgumentError(
        "unet/config.json: the trainer trains pixel-space models (in_channels and out_channels 3)");
  }
  ASSIGN_OR_RETURN(std::string scheduler_json,
                   ReadPart(dir / "scheduler" / "scheduler_config.json"));
  ASSIGN_OR_RETURN(SchedulerConfig scheduler,
                   ParseSchedulerConfig(scheduler_json, "scheduler/scheduler_config.json"));
  if (scheduler.prediction_type.value_or("epsilon") != "epsilon") {
    return InvalidArgumentError(
        "scheduler/scheduler_config.json: the trainer trains epsilon prediction only");
  }
  NoiseScheduleConfig noise;
  noise.train_timesteps = scheduler.num_train_timesteps.value_or(noise.train_timesteps);
  noise.beta_schedule = scheduler.beta_schedule.value_or(noise.beta_schedule);
  noise.beta_start = scheduler.beta_start.value_or(noise.beta_start);
  noise.beta_end = scheduler.beta_end.value_or(noise.beta_end);
  ASSIGN_OR_RETURN(NoiseSchedule schedule, NoiseSchedule::Make(noise));
  ASSIGN_OR_RETURN(auto tokenizer, ClipTokenizer::LoadDirectory((dir / "tokenizer").string()));
  try {
    torch::manual_seed(options.seed);
    // libtorch's own default here is one thread; 0 means every core.
    torch::set_num_threads(
        options.threads > 0 ? options.threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
    torch::Device device(options.device);
    ShapesModel model(text_config, unet_config);
    ShapesModel ema(text_config, unet_config);
    model->to(device);
    ema->to(device);
    torch::optim::AdamW optimizer(
        model->parameters(), torch::optim::AdamWOptions(options.learning_rate).weight_decay(0));

    int64_t step = CheckpointStep(checkpoint);
    if (step > 0) {
      ASSIGN_OR_RETURN(auto raw,
                       ReadSafetensorsFile((checkpoint / "weights.safetensors").string()));
      RETURN_IF_ERROR(torch_engine::LoadWeights(*model, raw, "checkpoint weights"));
      ASSIGN_OR_RETURN(auto averaged,
                       ReadSafetensorsFile((checkpoint / "ema.safetensors").string()));
      RETURN_IF_ERROR(torch_engine::LoadWeights(*ema, averaged, "checkpoint averages"));
      torch::load(optimizer, (checkpoint / "optimizer.pt").string());
      LogInfo("resuming training", {{"step", std::to_string(step)}});
    } else {
      SpreadCaptionWordEmbeddings(model, *tokenizer);
      torch::NoGradGuard no_grad;
      auto from = model->parameters();
      auto to = ema->parameters();
      for (size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
    }
    int64_t parameters = 0;
    for (const auto& p : model->parameters()) parameters += p.numel();
    LogInfo("training", {{"model_dir", options.model_dir},
                         {"parameters", std::to_string(parameters)},
                         {"from_step", std::to_string(step)},
                         {"to_step", std::to_string(options.steps)}});

    auto alphas = torch::tensor(std::vector<double>(schedule.alphas_cumprod.begin(),
                                                    schedule.alphas_cumprod.end()))
                      .to(torch::kFloat32)
                      .to(device);
    ShapeSampler sampler(options.seed);
    std::mt19937_64 rng(options.seed * 7919 + static_cast<uint64_t>(step));
    std::ofstream loss_log(dir / "loss.csv", std::ios::app);

    auto save = [&]() -> Status {
      fs::create_directories(checkpoint);
      RETURN_IF_ERROR(WriteSafetensorsFile((checkpoint / "weights.safetensors").string(),
                                           torch_engine::ExportWeights(*model)));
      SafetensorsFile averaged = torch_engine::ExportWeights(*ema);
      RETURN_IF_ERROR(WriteSafetensorsFile((checkpoint / "ema.safetensors").string(), averaged));
      torch::save(optimizer, (checkpoint / "optimizer.pt").string());
      RETURN_IF_ERROR(WriteText(checkpoint / "step.txt", std::to_string(step) + "\n"));
      RETURN_IF_ERROR(WriteLossPlot(dir));
      RETURN_IF_ERROR(WriteSafetensorsFile((dir / "text_encoder" / "model.safetensors").string(),
                                           Part(averaged, "text_encoder.")));
      return WriteSafetensorsFile((dir / "unet" / "diffusion_pytorch_model.safetensors").string(),
                                  Part(averaged, "unet."));
    };

    auto run_start = std::chrono::steady_clock::now();
    auto report_start = run_start;
    double loss_sum = 0;
    int loss_count = 0;
    const int timesteps = schedule.train_timesteps();
    while (step < options.steps) {
      torch::Tensor x0, tokens;
      MakeBatch(sampler, static_cast<uint64_t>(step) * static_cast<uint64_t>(options.batch_size),
                options.batch_size, *tokenizer, options.uncond_probability, rng, &x0, &tokens);
      x0 = x0.to(device);
      tokens = tokens.to(device);
      auto t = torch::randint(0, timesteps, {options.batch_size}, torch::kInt64).to(device);
      auto noise = torch::randn_like(x0);
      auto a = alphas.index_select(0, t).view({-1, 1, 1, 1});
      auto xt = a.sqrt() * x0 + (1 - a).sqrt() * noise;
      auto predicted = model->forward(xt, t, tokens);
      auto loss = torch::mse_loss(predicted, noise);

      double lr = options.learning_rate *
                  std::min(1.0, static_cast<double>(step + 1) / std::max(1, options.warmup_steps));
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      }
      optimizer.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
      optimizer.step();
      {
        // The usual warm-up of the average, (1 + n) / (10 + n) capped at ema_decay: a fixed 0.999
        // from step 0 would still hold 8 % of the random initial weights after 2,500 steps.
        const double decay =
            std::min(options.ema_decay, (1.0 + static_cast<double>(step)) / (10.0 + step));
        torch::NoGradGuard no_grad;
        auto from = model->parameters();
        auto to = ema->parameters();
        for (size_t i = 0; i < from.size(); ++i) to[i].mul_(decay).add_(from[i], 1 - decay);
      }
      ++step;
      loss_sum += loss.item<double>();
      ++loss_count;

      if (step % options.log_every == 0 || step == options.steps) {
        auto now = std::chrono::steady_clock::now();
        double window = std::chrono::duration<double>(now - report_start).count();
        TrainProgress p{step, options.steps, loss_sum / loss_count,
                        loss_count * options.batch_size / std::max(window, 1e-9),
                        std::chrono::duration<double>(now - run_start).count()};
        loss_log << step << "," << p.loss << "\n";
        loss_log.flush();
        if (options.on_progress) options.on_progress(p);
        loss_sum = 0;
        loss_count = 0;
        report_start = now;
      }
      if (step % options.checkpoint_every == 0 || step == options.steps) RETURN_IF_ERROR(save());
    }
    return WriteLossPlot(dir);  // also when there was nothing left to train
  } catch (const std::exception& e) {
    return InternalError(std::string("training failed: ") + e.what());
  }
}

}  // namespace stipple::shapes
