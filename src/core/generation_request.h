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

  // Whether width x height is allowed: the native size, one of `sizes`, or by the size rule.
  // The one definition of the rule (request validation and the engine both ask it).
  bool AllowsSize(int64_t width, int64_t height) const;
};

// The models a deployment can run; the first one is the default model.
struct ModelCatalog {
  std::vector<ModelLimits> models;
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

  bool operator==(const GenerationRequest&) const = default;
};

// Returns a random seed in [0, 2^32-1]; injected so tests are deterministic.
using SeedSource = std::function<uint32_t()>;
SeedSource RandomSeedSource();

// Parses, validates and normalizes a JSON request body (see the file comment).
Result<GenerationRequest> ParseGenerationRequest(std::string_view json_body,
                                                 const ModelCatalog& catalog,
                                                 const SeedSource& seeds);

// The normalized request as a JSON object with every field present (API.md's "request"),
// keys in a fixed order. ParseGenerationRequest(ToJson(r)) == r.
std::string GenerationRequestToJson(const GenerationRequest& request);

// Reads back what GenerationRequestToJson wrote (a stored, already normalized request) without
// checking it against a catalog: a task stays readable after its model is removed.
Result<GenerationRequest> GenerationRequestFromJson(std::string_view text);

// A stable digest (hex SHA-256) of a request body's meaning: the same JSON with other key order
// or whitespace gives the same fingerprint. Used for idempotency keys (same key + same body).
// The body must be valid JSON (call after a successful parse).
std::string RequestFingerprint(std::string_view json_body);

}  // namespace stipple
