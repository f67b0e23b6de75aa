"""Img2img and inpainting goldens of the tiny model zoo, from diffusers 0.27.2's own pipelines.

  . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/sd_image_goldens.py

Writes, under src/engine/testdata/models/:
- sd1-inpaint-tiny/: an SD 1.x inpainting folder (StableDiffusionInpaintPipeline) that shares
  sd1-tiny's text encoder, tokenizer, VAE and scheduler and has its own random-weight UNet with
  9 input channels ([latents, mask, masked-image latents]);
- images/: the init images and masks the cases use (PNG, RGB8; the masks have grey levels on
  both sides of the 0.5 threshold and coloured pixels, so the luminance and the binarization
  are tested);
- <model>/expected/<kind>-<n>.png: the image diffusers gives for each case;
- image_goldens.json: the cases ({"goldens": [{model, kind, scheduler, prompt, negative, seed,
  steps, guidance, strength, width, height, init, mask, image}]}; kind "img2img" runs
  StableDiffusion[XL]Img2ImgPipeline, "inpaint" StableDiffusion[XL]InpaintPipeline — on a
  4-channel UNet that is masked img2img, on a 9-channel one dedicated inpainting).

The pipelines are given the text embeddings sd_reference_pipeline.py computes (transformers is
not installed here; sd_crosscheck.py's stand-in module lets the pipelines import), a
torch.Generator("cpu").manual_seed(seed), output_type "pil", and images as PIL RGB images.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sd_crosscheck  # noqa: E402
import sd_reference_pipeline as ref  # noqa: E402
import sd_zoo  # noqa: E402
import sd_zoo_configs as configs  # noqa: E402

ZOO = sd_zoo.ZOO
INPAINT = "sd1-inpaint-tiny"


def build_inpaint_model():
    """sd1-tiny's parts with a fresh 9-channel UNet (seeded, calibrated as the zoo's UNets)."""
    from diffusers import UNet2DConditionModel
    src, out = os.path.join(ZOO, "sd1-tiny"), os.path.join(ZOO, INPAINT)
    if os.path.isdir(out):
        shutil.rmtree(out)
    for part in ("text_encoder", "tokenizer", "vae", "scheduler"):
        shutil.copytree(os.path.join(src, part), os.path.join(out, part))
    index = ref.read_json(os.path.join(src, "model_index.json"))
    index["_class_name"] = "StableDiffusionInpaintPipeline"
    sd_zoo.write_json(os.path.join(out, "model_index.json"), index)
    cfg = dict(configs.sd1()["unet"], in_channels=9)
    unet = UNet2DConditionModel.from_config(cfg).eval()
    gen = torch.Generator().manual_seed(4000)
    sd_zoo.randomize(unet.named_parameters(), gen)
    x = torch.randn((2, 9, 8, 8), generator=gen)
    ctx = torch.randn((2, 77, cfg["cross_attention_dim"]), generator=gen)
    t = torch.tensor([999.0, 500.0])
    sd_zoo.calibrate_output(unet, unet.conv_out,
                            lambda m: m(x, t, encoder_hidden_states=ctx).sample, 1.0)
    sd_zoo.write_json(os.path.join(out, "unet", "config.json"), cfg)
    sd_zoo.save_weights(os.path.join(out, "unet"), "diffusion_pytorch_model", unet.state_dict(),
                        torch.float32)


def make_images():
    """(name → PIL image): two init images (64x64, 32x64 as W x H) and a mask for each."""
    from PIL import Image
    out = {}
    for w, h in ((64, 64), (32, 64)):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        rgb = np.stack([255 * x / (w - 1), 255 * y / (h - 1),
                        127.5 + 127.5 * np.sin((x + 2 * y) / 5)], axis=-1)
        rgb[(x - w / 2) ** 2 + (y - h / 3) ** 2 < (w / 5) ** 2] = (250, 240, 30)
        out[f"init-{w}x{h}"] = Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")
        mask = np.zeros((h, w, 3), np.uint8)
        mask[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
        mask[0:8, :] = 127          # luminance 127: keep
        mask[8:16, :] = 128         # 128: repaint
        mask[h - 8:, : w // 2] = (255, 0, 0)        # L 76: keep
        mask[h - 8:, w // 2:] = (0, 255, 0)         # L 150: repaint
        mask[h // 2 - 4: h // 2 + 4, 0:8] = (255, 255, 0)  # L 226: repaint
        out[f"mask-{w}x{h}"] = Image.fromarray(mask, "RGB")
    return out


PROMPTS = ["a photo of an astronaut riding a horse on mars",
           "A watercolor painting of a Lighthouse at dusk; soft light!!",
           "isometric pixel-art village, spring"]

# (model, kind, scheduler, strength, steps, guidance, size, negative)
CASES = [
    ("sd1-tiny", "img2img", "ddim", 0.3, 5, 7.5, (64, 64), ""),
    ("sd1-tiny", "img2img", "euler", 0.5, 4, 7.5, (64, 64), "blurry"),
    ("sd1-tiny", "img2img", "dpmpp_2m", 0.5, 6, 3.5, (32, 64), ""),
    ("sd1-tiny", "img2img", "euler_a", 1.0, 3, 7.5, (64, 64), ""),
    ("sd1-tiny", "img2img", "ddpm", 0.8, 4, 1.0, (64, 64), ""),
    ("sd1-tiny", "img2img", "lcm", 0.5, 4, 1.0, (64, 64), ""),
    ("sd2v-tiny", "img2img", "euler", 0.5, 4, 7.5, (64, 64), ""),
    ("sd2v-tiny", "img2img", "ddim", 1.0, 3, 7.5, (32, 64), "ugly"),
    ("sdxl-tiny", "img2img", "euler", 0.3, 5, 7.5, (64, 64), ""),
    ("sdxl-tiny", "img2img", "dpmpp_2m", 0.5, 4, 5.0, (64, 64), "blurry"),
    ("sdxl-tiny", "img2img", "euler_a", 1.0, 3, 7.5, (32, 64), ""),
    (INPAINT, "inpaint", "ddim", 1.0, 4, 7.5, (64, 64), ""),
    (INPAINT, "inpaint", "euler_a", 0.5, 4, 7.5, (64, 64), ""),
    (INPAINT, "inpaint", "dpmpp_2m", 0.75, 4, 1.0, (32, 64), ""),
    ("sd1-tiny", "inpaint", "ddim", 1.0, 4, 7.5, (64, 64), ""),
    ("sd1-tiny", "inpaint", "euler", 0.6, 5, 7.5, (64, 64), ""),
    ("sd1-tiny", "inpaint", "euler_a", 0.5, 4, 1.0, (32, 64), ""),
    ("sdxl-tiny", "inpaint", "euler", 0.5, 4, 7.5, (64, 64), ""),
    ("sdxl-tiny", "inpaint", "ddim", 1.0, 3, 7.5, (64, 64), ""),
]
SEEDS = [0, 42, 1234567, 7, 31337, 4294967295]


def pipeline(r, kind, scheduler):
    # From their modules: the package's top-level names were resolved before the stand-in.
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import (
        StableDiffusionImg2ImgPipeline)
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_inpaint import (
        StableDiffusionInpaintPipeline)
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img import (
        StableDiffusionXLImg2ImgPipeline)
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_inpaint import (
        StableDiffusionXLInpaintPipeline)
    if r.xl:
        cls = StableDiffusionXLImg2ImgPipeline if kind == "img2img" else (
            StableDiffusionXLInpaintPipeline)
        pipe = cls(vae=r.vae, text_encoder=None, text_encoder_2=None, tokenizer=None,
                   tokenizer_2=None, unet=r.unet, scheduler=scheduler,
                   requires_aesthetics_score=False,
                   force_zeros_for_empty_prompt=r.index["force_zeros_for_empty_prompt"],
                   add_watermarker=False)
    else:
        cls = StableDiffusionImg2ImgPipeline if kind == "img2img" else (
            StableDiffusionInpaintPipeline)
        pipe = cls(vae=r.vae, text_encoder=None, tokenizer=None, unet=r.unet,
                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main():
    sd_crosscheck._stand_in_transformers()
    torch.set_num_threads(ref.THREADS)
    build_inpaint_model()
    images = make_images()
    os.makedirs(os.path.join(ZOO, "images"), exist_ok=True)
    for name, image in images.items():
        image.save(os.path.join(ZOO, "images", name + ".png"), format="PNG")
    refs, goldens = {}, []
    for n, (model, kind, sched, strength, steps, guidance, (w, h), negative) in enumerate(CASES):
        if model not in refs:
            refs[model] = ref.ReferencePipeline(os.path.join(ZOO, model))
        r = refs[model]
        prompt, seed = PROMPTS[n % len(PROMPTS)], SEEDS[n % len(SEEDS)]
        embeds, pooled = r.encode(prompt)
        kwargs = {"prompt_embeds": embeds}
        zeros = r.xl and negative == "" and r.index.get("force_zeros_for_empty_prompt")
        if guidance > 1 and not zeros:
            neg, neg_pooled = r.encode(negative)
            kwargs["negative_prompt_embeds"] = neg
            if r.xl:
                kwargs["negative_pooled_prompt_embeds"] = neg_pooled
        if r.xl:
            kwargs["pooled_prompt_embeds"] = pooled
        init, mask = f"init-{w}x{h}", f"mask-{w}x{h}"
        kwargs["image"] = images[init]
        if kind == "inpaint":
            kwargs.update(mask_image=images[mask], height=h, width=w)
        pipe = pipeline(r, kind, r.scheduler(sched))
        with torch.no_grad():
            gen = torch.Generator("cpu").manual_seed(seed)
            out = np.asarray(pipe(num_inference_steps=steps, guidance_scale=guidance,
                                  strength=strength, generator=gen, output_type="pil",
                                  **kwargs).images[0])
        name = f"{model}/expected/{kind}-{n}.png"
        from PIL import Image
        os.makedirs(os.path.dirname(os.path.join(ZOO, name)), exist_ok=True)
        Image.fromarray(out, "RGB").save(os.path.join(ZOO, name), format="PNG")
        goldens.append({"model": model, "kind": kind, "scheduler": sched, "prompt": prompt,
                        "negative": negative, "seed": seed, "steps": steps,
                        "guidance": guidance, "strength": strength, "width": w, "height": h,
                        "init": f"images/{init}.png",
                        "mask": f"images/{mask}.png" if kind == "inpaint" else None,
                        "image": name})
        print(f"{name}: {sched} strength {strength} steps {steps} mean {out.mean():.1f} "
              f"std {out.std():.1f}")
    with open(os.path.join(ZOO, "image_goldens.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"format": 1, "goldens": goldens}, indent=1) + "\n")
    print(f"{len(goldens)} goldens")


if __name__ == "__main__":
    main()
