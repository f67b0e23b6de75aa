"""The shapes-32 network in PyTorch eager: the same modules and parameter names as
src/engine/torch/, so it loads a stipple model directory's model.safetensors as is.

The benchmark baseline: written the way a diffusers user would run a model, with nothing
stipple-specific in the hot path.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x, context=None):
        ctx = x if context is None else context
        b, n, dim = x.shape
        hd = dim // self.heads

        def split(t):
            return t.view(b, -1, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.to_q(x)), split(self.to_k(ctx)), split(self.to_v(ctx))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(hd)
        out = torch.matmul(scores.softmax(-1), v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, dim))


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class TextEncoderLayer(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = Attention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


class TextEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["dim"])
        self.position_embedding = nn.Parameter(torch.zeros(c["max_tokens"], c["dim"]))
        self.layers = nn.ModuleList(TextEncoderLayer(c["dim"], c["heads"])
                                    for _ in range(c["layers"]))
        self.final_norm = nn.LayerNorm(c["dim"])

    def forward(self, ids):
        x = self.token_embedding(ids) + self.position_embedding[: ids.shape[1]].unsqueeze(0)
        for layer in self.layers:
            x = layer(x)
        return self.final_norm(x)


def timestep_embedding(t, dim):
    half = dim // 2
    exponent = torch.arange(half, dtype=torch.float32, device=t.device)
    exponent = exponent * (-math.log(10000.0) / half)
    angles = t.float().unsqueeze(1) * exponent.exp().unsqueeze(0)
    emb = torch.cat([angles.cos(), angles.sin()], 1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.shortcut(x) if self.shortcut is not None else x) + h


class SpatialTransformer(nn.Module):
    def __init__(self, ch, context_dim, heads, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch)
        self.proj_in = nn.Linear(ch, ch)
        self.norm1 = nn.LayerNorm(ch)
        self.self_attention = Attention(ch, ch, heads)
        self.norm2 = nn.LayerNorm(ch)
        self.cross_attention = Attention(ch, context_dim, heads)
        self.norm3 = nn.LayerNorm(ch)
        self.feed_forward = FeedForward(ch)
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x, context):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x).permute(0, 2, 3, 1).reshape(b, h * w, c))
        t = t + self.self_attention(self.norm1(t))
        t = t + self.cross_attention(self.norm2(t), context)
        t = t + self.feed_forward(self.norm3(t))
        t = self.proj_out(t)
        return x + t.reshape(b, h, w, c).permute(0, 3, 1, 2)


class Level(nn.Module):
    def __init__(self):
        super().__init__()
        self.res = nn.ModuleList()
        self.attention = nn.ModuleList()
        self.resample = None


class UNet(nn.Module):
    def __init__(self, c, image_channels, context_dim):
        super().__init__()
        base, temb, groups, heads = (c["base_channels"], c["time_embed_dim"], c["norm_groups"],
                                     c["heads"])
        self.base = base
        mult, attn = c["channel_mult"], c["attention_levels"]
        self.time_fc1 = nn.Linear(base, temb)
        self.time_fc2 = nn.Linear(temb, temb)
        self.text_proj = nn.Linear(context_dim, temb) if c.get("pooled_text") else None
        self.conv_in = nn.Conv2d(image_channels, base, 3, padding=1)
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        skips, ch = [base], base
        for level, m in enumerate(mult):
            lv, out = Level(), base * m
            for _ in range(c["res_blocks"]):
                lv.res.append(ResBlock(ch, out, temb, groups))
                if level in attn:
                    lv.attention.append(SpatialTransformer(out, context_dim, heads, groups))
                ch = out
                skips.append(ch)
            if level + 1 < len(mult):
                lv.resample = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
                skips.append(ch)
            self.down.append(lv)
        self.mid_res1 = ResBlock(ch, ch, temb, groups)
        self.mid_attention = SpatialTransformer(ch, context_dim, heads, groups)
        self.mid_res2 = ResBlock(ch, ch, temb, groups)
        for level in reversed(range(len(mult))):
            lv, out = Level(), base * mult[level]
            for _ in range(c["res_blocks"] + 1):
                lv.res.append(ResBlock(ch + skips.pop(), out, temb, groups))
                if level in attn:
                    lv.attention.append(SpatialTransformer(out, context_dim, heads, groups))
                ch = out
            if level > 0:
                lv.resample = nn.Conv2d(ch, ch, 3, padding=1)
            self.up.append(lv)
        self.norm_out = nn.GroupNorm(groups, base)
        self.conv_out = nn.Conv2d(base, image_channels, 3, padding=1)

    def forward(self, x, t, context):
        temb = self.time_fc2(F.silu(self.time_fc1(timestep_embedding(t, self.base))))
        if self.text_proj is not None:
            temb = temb + self.text_proj(context[:, 0])
        h = self.conv_in(x)
        skips = [h]
        for lv in self.down:
            for i, res in enumerate(lv.res):
                h = res(h, temb)
                if len(lv.attention):
                    h = lv.attention[i](h, context)
                skips.append(h)
            if lv.resample is not None:
                h = lv.resample(h)
                skips.append(h)
        h = self.mid_res2(self.mid_attention(self.mid_res1(h, temb), context), temb)
        for lv in self.up:
            for i, res in enumerate(lv.res):
                h = res(torch.cat([h, skips.pop()], 1), temb)
                if len(lv.attention):
                    h = lv.attention[i](h, context)
            if lv.resample is not None:
                h = lv.resample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class DiffusionModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.text_encoder = TextEncoder(config["text_encoder"])
        self.unet = UNet(config["unet"], config["channels"], config["text_encoder"]["dim"])


def load_safetensors(path):
    """A minimal safetensors reader (F32 only, which is what stipple writes)."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']} (only F32)")
        begin, end = info["data_offsets"]
        flat = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=torch.float32)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


def load_model(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        config = json.load(f)
    model = DiffusionModel(config)
    weights = load_safetensors(os.path.join(model_dir, config.get("weights",
                                                                  "model.safetensors")))
    model.load_state_dict(weights, strict=True)
    return model.eval()
