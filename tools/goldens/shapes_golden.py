"""Loads a pixel-space model folder (the successor of shapes-32 that `stipple train` writes;
tools/train/README.md) with diffusers itself and writes a golden of its images
(src/engine/testdata/shapes-32/), for engine_torch_test to compare once that model ships.

What it checks on the folder, as far as diffusers 0.27.2 goes without transformers:
  - model_index.json through DiffusionPipeline.load_config: StableDiffusionPipeline, whose
    components (StableDiffusionPipeline._get_signature_keys, importable with sd_crosscheck's
    stand-in for transformers) are all listed, and nothing else (vae, safety_checker and
    feature_extractor null). The pipeline itself cannot be built: its text encoder needs
    transformers and its __init__ reads vae.config (a pipeline without a VAE is a stipple
    extension). So the loop below composes the parts the way its __call__ does;
  - unet/ through UNet2DConditionModel.from_pretrained (config and safetensors weights, strict);
  - scheduler/ through DDIMScheduler.from_pretrained;
  - text_encoder/ (Hugging Face CLIPTextModel names) through ref_clip.py, the project's CLIP text
    encoder reference; tokenizer/ through openai-clip's SimpleTokenizer with the folder's
    vocab.json and merges.txt (sd_zoo.FolderTokenizer), at the folder's model_max_length.

The golden: PROMPTS × SEEDS at 20 DDIM steps, guidance 3.0, empty negative prompt, 32×32: the
token ids and the final image (PNG) of each, listed in goldens.json. The images depend on the
weights: run it again whenever the model is retrained.

    . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/shapes_golden.py [MODEL [OUT]]

(MODEL and OUT default to shapes-32-sd and src/engine/testdata/shapes-32.)
"""
import json
import os
import sys

import torch

import sd_crosscheck

sd_crosscheck._stand_in_transformers()  # before anything imports diffusers

import ref_clip  # noqa: E402
import sd_reference_pipeline as ref  # noqa: E402
import sd_zoo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "shapes-32-sd")  # where `stipple train` writes it by default
OUT = os.path.join(ROOT, "src", "engine", "testdata", "shapes-32")
PROMPTS = ["a small red circle on the left", "draw one big yellow triangle at the bottom"]
SEEDS = [7]
STEPS, GUIDANCE, SIZE = 20, 3.0, 32


def check_pipeline_index(model_dir):
    from diffusers import DiffusionPipeline
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import (
        StableDiffusionPipeline)
    index = DiffusionPipeline.load_config(model_dir)
    assert index["_class_name"] == "StableDiffusionPipeline", index["_class_name"]
    expected, _ = StableDiffusionPipeline._get_signature_keys(StableDiffusionPipeline)
    required = set(expected) - set(StableDiffusionPipeline._optional_components)
    components = {k for k, v in index.items() if not k.startswith("_") and isinstance(v, list)}
    assert required <= components <= set(expected), (components, expected)
    for name in ("vae", "safety_checker", "feature_extractor"):
        assert index[name] == [None, None], (name, index[name])
    return index


def main():
    global MODEL, OUT
    MODEL = sys.argv[1] if len(sys.argv) > 1 else MODEL
    OUT = sys.argv[2] if len(sys.argv) > 2 else OUT
    from diffusers import DDIMScheduler, UNet2DConditionModel
    from diffusers.image_processor import VaeImageProcessor
    torch.set_num_threads(ref.THREADS)
    ref.patch_attention()
    check_pipeline_index(MODEL)
    unet = UNet2DConditionModel.from_pretrained(os.path.join(MODEL, "unet")).eval()
    assert unet.config.in_channels == unet.config.out_channels == 3
    text_config = ref.read_json(os.path.join(MODEL, "text_encoder", "config.json"))
    text_state = ref.read_weights(os.path.join(MODEL, "text_encoder"), "model")
    tokenizer = sd_zoo.FolderTokenizer(os.path.join(MODEL, "tokenizer"))
    max_length = ref.read_json(os.path.join(MODEL, "tokenizer", "tokenizer_config.json"))[
        "model_max_length"]

    def encode(text):
        ids = ref_clip.encode_prompt(tokenizer.tok, text, tokenizer.pad, context_length=max_length)
        return ids, ref_clip.clip_text_reference(text_state, text_config, [ids])["last_hidden_state"]

    os.makedirs(OUT, exist_ok=True)
    goldens = []
    _, uncond = encode("")
    for p, prompt in enumerate(PROMPTS):
        ids, cond = encode(prompt)
        context = torch.cat([uncond, cond])
        for seed in SEEDS:
            scheduler = DDIMScheduler.from_pretrained(MODEL, subfolder="scheduler")
            scheduler.set_timesteps(STEPS, device="cpu")
            generator = torch.Generator("cpu").manual_seed(seed)
            # Pixel space: the "latents" are the image, in [-1, 1], no scaling factor.
            x = torch.randn((1, 3, SIZE, SIZE), generator=generator) * scheduler.init_noise_sigma
            with torch.no_grad():
                for t in scheduler.timesteps:
                    both = scheduler.scale_model_input(torch.cat([x] * 2), t)
                    uncond_eps, cond_eps = unet(both, t, encoder_hidden_states=context,
                                                return_dict=False)[0].chunk(2)
                    eps = uncond_eps + GUIDANCE * (cond_eps - uncond_eps)
                    x = scheduler.step(eps, t, x, eta=0.0, generator=generator,
                                       return_dict=False)[0]
            image = VaeImageProcessor(vae_scale_factor=1).postprocess(x, output_type="pil")[0]
            name = f"prompt{p}-seed{seed}.png"
            image.save(os.path.join(OUT, name), format="PNG")
            goldens.append({"prompt": prompt, "seed": seed, "steps": STEPS,
                            "guidance": GUIDANCE, "ids": ids, "image": name})
            print(f"{name}: {prompt!r}", file=sys.stderr)
    with open(os.path.join(OUT, "goldens.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"model": "shapes-32", "scheduler": "ddim", "width": SIZE,
                            "height": SIZE, "goldens": goldens}, indent=1) + "\n")


if __name__ == "__main__":
    main()
