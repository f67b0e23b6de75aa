"""LoRA goldens on the tiny SD 1.x model (src/engine/testdata/models/sd1-tiny).

  . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/lora_goldens.py

writes src/engine/testdata/models/loras/ (the LoRA folder beside the test models):
- tiny-kohya.safetensors: a random LoRA in the kohya/A1111 key format (lora_unet_*, lora_te_*,
  .lora_down/.lora_up/.alpha; rank 4, alpha 2) on every Linear and Conv2d (1x1 and 3x3) of the
  UNet's attention and resnet blocks and on every Linear of the text encoder;
- tiny-peft.safetensors: another random LoRA over the same layers in the diffusers/PEFT format
  (unet.*/text_encoder.* .lora_A/.lora_B, rank 2, no alpha: alpha = rank);
- expected/<case>.png and goldens.json: the reference pipeline's image (sd_reference_pipeline.py)
  with the weights merged by hand as W + scale · (alpha / rank) · up · down, one scale for the
  UNet and the text encoder, for tiny-kohya at scales 0, 0.5 and 1, tiny-peft at 1, and both
  at once (tiny-kohya 0.5 then tiny-peft 1).
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


def adapted_layers(pipe):
    """(part, module name, weight shape) of every layer the LoRAs adapt."""
    out = []
    for name, module in pipe.unet.named_modules():
        if ("attentions" in name or "resnets" in name) and isinstance(
                module, (torch.nn.Linear, torch.nn.Conv2d)):
            out.append(("unet", name, tuple(module.weight.shape)))
    for key, tensor in pipe.encoders[0].state.items():
        if key.startswith("text_model.encoder.layers.") and key.endswith("weight") and \
                tensor.dim() == 2:
            out.append(("text_encoder", key[:-len(".weight")], tuple(tensor.shape)))
    return out


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


def write_kohya(path, lora, alpha):
    from safetensors.torch import save_file
    prefix = {"unet": "lora_unet_", "text_encoder": "lora_te_"}
    tensors = {}
    for (part, module), (down, up) in lora.items():
        key = prefix[part] + module.replace(".", "_")
        tensors[key + ".lora_down.weight"] = down.contiguous()
        tensors[key + ".lora_up.weight"] = up.contiguous()
        tensors[key + ".alpha"] = torch.tensor(float(alpha))
    save_file(tensors, path, metadata={"ss_base_model_version": "sd_v1"})


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
    state = pipe.encoders[0].state
    for name, tensor in originals["text_encoder"].items():
        state[name] = tensor.clone()
    for lora, alpha, scale in loras:
        for (part, module), (down, up) in lora.items():
            rank = down.shape[0]
            delta = (up.flatten(1) @ down.flatten(1)) * (scale * alpha / rank)
            if part == "unet":
                weight = unet_params[module + ".weight"]
                weight.data += delta.reshape(weight.shape)
            else:
                key = module + ".weight"
                state[key] = state[key] + delta.reshape(state[key].shape)


def main():
    torch.set_num_threads(ref.THREADS)
    pipe = ref.ReferencePipeline(os.path.join(ROOT, MODEL))
    layers = adapted_layers(pipe)
    generator = torch.Generator().manual_seed(18)
    kohya = random_lora(layers, 4, generator)
    peft = random_lora(layers, 2, generator)
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    write_kohya(os.path.join(OUT, "tiny-kohya.safetensors"), kohya, alpha=2.0)
    write_peft(os.path.join(OUT, "tiny-peft.safetensors"), peft)
    files = {"tiny-kohya": (kohya, 2.0), "tiny-peft": (peft, 2.0)}

    originals = {
        "unet": {n: p.detach().clone() for n, p in pipe.unet.named_parameters()},
        "text_encoder": {k: v.clone() for k, v in pipe.encoders[0].state.items()},
    }
    index = {"format": 1, "model": MODEL, "case": CASE, "goldens": []}
    for name, loras in CASES:
        merge(pipe, originals, [(files[n][0], files[n][1], s) for n, s in loras])
        entry, _ = sd_goldens.run_case(pipe, {**CASE, "name": f"expected/{name}"}, OUT)
        os.remove(os.path.join(OUT, "expected", name + ".safetensors"))
        index["goldens"].append({"loras": [{"name": n, "scale": s} for n, s in loras],
                                 "image": entry["image"]})
    with open(os.path.join(OUT, "goldens.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(index, indent=1) + "\n")
    print(f"{len(layers)} layers, {len(CASES)} goldens")


if __name__ == "__main__":
    main()
