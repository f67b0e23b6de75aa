"""A reference text-to-image pipeline over a diffusers-layout model folder.

It composes diffusers 0.27.2's UNet2DConditionModel, AutoencoderKL, VaeImageProcessor and
scheduler classes the way StableDiffusionPipeline.__call__ and StableDiffusionXLPipeline.__call__
do (one image, CPU, float32, eta 0, no guidance rescale, clip_skip as their encode_prompt applies
it), with the text encoders run by ref_clip.py (transformers is not installed here). Each step is spelled out in generate().

Weights are read as stored (F32, F16, BF16) and widened to float32, so the results are those of
the files in the folder, fp16 rounding included.
"""
import inspect
import json
import os

import torch

import ref_clip
import sd_zoo

# Intra-op threads the goldens are computed with: other counts sum in other orders and move the
# latents by ~1e-6 (and now and then a pixel by one level).
THREADS = 2

SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
    "lcm": "LCMScheduler",
}


def bmm_attention_scores(self, query, key, attention_mask=None):
    """diffusers' Attention.get_attention_scores, with the scores computed as scale·q@kᵀ (+ mask):
    on torch 1.13 its baddbmm over an uninitialized tensor (beta=0) can return NaN."""
    dtype = query.dtype
    if self.upcast_attention:
        query, key = query.float(), key.float()
    scores = self.scale * torch.bmm(query, key.transpose(-1, -2))
    if attention_mask is not None:
        scores = scores + attention_mask
    if self.upcast_softmax:
        scores = scores.float()
    return scores.softmax(dim=-1).to(dtype)


