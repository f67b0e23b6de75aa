"""Checks the reference pipeline against diffusers' own pipelines.

  . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/sd_crosscheck.py

For every golden in src/engine/testdata/models/goldens.json it runs diffusers 0.27.2's
StableDiffusionPipeline / StableDiffusionXLPipeline.__call__ itself on the zoo model (UNet, VAE and
scheduler as the reference pipeline loads them), giving it the text embeddings the reference
pipeline computed (prompt_embeds, negative_prompt_embeds, pooled for SDXL; for SDXL's empty
negative none, so diffusers makes its zeros), and requires the same image bytes and latents.

transformers is not installed here; the pipelines import some of its names at import time only,
so an empty stand-in module is registered before importing them (the text encoders, the only
part that needs transformers, are bypassed by passing embeddings).
"""
import importlib.machinery
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ZOO = os.path.normpath(os.path.join(HERE, "..", "..", "src", "engine", "testdata", "models"))


def _stand_in_transformers():
    names = {}

    def attribute(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return names.setdefault(name, type(name, (), {"__init__": lambda self, *a, **k: None}))

    for module in ("transformers", "transformers.utils", "transformers.modeling_utils",
                   "transformers.models", "transformers.models.clip"):
        m = types.ModuleType(module)
        m.__spec__ = importlib.machinery.ModuleSpec(module, None)
        m.__path__ = []
        m.__getattr__ = attribute
        m.FLAX_WEIGHTS_NAME = "flax_model.msgpack"
        m.SAFE_WEIGHTS_NAME = "model.safetensors"
        m.WEIGHTS_NAME = "pytorch_model.bin"
        sys.modules[module] = m
    import diffusers.utils.import_utils as import_utils
    import_utils._transformers_available = True
    import_utils._transformers_version = "4.38.0"
    import safetensors
    import safetensors.torch
    if not hasattr(safetensors, "safe_open"):
        safetensors.safe_open = safetensors.torch.safe_open


def check_from_pretrained(model_dir, pipeline):
    """diffusers' own loader reads the UNet and VAE folders to the same weights (except a sharded
    UNet: diffusers reads sharded model files from 0.28 on)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    for part, cls, mine in (("unet", UNet2DConditionModel, pipeline.unet),
                            ("vae", AutoencoderKL, pipeline.vae)):
        folder = os.path.join(model_dir, part)
        if any(name.endswith(".index.json") or ".index." in name for name in os.listdir(folder)):
            print(f"skip {folder}: sharded (diffusers 0.27 does not read shards)")
            continue
        plain = os.path.exists(os.path.join(folder, "diffusion_pytorch_model.safetensors"))
        theirs = cls.from_pretrained(model_dir, subfolder=part, variant=None if plain else "fp16",
                                     torch_dtype=torch.float32)
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys(), folder
        assert all(torch.equal(a[k], b[k].float()) for k in a), folder
        print(f"ok   {folder}: from_pretrained reads the same weights")


def main():
    _stand_in_transformers()
    import numpy as np
    import torch
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import (
        StableDiffusionPipeline)
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
        StableDiffusionXLPipeline)
    from safetensors.torch import load_file

    import sd_reference_pipeline as ref

    torch.set_num_threads(ref.THREADS)
    with open(os.path.join(ZOO, "goldens.json"), encoding="utf-8") as f:
        goldens = json.load(f)["goldens"]
    refs, failures = {}, 0
    for g in goldens:
        if g["model"] not in refs:
            refs[g["model"]] = ref.ReferencePipeline(os.path.join(ZOO, g["model"]))
            check_from_pretrained(os.path.join(ZOO, g["model"]), refs[g["model"]])
        r = refs[g["model"]]
        scheduler = r.scheduler(g["scheduler"])
        embeds, pooled = r.encode(g["prompt"])
        kwargs = {"prompt_embeds": embeds}
        zeros = r.xl and g["negative"] == "" and r.index.get("force_zeros_for_empty_prompt")
        if g["guidance"] > 1 and not zeros:
            neg, neg_pooled = r.encode(g["negative"])
            kwargs["negative_prompt_embeds"] = neg
            if r.xl:
                kwargs["negative_pooled_prompt_embeds"] = neg_pooled
        if r.xl:
            kwargs["pooled_prompt_embeds"] = pooled
            pipe = StableDiffusionXLPipeline(
                vae=r.vae, text_encoder=None, text_encoder_2=None, tokenizer=None,
                tokenizer_2=None, unet=r.unet, scheduler=scheduler,
                force_zeros_for_empty_prompt=r.index["force_zeros_for_empty_prompt"],
                add_watermarker=False)
        else:
            pipe = StableDiffusionPipeline(
                vae=r.vae, text_encoder=None, tokenizer=None, unet=r.unet, scheduler=scheduler,
                safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        common = dict(num_inference_steps=g["steps"], guidance_scale=g["guidance"],
                      width=g["width"], height=g["height"], **kwargs)
        with torch.no_grad():
            gen = torch.Generator("cpu").manual_seed(g["seed"])
            image = np.asarray(pipe(generator=gen, output_type="pil", **common).images[0])
            gen = torch.Generator("cpu").manual_seed(g["seed"])
            latents = pipe(generator=gen, output_type="latent", **common).images
        from PIL import Image
        golden_image = np.asarray(Image.open(os.path.join(ZOO, g["image"])).convert("RGB"))
        golden_latents = load_file(os.path.join(ZOO, g["latents"]))["latents"]
        image_diff = np.abs(image.astype(int) - golden_image.astype(int)).max()
        latent_diff = (latents - golden_latents).abs().max().item()
        ok = image_diff == 0 and latent_diff == 0
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {g['image']}: image Δ {image_diff}, "
              f"latents Δ {latent_diff:.3g}")
    print(f"{len(goldens) - failures}/{len(goldens)} goldens match diffusers' own pipelines")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
