"""Reference outputs of a CLIP text encoder, computed with OpenAI CLIP's text transformer.

Golden-making scripts import this module (run with the reference environment:
`. ../shared/reference/env.sh && /usr/bin/python3 ...`). The weights come as a Hugging
Face-named state dict (the names a diffusers `text_encoder/model.safetensors` carries):

    text_model.embeddings.token_embedding.weight            (vocab, d)
    text_model.embeddings.position_embedding.weight         (positions, d)
    text_model.encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}
    text_model.encoder.layers.{i}.layer_norm{1,2}.{weight,bias}
    text_model.encoder.layers.{i}.mlp.fc{1,2}.{weight,bias}
    text_model.final_layer_norm.{weight,bias}
    text_projection.weight                                  (projection_dim, d), projection models only

and an HF-style config dict (hidden_size, intermediate_size, num_hidden_layers,
num_attention_heads, max_position_embeddings, hidden_act, layer_norm_eps, projection_dim,
vocab_size). The weights are placed into the modules of openai-clip's `clip/model.py`
(its Transformer / ResidualAttentionBlock / LayerNorm, its causal mask), which then compute.

API (stable; extended, never renamed):
    ClipTextReference(state_dict, config, length=77): built once, called on input_ids as below
    clip_text_reference(state_dict, config, input_ids) -> dict
        hidden_states: list of (B, L, d) tensors, the embeddings then each layer's output
        last_hidden_state: (B, L, d), the final layer norm of the last layer's output
        pooled: (B, d), last_hidden_state at argmax(input_ids) of each row
        text_embeds: (B, projection_dim) = pooled @ text_projection, or None without one
      (computed and returned in float32: clip's LayerNorm works in float32)
    random_clip_text_state_dict(config, seed, with_projection) -> dict of float32 tensors
    encode_prompt(tokenizer, text, pad_token, context_length=77) -> list of ints
    config_with_defaults(config) -> dict (HF CLIPTextConfig's defaults filled in)
"""

import types

import torch
from torch import nn

import model as clip_model  # openai-clip's clip/model.py (on PYTHONPATH via env.sh)

_DEFAULTS = {
    "vocab_size": 49408,
    "hidden_size": 512,
    "intermediate_size": 2048,
    "projection_dim": 512,
    "num_hidden_layers": 12,
    "num_attention_heads": 8,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}

PREFIX = "text_model."


def config_with_defaults(config):
    out = dict(_DEFAULTS)
    out.update(config)
    return out


def _causal_mask(length):
    # openai-clip's own mask builder (additive, -inf above the diagonal), called for `length`.
    return clip_model.CLIP.build_attention_mask(types.SimpleNamespace(context_length=length))


def _build_transformer(state_dict, config, length, dtype):
    d = config["hidden_size"]
    layers = config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    inter = config["intermediate_size"]
    eps = float(config["layer_norm_eps"])
    act = config["hidden_act"]
    if act not in ("quick_gelu", "gelu"):
        raise ValueError(f"hidden_act {act!r} not supported by the reference")
    transformer = clip_model.Transformer(d, layers, heads, attn_mask=_causal_mask(length))
    sd = state_dict
    with torch.no_grad():
        for i, block in enumerate(transformer.resblocks):
            p = f"{PREFIX}encoder.layers.{i}."
            if inter != 4 * d:
                block.mlp.c_fc = nn.Linear(d, inter)
                block.mlp.c_proj = nn.Linear(inter, d)
            if act == "gelu":
                block.mlp.gelu = nn.GELU()  # exact (erf) GELU, as HF's "gelu"
            block.ln_1.eps = eps
            block.ln_2.eps = eps
            attn = block.attn
            attn.in_proj_weight.copy_(
                torch.cat([sd[p + f"self_attn.{n}_proj.weight"] for n in "qkv"], dim=0))
            attn.in_proj_bias.copy_(
                torch.cat([sd[p + f"self_attn.{n}_proj.bias"] for n in "qkv"], dim=0))
            attn.out_proj.weight.copy_(sd[p + "self_attn.out_proj.weight"])
            attn.out_proj.bias.copy_(sd[p + "self_attn.out_proj.bias"])
            block.ln_1.weight.copy_(sd[p + "layer_norm1.weight"])
            block.ln_1.bias.copy_(sd[p + "layer_norm1.bias"])
            block.ln_2.weight.copy_(sd[p + "layer_norm2.weight"])
            block.ln_2.bias.copy_(sd[p + "layer_norm2.bias"])
            block.mlp.c_fc.weight.copy_(sd[p + "mlp.fc1.weight"])
            block.mlp.c_fc.bias.copy_(sd[p + "mlp.fc1.bias"])
            block.mlp.c_proj.weight.copy_(sd[p + "mlp.fc2.weight"])
            block.mlp.c_proj.bias.copy_(sd[p + "mlp.fc2.bias"])
    return transformer.to(dtype).eval()


