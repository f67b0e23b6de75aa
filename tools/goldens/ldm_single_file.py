"""Single-file Stable Diffusion checkpoints (the original LDM key layout that A1111, ComfyUI and
Civitai files use) made from diffusers-named state dicts, and the goldens of
src/engine/ldm_checkpoint*.

Importable (run with the reference environment, `. ../shared/reference/env.sh`):

    write_ldm_checkpoint(family, unet_sd, vae_sd, te_sd, te2_sd, path, extra=None)
        family: "sd1" | "sd2" | "sdxl". unet_sd / vae_sd: diffusers UNet2DConditionModel /
        AutoencoderKL state dicts; te_sd: a Hugging Face CLIPTextModel state dict
        (text_model.*); te2_sd: SDXL only, a CLIPTextModelWithProjection state dict. Writes one
        .safetensors in the LDM layout, tensors in the dtype they come in. `extra`: more tensors
        to put in the file as they are (e.g. keys a loader must ignore).
    ldm_state_dict(family, unet_sd, vae_sd, te_sd, te2_sd) -> dict  (the same, not written)
    convention_problems(family, unet_config, vae_config, te_config, te2_config=None) -> [str]
        what in a diffusers model's configs a single file cannot carry (see below)

The LDM layout cannot say everything a diffusers config says: a loader fills the rest from each
family's conventions (GroupNorm of 32 groups in the UNet and the VAE; UNet attention of 8 heads
for SD 1.x and of 64-channel heads for SD 2.x / SDXL; text-encoder heads of 64 channels), so a
model meant to round-trip through a single file must follow them. SD 2.x stores OpenCLIP's whole
text tower, of which diffusers (and SD 2.x itself) use all but the last layer: the file gets a
zero-filled last layer and text_projection, which a loader drops.

Run as a script, it makes tiny random SD 1.x, SD 2.x and SDXL models following those
conventions (text encoders 64 wide with CLIP's whole 49,408-token embedding, since a single file
is tokenized with CLIP's vocabulary; fp16, fp16 and bf16), writes each as one LDM file in
src/engine/testdata/ldm/, checks the file with diffusers 0.27.2's own single-file converters
(convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint and, with stand-ins for the transformers
classes they construct, the text-encoder converters) and writes NAME.golden.json: per component,
each diffusers tensor's shape and checksums (float64 sum, sum of squares, and sum of value *
(flat index % 13 + 1)), and the diffusers configs a loader must infer. Then it runs the reference
pipeline (sd_reference_pipeline.py) on the model each file stands for and writes whole-image
goldens, clip_skip cases included, to ldm/goldens.json and ldm/expected/ (the zoo's index format,
"model" naming the file).
"""

import json
import os
import re
import sys

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = {"sd1": "cond_stage_model.transformer.",
               "sdxl": "conditioner.embedders.0.transformer."}
OPENCLIP_PREFIX = {"sd2": "cond_stage_model.model.", "sdxl": "conditioner.embedders.1.model."}

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0",
           "conv2": "out_layers.3", "time_emb_proj": "emb_layers.1",
           "conv_shortcut": "skip_connection"}
_UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}


def _resnet_suffix(rest):
    part, _, tail = rest.partition(".")
    if part not in _RESNET:
        raise KeyError(rest)
    return _RESNET[part] + "." + tail


