"""Whole-image goldens of the tiny model zoo (called by sd_zoo.py).

For each model, each scheduler name and three cases, the reference pipeline's final image (PNG,
RGB8) and final latents are written to <model>/expected/, and every case is listed in
models/goldens.json (format: docs/engine.md, "Model folders").
"""
import json
import os

import torch

import sd_reference_pipeline as ref

MODELS = ["sd1-tiny", "sd2v-tiny", "sdxl-tiny"]

PROMPTS = [
    "a photo of an astronaut riding a horse on mars",
    "A watercolor painting of a Lighthouse at dusk; soft light!!",
    "café crème, naïve art — 東京 at night 🙂 (ultra-detailed), 8k",
    # Over 75 tokens: truncated to BOS + the first 75 + EOS.
    "a very long prompt about " + ", ".join(
        f"the {w} tower number {i}" for i, w in enumerate(
            ["red", "green", "blue", "tall", "small", "old", "new", "strange", "quiet",
             "broken", "golden", "silver"])),
    "Portrait of a cat wearing a tiny hat, studio lighting, 85mm",
    "isometric pixel-art village, spring",
]
NEGATIVES = ["", "blurry, low quality", "ugly"]
SEEDS = [0, 42, 1234567, 4294967295, 7, 31337]

# (negative, guidance, steps, width, height): an empty negative with guidance, no guidance
# (≤ 1: one UNet pass per step), and a non-square size (width ≠ height) with a negative.
CASES = [
    (0, 7.5, 4, 64, 64),
    (1, None, 2, 32, 32),  # guidance 1.0 or 0.0, alternating over schedulers
    (2, 3.5, 3, 32, 64),
]


def golden_cases():
    out = []
    for m, model in enumerate(MODELS):
        for s, scheduler in enumerate(ref.SCHEDULERS):
            for c, (neg, guidance, steps, width, height) in enumerate(CASES):
                k = m * 7 + s * 3 + c
                if guidance is None:
                    guidance = 1.0 if s % 2 == 0 else 0.0
                out.append({
                    "model": model, "scheduler": scheduler,
                    "prompt": PROMPTS[k % len(PROMPTS)], "negative": NEGATIVES[neg],
                    "seed": SEEDS[k % len(SEEDS)], "steps": steps, "guidance": guidance,
                    "width": width, "height": height,
                    "name": f"{model}/expected/{scheduler}-{c}",
                })
    return out


def finite_json(value):
    """JSON has no inf/nan: such numbers become the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def write_png(path, array):
    from PIL import Image
    Image.fromarray(array, mode="RGB").save(path, format="PNG")


def run_case(pipe, case, root):
    """Runs one golden case (a dict: the index fields plus "name", the files' path under root
    without extension; "clip_skip" optional) with the reference pipeline, writes name.png and
    name.safetensors (final latents and the initial noise) and returns (index entry, outputs)."""
    from safetensors.torch import save_file
    case = dict(case)
    out = pipe.generate(case["prompt"], case["negative"], case["seed"], case["steps"],
                        case["guidance"], case["width"], case["height"], case["scheduler"],
                        case.get("clip_skip", 0))
    assert torch.isfinite(out["latents"]).all(), case
    name = case.pop("name")
    os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
    write_png(os.path.join(root, name + ".png"), out["image"])
    save_file({"latents": out["latents"], "noise": out["noise"]},
              os.path.join(root, name + ".safetensors"))
    image = out["image"].astype("float32")
    print(f"{name}: {case['prompt'][:30]!r} cfg={out['cfg']} image mean {image.mean():.1f} "
          f"std {image.std():.1f} saturated {((image == 0) | (image == 255)).mean():.3f}")
    entry = {**case, "cfg": out["cfg"], "image": name + ".png", "latents": name + ".safetensors",
             "timesteps": out["timesteps"], "init_noise_sigma": out["init_noise_sigma"]}
    return entry, out


def main(zoo):
    from safetensors.torch import save_file
    torch.set_num_threads(ref.THREADS)
    index = {"format": 1, "goldens": [], "schedulers": {}, "text": {}}
    pipelines = {}
    texts = {}  # model -> {text: (embeds, pooled)}
    for case in golden_cases():
        model = case["model"]
        if model not in pipelines:
            pipelines[model] = ref.ReferencePipeline(os.path.join(zoo, model))
            texts[model] = {}
            os.makedirs(os.path.join(zoo, model, "expected"), exist_ok=True)
        pipe = pipelines[model]
        entry, out = run_case(pipe, case, zoo)
        embeds, pooled, neg_embeds, neg_pooled = out["embeds"]
        texts[model].setdefault(case["prompt"], (embeds, pooled))
        zeros = pipe.xl and case["negative"] == "" and pipe.index["force_zeros_for_empty_prompt"]
        if out["cfg"] and not zeros:
            texts[model].setdefault(case["negative"], (neg_embeds, neg_pooled))
        index["goldens"].append(entry)
        index["schedulers"].setdefault(model, {})[case["scheduler"]] = {
            k: v for k, v in sorted(out["scheduler_config"].items())
            if not k.startswith("_")}

    # The text conditioning each string gets, per model (ids and embeddings), for debugging the
    # stages before the loop: <model>/expected/text.safetensors holds embeds.<i> (1, 77, D) and,
    # for SDXL, pooled.<i> (1, P); index["text"][model] lists the strings in order i.
    for model, entries in texts.items():
        tensors, listed = {}, []
        pipe = pipelines[model]
        for i, (text, (embeds, pooled)) in enumerate(entries.items()):
            tensors[f"embeds.{i}"] = embeds.contiguous()
            if pooled is not None:
                tensors[f"pooled.{i}"] = pooled.contiguous()
            listed.append({"text": text, "ids": [enc.ids(text) for enc in pipe.encoders]})
        save_file(tensors, os.path.join(zoo, model, "expected", "text.safetensors"))
        index["text"][model] = {"file": f"{model}/expected/text.safetensors", "strings": listed}

    with open(os.path.join(zoo, "goldens.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(finite_json(index), indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    print(f"{len(index['goldens'])} goldens")
