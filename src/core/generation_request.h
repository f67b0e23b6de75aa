// GenerationRequest: what a client asks to have generated, validated and normalized exactly as
// API.md ("Generation request") specifies.
//
// ParseGenerationRequest is the one entry point for every front door (REST, WebSocket submit,
// the OpenAI-compatible endpoint builds a body and calls it too). It rejects malformed JSON,
// unknown fields, wrong types and out-of-range values with kInvalidArgument carrying one
// FieldError per offending field (all of them, not just the first), and returns a *normalized*
// request: every default filled in from the model's limits, the seed resolved.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "core/task_state.h"

namespace stipple {

// What one model allows and defaults to. The engine fills this from the model's files.
struct ModelLimits {
  std::string name;
  int width = 32;  // native size: the default
  int height = 32;
  std::vector<std::pair<int, int>> sizes;  // every allowed (width, height); empty: only native
  // A size rule (Stable Diffusion models take any multiple of 8 within a range): when
  // size_multiple > 0, every width and height that is a multiple of it within
  // [min_size, max_size] is allowed too. 0: no rule, only the native size and `sizes`.
  int size_multiple = 0;
  int min_size = 0;
  int max_size = 0;
  std::string family;  // what kind of model ("sd1", "sd2", "sdxl", "shapes"); may be empty
  int max_steps = 150;
  std::vector<std::string> schedulers = {"ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "lcm"};
  int default_steps = 20;
  double default_guidance_scale = 4.0;
  std::string default_scheduler = "ddim";
  // The largest clip_skip a request may ask for: the CLIP text encoder's layer count − 1 (SDXL:
  // of the shallower of its two encoders); 0 for models without CLIP layers to skip.
  int max_clip_skip = 0;
  // A dedicated inpainting model (a 9-channel UNet): requests must give init_image and mask_image.
  bool inpainting = false;

  // Whether width x height is allowed: the native size, one of `sizes`, or by the size rule.
  // The one definition of the rule (request validation and the engine both ask it).
  bool AllowsSize(int64_t width, int64_t height) const;
};

// A LoRA adapter the deployment has (a file in the model directory's loras/ folder).
struct LoraInfo {
  std::string name;    // the file's stem: what requests name
  std::string family;  // the model family it was trained for ("sd1", "sd2", "sdxl")
  int64_t bytes = 0;   // the file's size
  bool operator==(const LoraInfo&) const = default;
};

// The models a deployment can run; the first one is the default model.
struct ModelCatalog {
  std::vector<ModelLimits> models;
  std::vector<LoraInfo> loras;  // every LoRA found; a request may use those of its model's family
  const LoraInfo* FindLora(std::string_view name) const;
  const ModelLimits* Find(std::string_view name) const;
  const ModelLimits* Default() const { return models.empty() ? nullptr : &models.front(); }
};

// Request-wide limits and defaults that are the server's to choose (see docs/requests.md).
struct RequestLimits {
  static constexpr int kMaxPromptChars = 1000;  // Unicode code points
  static constexpr int kMaxSteps = 150;
  static constexpr double kMaxGuidanceScale = 30.0;
  static constexpr int kMaxNumImages = 8;
  static constexpr int64_t kMaxSeed = 4294967295;  // 2^32 - 1
  static constexpr int kMaxTtlS = 7 * 24 * 3600;
  static constexpr int kMaxTimeoutS = 3600;
  static constexpr int kDefaultTimeoutS = 300;
  static constexpr size_t kMaxMetadataBytes = 4096;  // serialized, compact JSON
  static constexpr size_t kMaxWebhookUrlBytes = 2048;
  static constexpr size_t kMaxImageSourceBytes = 2048;  // an https:// image URL
  static constexpr int kMaxLoras = 8;
  static constexpr double kMaxLoraScale = 10.0;          // |scale|
  static constexpr double kDefaultStrength = 0.8;        // img2img, as diffusers
  static constexpr double kDefaultMaskedStrength = 1.0;  // with a mask, as diffusers' inpainting
};

// An image a request gives as input (init_image, mask_image). From a client it is `source`: a
// data: URL (base64 PNG, JPEG or WebP) or an https:// URL; the parser checks only that form. The
// gateway resolves it at submit (fetches, decodes, checks the size, stores the bytes once by
// content hash in the result store): then `source` is empty and the other fields are set. A stored
// request holds only the resolved form.
struct ImageInput {
  std::string source;
  std::string sha256;      // resolved: hex SHA-256 of the stored bytes (the result store's key)
  std::string media_type;  // resolved: "image/png", "image/jpeg" or "image/webp"
  int width = 0;           // resolved: the decoded size
  int height = 0;
  bool resolved() const { return source.empty() && !sha256.empty(); }
  bool operator==(const ImageInput&) const = default;
};

// A LoRA adapter applied to one request, by name (LoraInfo::name), with its weight.
struct LoraRequest {
  std::string name;
  double scale = 1.0;
  bool operator==(const LoraRequest&) const = default;
};

struct WebhookSpec {
  std::string url;
  std::vector<std::string> events;  // subset of {"started", "progress", "completed"}, no repeats
  bool operator==(const WebhookSpec&) const = default;
};

// A normalized request: after ParseGenerationRequest every field holds its effective value.
struct GenerationRequest {
  std::string prompt;
  std::string negative_prompt;
  std::string model;
  int width = 0;
  int height = 0;
  int steps = 0;
  double guidance_scale = 0;
  std::string scheduler;
  // How many of the text encoder's last layers the prompt's conditioning skips, as diffusers'
  // clip_skip (A1111's "Clip skip N" is N − 1): 0 is each family's usual layer.
  int clip_skip = 0;
  uint32_t seed = 0;
  int num_images = 1;
  Priority priority = Priority::kNormal;
  std::optional<int> ttl_s;  // none: the task never expires while queued
  int timeout_s = RequestLimits::kDefaultTimeoutS;
  std::optional<WebhookSpec> webhook;
  std::string metadata_json = "{}";  // a JSON object, compact
  // Image-to-image: the image the run starts from, and the share of the schedule that runs
  // (diffusers' strength: the last int(steps * strength) steps, at least one). Without
  // init_image, strength is 0. With init_image and no width/height given, the parser leaves
  // width and height 0 and the gateway's resolver sets them to the image's size; an image whose
  // size differs from width x height is refused, never resized.
  std::optional<ImageInput> init_image;
  std::optional<ImageInput> mask_image;  // only with init_image, of its size; white = repaint
  double strength = 0;
  std::vector<LoraRequest> loras;  // at most kMaxLoras, distinct names, of the model's family