def unet_to_ldm(sd):
    """diffusers UNet2DConditionModel names -> LDM openaimodel names (without the prefix)."""
    levels = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("down_blocks."))
    lpb = 1 + max(int(k.split(".")[3]) for k in sd if k.startswith("down_blocks.0.resnets."))
    attn = [any(k.startswith(f"down_blocks.{i}.attentions.") for k in sd) for i in range(levels)]
    up_attn = [any(k.startswith(f"up_blocks.{i}.attentions.") for k in sd) for i in range(levels)]
    names = {}
    for d, l in _UNET_TOP.items():
        for p in ("weight", "bias"):
            names[f"{d}.{p}"] = f"{l}.{p}"
    idx = 1
    for level in range(levels):
        for j in range(lpb):
            names[f"down_blocks.{level}.resnets.{j}."] = f"input_blocks.{idx}.0."
            if attn[level]:
                names[f"down_blocks.{level}.attentions.{j}."] = f"input_blocks.{idx}.1."
            idx += 1
        if level != levels - 1:
            names[f"down_blocks.{level}.downsamplers.0.conv."] = f"input_blocks.{idx}.0.op."
            idx += 1
    names["mid_block.resnets.0."] = "middle_block.0."
    names["mid_block.attentions.0."] = "middle_block.1."
    names["mid_block.resnets.1."] = "middle_block.2."
    idx = 0
    for level in range(levels):
        for j in range(lpb + 1):
            names[f"up_blocks.{level}.resnets.{j}."] = f"output_blocks.{idx}.0."
            if up_attn[level]:
                names[f"up_blocks.{level}.attentions.{j}."] = f"output_blocks.{idx}.1."
            if j == lpb and level != levels - 1:
                slot = 2 if up_attn[level] else 1
                names[f"up_blocks.{level}.upsamplers.0.conv."] = f"output_blocks.{idx}.{slot}.conv."
            idx += 1
    out = {}
    for key, value in sd.items():
        if key in names:
            out[names[key]] = value
            continue
        m = re.match(r"((?:down|up)_blocks\.\d+\.(?:resnets|attentions|downsamplers|upsamplers)"
                     r"\.\d+\.(?:conv\.)?|mid_block\.(?:resnets|attentions)\.\d+\.)(.*)", key)
        if not m or m.group(1) not in names:
            raise KeyError(f"unet: no LDM name for {key}")
        rest = m.group(2)
        if ".resnets." in m.group(1):
            rest = _resnet_suffix(rest)
        out[names[m.group(1)] + rest] = value
    return out


_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_ldm(sd):
    """diffusers AutoencoderKL names -> LDM autoencoder names (without the prefix); the mid
    attention's linear weights become 1x1 convolutions, as LDM stores them."""
    levels = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("encoder.down_blocks."))
    out = {}
    for key, value in sd.items():
        new = key
        m = re.match(r"(encoder|decoder)\.(down|up)_blocks\.(\d+)\.(.*)", key)
        if m:
            part, kind, i, rest = m.group(1), m.group(2), int(m.group(3)), m.group(4)
            if kind == "up":
                i = levels - 1 - i
            rest = re.sub(r"^resnets\.(\d+)\.", r"block.\1.", rest)
            rest = rest.replace("downsamplers.0.", "downsample.").replace("upsamplers.0.",
                                                                          "upsample.")
            rest = rest.replace("conv_shortcut", "nin_shortcut")
            new = f"{part}.{kind}.{i}.{rest}"
        m = re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.*)", key)
        if m:
            part, kind, i, rest = m.groups()
            if kind == "resnets":
                new = f"{part}.mid.block_{int(i) + 1}.{rest.replace('conv_shortcut', 'nin_shortcut')}"
            else:
                layer, _, p = rest.rpartition(".")
                new = f"{part}.mid.attn_1.{_VAE_ATTN[layer]}.{p}"
                if p == "weight" and layer != "group_norm":
                    value = value.reshape(*value.shape, 1, 1)
        new = new.replace("conv_norm_out", "norm_out")
        out[new] = value
    return out


def clip_to_openclip(sd, drop_last):
    """Hugging Face CLIPTextModel(WithProjection) names -> OpenCLIP text-tower names (without the
    prefix). drop_last (SD 2.x): add the zero-filled last layer and text_projection that SD 2.x
    files carry and its loaders drop."""
    out = {}
    t = "text_model."
    out["token_embedding.weight"] = sd[t + "embeddings.token_embedding.weight"]
    out["positional_embedding"] = sd[t + "embeddings.position_embedding.weight"]
    out["ln_final.weight"] = sd[t + "final_layer_norm.weight"]
    out["ln_final.bias"] = sd[t + "final_layer_norm.bias"]
    layers = 1 + max(int(k.split(".")[3]) for k in sd if k.startswith(t + "encoder.layers."))
    ren = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2",
           "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    for i in range(layers):
        src, dst = f"{t}encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for p in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{p}"] = torch.cat(
                [sd[f"{src}self_attn.{x}_proj.{p}"] for x in "qkv"], 0)
            for a, b in ren.items():
                out[f"{dst}{b}.{p}"] = sd[f"{src}{a}.{p}"]
    if "text_projection.weight" in sd:
        out["text_projection"] = sd["text_projection.weight"].T.contiguous()
    if drop_last:
        for k in [k for k in out if k.startswith(f"transformer.resblocks.{layers - 1}.")]:
            out[k.replace(f".{layers - 1}.", f".{layers}.", 1)] = torch.zeros_like(out[k])
        h = out["ln_final.weight"].shape[0]
        out["text_projection"] = torch.zeros(h, h, dtype=out["ln_final.weight"].dtype)
    return out


