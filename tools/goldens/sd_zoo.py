"""Builds the tiny Stable Diffusion model zoo and its whole-image goldens.

  . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/sd_zoo.py [--models-only]

writes src/engine/testdata/models/{sd1-tiny,sd2v-tiny,sdxl-tiny}: diffusers-layout folders with
random weights (seeded: the same files every run), then (sd_goldens.py) each model's
expected/ folder with the images and final latents the reference pipeline
(sd_reference_pipeline.py) computes for them.

- sd1-tiny:  SD 1.x, ε-prediction; F32 weights, one file per part.
- sd2v-tiny: SD 2.x, v-prediction, linear projection, per-block head counts; weights only as fp16
             variants (*.fp16.safetensors); the UNet in two shards with an index json.
- sdxl-tiny: SDXL base, two text encoders (the second with projection), text_time conditioning;
             UNet F32, VAE F32 plus an fp16 variant, text_encoder BF16, text_encoder_2 F16.
"""
import argparse
import gzip
import json
import math
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_clip  # noqa: E402  (tools/goldens/ref_clip.py)
import sd_zoo_configs as configs  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
ZOO = os.path.join(ROOT, "src", "engine", "testdata", "models")
NUM_MERGES = 510  # 512 byte tokens + 510 merges + 2 specials = 1024 ids


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# Tokenizer: the real CLIP vocabulary truncated to its first merges, ids renumbered densely.

def clip_bpe_path():
    """The real CLIP vocabulary, shipped with openai-clip (bpe_simple_vocab_16e6.txt.gz)."""
    import simple_tokenizer
    return simple_tokenizer.default_bpe()


def truncated_vocab():
    """(vocab {token: id}, merges [(a, b)]) in CLIP's order: bytes, bytes + </w>, merges, specials."""
    import simple_tokenizer
    lines = gzip.open(clip_bpe_path()).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:1 + NUM_MERGES]]
    byte_tokens = list(simple_tokenizer.bytes_to_unicode().values())
    tokens = byte_tokens + [t + "</w>" for t in byte_tokens] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(set(tokens)) == len(tokens) == configs.VOCAB_SIZE
    return {t: i for i, t in enumerate(tokens)}, merges


def write_tokenizer(folder, pad, legacy):
    vocab, merges = truncated_vocab()
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(vocab, ensure_ascii=False))
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    config, special = configs.tokenizer_files(pad, legacy, vocab)
    write_json(os.path.join(folder, "tokenizer_config.json"), config)
    write_json(os.path.join(folder, "special_tokens_map.json"), special)


class FolderTokenizer:
    """openai-clip's SimpleTokenizer with the vocabulary and merges of a tokenizer folder; ids are
    BOS + the first 75 tokens + EOS, padded to 77 with the folder's pad token."""

    def __init__(self, folder):
        import simple_tokenizer
        self.tok = simple_tokenizer.SimpleTokenizer(clip_bpe_path())
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line]
        with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
            pad = json.load(f)["pad_token"]
        pad = pad["content"] if isinstance(pad, dict) else pad
        self.tok.encoder = vocab
        self.tok.decoder = {v: k for k, v in vocab.items()}
        self.tok.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.tok.cache = {t: t for t in ("<|startoftext|>", "<|endoftext|>")}
        self.bos, self.eos, self.pad = vocab["<|startoftext|>"], vocab["<|endoftext|>"], vocab[pad]

    def __call__(self, text):
        return ref_clip.encode_prompt(self.tok, text, self.pad)


# ---------------------------------------------------------------------------------------------
# Random weights.

def randomize(named_params, gen, gain=1.0):
    """Every parameter drawn afresh (diffusers zero-inits some layers): matrices and kernels
    N(0, gain²/fan_in), norm scales 1 + N(0, 0.1²), biases and norm shifts N(0, 0.05²)."""
    with torch.no_grad():
        for name, p in named_params:
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (gain / math.sqrt(fan_in)))
            elif name.endswith("weight"):  # GroupNorm / LayerNorm scale
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


@torch.no_grad()
def calibrate_output(model, layer, run, target_std):
    """Scales `layer` (the last conv) so that run(model)'s output has standard deviation
    target_std: random deep nets drift in scale, and a UNet should predict noise of std ≈ 1, a
    VAE an image mostly inside [-1, 1] (so that the clamp does not hide differences)."""
    std = run(model).std().item()
    layer.weight.mul_(target_std / std)
    layer.bias.mul_(target_std / std)


def make_unet(cfg, seed):
    from diffusers import UNet2DConditionModel
    unet = UNet2DConditionModel.from_config(cfg).eval()
    gen = torch.Generator().manual_seed(seed)
    randomize(unet.named_parameters(), gen)
    x = torch.randn((2, 4, 8, 8), generator=gen)
    ctx = torch.randn((2, 77, cfg["cross_attention_dim"]), generator=gen)
    kwargs = {}
    if cfg.get("addition_embed_type") == "text_time":
        pooled = cfg["projection_class_embeddings_input_dim"] - 6 * cfg["addition_time_embed_dim"]
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn((2, pooled), generator=gen),
            "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]] * 2)}
    t = torch.tensor([999.0, 500.0])
    calibrate_output(unet, unet.conv_out,
                     lambda m: m(x, t, encoder_hidden_states=ctx, **kwargs).sample, 1.0)
    return unet


