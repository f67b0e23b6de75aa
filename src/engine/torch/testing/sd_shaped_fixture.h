// Test and benchmark fixture: a Stable Diffusion model folder (diffusers layout) with SD 1.5's
// structure — its UNet2DConditionModel block types, the ViT-L/14 text encoder, the four-level
// AutoencoderKL, CLIP's vocabulary, its PNDM scheduler config — with random weights (libtorch's
// default initialization, seeded), so tests and benchmarks can serve a model of that shape without
// downloading one. Its images are noise.
//
// At SD 1.5's own widths (the default SdShape) it is an 860M-parameter UNet written as sharded
// files with an index (as large checkpoints are published), the other parts one file each; about
// 2.2 GB on disk as F16 (the default, as the published fp16 checkpoints; the engine widens the
// values when it loads them), 4.3 GB as F32. Narrower shapes scale the UNet's and the VAE's
// channel widths; a UNet under `shard_bytes` is written as one file (what diffusers 0.27's
// from_pretrained reads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace stipple {

struct SdShape {
  std::vector<int> unet_channels = {320, 640, 1280, 1280};  // block_out_channels
  std::vector<int> vae_channels = {128, 256, 512, 512};     // the VAE's block_out_channels
  int sample_size = 64;                                     // the UNet's config (latent pixels)
  size_t shard_bytes = size_t{1} << 30;                     // UNet weights over this are sharded
  std::string dtype = "F16";                                // the files' dtype: F16 or F32
};

// About how many bytes WriteSdShapedModel writes for `shape` (for a check of the free space).
uint64_t SdShapedModelBytes(const SdShape& shape);

// Writes the folder `dir` (created) with the parts' configs as SD 1.5's, the widths from `shape`
// (channel counts must be multiples of 32, the GroupNorm groups, and of 8, the attention heads).
// Peak memory about twice the UNet (7-8 GB at SD 1.5's widths).
Status WriteSdShapedModel(const std::string& dir, const SdShape& shape, uint64_t seed = 1);

// WriteSdShapedModel at SD 1.5's own dimensions.
Status WriteSd15ShapedModel(const std::string& dir, uint64_t seed = 1);

}  // namespace stipple