def ldm_state_dict(family, unet_sd, vae_sd, te_sd, te2_sd=None):
    if family not in ("sd1", "sd2", "sdxl"):
        raise ValueError(f"family {family!r}: sd1, sd2 or sdxl")
    if (te2_sd is not None) != (family == "sdxl"):
        raise ValueError("te2_sd is for sdxl, and sdxl needs it")
    out = {UNET_PREFIX + k: v for k, v in unet_to_ldm(unet_sd).items()}
    out.update({VAE_PREFIX + k: v for k, v in vae_to_ldm(vae_sd).items()})
    if family == "sd2":
        out.update({OPENCLIP_PREFIX["sd2"] + k: v
                    for k, v in clip_to_openclip(te_sd, drop_last=True).items()})
    else:
        out.update({TEXT_PREFIX[family] + k: v for k, v in te_sd.items()})
    if family == "sdxl":
        out.update({OPENCLIP_PREFIX["sdxl"] + k: v
                    for k, v in clip_to_openclip(te2_sd, drop_last=False).items()})
    return out


def convention_problems(family, unet_config, vae_config, te_config, te2_config=None):
    """What in these diffusers configs a single file cannot carry: the LDM layout leaves it to the
    family's conventions, so a loader would infer something else. Empty when the model
    round-trips. Configs are dicts (config.json contents)."""
    out = []
    for name, cfg in (("unet", unet_config), ("vae", vae_config)):
        if cfg.get("norm_num_groups", 32) != 32:
            out.append(f"{name}.norm_num_groups {cfg['norm_num_groups']}: LDM uses 32")
    channels = list(unet_config["block_out_channels"])
    heads = unet_config.get("num_attention_heads") or unet_config.get("attention_head_dim", 8)
    if family == "sd1":
        if heads != 8:
            out.append(f"unet.attention_head_dim {heads}: SD 1.x uses 8 heads")
    else:
        want = [max(1, c // 64) for c in channels]
        if heads != want:
            out.append(f"unet.attention_head_dim {heads}: {family} uses 64-channel heads, {want}")
    for name, cfg in (("text_encoder", te_config), ("text_encoder_2", te2_config)):
        if cfg is None:
            continue
        if cfg["num_attention_heads"] * 64 != cfg["hidden_size"]:
            out.append(f"{name}.num_attention_heads {cfg['num_attention_heads']}: "
                       f"SD text encoders use 64-channel heads")
        act = "gelu" if family == "sd2" or name == "text_encoder_2" else "quick_gelu"
        if cfg.get("hidden_act", "quick_gelu") != act:
            out.append(f"{name}.hidden_act {cfg.get('hidden_act')}: {family} uses {act}")
    if vae_config.get("scaling_factor", 0.18215) != (0.13025 if family == "sdxl" else 0.18215):
        out.append(f"vae.scaling_factor {vae_config['scaling_factor']}: not {family}'s")
    return out


def write_ldm_checkpoint(family, unet_sd, vae_sd, te_sd, te2_sd, path, extra=None):
    from safetensors.torch import save_file

    sd = ldm_state_dict(family, unet_sd, vae_sd, te_sd, te2_sd)
    for k, v in (extra or {}).items():
        if k in sd:
            raise KeyError(f"extra tensor {k} collides with a model tensor")
        sd[k] = v
    save_file({k: v.contiguous() for k, v in sd.items()}, path)
    return sd


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ldm_single_file_goldens

    ldm_single_file_goldens.main()
