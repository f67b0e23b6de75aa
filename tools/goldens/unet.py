"""Goldens for the UNet2DConditionModel port: tiny random-weight UNets built by diffusers 0.27.2
from configs shaped like SD 1.x, SD 2.x and SDXL (plus one that exercises the less common config
fields, one without a mid block and one with the "text" added embedding), their outputs on fixed inputs, written to
src/engine/testdata/unet/<name>/:

  config.json                          the model's config, as diffusers saves it
  diffusion_pytorch_model.safetensors  its weights (F32, or F16 where noted)
  golden.safetensors                   inputs and diffusers' outputs (F32):
      sample (B, C, H, W), encoder_hidden_states (B, T, D),
      timesteps_float (B): one float timestep per row, out_float: the output for them,
      timestep_int (1): an integer timestep given to diffusers as a Python int (broadcast over
          the batch), out_int: the output for it,
      text_embeds, time_ids (text_time models), timestep_cond (time_cond_proj_dim models).

Run from the project root:  . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/unet.py
"""
import json
import math
import os

import torch
from diffusers import UNet2DConditionModel
from diffusers.models import attention_processor
from safetensors.torch import save_file

from sd_reference_pipeline import bmm_attention_scores

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "engine", "testdata", "unet")


# torch 1.13's CPU baddbmm over diffusers' uninitialized input can return NaN even with beta=0.
attention_processor.Attention.get_attention_scores = bmm_attention_scores

MODELS = {
    # SD 1.x: convolutional projections, attention_head_dim a head count (8), cross dim 32.
    "sd15": dict(
        config=dict(sample_size=8, in_channels=4, out_channels=4,
                    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
                    block_out_channels=[16, 32], layers_per_block=1, norm_num_groups=8,
                    cross_attention_dim=32, attention_head_dim=8),
        batch=2, size=(8, 8), tokens=7, dtype=torch.float32),
    # SD 2.x: linear projections, per-block head counts, upcast attention, cross dim 64, an odd
    # latent size (the up path then interpolates to the skip's size), F16 weights.
    "sd2": dict(
        config=dict(sample_size=8, in_channels=4, out_channels=4,
                    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
                    block_out_channels=[16, 32, 32], layers_per_block=1, norm_num_groups=8,
                    cross_attention_dim=64, attention_head_dim=[2, 4, 4],
                    use_linear_projection=True, upcast_attention=True),
        batch=2, size=(10, 7), tokens=5, dtype=torch.float16),
    # SDXL: a plain first block, transformer_layers_per_block [1, 2], text_time added
    # conditioning (pooled 16 + 6 time ids x 8), F16 weights.
    "sdxl": dict(
        config=dict(sample_size=8, in_channels=4, out_channels=4,
                    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                    up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
                    block_out_channels=[16, 32], layers_per_block=2, norm_num_groups=8,
                    cross_attention_dim=32, attention_head_dim=[2, 4],
                    transformer_layers_per_block=[1, 2], use_linear_projection=True,
                    upcast_attention=None, addition_embed_type="text_time",
                    addition_time_embed_dim=8, projection_class_embeddings_input_dim=16 + 6 * 8),
        batch=2, size=(8, 8), tokens=6, pooled=16, time_ids=6, dtype=torch.float16),
    # The rest of the fields this port honours, at values other than their defaults; BF16 weights.
    "extras": dict(
        config=dict(sample_size=[8, 6], in_channels=3, out_channels=5, center_input_sample=True,
                    flip_sin_to_cos=False, freq_shift=1,
                    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
                    only_cross_attention=[True, False], block_out_channels=[16, 32],
                    layers_per_block=[1, 2], downsample_padding=0, mid_block_scale_factor=1.5,
                    dropout=0.1, act_fn="mish", norm_num_groups=4, norm_eps=1e-3,
                    cross_attention_dim=[24, 24], transformer_layers_per_block=[[1], [2, 1]],
                    reverse_transformer_layers_per_block=[[1, 2, 1], [1, 1]],
                    attention_head_dim=[2, 4], upcast_attention=True,
                    resnet_time_scale_shift="scale_shift", addition_embed_type="text_time",
                    addition_time_embed_dim=6, projection_class_embeddings_input_dim=12 + 5 * 6,
                    time_embedding_dim=40, time_embedding_act_fn="gelu", timestep_post_act="relu",
                    time_cond_proj_dim=8, conv_in_kernel=1, conv_out_kernel=5),
        batch=2, size=(8, 6), tokens=4, pooled=12, time_ids=5, dtype=torch.bfloat16),
    # No mid block (mid_block_type null).
    "nomid": dict(
        config=dict(sample_size=8, in_channels=4, out_channels=4,
                    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], mid_block_type=None,
                    block_out_channels=[8, 16], layers_per_block=1, norm_num_groups=4,
                    cross_attention_dim=16, attention_head_dim=2),
        batch=1, size=(8, 8), tokens=3, dtype=torch.float32),
    # addition_embed_type "text": the encoder states attention-pooled into the time embedding
    # (four heads), attention at two levels.
    "textpool": dict(
        config=dict(sample_size=8, in_channels=3, out_channels=3,
                    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                    up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
                    block_out_channels=[8, 16], layers_per_block=1, norm_num_groups=4,
                    cross_attention_dim=16, attention_head_dim=2, addition_embed_type="text",
                    addition_embed_type_num_heads=4),
        batch=2, size=(8, 8), tokens=5, dtype=torch.float32),
}


