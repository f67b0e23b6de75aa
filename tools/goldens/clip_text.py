"""CLIP text encoder goldens: two tiny random encoders and their outputs, computed with
openai-clip's text transformer (ref_clip.py).

Writes src/engine/testdata/clip-text/:
  sd1/   CLIPTextModel like SD 1.x's (quick_gelu, no projection), 3 layers, pad <|endoftext|>
  sdxl2/ CLIPTextModelWithProjection like SDXL's text_encoder_2 (gelu, projection), 2 layers,
         pad "!"
each with config.json (as transformers saves it), model.safetensors (Hugging Face names; sd1's
also carries the text_model.embeddings.position_ids buffer, as older files do — here as F32),
and golden.safetensors: ids (B, 77) and, for the batch, hidden_states.-1, hidden_states.-2,
last_hidden_state, pooled and (sdxl2) text_embeds. golden.json lists the prompts, tokenized
with the truncated vocabulary in clip-vocab-tiny/ (1,024 ids).

Run from the project's root:
    . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/clip_text.py
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from clip_tokenizer import TESTDATA, TINY_MERGES, truncated_tokenizer
from ref_clip import clip_text_reference, encode_prompt, random_clip_text_state_dict

OUT = os.path.join(TESTDATA, "clip-text")

PROMPTS = [
    "a photo of a cat",
    "",
    "An astronaut riding a horse on the moon, highly detailed, 8k, trending on artstation!",
    " ".join(["watercolor painting of a lighthouse at dawn"] * 12),  # cut at 77 tokens
]

GENERIC = {
    "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
    "initializer_factor": 1.0, "initializer_range": 0.02, "model_type": "clip_text_model",
    "pad_token_id": 1, "torch_dtype": "float32", "transformers_version": "4.36.2",
}

MODELS = {
    "sd1": dict(
        config={"architectures": ["CLIPTextModel"], "hidden_act": "quick_gelu",
                "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
                "num_attention_heads": 4, "max_position_embeddings": 77, "layer_norm_eps": 1e-5,
                "projection_dim": 768, "vocab_size": 512 + TINY_MERGES + 2},
        pad="<|endoftext|>", seed=1401, position_ids=True),
    "sdxl2": dict(
        config={"architectures": ["CLIPTextModelWithProjection"], "hidden_act": "gelu",
                "hidden_size": 32, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "max_position_embeddings": 77, "layer_norm_eps": 1e-5,
                "projection_dim": 24, "vocab_size": 512 + TINY_MERGES + 2},
        pad="!", seed=1402, position_ids=False),
}


def main():
    tokenizer, _ = truncated_tokenizer(TINY_MERGES)
    golden = {"tokenizer": "clip-vocab-tiny", "prompts": PROMPTS, "models": {}}
    for name, spec in MODELS.items():
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        config = dict(GENERIC, _name_or_path=f"tiny-{name}", **spec["config"])
        with_projection = config["architectures"] == ["CLIPTextModelWithProjection"]
        state = random_clip_text_state_dict(config, seed=spec["seed"],
                                            with_projection=with_projection)
        weights = dict(state)
        if spec["position_ids"]:
            weights["text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.float32)[None]
        save_file(weights, os.path.join(folder, "model.safetensors"))
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(dict(sorted(config.items())), f, indent=2)
            f.write("\n")

        ids = torch.tensor([encode_prompt(tokenizer, p, spec["pad"]) for p in PROMPTS])
        out = clip_text_reference(state, config, ids)
        tensors = {
            "ids": ids.to(torch.float32),
            "hidden_states.-1": out["hidden_states"][-1],
            "hidden_states.-2": out["hidden_states"][-2],
            "last_hidden_state": out["last_hidden_state"],
            "pooled": out["pooled"],
        }
        if out["text_embeds"] is not None:
            tensors["text_embeds"] = out["text_embeds"]
        save_file({k: v.contiguous() for k, v in tensors.items()},
                  os.path.join(folder, "golden.safetensors"))
        golden["models"][name] = {"pad": spec["pad"], "ids": ids.tolist()}
        print(name, {k: tuple(v.shape) for k, v in tensors.items()},
              "max |last_hidden_state|", float(out["last_hidden_state"].abs().max()))
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
