"""Goldens for the AutoencoderKL (src/engine/torch/autoencoder_kl.h): tiny random-weight VAEs in
the diffusers folder layout, and what diffusers 0.27.2 computes for them.

Writes src/engine/testdata/vae/<name>/ with
  config.json                              the VAE's config, as diffusers writes it
  diffusion_pytorch_model.safetensors      its weights (F16, so the files stay small; the
                                           reference computes with the same F16-rounded values
                                           in fp32)
  golden.safetensors                       F32: latent (B, C, h, w) -> decoded (B, 3, H, W);
                                           image (B, 3, H, W) -> mean, logvar (B, C, h, w)

The models:
  sd     block_out_channels (32, 64), norm_num_groups 32, one ResNet per level, scaling_factor
         0.18215, force_upcast false; current attention names (to_q, to_k, to_v, to_out.0).
  sdxl   block_out_channels (16, 16, 32), norm_num_groups 8, two ResNets per level,
         scaling_factor 0.13025, force_upcast true; saved with the legacy attention names
         (query, key, value, proj_attn) that older diffusers folders carry.
  plain  block_out_channels (16, 32), norm_num_groups 8, no mid-block attention and neither
         quant_conv nor post_quant_conv (the newer config fields mid_block_add_attention,
         use_quant_conv, use_post_quant_conv): diffusers 0.27.2's Encoder/Decoder take the first
         directly; the missing 1x1 convs are left out of the computation here.

Run from the project's root:  . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/vae.py
"""
import json
import os

import torch
from diffusers import AutoencoderKL
from diffusers.models.attention_processor import Attention
from diffusers.models.autoencoders.vae import Decoder, DiagonalGaussianDistribution, Encoder
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "engine",
                   "testdata", "vae")


def plain_scores(self, query, key, attention_mask=None):
    # diffusers' own computation (scale * q k^T, softmax in fp32), without torch 1.13's
    # baddbmm-over-uninitialized-memory, which now and then yields NaN.
    assert attention_mask is None
    dtype = query.dtype
    scores = self.scale * torch.bmm(query.float(), key.float().transpose(-1, -2))
    return scores.softmax(dim=-1).to(dtype)


Attention.get_attention_scores = plain_scores


def randomize(model, seed):
    # Default inits leave GroupNorm at (1, 0) and biases small; draw everything so every weight
    # matters, then round to F16 (the stored precision).
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or \
                    name.endswith("norm.weight") or name.endswith("norm_out.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            p.copy_(p.half().float())


def inputs(seed, latent_channels, batch, h, w, factor):
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(batch, latent_channels, h, w, generator=g)
    image = torch.rand(batch, 3, h * factor, w * factor, generator=g) * 2 - 1
    return latent, image


def write(name, config, state_dict, golden, legacy_names=False):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    weights = {}
    for key, value in state_dict.items():
        if legacy_names and ".attentions." in key:
            key = (key.replace(".to_q.", ".query.").replace(".to_k.", ".key.")
                   .replace(".to_v.", ".value.").replace(".to_out.0.", ".proj_attn."))
        weights[key] = value.half()
    save_file(weights, os.path.join(folder, "diffusion_pytorch_model.safetensors"),
              metadata={"format": "pt"})
    save_file({k: v.float().contiguous() for k, v in golden.items()},
              os.path.join(folder, "golden.safetensors"))


def run_autoencoder(name, config, seed, batch, h, w, legacy_names):
    model = AutoencoderKL(**config).eval()
    randomize(model, seed)
    factor = 2 ** (len(config["block_out_channels"]) - 1)
    latent, image = inputs(seed + 1, config["latent_channels"], batch, h, w, factor)
    with torch.no_grad():
        decoded = model.decode(latent).sample
        posterior = model.encode(image).latent_dist
    golden = {"latent": latent, "decoded": decoded, "image": image,
              "mean": posterior.mean, "logvar": posterior.logvar}
    for k, v in golden.items():
        assert torch.isfinite(v).all(), (name, k)
    full_config = dict(model.config)
    full_config["_class_name"] = "AutoencoderKL"
    full_config["_diffusers_version"] = "0.27.2"
    write(name, {k: (list(v) if isinstance(v, tuple) else v) for k, v in full_config.items()},
          model.state_dict(), golden, legacy_names)
    # The folder loads back in diffusers (it renames legacy attention names itself) and computes
    # the same.
    reloaded = AutoencoderKL.from_pretrained(os.path.join(OUT, name)).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded.decode(latent).sample, decoded, atol=1e-5)


def run_plain(seed):
    channels, groups, latent_channels = [16, 32], 8, 4
    common = dict(block_out_channels=channels, layers_per_block=1, norm_num_groups=groups,
                  act_fn="silu", mid_block_add_attention=False)
    encoder = Encoder(in_channels=3, out_channels=latent_channels,
                      down_block_types=["DownEncoderBlock2D"] * 2, double_z=True,
                      **common).eval()
    decoder = Decoder(in_channels=latent_channels, out_channels=3,
                      up_block_types=["UpDecoderBlock2D"] * 2, **common).eval()
    model = torch.nn.ModuleDict({"encoder": encoder, "decoder": decoder})
    randomize(model, seed)
    latent, image = inputs(seed + 1, latent_channels, 1, 6, 4, 2)
    with torch.no_grad():
        decoded = decoder(latent)
        posterior = DiagonalGaussianDistribution(encoder(image))
    golden = {"latent": latent, "decoded": decoded, "image": image,
              "mean": posterior.mean, "logvar": posterior.logvar}
    config = {
        "_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0",
        "in_channels": 3, "out_channels": 3, "latent_channels": latent_channels,
        "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
        "block_out_channels": channels, "layers_per_block": 1, "norm_num_groups": groups,
        "act_fn": "silu", "sample_size": 64, "scaling_factor": 0.5, "shift_factor": None,
        "latents_mean": None, "latents_std": None, "force_upcast": False,
        "use_quant_conv": False, "use_post_quant_conv": False, "mid_block_add_attention": False,
    }
    write("plain", config, model.state_dict(), golden)


def main():
    run_autoencoder("sd", dict(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        block_out_channels=[32, 64], layers_per_block=1, norm_num_groups=32, act_fn="silu",
        sample_size=32, scaling_factor=0.18215, force_upcast=False),
        seed=10, batch=2, h=4, w=6, legacy_names=False)
    run_autoencoder("sdxl", dict(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
        block_out_channels=[16, 16, 32], layers_per_block=2, norm_num_groups=8, act_fn="silu",
        sample_size=64, scaling_factor=0.13025, force_upcast=True),
        seed=20, batch=1, h=4, w=4, legacy_names=True)
    run_plain(seed=30)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
