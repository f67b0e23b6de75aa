"""LoRA goldens on the tiny SD 1.x model (src/engine/testdata/models/sd1-tiny).

  . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/lora_goldens.py

writes src/engine/testdata/models/loras/ (the LoRA folder beside the test models):
- tiny-kohya.safetensors: a random LoRA in the kohya/A1111 key format (lora_unet_*, lora_te_*,
  .lora_down/.lora_up/.alpha; rank 4, alpha 2) on every Linear and Conv2d (1x1 and 3x3) of the
  UNet's attention and resnet blocks and on every Linear of the text encoder;
- tiny-peft.safetensors: another random LoRA over the same layers in the diffusers/PEFT format
  (unet.*/text_encoder.* .lora_A/.lora_B, rank 2, no alpha: alpha = rank);
- tiny-xl-kohya.safetensors: a random LoRA for the tiny SDXL model (sdxl-tiny) in the kohya
  format SDXL files use: the UNet's modules under their original LDM names (input_blocks_3_1_...,
  middle_block_..., output_blocks_...), both text encoders (lora_te1_, lora_te2_), no metadata
  (the family comes from the keys); rank 4, alpha 2;
- expected/<case>.png and goldens.json: the reference pipeline's image (sd_reference_pipeline.py)
  with the weights merged by hand as W + scale · (alpha / rank) · up · down, one scale for the
  UNet and the text encoders, for tiny-kohya at scales 0, 0.5 and 1, tiny-peft at 1, both
  at once (tiny-kohya 0.5 then tiny-peft 1), and tiny-xl-kohya at 0.5 and 1 on sdxl-tiny.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sd_goldens  # noqa: E402
import sd_reference_pipeline as ref  # noqa: E402

ROOT = os.path.join(HERE, "..", "..", "src", "engine", "testdata", "models")
MODEL = "sd1-tiny"
XL_MODEL = "sdxl-tiny"
OUT = os.path.join(ROOT, "loras")

CASE = {"prompt": "a photo of an astronaut riding a horse on mars", "negative": "", "seed": 0,
        "steps": 4, "guidance": 7.5, "width": 64, "height": 64, "scheduler": "ddim"}
CASES = [
    ("kohya-0", [("tiny-kohya", 0.0)]),
    ("kohya-0.5", [("tiny-kohya", 0.5)]),
    ("kohya-1", [("tiny-kohya", 1.0)]),
    ("peft-1", [("tiny-peft", 1.0)]),
    ("both", [("tiny-kohya", 0.5), ("tiny-peft", 1.0)]),
]
XL_CASES = [
    ("xl-kohya-0.5", [("tiny-xl-kohya", 0.5)]),
    ("xl-kohya-1", [("tiny-xl-kohya", 1.0)]),
]


ENCODERS = ["text_encoder", "text_encoder_2"]


def adapted_layers(pipe):
    """(part, module name, weight shape) of every layer the LoRAs adapt."""
    out = []
    for name, module in pipe.unet.named_modules():
        if ("attentions" in name or "resnets" in name or "samplers" in name) and isinstance(
                module, (torch.nn.Linear, torch.nn.Conv2d)):
            out.append(("unet", name, tuple(module.weight.shape)))
    for part, encoder in zip(ENCODERS, pipe.encoders):
        for key, tensor in encoder.state.items():
            if key.startswith("text_model.encoder.layers.") and key.endswith("weight") and \
                    tensor.dim() == 2:
                out.append((part, key[:-len(".weight")], tuple(tensor.shape)))
    return out


def ldm_name(module, per_level, up_attention_levels):
    """A diffusers UNet module's name in the original LDM layout, with '_' for '.' (kohya's
    SDXL keys): down_blocks.1.attentions.0.proj_in → input_blocks_3_1_proj_in (1 layer per
    block), resnets' conv1/conv2/time_emb_proj/conv_shortcut → in_layers_2/out_layers_3/
    emb_layers_1/skip_connection."""
    resnet = {"conv1": "in_layers_2", "conv2": "out_layers_3", "time_emb_proj": "emb_layers_1",
              "conv_shortcut": "skip_connection"}
    p = module.split(".")
    if p[0] == "down_blocks":
        level, kind, j, rest = int(p[1]), p[2], int(p[3]), p[4:]
        if kind == "downsamplers":
            return f"input_blocks_{1 + level * per_level + per_level - 1}_0_op"
        n = 1 + level * per_level + j
        if kind == "resnets":
            return f"input_blocks_{n}_0_{resnet[rest[0]]}"
        return f"input_blocks_{n}_1_" + "_".join(rest)
    if p[0] == "mid_block":
        if p[1] == "resnets":
            return f"middle_block_{2 * int(p[2])}_{resnet[p[3]]}"
        return "middle_block_1_" + "_".join(p[3:])
    if p[0] == "up_blocks":
        level, kind, j, rest = int(p[1]), p[2], int(p[3]), p[4:]
        if kind == "upsamplers":
            sub = 2 if level in up_attention_levels else 1
            return f"output_blocks_{level * per_level + per_level - 1}_{sub}_conv"
        n = level * per_level + j
        if kind == "resnets":
            return f"output_blocks_{n}_0_{resnet[rest[0]]}"
        return f"output_blocks_{n}_1_" + "_".join(rest)
    raise ValueError(module)


def random_lora(layers, rank, generator):
    """{(part, module): (down, up)}: down (rank, in[, kh, kw]), up (out, rank[, 1, 1])."""
    lora = {}
    for part, module, shape in layers:
        down_shape = (rank, shape[1]) + tuple(shape[2:])
        up_shape = (shape[0], rank) + ((1, 1) if len(shape) == 4 else ())
        down = torch.randn(down_shape, generator=generator) * 0.3
        up = torch.randn(up_shape, generator=generator) * 0.3
        lora[(part, module)] = (down, up)
    return lora


def write_kohya(path, lora, alpha, metadata=None, xl_unet=None):
    """xl_unet: (layers per block + 1, the up levels with attentions) for LDM-named UNet keys and
    lora_te1_/lora_te2_ (SDXL)."""
    from safetensors.torch import save_file
    prefix = {"unet": "lora_unet_", "text_encoder": "lora_te1_" if xl_unet else "lora_te_",
              "text_encoder_2": "lora_te2_"}
    tensors = {}
    for (part, module), (down, up) in lora.items():
        name = module.replace(".", "_")
        if part == "unet" and xl_unet:
            name = ldm_name(module, *xl_unet)
        key = prefix[part] + name
        tensors[key + ".lora_down.weight"] = down.contiguous()
        tensors[key + ".lora_up.weight"] = up.contiguous()
        tensors[key + ".alpha"] = torch.tensor(float(alpha))
    save_file(tensors, path, metadata=metadata)


def write_peft(path, lora):
    from safetensors.torch import save_file
    tensors = {}
    for (part, module), (down, up) in lora.items():
        tensors[f"{part}.{module}.lora_A.weight"] = down.contiguous()
        tensors[f"{part}.{module}.lora_B.weight"] = up.contiguous()
    save_file(tensors, path, metadata={"modelspec.architecture": "stable-diffusion-v1/lora"})


def merge(pipe, originals, loras):
    """Sets the pipeline's weights to the originals plus each (lora, alpha, scale) in order."""
    unet_params = dict(pipe.unet.named_parameters())
    for name, tensor in originals["unet"].items():
        unet_params[name].data.copy_(tensor)
    states = {}
    for part, encoder in zip(ENCODERS, pipe.encoders):
        states[part] = encoder.state
        for name, tensor in originals[part].items():
            encoder.state[name] = tensor.clone()
    for lora, alpha, scale in loras:
        for (part, module), (down, up) in lora.items():
            rank = down.shape[0]
            delta = (up.flatten(1) @ down.flatten(1)) * (scale * alpha / rank)
            if part == "unet":
                weight = unet_params[module + ".weight"]
                weight.data += delta.reshape(weight.shape)
            else:
                state, key = states[part], module + ".weight"
                state[key] = state[key] + delta.reshape(state[key].shape)