class ClipTextReference:
    """The text transformer built once from a state dict and config (for repeated calls, e.g.
    a benchmark); calling it on input_ids ((B, L) int64 tensor or nested lists, L fixed at
    `length`) returns what clip_text_reference returns."""

    def __init__(self, state_dict, config, length=77):
        config = config_with_defaults(config)
        self.length = length
        d = config["hidden_size"]
        dtype = torch.float32
        sd = {k: v.detach().to(torch.float32) for k, v in state_dict.items()}

        self.transformer = _build_transformer(sd, config, length, dtype)
        token_embedding = nn.Embedding(config["vocab_size"], d)
        ln_final = clip_model.LayerNorm(d, eps=float(config["layer_norm_eps"]))
        with torch.no_grad():
            token_embedding.weight.copy_(sd[PREFIX + "embeddings.token_embedding.weight"])
            ln_final.weight.copy_(sd[PREFIX + "final_layer_norm.weight"])
            ln_final.bias.copy_(sd[PREFIX + "final_layer_norm.bias"])
        self.token_embedding = token_embedding.to(dtype)
        self.ln_final = ln_final.to(dtype)
        self.positions = sd[PREFIX + "embeddings.position_embedding.weight"].to(dtype)[:length]
        self.projection = None
        if "text_projection.weight" in sd:
            self.projection = sd["text_projection.weight"].to(dtype).t()  # (d, projection_dim)

    def __call__(self, input_ids):
        ids = torch.as_tensor(input_ids, dtype=torch.long)
        if ids.dim() == 1:
            ids = ids[None]
        if ids.shape[1] != self.length:
            raise ValueError(f"{ids.shape[1]} tokens, built for {self.length}")
        with torch.no_grad():
            x = self.token_embedding(ids) + self.positions  # (B, L, d)
            hidden_states = [x]
            h = x.permute(1, 0, 2)  # the transformer works in (L, B, d)
            for block in self.transformer.resblocks:
                h = block(h)
                hidden_states.append(h.permute(1, 0, 2))
            last = self.ln_final(hidden_states[-1])
            pooled = last[torch.arange(last.shape[0]), ids.argmax(dim=-1)]
            text_embeds = None
            if self.projection is not None:
                text_embeds = pooled @ self.projection

        f32 = lambda t: None if t is None else t.to(torch.float32).contiguous()
        return {
            "hidden_states": [f32(t) for t in hidden_states],
            "last_hidden_state": f32(last),
            "pooled": f32(pooled),
            "text_embeds": f32(text_embeds),
        }


def clip_text_reference(state_dict, config, input_ids):
    """Runs the text transformer on input_ids ((B, L) int64 tensor or nested lists)."""
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    if ids.dim() == 1:
        ids = ids[None]
    return ClipTextReference(state_dict, config, ids.shape[1])(ids)


def random_clip_text_state_dict(config, seed=0, with_projection=False):
    """A seeded random state dict with HF names, at scales like CLIP's own initialisation
    (biases and layer-norm affines random too, so every parameter matters)."""
    config = config_with_defaults(config)
    g = torch.Generator().manual_seed(seed)
    d = config["hidden_size"]
    inter = config["intermediate_size"]
    layers = config["num_hidden_layers"]

    def randn(*shape, std):
        return torch.randn(*shape, generator=g) * std

    sd = {
        PREFIX + "embeddings.token_embedding.weight": randn(config["vocab_size"], d, std=0.5),
        PREFIX + "embeddings.position_embedding.weight":
            randn(config["max_position_embeddings"], d, std=0.2),
    }
    attn_std = d ** -0.5
    proj_std = d ** -0.5 * (2 * layers) ** -0.5
    fc_std = (2 * d) ** -0.5
    for i in range(layers):
        p = f"{PREFIX}encoder.layers.{i}."
        for n in "qkv":
            sd[p + f"self_attn.{n}_proj.weight"] = randn(d, d, std=attn_std * 2)
            sd[p + f"self_attn.{n}_proj.bias"] = randn(d, std=0.1)
        sd[p + "self_attn.out_proj.weight"] = randn(d, d, std=proj_std * 2)
        sd[p + "self_attn.out_proj.bias"] = randn(d, std=0.1)
        for n in ("layer_norm1", "layer_norm2"):
            sd[p + n + ".weight"] = 1.0 + randn(d, std=0.2)
            sd[p + n + ".bias"] = randn(d, std=0.2)
        sd[p + "mlp.fc1.weight"] = randn(inter, d, std=fc_std * 2)
        sd[p + "mlp.fc1.bias"] = randn(inter, std=0.1)
        sd[p + "mlp.fc2.weight"] = randn(d, inter, std=proj_std * 2)
        sd[p + "mlp.fc2.bias"] = randn(d, std=0.1)
    sd[PREFIX + "final_layer_norm.weight"] = 1.0 + randn(d, std=0.2)
    sd[PREFIX + "final_layer_norm.bias"] = randn(d, std=0.2)
    if with_projection:
        sd["text_projection.weight"] = randn(config["projection_dim"], d, std=d ** -0.5)
    return {k: v.contiguous() for k, v in sd.items()}


def encode_prompt(tokenizer, text, pad_token, context_length=77):
    """The ids a Stable Diffusion pipeline feeds its text encoder: <|startoftext|>, the text's
    first context_length - 2 tokens, <|endoftext|>, then pad_token (a token string such as
    "<|endoftext|>" or "!", or an id) up to context_length. `tokenizer` is openai-clip's
    SimpleTokenizer (or one with the same encoder/encode)."""
    bos = tokenizer.encoder["<|startoftext|>"]
    eos = tokenizer.encoder["<|endoftext|>"]
    pad = pad_token if isinstance(pad_token, int) else tokenizer.encoder[pad_token]
    ids = [bos] + tokenizer.encode(text)[: context_length - 2] + [eos]
    return ids + [pad] * (context_length - len(ids))
