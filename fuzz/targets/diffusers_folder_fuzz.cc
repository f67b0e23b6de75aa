// Fuzz target: a diffusers model folder's small files (src/engine/diffusers_folder.h and the
// tokenizer folder reader, src/engine/clip_tokenizer.h): model_index.json, each part's config, a
// shard index and the tokenizer files. The input is a list of files, each introduced by a line
// "--8<-- <path>" (paths from the list below; others are ignored); they are written into a fresh
// folder beside empty weight files, which the reader checks exist but does not read. Property: a
// folder description or a Status, never a crash; when the folder reads, its tokenizer folders
// load or say why.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/clip_tokenizer.h"
#include "engine/diffusers_folder.h"
#include "fuzz_support.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kFiles[] = {
    "model_index.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors.index.json",
    "vae/config.json",
    "text_encoder/config.json",
    "text_encoder_2/config.json",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "tokenizer/tokenizer_config.json",
    "tokenizer/special_tokens_map.json",
    "tokenizer_2/vocab.json",
    "tokenizer_2/merges.txt",
    "tokenizer_2/tokenizer_config.json",
    "tokenizer_2/special_tokens_map.json",
    "scheduler/scheduler_config.json",
};
constexpr const char* kWeights[] = {
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors",
    "text_encoder_2/model.safetensors",
};

// One scratch folder per process, emptied before each input.
const fs::path& Scratch() {
  static const fs::path dir = [] {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path made = base / ("stipple-fuzz-folder-" + std::to_string(getpid()));
    fs::remove_all(made);
    fs::create_directories(made);
    return made;
  }();
  return dir;
}

void Write(const fs::path& path, std::string_view bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool Known(std::string_view path) {
  for (const char* name : kFiles) {
    if (path == name) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = stipple::fuzz::AsText(data, size);
  constexpr std::string_view kMarker = "--8<-- ";
  if (text.substr(0, kMarker.size()) != kMarker) return 0;
  std::vector<std::string_view> records =
      stipple::fuzz::SplitAt(text.substr(kMarker.size()), "\n--8<-- ");

  const fs::path& dir = Scratch();
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(dir)) fs::remove_all(entry.path(), ignored);
  for (const char* weights : kWeights) Write(dir / weights, "");
  for (std::string_view record : records) {
    size_t eol = record.find('\n');
    std::string_view path = record.substr(0, eol);
    std::string_view content = eol == std::string_view::npos ? "" : record.substr(eol + 1);
    if (Known(path)) Write(dir / path, content);
  }

  auto folder = stipple::ReadDiffusersFolder(dir.string());
  if (!folder.ok()) return 0;
  (void)stipple::ClipTokenizer::LoadDirectory(folder.value().tokenizer.dir);
  if (folder.value().tokenizer_2) {
    (void)stipple::ClipTokenizer::LoadDirectory(folder.value().tokenizer_2->dir);
  }
  return 0;
}
