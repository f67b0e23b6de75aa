"""The goldens of src/engine/ldm_checkpoint*: tiny random SD 1.x, SD 2.x and SDXL models written
as single LDM-layout files, checked with diffusers 0.27.2's own converters. Run through
ldm_single_file.py (see its docstring):

    . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/ldm_single_file.py
"""

import json
import os

import torch
from diffusers import (AutoencoderKL, DDIMScheduler, EulerDiscreteScheduler, PNDMScheduler,
                       UNet2DConditionModel)
import diffusers.loaders.single_file_utils as sfu

import ldm_single_file as ldm

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "engine",
                   "testdata", "ldm")

# The image size each family's convention gives (diffusers' single-file heuristic: SD 2.x
# without further information is the 768-v model).
IMAGE_SIZE = {"sd1": 512, "sd2": 768, "sdxl": 1024}
VOCAB = 256


def randomize(module, seed):
    """Every parameter random, so no two tensors share a checksum by construction."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return module


def clip_state_dict(hidden, layers, inter, seed, projection=None):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.1

    t = "text_model."
    sd = {t + "embeddings.token_embedding.weight": r(VOCAB, hidden),
          t + "embeddings.position_embedding.weight": r(77, hidden)}
    for i in range(layers):
        p = f"{t}encoder.layers.{i}."
        for x in ("q", "k", "v", "out"):
            sd[f"{p}self_attn.{x}_proj.weight"] = r(hidden, hidden)
            sd[f"{p}self_attn.{x}_proj.bias"] = r(hidden)
        for n in ("layer_norm1", "layer_norm2"):
            sd[f"{p}{n}.weight"] = 1 + r(hidden)
            sd[f"{p}{n}.bias"] = r(hidden)
        sd[f"{p}mlp.fc1.weight"] = r(inter, hidden)
        sd[f"{p}mlp.fc1.bias"] = r(inter)
        sd[f"{p}mlp.fc2.weight"] = r(hidden, inter)
        sd[f"{p}mlp.fc2.bias"] = r(hidden)
    sd[t + "final_layer_norm.weight"] = 1 + r(hidden)
    sd[t + "final_layer_norm.bias"] = r(hidden)
    if projection:
        sd["text_projection.weight"] = r(projection, hidden)
    return sd


def clip_config(hidden, layers, inter, act, projection=None):
    """The CLIPTextConfig (config.json) the published SD text encoders carry, at these sizes."""
    return {
        "architectures": ["CLIPTextModelWithProjection" if projection else "CLIPTextModel"],
        "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
        "hidden_act": act, "hidden_size": hidden, "initializer_factor": 1.0,
        "initializer_range": 0.02, "intermediate_size": inter, "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77, "model_type": "clip_text_model",
        "num_attention_heads": hidden // 64, "num_hidden_layers": layers, "pad_token_id": 1,
        "projection_dim": projection or hidden, "vocab_size": VOCAB,
    }


SCHED = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
         "num_train_timesteps": 1000, "steps_offset": 1, "timestep_spacing": "leading"}


def scheduler_config(family, prediction_type):
    if family == "sd1":
        s = PNDMScheduler(**SCHED, skip_prk_steps=True, set_alpha_to_one=False,
                          prediction_type=prediction_type)
    elif family == "sd2":
        s = DDIMScheduler(**SCHED, clip_sample=False, set_alpha_to_one=False,
                          prediction_type=prediction_type)
    else:
        s = EulerDiscreteScheduler(**SCHED, prediction_type=prediction_type,
                                   interpolation_type="linear", use_karras_sigmas=False)
    cfg = json.loads(s.to_json_string())
    # Keys the published configs carry beyond their class's own, so that another scheduler made
    # from this config (DDIM's defaults are clip_sample and set_alpha_to_one true) stays right.
    cfg.setdefault("clip_sample", False)
    cfg.setdefault("set_alpha_to_one", False)
    return dict(sorted(cfg.items()))


def make_models(family, dtype):
    vae_scale = 2  # the tiny VAE has two levels
    size = IMAGE_SIZE[family]
    common = dict(block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=32,
                  sample_size=size // vae_scale, in_channels=4, out_channels=4)
    if family == "sd1":
        te_h, te_inter = 64, 128
        unet = UNet2DConditionModel(
            **common, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=te_h,
            attention_head_dim=8)
        te = (clip_state_dict(te_h, 2, te_inter, 11), clip_config(te_h, 2, te_inter, "quick_gelu"))
        te2 = None
    elif family == "sd2":
        te_h, te_inter = 64, 128
        unet = UNet2DConditionModel(
            **common, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=te_h,
            attention_head_dim=[1, 1], use_linear_projection=True)
        te = (clip_state_dict(te_h, 2, te_inter, 12), clip_config(te_h, 2, te_inter, "gelu"))
        te2 = None
    else:
        te_h, te_inter, te2_h, te2_inter, proj, time_dim = 64, 128, 128, 256, 64, 8
        unet = UNet2DConditionModel(
            **common, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=te_h + te2_h, attention_head_dim=[1, 1],
            transformer_layers_per_block=[1, 2], use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=time_dim,
            projection_class_embeddings_input_dim=proj + 6 * time_dim)
        te = (clip_state_dict(te_h, 2, te_inter, 13), clip_config(te_h, 2, te_inter, "quick_gelu"))
        te2 = (clip_state_dict(te2_h, 2, te2_inter, 14, projection=proj),
               clip_config(te2_h, 2, te2_inter, "gelu", projection=proj))
    vae = AutoencoderKL(block_out_channels=(32, 32), layers_per_block=1, norm_num_groups=32,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4,
                        sample_size=size, scaling_factor=0.13025 if family == "sdxl" else 0.18215,
                        force_upcast=True)
    randomize(unet, 1)
    randomize(vae, 2)

    def cast(sd):
        return {k: v.detach().to(dtype).contiguous() for k, v in sd.items()}

    parts = {"unet": (cast(unet.state_dict()), json.loads(unet.to_json_string())),
             "vae": (cast(vae.state_dict()), json.loads(vae.to_json_string())),
             "text_encoder": (cast(te[0]), te[1])}
    if te2:
        parts["text_encoder_2"] = (cast(te2[0]), te2[1])
    return parts


class _StubTextModel:
    """Stands in for transformers' CLIPTextModel(WithProjection) in diffusers' text-encoder
    converters, which construct one and load the converted state dict into it."""

    def __init__(self, config=None):
        class Emb:
            def get_buffer(self, name):
                return torch.arange(77)[None]

        self.text_model = type("T", (), {"embeddings": Emb()})()
        self.loaded = None

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        return None

    def load_state_dict(self, sd):
        self.loaded = dict(sd)


def same(name, got, want, allow_extra=()):
    extra = sorted(set(got) - set(want))
    extra_bad = [k for k in extra if not any(k.startswith(p) for p in allow_extra)]
    missing = sorted(set(want) - set(got))
    if missing or extra_bad:
        raise SystemExit(f"{name}: missing {missing[:5]}, unexpected {extra_bad[:5]}")
    for k, v in want.items():
        if got[k].shape != v.shape or not torch.equal(got[k].to(v.dtype), v):
            raise SystemExit(f"{name}: {k} differs")
    return extra


def verify_with_diffusers(family, parts, ckpt):
    unet_sd, unet_cfg = parts["unet"]
    got = sfu.convert_ldm_unet_checkpoint(dict(ckpt), unet_cfg)
    same(f"{family} unet", got, unet_sd)
    vae_sd, vae_cfg = parts["vae"]
    same(f"{family} vae", sfu.convert_ldm_vae_checkpoint(dict(ckpt), vae_cfg), vae_sd)
    for n in ("CLIPTextConfig", "CLIPTextModel", "CLIPTextModelWithProjection"):
        setattr(sfu, n, _StubTextModel)
    te_sd = parts["text_encoder"][0]
    if family == "sd2":
        m = sfu.create_text_encoder_from_open_clip_checkpoint("stub", dict(ckpt))
        # diffusers drops layer 23 of the real 24 by name; this tiny tower's last layer is the
        # zero-filled placeholder.
        last = f"text_model.encoder.layers.{parts['text_encoder'][1]['num_hidden_layers']}."
        extra = same("sd2 text_encoder", m.loaded, te_sd, allow_extra=(last,))
        assert extra and all(not m.loaded[k].any() for k in extra), extra
    else:
        m = sfu.create_text_encoder_from_ldm_clip_checkpoint("stub", dict(ckpt))
        same(f"{family} text_encoder", m.loaded, te_sd)
    if family == "sdxl":
        m = sfu.create_text_encoder_from_open_clip_checkpoint(
            "stub", dict(ckpt), prefix=ldm.OPENCLIP_PREFIX["sdxl"], has_projection=True)
        same("sdxl text_encoder_2", m.loaded, parts["text_encoder_2"][0])


def checksums(t):
    v = t.detach().double().flatten()
    w = (torch.arange(v.numel(), dtype=torch.float64) % 13) + 1
    return {"shape": list(t.shape), "sum": v.sum().item(), "sumsq": (v * v).sum().item(),
            "wsum": (v * w).sum().item()}


def extras(family, dtype):
    """Keys real files carry that a loader drops (the noise schedule, EMA bookkeeping, CLIP's
    position ids and logit scale)."""
    if family == "sd1":
        return {"cond_stage_model.transformer.text_model.embeddings.position_ids":
                torch.arange(77, dtype=torch.int64)[None],
                "alphas_cumprod": torch.linspace(0.99, 0.01, 1000),
                "model_ema.decay": torch.tensor(0.9999),
                "model_ema.num_updates": torch.tensor(1000, dtype=torch.int32)}
    if family == "sd2":
        return {"cond_stage_model.model.logit_scale": torch.tensor(4.6).to(dtype)}
    return {"conditioner.embedders.0.transformer.text_model.embeddings.position_ids":
            torch.arange(77, dtype=torch.int64)[None],
            "conditioner.embedders.1.model.logit_scale": torch.tensor(4.6).to(dtype)}


def main():
    os.makedirs(OUT, exist_ok=True)
    for family, dtype in (("sd1", torch.float16), ("sd2", torch.float16),
                          ("sdxl", torch.bfloat16)):
        parts = make_models(family, dtype)
        problems = ldm.convention_problems(
            family, parts["unet"][1], parts["vae"][1], parts["text_encoder"][1],
            parts["text_encoder_2"][1] if family == "sdxl" else None)
        assert not problems, problems
        path = os.path.join(OUT, f"{family}.safetensors")
        te2 = parts["text_encoder_2"][0] if family == "sdxl" else None
        ldm_sd = ldm.ldm_state_dict(family, parts["unet"][0], parts["vae"][0],
                                    parts["text_encoder"][0], te2)
        ckpt = ldm.write_ldm_checkpoint(family, parts["unet"][0], parts["vae"][0],
                                        parts["text_encoder"][0], te2, path,
                                        extra=extras(family, dtype))
        verify_with_diffusers(family, parts, ckpt)
        prediction = "v_prediction" if family == "sd2" else "epsilon"
        golden = {
            "file": f"{family}.safetensors",
            "family": family,
            "inpainting": False,
            "prediction_type": prediction,
            "dropped": sorted(set(ckpt) - set(ldm_sd) |
                              {k for k, v in ldm_sd.items() if family == "sd2" and
                               k.startswith(ldm.OPENCLIP_PREFIX["sd2"]) and
                               (k.endswith("text_projection") or ".resblocks.2." in k)}),
            "tensors": {n: {k: checksums(v) for k, v in sorted(sd.items())}
                        for n, (sd, _) in parts.items()},
            "configs": {n: cfg for n, (_, cfg) in parts.items()},
        }
        golden["configs"]["scheduler"] = scheduler_config(family, prediction)
        with open(os.path.join(OUT, f"{family}.golden.json"), "w") as f:
            json.dump(golden, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{family}: {os.path.getsize(path)} bytes, verified with diffusers' converters")
