"""Where engine_bench's two sides part: after a run, the files it leaves in the temporary folder
(stipple_engine_bench_{stipple,diffusers}.{u8,f32}: each side's last batch-1 and batch-4 pixels,
uint8 (B, 3, H, W), and final latents, float32 (B, 4, H/8, W/8), batch 1 first) compared image by
image (after checking that diffusers found every weight of the folder by name), and stipple's
latents decoded by diffusers' AutoencoderKL from the same folder, which
separates the VAE from the sampling loop:

  - latents: stipple vs diffusers (text encoder + UNet + scheduler);
  - decode: diffusers' VAE on stipple's latents vs stipple's pixels (the VAE alone);
  - pixels: stipple vs diffusers (everything).

Run with the reference environment: `. ../shared/reference/env.sh && /usr/bin/python3
bench/parity_stages.py MODEL_DIR [SIZE]` (SIZE: engine_bench's image size, 128).
"""
import os
import sys
import tempfile

import numpy as np
import torch
import safetensors.torch  # noqa: F401 (diffusers imports only the package, then uses this)


def read(stem, suffix, dtype, shape):
    path = os.path.join(tempfile.gettempdir(), f"stipple_engine_bench_{stem}.{suffix}")
    return torch.from_numpy(np.fromfile(path, dtype=dtype).reshape(shape).copy())


def main():
    model_dir = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    from diffusers import AutoencoderKL, UNet2DConditionModel
    # Weights diffusers did not find in the folder would be initialized at random on its side.
    for cls, part in ((UNet2DConditionModel, "unet"), (AutoencoderKL, "vae")):
        model, info = cls.from_pretrained(model_dir, subfolder=part, output_loading_info=True)
        print(f"{part}: " + "; ".join(f"{k} {v}" for k, v in info.items() if v) if any(info.values())
              else f"{part}: every weight loaded by name, none left over")
        if part == "vae":
            vae = model.eval()
    h = size // 2 ** (len(vae.config.block_out_channels) - 1)
    lat = {s: read(s, "f32", np.float32, (5, vae.config.latent_channels, h, h))
           for s in ("stipple", "diffusers")}
    pix = {s: read(s, "u8", np.uint8, (5, 3, size, size)).int() for s in ("stipple", "diffusers")}
    with torch.no_grad():
        decoded = vae.decode(lat["stipple"] / vae.config.scaling_factor).sample
    decoded = (decoded / 2 + 0.5).clamp(0, 1).mul(255).round().int()
    print("image  |latents| max  latents max|Δ|  decode of stipple's latents vs stipple's pixels"
          "  pixels max|Δ|")
    for i in range(5):
        print("%5s  %13.4g  %14.3g  %44d/255  %10d/255" % (
            "b1" if i == 0 else "b4.%d" % (i - 1), lat["diffusers"][i].abs().max().item(),
            (lat["stipple"][i] - lat["diffusers"][i]).abs().max().item(),
            (decoded[i] - pix["stipple"][i]).abs().max().item(),
            (pix["stipple"][i] - pix["diffusers"][i]).abs().max().item()))


if __name__ == "__main__":
    main()