def patch_attention():
    from diffusers.models.attention_processor import Attention
    Attention.get_attention_scores = bmm_attention_scores


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def weight_files(folder, base):
    """The files holding a part's weights, chosen as the engine's reader chooses (no variant
    requested): <base>.safetensors, else <base>.fp16.safetensors, else the shards an index names
    (<base>.safetensors.index.json, then the fp16 index)."""
    for name in (f"{base}.safetensors", f"{base}.fp16.safetensors"):
        if os.path.exists(os.path.join(folder, name)):
            return [os.path.join(folder, name)]
    for name in (f"{base}.safetensors.index.json", f"{base}.safetensors.index.fp16.json"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            shards = sorted(set(read_json(path)["weight_map"].values()))
            return [os.path.join(folder, s) for s in shards]
    raise FileNotFoundError(f"{folder}: no {base} weights")


def read_weights(folder, base):
    from safetensors.torch import load_file
    state = {}
    for path in weight_files(folder, base):
        for name, tensor in load_file(path).items():
            assert name not in state, f"{name} in two shards"
            state[name] = tensor.to(torch.float32)
    return state


def load_diffusers_part(cls, folder):
    model = cls.from_config(read_json(os.path.join(folder, "config.json")))
    model.load_state_dict(read_weights(folder, "diffusion_pytorch_model"), strict=True)
    return model.eval()


class TextEncoder:
    def __init__(self, model_dir, encoder, tokenizer):
        self.config = read_json(os.path.join(model_dir, encoder, "config.json"))
        self.state = read_weights(os.path.join(model_dir, encoder), "model")
        self.tokenizer = sd_zoo.FolderTokenizer(os.path.join(model_dir, tokenizer))

    def ids(self, text):
        return self.tokenizer(text)

    def __call__(self, text):
        return ref_clip.clip_text_reference(self.state, self.config, [self.ids(text)])


class ReferencePipeline:
    def __init__(self, model_dir):
        from diffusers import AutoencoderKL, UNet2DConditionModel
        patch_attention()
        self.index = read_json(os.path.join(model_dir, "model_index.json"))
        self.xl = self.index["_class_name"] == "StableDiffusionXLPipeline"
        self.unet = load_diffusers_part(UNet2DConditionModel, os.path.join(model_dir, "unet"))
        self.vae = load_diffusers_part(AutoencoderKL, os.path.join(model_dir, "vae"))
        self.encoders = [TextEncoder(model_dir, "text_encoder", "tokenizer")]
        if self.xl:
            self.encoders.append(TextEncoder(model_dir, "text_encoder_2", "tokenizer_2"))
        self.scheduler_config = read_json(os.path.join(model_dir, "scheduler", "scheduler_config.json"))
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    def scheduler(self, name):
        import diffusers
        return getattr(diffusers, SCHEDULERS[name]).from_config(self.scheduler_config)

    def encode(self, text, clip_skip=0):
        """(prompt embeds (1, 77, D), pooled (1, P) or None). SD 1.x/2.x: the text encoder's
        hidden state clip_skip layers before the last, then the final layer norm (clip_skip 0:
        last_hidden_state). SDXL: the hidden states clip_skip + 1 layers before the last of both
        encoders (no final layer norm; clip_skip 0: the penultimate), concatenated on the channel
        axis; pooled = encoder 2's projected text_embeds whatever clip_skip is."""
        if not self.xl:
            encoder = self.encoders[0]
            out = encoder(text)
            if not clip_skip:
                return out["last_hidden_state"], None
            hidden = out["hidden_states"][-(clip_skip + 1)]
            state, eps = encoder.state, float(encoder.config.get("layer_norm_eps", 1e-5))
            normed = torch.nn.functional.layer_norm(
                hidden, (hidden.shape[-1],), state["text_model.final_layer_norm.weight"],
                state["text_model.final_layer_norm.bias"], eps)
            return normed, None
        outs = [encoder(text) for encoder in self.encoders]
        embeds = torch.cat([out["hidden_states"][-(clip_skip + 2)] for out in outs], dim=-1)
        return embeds, outs[-1]["text_embeds"]

    @torch.no_grad()
    def generate(self, prompt, negative, seed, steps, guidance, width, height, scheduler_name,
                 clip_skip=0):
        """clip_skip applies to the prompt only: diffusers 0.27.2 encodes the negative prompt at
        the default layer whatever clip_skip is. Returns a dict: image (H, W, 3) uint8 array, latents (final, before the VAE), noise
        (the initial draw, before init_noise_sigma), timesteps, init_noise_sigma, cfg, embeds."""
        from diffusers.image_processor import VaeImageProcessor
        scheduler = self.scheduler(scheduler_name)
        # Guidance only above 1 (and the tiny UNets have no time_cond_proj_dim).
        cfg = guidance > 1 and self.unet.config.time_cond_proj_dim is None

        # 1. Text. An empty negative prompt is diffusers' negative_prompt=None: for SD the
        #    embedding of "", for SDXL with force_zeros_for_empty_prompt zeros (embeds and pooled).
        embeds, pooled = self.encode(prompt, clip_skip)
        neg_embeds = neg_pooled = None
        if cfg:
            if self.xl and negative == "" and self.index.get("force_zeros_for_empty_prompt"):
                neg_embeds, neg_pooled = torch.zeros_like(embeds), torch.zeros_like(pooled)
            else:
                neg_embeds, neg_pooled = self.encode(negative)
            context = torch.cat([neg_embeds, embeds])  # unconditional half first
        else:
            context = embeds

        # 2. Timesteps, from the scheduler built with from_config(scheduler_config.json).
        scheduler.set_timesteps(steps, device="cpu")
        timesteps = scheduler.timesteps

        # 3. Initial latents: one CPU generator seeded with the seed; N(0, 1) of shape
        #    (1, 4, H/8, W/8) times the scheduler's init_noise_sigma.
        generator = torch.Generator("cpu").manual_seed(seed)
        shape = (1, self.unet.config.in_channels, height // self.vae_scale_factor,
                 width // self.vae_scale_factor)
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)
        latents = noise * scheduler.init_noise_sigma

        # 4. Step arguments as diffusers passes them: eta=0 where step takes eta, the same
        #    generator where step takes one (ancestral noise is drawn from it after the latents).
        params = set(inspect.signature(scheduler.step).parameters)
        step_kwargs = {}
        if "eta" in params:
            step_kwargs["eta"] = 0.0
        if "generator" in params:
            step_kwargs["generator"] = generator

        # SDXL's added conditioning: pooled text and time ids (original size, crop top-left,
        # target size) = [H, W, 0, 0, H, W], the same for both halves.
        added = None
        if self.xl:
            time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32)
            text = torch.cat([neg_pooled, pooled]) if cfg else pooled
            added = {"text_embeds": text, "time_ids": time_ids.repeat(text.shape[0], 1)}

        # 5. The loop.
        for t in timesteps:
            model_input = torch.cat([latents] * 2) if cfg else latents
            model_input = scheduler.scale_model_input(model_input, t)
            out = self.unet(model_input, t, encoder_hidden_states=context,
                            added_cond_kwargs=added, return_dict=False)[0]
            if cfg:
                uncond, cond = out.chunk(2)
                out = uncond + guidance * (cond - uncond)
            latents = scheduler.step(out, t, latents, **step_kwargs, return_dict=False)[0]

        # 6. Decode latents / scaling_factor; (x/2 + 0.5).clamp(0, 1); round(x·255) as uint8.
        decoded = self.vae.decode(latents / self.vae.config.scaling_factor, return_dict=False)[0]
        image = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor).postprocess(
            decoded, output_type="pil")[0]
        import numpy as np
        return {
            "image": np.asarray(image, dtype=np.uint8),
            "latents": latents.contiguous(),
            "noise": noise.contiguous(),
            "timesteps": [float(t) for t in timesteps],
            "init_noise_sigma": float(scheduler.init_noise_sigma),
            "cfg": cfg,
            "embeds": (embeds, pooled, neg_embeds, neg_pooled),
            "scheduler_config": dict(scheduler.config),
        }
