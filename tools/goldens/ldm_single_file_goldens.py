"""The goldens of src/engine/ldm_checkpoint* and of single-file loading: tiny random SD 1.x, SD 2.x
and SDXL models written as single LDM-layout files, checked with diffusers 0.27.2's own
converters, and the images the reference pipeline makes with each. Run through
ldm_single_file.py (see its docstring):

    . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/ldm_single_file.py
"""

import json
import os
import shutil
import tempfile

import torch
from diffusers import (AutoencoderKL, DDIMScheduler, EulerDiscreteScheduler, PNDMScheduler,
                       UNet2DConditionModel)
import diffusers.loaders.single_file_utils as sfu

import ldm_single_file as ldm
import ref_clip
import sd_zoo

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "engine",
                   "testdata", "ldm")

# The image size each family's convention gives (diffusers' single-file heuristic: SD 2.x
# without further information is the 768-v model).
IMAGE_SIZE = {"sd1": 512, "sd2": 768, "sdxl": 1024}
VOCAB = 49408  # CLIP's: a single file carries no tokenizer, stipple tokenizes it with CLIP's


def clip_state_dict(config, seed):
    """A random CLIPTextModel(WithProjection) state dict (HF names) for this config."""
    return ref_clip.random_clip_text_state_dict(
        config, seed, with_projection=config["architectures"] == ["CLIPTextModelWithProjection"])


def clip_config(hidden, layers, inter, act, projection=None):
    """The CLIPTextConfig (config.json) the published SD text encoders carry, at these sizes:
    CLIP's whole vocabulary (a single file is tokenized with it), a tiny width."""
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
        te = clip_config(te_h, 2, te_inter, "quick_gelu")
        te2 = None
    elif family == "sd2":
        te_h, te_inter = 64, 128
        unet = UNet2DConditionModel(
            **common, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=te_h,
            attention_head_dim=[1, 1], use_linear_projection=True)
        te = clip_config(te_h, 2, te_inter, "gelu")
        te2 = None
    else:
        te_h, te_inter, te2_h, te2_inter, proj, time_dim = 64, 128, 64, 128, 32, 8
        unet = UNet2DConditionModel(
            **common, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=te_h + te2_h, attention_head_dim=[1, 1],
            transformer_layers_per_block=[1, 2], use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=time_dim,
            projection_class_embeddings_input_dim=proj + 6 * time_dim)
        te = clip_config(te_h, 2, te_inter, "quick_gelu")
        te2 = clip_config(te2_h, 2, te2_inter, "gelu", projection=proj)
    vae = AutoencoderKL(block_out_channels=(32, 32), layers_per_block=1, norm_num_groups=32,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4,
                        sample_size=size, scaling_factor=0.13025 if family == "sdxl" else 0.18215,
                        force_upcast=True)
    # Random weights calibrated as the zoo's are (a UNet predicting noise of std 1, a VAE
    # decoding mostly inside [-1, 1]), so that the images have something to compare.
    unet = sd_zoo.make_unet(json.loads(unet.to_json_string()), 1)
    vae = sd_zoo.make_vae(json.loads(vae.to_json_string()), 2)
    seed = {"sd1": 11, "sd2": 12, "sdxl": 13}[family]

    def cast(sd):
        return {k: v.detach().to(dtype).contiguous() for k, v in sd.items()}

    parts = {"unet": (cast(unet.state_dict()), json.loads(unet.to_json_string())),
             "vae": (cast(vae.state_dict()), json.loads(vae.to_json_string())),
             "text_encoder": (cast(clip_state_dict(te, seed)), te)}
    if te2:
        parts["text_encoder_2"] = (cast(clip_state_dict(te2, seed + 10)), te2)
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


# ---------------------------------------------------------------------------------------------
# Whole-image goldens: what diffusers makes of each file, per the family's conventions for what
# the file cannot say (CLIP's tokenizer, padded with <|endoftext|> for SD 1.x and SDXL's first
# encoder and with "!" for SD 2.x and SDXL's second; the configs the conversion goldens list;
# SDXL's force_zeros_for_empty_prompt).