def randomize(model, generator):
    """Every parameter random (diffusers zero-initializes some), scaled so that activations stay
    of order one: weights ~ N(0, 1/fan_in), norm scales ~ 1 + N(0, 0.1^2), biases ~ N(0, 0.1^2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if p.dim() >= 2:
                p.copy_(noise / math.sqrt(p[0].numel()))
            elif name.endswith("weight"):  # GroupNorm / LayerNorm scale
                p.copy_(1 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)


def make(name, spec, generator):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    model = UNet2DConditionModel(**spec["config"]).eval()
    randomize(model, generator)
    weights = {k: v.to(spec["dtype"]) for k, v in model.state_dict().items()}
    # The reference computes in F32 from exactly the stored (possibly F16-rounded) weights.
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    save_file(weights, os.path.join(folder, "diffusion_pytorch_model.safetensors"))
    model.save_config(folder)

    c = spec["config"]
    b, (h, w), t = spec["batch"], spec["size"], spec["tokens"]
    cross = c["cross_attention_dim"]
    cross = cross[0] if isinstance(cross, list) else cross
    io = {
        "sample": torch.randn(b, c["in_channels"], h, w, generator=generator),
        "encoder_hidden_states": torch.randn(b, t, cross, generator=generator),
        "timesteps_float": torch.tensor([999.5, 17.25, 480.0, 1.0][:b]),
        "timestep_int": torch.tensor([500.0]),
    }
    added = {}
    if c.get("addition_embed_type") == "text_time":
        io["text_embeds"] = torch.randn(b, spec["pooled"], generator=generator)
        ids = torch.tensor([[64, 48, 0, 0, 64, 48], [96, 80, 8, 16, 80, 64]], dtype=torch.float32)
        io["time_ids"] = ids[:b, :spec["time_ids"]].contiguous()
        added = {"text_embeds": io["text_embeds"], "time_ids": io["time_ids"]}
    cond = None
    if c.get("time_cond_proj_dim"):
        io["timestep_cond"] = torch.randn(b, c["time_cond_proj_dim"], generator=generator)
        cond = io["timestep_cond"]
    with torch.no_grad():
        kw = dict(encoder_hidden_states=io["encoder_hidden_states"], added_cond_kwargs=added,
                  timestep_cond=cond)
        io["out_float"] = model(io["sample"], io["timesteps_float"], **kw).sample
        io["out_int"] = model(io["sample"], 500, **kw).sample
    for key in ("out_float", "out_int"):
        assert torch.isfinite(io[key]).all(), (name, key)
    save_file({k: v.float().contiguous() for k, v in io.items()},
              os.path.join(folder, "golden.safetensors"))
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {params} parameters, output std {io['out_float'].std():.3f}, "
          f"weights {os.path.getsize(os.path.join(folder, 'diffusion_pytorch_model.safetensors'))} bytes")


def main():
    generator = torch.Generator().manual_seed(14)
    for name, spec in MODELS.items():
        make(name, spec, generator)


if __name__ == "__main__":
    main()
