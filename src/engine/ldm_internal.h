// Internals of the single-file checkpoint conversion (ldm_checkpoint.h), shared by its parts:
// reading the source's key structure, and the plan each part builds — every diffusers tensor it
// needs, the source tensor it comes from and the shape the inferred configuration gives it —
// which is checked as a whole and then carried out by moving tensors.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/ldm_checkpoint.h"
#include "engine/safetensors.h"

namespace stipple::ldm {

using TensorMap = std::map<std::string, FloatTensor>;
using Shape = std::vector<int64_t>;

std::string ShapeString(const Shape& shape);

// kInvalidArgument "single-file checkpoint SOURCE: MESSAGE".
Status LdmError(std::string_view source, const std::string& message);

// Read-only questions about the source tensors during inference, with errors naming the source.
// `skipped` (name → dtype) are the tensors the reader left out for their dtype: they count as
// present, and asking for one's shape is an error naming its dtype.
class SourceKeys {
 public:
  SourceKeys(const TensorMap& tensors, const std::map<std::string, std::string>& skipped,
             std::string_view source)
      : tensors_(tensors), skipped_(skipped), source_(source) {}

  bool Has(const std::string& name) const {
    return tensors_.count(name) > 0 || skipped_.count(name) > 0;
  }
  bool HasPrefix(std::string_view prefix) const;
  // The shape of `name`; an error when it is missing or (rank >= 0) has another rank.
  Result<Shape> ShapeOf(const std::string& name, int rank = -1) const;
  // The error for a tensor that is not there: missing, or of a dtype the reader skipped.
  Status Missing(const std::string& name, const std::string& context = "") const;
  // n where prefix + "0." ... prefix + "<n-1>." all begin keys (n may be 0); an error when the
  // indices present have a gap.
  Result<int> Count(std::string_view prefix) const;
  Status Error(const std::string& message) const { return LdmError(source_, message); }
  std::string_view source() const { return source_; }

 private:
  const TensorMap& tensors_;
  const std::map<std::string, std::string>& skipped_;
  std::string_view source_;
};

// How a diffusers tensor is made from its source tensor.
enum class Take {
  kAsIs,
  kSqueeze,  // a 1×1 convolution's [C, C, 1, 1] (or already [C, C]) weight as linear [C, C]
  kSplit0,   // the first, second or third equal part along dim 0 (OpenCLIP's in_proj q, k, v)
  kSplit1,
  kSplit2,
  kTranspose,  // a 2-D [a, b] source as [b, a] (OpenCLIP's text_projection)
};

struct PlanEntry {
  std::string source;     // the checkpoint's name
  std::string diffusers;  // the part's name
  Shape shape;            // the diffusers shape
  Take take = Take::kAsIs;
};

struct Plan {
  std::string part;  // "unet", "vae", ... for messages
  std::vector<PlanEntry> entries;

  void Add(std::string source, std::string diffusers, Shape shape, Take take = Take::kAsIs) {
    entries.push_back({std::move(source), std::move(diffusers), std::move(shape), take});
  }
  // "<source>.weight"/"<source>.bias" → "<diffusers>.weight"/".bias": a layer with a bias.
  void AddLayer(const std::string& source, const std::string& diffusers, Shape weight,
                Take take = Take::kAsIs) {
    const int64_t out = weight[0];
    Add(source + ".weight", diffusers + ".weight", std::move(weight), take);
    Add(source + ".bias", diffusers + ".bias", {out});
  }
  void AddNorm(const std::string& source, const std::string& diffusers, int64_t channels) {
    Add(source + ".weight", diffusers + ".weight", {channels});
    Add(source + ".bias", diffusers + ".bias", {channels});
  }
};

// Checks every entry of `plan` against `tensors` (present, shape) and then moves the tensors into
// `out` under their diffusers names, removing them (and split sources) from `tensors`.
Status ApplyPlan(const Plan& plan, const SourceKeys& keys, TensorMap& tensors, TensorMap& out);

// The parts. Each reads the structure from the source keys, infers its configuration, and adds
// its entries to `plan`; names that carry nothing needed are added to `drop` (exact names) or
// `drop_prefixes`.
struct Drops {
  std::vector<std::string> names;
  std::vector<std::string> prefixes;
};

// Hugging Face CLIPTextModel layout under `prefix` (with or without "text_model.").
Result<LdmTextEncoderConfig> PlanClipText(const SourceKeys& keys, const std::string& prefix,
                                          Plan& plan, Drops& drops);
// OpenCLIP's text tower under `prefix`. sd2: drop the last layer and text_projection (SD 2.x uses
// the penultimate layer); otherwise keep every layer and text_projection (required).
Result<LdmTextEncoderConfig> PlanOpenClipText(const SourceKeys& keys, const std::string& prefix,
                                              bool sd2, Plan& plan, Drops& drops);

Result<LdmVaeConfig> PlanVae(const SourceKeys& keys, Plan& plan);

struct UNetInputs {
  SdFamily family = SdFamily::kSd1;
  const LdmOverrides* overrides = nullptr;
  int context_dim = 0;  // the text encoders' width, which cross-attention must take
  int pooled_dim = 0;   // SDXL: text_encoder_2's projection width, part of the added embedding
  int sample_size = 64;
};
Result<LdmUNetConfig> PlanUNet(const SourceKeys& keys, const UNetInputs& inputs, Plan& plan);

}  // namespace stipple::ldm
