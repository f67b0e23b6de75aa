#include "engine/torch/tiny_model_fixture.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "engine/safetensors.h"
#include "engine/torch/diffusion_model.h"
#include "engine/torch/weights.h"

namespace stipple {

ModelConfig TinyModelFixtureConfig() {
  ModelConfig c;
  c.name = "tiny-test";
  c.width = 8;
  c.height = 8;
  c.sizes = {{8, 8}, {16, 16}};
  c.unet = {.base_channels = 4,
            .channel_mult = {1, 2},
            .res_blocks = 1,
            .attention_levels = {1},
            .heads = 2,
            .norm_groups = 2,
            .time_embed_dim = 8};
  c.text_encoder.vocab_size = static_cast<int>(TinyModelFixtureVocabulary().size());
  c.text_encoder.dim = 8;
  c.text_encoder.layers = 1;
  c.text_encoder.heads = 2;
  c.text_encoder.max_tokens = 8;
  // A gentle schedule (ᾱ stays above 0.5) keeps a random network's images mostly inside
  // [-1, 1], so byte-for-byte comparisons see the pixels rather than clamped extremes.
  c.noise.beta_end = 0.001;
  c.default_steps = 4;
  c.max_steps = 50;
  return c;
}

std::vector<std::string> TinyModelFixtureVocabulary() {
  return {"<pad>", "<bos>",  "<eos>",  "<unk>",    "a",   "red", "green",
          "blue",  "circle", "square", "triangle", "on",  "the", "left",
          "right", "top",    "bottom", "small",    "big", "at"};
}

Status WriteTinyModelFixture(const std::string& dir, uint64_t init_seed) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return UnavailableError("fixture: cannot create " + dir + ": " + ec.message());
  const ModelConfig config = TinyModelFixtureConfig();
  {
    std::ofstream json(std::filesystem::path(dir) / "model.json");
    json << ModelConfigToJson(config) << "\n";
    std::ofstream vocab(std::filesystem::path(dir) / config.text_encoder.vocab);
    for (const std::string& token : TinyModelFixtureVocabulary()) vocab << token << "\n";
    if (!json || !vocab) return UnavailableError("fixture: cannot write into " + dir);
  }
  try {
    torch::manual_seed(init_seed);
    torch_engine::DiffusionModel model(config);
    return WriteSafetensorsFile((std::filesystem::path(dir) / config.weights).string(),
                                torch_engine::ExportWeights(*model));
  } catch (const std::exception& e) {
    return InternalError(std::string("fixture: ") + e.what());
  }
}

}  // namespace stipple
