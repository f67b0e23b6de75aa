"""The PyTorch-eager baseline of engine_bench: the shapes-32 pipeline written the way a diffusers
user runs a model (torch.inference_mode, the conditional and unconditional halves of classifier-
free guidance batched into one UNet call, DDIM with eta = 0), loading the same model directory.

Prints one JSON object: per batch size, the seconds per run, steps/s and images/s. With
--parity-out FILE it also writes the final images of the parity prompts (float32, (N, 3, H, W),
values in [0, 1], little-endian) so engine_bench can compare them with its own.

Run with Debian's interpreter (/usr/bin/python3), which has python3-torch.
"""
import argparse
import json
import math
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stipple_model  # noqa: E402

PROMPTS = ["a big red circle on the left", "a small blue triangle at the top",
           "green square in the middle", "a large yellow circle at the bottom",
           "purple triangle, small, on the right", "a cyan square at the top",
           "the circle is orange and small, center", "white triangle big left"]


class WordTokenizer:
    """stipple's word tokenizer: lower-case ASCII words, <bos> words <eos> <pad>..., <unk>."""

    def __init__(self, vocab_path, max_tokens):
        with open(vocab_path) as f:
            self.tokens = [line.rstrip("\r\n") for line in f]
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.max_tokens = max_tokens

    def encode(self, text):
        ids = [self.ids["<bos>"]]
        for word in re.findall(r"[A-Za-z0-9]+", text):
            if len(ids) == self.max_tokens - 1:
                break
            ids.append(self.ids.get(word.lower(), self.ids["<unk>"]))
        ids.append(self.ids["<eos>"])
        return ids + [self.ids["<pad>"]] * (self.max_tokens - len(ids))


def alphas_cumprod(s):
    T = s["train_timesteps"]
    betas = []
    for i in range(T):
        f = i / (T - 1)
        if s["beta_schedule"] == "linear":
            betas.append(s["beta_start"] + (s["beta_end"] - s["beta_start"]) * f)
        else:
            r = math.sqrt(s["beta_start"]) + (math.sqrt(s["beta_end"]) - math.sqrt(s["beta_start"])) * f
            betas.append(r * r)
    out, p = [], 1.0
    for b in betas:
        p *= 1 - b
        out.append(p)
    return out


class Pipeline:
    def __init__(self, model_dir, device):
        self.device = torch.device(device)
        self.model = stipple_model.load_model(model_dir).to(self.device)
        c = self.model.config
        self.config = c
        self.tokenizer = WordTokenizer(os.path.join(model_dir, c["text_encoder"]["vocab"]),
                                       c["text_encoder"]["max_tokens"])
        self.alphas = alphas_cumprod(c["scheduler"])

    @torch.inference_mode()
    def __call__(self, prompts, seeds, steps, guidance):
        c = self.config
        b = len(prompts)
        d = self.device
        ids = torch.tensor([self.tokenizer.encode(p) for p in prompts + [""] * b], device=d)
        cond, uncond = self.model.text_encoder(ids).chunk(2)
        context = torch.cat([cond, uncond])
        x = torch.stack([torch.randn((c["channels"], c["height"], c["width"]),
                                     generator=torch.Generator().manual_seed(s)) for s in seeds]).to(d)
        g = torch.full((b, 1, 1, 1), float(guidance), device=d)
        T = c["scheduler"]["train_timesteps"]
        ratio = T // steps
        for i in range(steps):
            t = (steps - 1 - i) * ratio
            a = self.alphas[t]
            a_prev = self.alphas[t - ratio] if t - ratio >= 0 else 1.0
            both = self.model.unet(torch.cat([x, x]), torch.full((2 * b,), float(t), device=d), context)
            eps_cond, eps_uncond = both.chunk(2)
            eps = eps_uncond + g * (eps_cond - eps_uncond)
            x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
            if c["scheduler"].get("clip_sample"):
                x0 = x0.clamp(-1, 1)
            x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
        return ((x + 1) / 2).clamp(0, 1).cpu()  # on the host, as a caller needs it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--seconds", type=float, default=6.0, help="time spent per batch size")
    ap.add_argument("--parity-out")
    ap.add_argument("--parity-seed", type=int, default=1234)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline(args.model_dir, args.device)
    guidance = pipe.config["scheduler"]["default_guidance_scale"]
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "device": str(pipe.device), "batches": {}}
    pipe(PROMPTS[:1], [1], args.steps, guidance)  # warm-up
    for b in [int(v) for v in args.batches.split(",")]:
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(b)]
        runs, start = 0, time.perf_counter()
        while runs == 0 or time.perf_counter() - start < args.seconds:
            pipe(prompts, list(range(100 + runs * b, 100 + runs * b + b)), args.steps, guidance)
            runs += 1
        elapsed = time.perf_counter() - start
        report["batches"][str(b)] = {"runs": runs, "seconds_per_run": elapsed / runs,
                                     "steps_per_s": args.steps * runs / elapsed,
                                     "images_per_s": b * runs / elapsed}
    if args.parity_out:
        n = 4
        images = pipe(PROMPTS[:n], [args.parity_seed + i for i in range(n)], args.steps, guidance)
        with open(args.parity_out, "wb") as f:
            f.write(images.contiguous().numpy().astype("<f4").tobytes())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
