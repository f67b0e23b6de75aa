// `stipple generate PROMPT`: the options of both ways to generate, the request body they make,
// and the dispatch between a server (the default) and --local.
#include <boost/json/object.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "client_options.h"
#include "commands.h"
#include "common_options.h"
#include "core/json.h"
#include "generate.h"
#include "generate_images.h"
#include "generate_lora.h"

namespace stipple::app {
namespace {

const OptionSpec kGenerateOptions[] = {
    {.name = "output",
     .help = "where to write the PNG (image i of --n > 1: FILE-i.png); through a server the "
             "default is TASK_ID.png",
     .short_name = 'o',
     .value_name = "FILE"},
    {.name = "negative", .help = "negative prompt", .value_name = "TEXT"},
    {.name = "steps", .help = "denoising steps (default: the model's)", .value_name = "N"},
    {.name = "seed", .help = "0..4294967295 (default: random, and printed)", .value_name = "N"},
    {.name = "scheduler",
     .help = "ddim, ddpm, euler, euler_a, dpmpp_2m or lcm (default: the model's)",
     .value_name = "NAME"},
    {.name = "guidance",
     .help = "guidance scale 0..30 (default: the model's)",
     .value_name = "SCALE"},
    {.name = "clip-skip",
     .help = "text-encoder layers the prompt skips, 0..the model's max_clip_skip (default 0; "
             "A1111's \"Clip skip N\" is N-1)",
     .value_name = "N"},
    {.name = "lora",
     .help = "a LoRA and its scale, repeatable: the file's stem names it (the server's or the "
             "model folder's loras/; with --local any .safetensors path)",
     .kind = OptionKind::kList,
     .value_name = "FILE.safetensors:SCALE"},
    {.name = "size", .help = "image size (default: the model's)", .value_name = "WxH"},
    {.name = "width", .help = "image width (default: the model's)", .value_name = "PX"},
    {.name = "height", .help = "image height (default: the model's)", .value_name = "PX"},
    {.name = "n", .default_value = "1", .help = "number of images, 1..8", .value_name = "N"},
    {.name = "model", .help = "model name (default: the server's default)", .value_name = "NAME"},
    {.name = "image",
     .help = "image-to-image: start from this PNG, JPEG or WebP (of the image size; without "
             "--size, its size is the image's)",
     .value_name = "FILE"},
    {.name = "mask",
     .help = "with --image: repaint where this image is white (the same size)",
     .value_name = "FILE"},
    {.name = "strength",
     .help = "with --image: the share of the schedule that runs, 0..1 (default 0.8; 1.0 with "
             "--mask)",
     .value_name = "S"},
    {.name = "priority", .help = "high, normal or low (default: normal)", .value_name = "PRIORITY"},
    {.name = "async",
     .help = "submit, print the task id and return at once",
     .kind = OptionKind::kFlag},
    {.name = "wait",
     .help = "give up waiting after N seconds (exit 8; the task goes on); default: until it ends",
     .value_name = "N"},
    {.name = "local",
     .help = "run the engine in this process instead of through a server",
     .kind = OptionKind::kFlag},
    {.name = "model-dir",
     .help = "with --local: the model: a diffusers folder (model_index.json) or a single-file "
             ".safetensors checkpoint (default: the bundled shapes-32 model)",
     .value_name = "PATH"},
    {.name = "threads",
     .default_value = "0",
     .help = "with --local: libtorch threads; 0: every core",
     .value_name = "N"},
    {.name = "device",
     .default_value = "cpu",
     .help = "with --local: cpu, cuda or cuda:N",
     .value_name = "DEVICE"},
    {.name = "dtype",
     .default_value = "auto",
     .help = "with --local: auto (fp16 on CUDA, fp32 on the CPU), fp32, fp16 or bf16",
     .value_name = "DTYPE"},
};

constexpr const char* kUsage =
    "stipple generate PROMPT [-o FILE] [OPTIONS]\n"
    "  through a server (--server URL, default http://127.0.0.1:8080), or in this process with "
    "--local";

Status ParseSize(const std::string& text, int64_t* width, int64_t* height) {
  const size_t x = text.find_first_of("xX");
  try {
    if (x == std::string::npos) throw std::invalid_argument("no x");
    size_t used = 0;
    *width = std::stoll(text.substr(0, x), &used);
    if (used != x) throw std::invalid_argument("width");
    *height = std::stoll(text.substr(x + 1), &used);
    if (used != text.size() - x - 1) throw std::invalid_argument("height");
  } catch (const std::exception&) {
    return InvalidArgumentError("option --size: expected WIDTHxHEIGHT (e.g. 32x32), not '" + text +
                                "'");
  }
  return Status::Ok();
}

// The API request body the options describe (only the options given).
Result<std::string> RequestBody(const Config& config, const std::string& prompt) {
  boost::json::object body;
  body["prompt"] = prompt;
  if (config.Has("negative")) body["negative_prompt"] = config.GetString("negative");
  if (config.Has("scheduler")) body["scheduler"] = config.GetString("scheduler");
  if (config.Has("model")) body["model"] = config.GetString("model");
  if (config.Has("priority")) body["priority"] = config.GetString("priority");
  if (config.Has("size")) {
    int64_t width = 0, height = 0;
    RETURN_IF_ERROR(ParseSize(config.GetString("size"), &width, &height));
    body["width"] = width;
    body["height"] = height;
  }
  for (auto [option, field] : {std::pair{"steps", "steps"}, std::pair{"seed", "seed"},
                               std::pair{"width", "width"}, std::pair{"height", "height"},
                               std::pair{"n", "num_images"}, std::pair{"clip-skip", "clip_skip"}}) {
    if (!config.Has(option)) continue;
    ASSIGN_OR_RETURN(int64_t value, config.GetInt(option));
    body[field] = value;
  }
  if (config.Has("guidance")) {
    ASSIGN_OR_RETURN(double value, config.GetDouble("guidance"));
    body["guidance_scale"] = value;
  }
  if (config.Has("lora")) {
    ASSIGN_OR_RETURN(std::vector<LoraOption> loras, ParseLoraOptions(config.GetList("lora")));
    body["loras"] = LoraRequestJson(loras);
  }
  RETURN_IF_ERROR(AddImageInputs(config, body));
  return WriteJson(body);
}

int Usage(const Status& status) {
  std::fprintf(stderr, "stipple generate: %s\n", status.message().c_str());
  return kExitUsage;
}

}  // namespace

std::string OutputPath(const std::string& output, int index, int count) {
  if (count == 1) return output;
  std::filesystem::path path(output);
  return (path.parent_path() /
          (path.stem().string() + "-" + std::to_string(index) + path.extension().string()))
      .string();
}

int RunGenerate(std::span<const std::string> args) {
  ParsedOptions parsed = ParseClientCommandOptions(kUsage, kGenerateOptions, args);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  if (config.positional().size() != 1) {
    return Usage(InvalidArgumentError("expected exactly one PROMPT argument"));
  }
  Result<std::string> body = RequestBody(config, config.positional()[0]);
  if (!body.ok()) return Usage(body.status());
  Result<bool> local = config.GetBool("local");
  if (!local.ok()) return Usage(local.status());
  if (*local) return GenerateLocal(config, *body);
  return GenerateThroughServer(config, *body);
}

}  // namespace stipple::app