def make_vae(cfg, seed):
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_config(cfg).eval()
    gen = torch.Generator().manual_seed(seed)
    randomize(vae.named_parameters(), gen)
    z = torch.randn((1, 4, 8, 8), generator=gen)
    calibrate_output(vae, vae.decoder.conv_out, lambda m: m.decode(z).sample, 0.5)
    return vae


# ---------------------------------------------------------------------------------------------
# Writing the parts.

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def save_weights(folder, base, state, dtype, variant=None, shards=1):
    """Writes `state` as <base>[.<variant>].safetensors, or in `shards` files named as diffusers
    and transformers name them (<base>[.<variant>]-0000i-of-0000n.safetensors) with the index
    <base>.safetensors.index[.<variant>].json."""
    from safetensors.torch import save_file
    state = {k: v.detach().to(dtype).contiguous() for k, v in state.items()}
    stem = base + (f".{variant}" if variant else "")
    os.makedirs(folder, exist_ok=True)
    if shards == 1:
        save_file(state, os.path.join(folder, stem + ".safetensors"), metadata={"format": "pt"})
        return
    names = sorted(state)
    per = math.ceil(len(names) / shards)
    weight_map, total = {}, 0
    for i in range(shards):
        file = f"{stem}-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: state[n] for n in names[i * per:(i + 1) * per]}
        save_file(part, os.path.join(folder, file), metadata={"format": "pt"})
        for n, t in part.items():
            weight_map[n] = file
            total += t.numel() * t.element_size()
    index = base + ".safetensors.index" + (f".{variant}" if variant else "") + ".json"
    write_json(os.path.join(folder, index), {"metadata": {"total_size": total},
                                             "weight_map": weight_map})


def build_model(name, cfgs, seed, layout):
    """layout: {part: [(dtype, variant, shards), ...]} — the weight files to write per part."""
    out = os.path.join(ZOO, name)
    if os.path.isdir(out):
        for entry in os.listdir(out):
            if entry != "expected":
                path = os.path.join(out, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    write_json(os.path.join(out, "model_index.json"), cfgs["model_index"])
    write_json(os.path.join(out, "scheduler", "scheduler_config.json"), cfgs["scheduler"])
    states = {"unet": make_unet(cfgs["unet"], seed).state_dict(),
              "vae": make_vae(cfgs["vae"], seed + 1).state_dict()}
    for part in ("unet", "vae"):
        write_json(os.path.join(out, part, "config.json"), cfgs[part])
    for i, part in enumerate(("text_encoder", "text_encoder_2")):
        if part in cfgs:
            states[part] = ref_clip.random_clip_text_state_dict(
                cfgs[part], seed + 2 + i,
                with_projection=cfgs[part]["architectures"] == ["CLIPTextModelWithProjection"])
            write_json(os.path.join(out, part, "config.json"), cfgs[part])
    for part, files in layout.items():
        base = "model" if part.startswith("text_encoder") else "diffusion_pytorch_model"
        for dtype, variant, shards in files:
            save_weights(os.path.join(out, part), base, states[part], DTYPES[dtype], variant,
                         shards)
    pads = {"tokenizer": cfgs.get("tokenizer_pad", "<|endoftext|>")}
    if "text_encoder_2" in cfgs:
        pads["tokenizer_2"] = "!"
    for part, pad in pads.items():
        write_tokenizer(os.path.join(out, part), pad, legacy=cfgs.get("legacy_tokenizer", False))


def build_zoo():
    import sd_reference_pipeline
    sd_reference_pipeline.patch_attention()  # the calibration runs the models
    sd1 = configs.sd1()
    sd1["legacy_tokenizer"] = True
    build_model("sd1-tiny", sd1, 1000, {
        "unet": [("float32", None, 1)], "vae": [("float32", None, 1)],
        "text_encoder": [("float32", None, 1)]})
    sd2 = configs.sd2v()
    sd2["tokenizer_pad"] = "!"
    build_model("sd2v-tiny", sd2, 2000, {
        "unet": [("float16", "fp16", 2)], "vae": [("float16", "fp16", 1)],
        "text_encoder": [("float16", "fp16", 1)]})
    build_model("sdxl-tiny", configs.sdxl(), 3000, {
        "unet": [("float32", None, 1)],
        "vae": [("float32", None, 1), ("float16", "fp16", 1)],
        "text_encoder": [("bfloat16", None, 1)], "text_encoder_2": [("float16", None, 1)]})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-only", action="store_true", help="skip the goldens")
    parser.add_argument("--goldens-only", action="store_true", help="keep the model folders")
    args = parser.parse_args()
    if not args.goldens_only:
        build_zoo()
    if not args.models_only:
        import sd_goldens
        sd_goldens.main(ZOO)


if __name__ == "__main__":
    main()