def run_cases(pipe, model, files, cases, index):
    originals = {"unet": {n: p.detach().clone() for n, p in pipe.unet.named_parameters()}}
    for part, encoder in zip(ENCODERS, pipe.encoders):
        originals[part] = {k: v.clone() for k, v in encoder.state.items()}
    for name, loras in cases:
        merge(pipe, originals, [(files[n][0], files[n][1], s) for n, s in loras])
        entry, _ = sd_goldens.run_case(pipe, {**CASE, "name": f"expected/{name}"}, OUT)
        os.remove(os.path.join(OUT, "expected", name + ".safetensors"))
        index["goldens"].append({"model": model,
                                 "loras": [{"name": n, "scale": s} for n, s in loras],
                                 "image": entry["image"]})


def main():
    torch.set_num_threads(ref.THREADS)
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    index = {"format": 1, "case": CASE, "goldens": []}

    pipe = ref.ReferencePipeline(os.path.join(ROOT, MODEL))
    layers = adapted_layers(pipe)
    generator = torch.Generator().manual_seed(18)
    kohya = random_lora(layers, 4, generator)
    peft = random_lora(layers, 2, generator)
    write_kohya(os.path.join(OUT, "tiny-kohya.safetensors"), kohya, alpha=2.0,
                metadata={"ss_base_model_version": "sd_v1"})
    write_peft(os.path.join(OUT, "tiny-peft.safetensors"), peft)
    run_cases(pipe, MODEL, {"tiny-kohya": (kohya, 2.0), "tiny-peft": (peft, 2.0)}, CASES, index)
    print(f"{MODEL}: {len(layers)} layers")

    pipe = ref.ReferencePipeline(os.path.join(ROOT, XL_MODEL))
    layers = adapted_layers(pipe)
    xl = random_lora(layers, 4, torch.Generator().manual_seed(1818))
    config = pipe.unet.config
    up_attention = {i for i, t in enumerate(config.up_block_types) if "CrossAttn" in t}
    write_kohya(os.path.join(OUT, "tiny-xl-kohya.safetensors"), xl, alpha=2.0,
                xl_unet=(config.layers_per_block + 1, up_attention))
    run_cases(pipe, XL_MODEL, {"tiny-xl-kohya": (xl, 2.0)}, XL_CASES, index)
    print(f"{XL_MODEL}: {len(layers)} layers")

    with open(os.path.join(OUT, "goldens.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(index, indent=1) + "\n")


if __name__ == "__main__":
    main()