  bool operator==(const GenerationRequest&) const = default;
};

// Whether two requests may run in one engine call: the same model, width, height, steps,
// scheduler, strength, kind of image input (none, init image, init image and mask) and LoRA set
// (names and scales, in order). Prompts, seeds, guidance, clip_skip, num_images and the input
// images themselves may differ. The one definition of the rule: engines and the worker's batch
// grouping ask it.
bool BatchCompatible(const GenerationRequest& a, const GenerationRequest& b);

// The denoising steps a request runs: `steps`, or with an init image the last
// min(int(steps · strength), steps) of them (diffusers' get_timesteps; int truncates). What the
// engine runs and what a task's progress counts to.
int StepsToRun(const GenerationRequest& request);

// Returns a random seed in [0, 2^32-1]; injected so tests are deterministic.
using SeedSource = std::function<uint32_t()>;
SeedSource RandomSeedSource();

// Parses, validates and normalizes a JSON request body (see the file comment). Its JSON codec
// (the normalized request as stored, leased and shown) is in core/generation_request_codec.h.
Result<GenerationRequest> ParseGenerationRequest(std::string_view json_body,
                                                 const ModelCatalog& catalog,
                                                 const SeedSource& seeds);

// A stable digest (hex SHA-256) of a request body's meaning: the same JSON with other key order
// or whitespace gives the same fingerprint. Used for idempotency keys (same key + same body).
// The body must be valid JSON (call after a successful parse).
std::string RequestFingerprint(std::string_view json_body);

}  // namespace stipple
