// Test fixture: a Stable Diffusion model folder (diffusers layout) at the real dimensions of
// SD 1.5 — an 860M-parameter UNet, the ViT-L/14 text encoder, the full VAE, CLIP's vocabulary —
// with random weights (libtorch's default initialization, seeded), so tests can serve a model of
// the real size without downloading one. Its images are noise. The UNet is written as sharded
// files with an index (as large checkpoints are published), the others as one file each; about
// 4.3 GB on disk, F32.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace stipple {

// Writes the folder `dir` (created). Peak memory about twice the UNet (7-8 GB).
Status WriteSd15ShapedModel(const std::string& dir, uint64_t seed = 1);

}  // namespace stipple
