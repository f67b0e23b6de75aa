"""The baseline of engine_bench: a Stable Diffusion model folder run with diffusers 0.27.2's
components in PyTorch eager, the way StableDiffusionPipeline.__call__ runs them.

engine_bench runs it with Debian's /usr/bin/python3 and the reference environment
(`. ../shared/reference/env.sh`): UNet2DConditionModel, AutoencoderKL and DDIMScheduler come from
the folder with from_pretrained; the text encoder is tools/goldens/ref_clip.py (OpenAI CLIP's text
transformer with the folder's weights; transformers is not installed), built once. Per run of a
batch of B prompts, under torch.no_grad (as the pipeline's __call__):
  1. the prompts' and the empty negative prompts' token ids (tools/goldens/sd_zoo.py's tokenizer
     over the folder's vocabulary) through the text encoder, one call per side as encode_prompt;
  2. each image's latents from its own CPU generator seeded with its seed (a list of generators);
  3. `steps` DDIM steps (eta 0): the latents doubled (classifier-free guidance, negative half
     first), scale_model_input, the UNet, uncond + g·(cond − uncond), scheduler.step;
  4. vae.decode(latents / scaling_factor), then (x/2 + 0.5).clamp(0, 1) · 255 rounded to uint8.

Attention is diffusers' default processor on torch 1.13 (AttnProcessor: baddbmm of q and kᵀ,
softmax, bmm), with one change: baddbmm's ignored input (beta = 0) is zeros instead of
torch.empty, whose uninitialized NaNs can leak through on this torch. `--attention bmm` computes
the scores as scale · bmm(q, kᵀ) instead (what tools/goldens does).

Prints one JSON object on stdout: torch version, threads, steps, per batch size the seconds and
the process's CPU seconds of each timed run; with --pixels-out, writes the last batch-1 and batch-4 runs' images (uint8,
(B, 3, H, W), batch 1 first) for engine_bench's parity check, with --latents-out their final
latents (float32, (B, 4, H/8, W/8), batch 1 first); with --profile-out, a chrome trace
of one batch-1 run and the seconds of each part alone (text encoder, one UNet call, VAE decode).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "goldens"))

import ref_clip  # noqa: E402
import safetensors.torch  # noqa: E402,F401 (diffusers imports only the package, then uses this)
import sd_reference_pipeline  # noqa: E402
import sd_zoo  # noqa: E402


def patch_attention(formulation):
    from diffusers.models.attention_processor import Attention

    def zeroed_baddbmm_scores(self, query, key, attention_mask=None):
        dtype = query.dtype
        if self.upcast_attention:
            query, key = query.float(), key.float()
        if attention_mask is None:
            base = torch.zeros(query.shape[0], query.shape[1], key.shape[1],
                               dtype=query.dtype, device=query.device)
            beta = 0
        else:
            base, beta = attention_mask, 1
        scores = torch.baddbmm(base, query, key.transpose(-1, -2), beta=beta, alpha=self.scale)
        if self.upcast_softmax:
            scores = scores.float()
        return scores.softmax(dim=-1).to(dtype)

    Attention.get_attention_scores = (sd_reference_pipeline.bmm_attention_scores
                                      if formulation == "bmm" else zeroed_baddbmm_scores)


class Pipeline:
    def __init__(self, model_dir, device):
        from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
        self.device = torch.device(device)
        self.unet = UNet2DConditionModel.from_pretrained(model_dir, subfolder="unet").to(self.device).eval()
        self.vae = AutoencoderKL.from_pretrained(model_dir, subfolder="vae").to(self.device).eval()
        self.scheduler = DDIMScheduler.from_pretrained(model_dir, subfolder="scheduler")
        encoder_dir = os.path.join(model_dir, "text_encoder")
        with open(os.path.join(encoder_dir, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        state = safetensors.torch.load_file(os.path.join(encoder_dir, "model.safetensors"))
        self.text_encoder = ref_clip.ClipTextReference(state, config)
        self.text_encoder.transformer.to(self.device)
        self.text_encoder.token_embedding.to(self.device)
        self.text_encoder.ln_final.to(self.device)
        self.text_encoder.positions = self.text_encoder.positions.to(self.device)
        self.tokenizer = sd_zoo.FolderTokenizer(os.path.join(model_dir, "tokenizer"))
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    def encode(self, texts):
        ids = torch.tensor([self.tokenizer(t) for t in texts], dtype=torch.long, device=self.device)
        return self.text_encoder(ids)["last_hidden_state"]

    @torch.no_grad()
    def __call__(self, prompts, seeds, steps, guidance, width, height):
        embeds = self.encode(prompts)
        negative = self.encode([""] * len(prompts))
        context = torch.cat([negative, embeds])

        self.scheduler.set_timesteps(steps, device=self.device)
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        shape = (1, self.unet.config.in_channels, height // self.vae_scale_factor,
                 width // self.vae_scale_factor)
        latents = torch.cat([torch.randn(shape, generator=g) for g in generators]).to(self.device)
        latents = latents * self.scheduler.init_noise_sigma

        for t in self.scheduler.timesteps:
            model_input = self.scheduler.scale_model_input(torch.cat([latents] * 2), t)
            out = self.unet(model_input, t, encoder_hidden_states=context, return_dict=False)[0]
            uncond, cond = out.chunk(2)
            out = uncond + guidance * (cond - uncond)
            latents = self.scheduler.step(out, t, latents, eta=0.0, generator=generators,
                                          return_dict=False)[0]

        image = self.vae.decode(latents / self.vae.config.scaling_factor, return_dict=False)[0]
        return (image / 2 + 0.5).clamp(0, 1).mul(255).round().to("cpu", torch.uint8), latents

    @torch.no_grad()
    def parts(self, width, height, reps):
        """Median seconds of each part alone: the text encoder on one prompt, one UNet call on a
        guided batch of one (2 rows), the VAE decoding one image."""
        h, w = height // self.vae_scale_factor, width // self.vae_scale_factor
        x = torch.randn(2, self.unet.config.in_channels, h, w, device=self.device)
        context = torch.randn(2, 77, self.unet.config.cross_attention_dim, device=self.device)
        z = torch.randn(1, self.vae.config.latent_channels, h, w, device=self.device)
        calls = {
            "text_encoder": lambda: self.encode(["a photo of a cat"]),
            "unet_step": lambda: self.unet(x, 500, encoder_hidden_states=context, return_dict=False),
            "vae_decode": lambda: self.vae.decode(z, return_dict=False),
        }
        out = {}
        for name, call in calls.items():
            call()
            times = []
            for _ in range(reps):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            out[name] = statistics.median(times)
        return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--size", type=int, required=True, help="width = height, pixels")
    parser.add_argument("--seed", type=int, required=True, help="first seed of each batch")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--prompt", action="append", required=True)
    parser.add_argument("--attention", choices=["baddbmm", "bmm"], default="baddbmm")
    parser.add_argument("--pixels-out")
    parser.add_argument("--latents-out")
    parser.add_argument("--profile-out")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    import diffusers
    diffusers.utils.logging.set_verbosity_error()  # not the missing-accelerate advice
    patch_attention(args.attention)
    pipe = Pipeline(args.model_dir, args.device)

    def run(batch):
        prompts = [args.prompt[i % len(args.prompt)] for i in range(batch)]
        seeds = [args.seed + i for i in range(batch)]
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start, cpu_start = time.perf_counter(), time.process_time()
        pixels, latents = pipe(prompts, seeds, args.steps, args.guidance, args.size, args.size)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - start, time.process_time() - cpu_start), (pixels, latents)

    run(1)  # warm-up
    seconds = {"1": [], "4": []}
    cpu_seconds = {"1": [], "4": []}
    outputs = {}
    for _ in range(args.reps):
        for batch in (1, 4):
            (s, cpu), outputs[batch] = run(batch)
            seconds[str(batch)].append(s)
            cpu_seconds[str(batch)].append(cpu)
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": args.steps,
              "attention": args.attention, "seconds": seconds, "cpu_seconds": cpu_seconds}
    if args.pixels_out:
        with open(args.pixels_out, "wb") as f:
            for batch in (1, 4):
                f.write(outputs[batch][0].contiguous().numpy().tobytes())
    if args.latents_out:
        with open(args.latents_out, "wb") as f:
            for batch in (1, 4):
                f.write(outputs[batch][1].to("cpu", torch.float32).contiguous().numpy().tobytes())
    if args.profile_out:
        report["parts"] = pipe.parts(args.size, args.size, args.reps)
        with torch.autograd.profiler.profile() as prof:
            run(1)
        prof.export_chrome_trace(args.profile_out)
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