# (family, scheduler, prompt, negative, seed, steps, guidance, width, height, clip_skip)
IMAGE_CASES = [
    ("sd1", "ddim", 0, 0, 0, 3, 7.5, 32, 32, 0),
    ("sd1", "euler_a", 1, 1, 42, 3, 3.5, 48, 32, 0),
    ("sd1", "ddim", 2, 2, 7, 3, 7.5, 32, 32, 1),  # the negative prompt stays at the last layer
    ("sd2", "euler", 3, 0, 1234567, 3, 7.5, 32, 32, 0),
    ("sd2", "dpmpp_2m", 4, 1, 31337, 2, 1.0, 32, 48, 0),
    ("sd2", "ddim", 5, 2, 4294967295, 3, 5.0, 32, 32, 1),
    ("sdxl", "euler", 0, 0, 3, 3, 5.0, 32, 32, 0),  # empty negative: zeros
    ("sdxl", "dpmpp_2m", 1, 1, 5, 2, 0.0, 48, 32, 0),
    ("sdxl", "euler_a", 2, 1, 9, 3, 5.0, 32, 32, 1),
]


def write_full_tokenizer(folder, pad):
    """A tokenizer folder with CLIP's whole vocabulary, for the reference pipeline."""
    import simple_tokenizer
    tok = simple_tokenizer.SimpleTokenizer(sd_zoo.clip_bpe_path())
    assert len(tok.encoder) == VOCAB
    merges = sorted(tok.bpe_ranks, key=tok.bpe_ranks.get)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(tok.encoder, ensure_ascii=False))
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"pad_token": pad}, f)


def reference_folder(family, parts, scheduler):
    """The model a single file stands for, as a diffusers folder the reference pipeline reads
    (a temporary directory; the weights as the file stores them)."""
    from safetensors.torch import save_file
    folder = tempfile.mkdtemp(prefix=f"ldm-{family}-")
    xl = family == "sdxl"
    index = {"_class_name": "StableDiffusionXLPipeline" if xl else "StableDiffusionPipeline"}
    if xl:
        index["force_zeros_for_empty_prompt"] = True
    sd_zoo.write_json(os.path.join(folder, "model_index.json"), index)
    sd_zoo.write_json(os.path.join(folder, "scheduler", "scheduler_config.json"), scheduler)
    for part, (state, config) in parts.items():
        sd_zoo.write_json(os.path.join(folder, part, "config.json"), config)
        base = "model" if part.startswith("text_encoder") else "diffusion_pytorch_model"
        save_file({k: v.contiguous() for k, v in state.items()},
                  os.path.join(folder, part, base + ".safetensors"))
    write_full_tokenizer(os.path.join(folder, "tokenizer"),
                         "!" if family == "sd2" else "<|endoftext|>")
    if xl:
        write_full_tokenizer(os.path.join(folder, "tokenizer_2"), "!")
    return folder


def image_goldens(folders):
    """OUT/goldens.json and OUT/expected/: the image cases, in the zoo's index format
    (docs/engine.md), "model" naming the file."""
    import sd_goldens
    import sd_reference_pipeline as ref
    torch.set_num_threads(ref.THREADS)
    index = {"format": 1, "goldens": [], "schedulers": {}, "text": {}}
    pipes = {}
    for i, (family, scheduler, p, n, seed, steps, guidance, w, h, skip) in enumerate(IMAGE_CASES):
        if family not in pipes:
            pipes[family] = ref.ReferencePipeline(folders[family])
        case = {"model": f"{family}.safetensors", "scheduler": scheduler,
                "prompt": sd_goldens.PROMPTS[p], "negative": sd_goldens.NEGATIVES[n],
                "seed": seed, "steps": steps, "guidance": guidance, "width": w, "height": h,
                "clip_skip": skip, "name": f"expected/{family}-{i}-{scheduler}"}
        entry, out = sd_goldens.run_case(pipes[family], case, OUT)
        index["goldens"].append(entry)
        index["schedulers"].setdefault(case["model"], {})[scheduler] = {
            k: v for k, v in sorted(out["scheduler_config"].items()) if not k.startswith("_")}
    with open(os.path.join(OUT, "goldens.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(sd_goldens.finite_json(index), indent=1, ensure_ascii=False,
                           allow_nan=False) + "\n")
    print(f"{len(index['goldens'])} image goldens")


def main():
    os.makedirs(OUT, exist_ok=True)
    folders = {}
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
        folders[family] = reference_folder(family, parts, golden["configs"]["scheduler"])
    image_goldens(folders)
    for folder in folders.values():
        shutil.rmtree(folder)
