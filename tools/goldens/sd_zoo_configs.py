"""The configuration files of the tiny model zoo (see sd_zoo.py).

Each config mirrors the key set of the real file it stands for (Stable Diffusion 1.5, 2.1-v and
SDXL base as published), with tiny dimensions. The SD 1.x files are written in the older, shorter
form (keys added by later diffusers versions absent, so their defaults apply); the SDXL files in
the long form later versions write. Readers must handle both.
"""

SD_SCALED_LINEAR = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}

TEXT_HIDDEN = 32
VOCAB_SIZE = 1024  # 512 byte tokens + 510 merges + 2 specials


def clip_text_config(*, hidden, heads, layers, act, projection_dim, with_projection, dtype,
                     name_or_path, transformers_version):
    """A CLIPTextConfig as transformers writes it (model_type clip_text_model)."""
    return {
        "_name_or_path": name_or_path,
        "architectures": ["CLIPTextModelWithProjection" if with_projection else "CLIPTextModel"],
        "attention_dropout": 0.0,
        # SD's published configs carry CLIP's legacy ids (0/2/1), not the tokenizer's ids.
        "bos_token_id": 0,
        "dropout": 0.0,
        "eos_token_id": 2,
        "hidden_act": act,
        "hidden_size": hidden,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": 4 * hidden,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77,
        "model_type": "clip_text_model",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": 1,
        "projection_dim": projection_dim,
        "torch_dtype": dtype,
        "transformers_version": transformers_version,
        "vocab_size": VOCAB_SIZE,
    }


def _vae(version, name_or_path=None, **extra):
    cfg = {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": version,
        "act_fn": "silu",
        # Four levels, as in every SD VAE: the latent is 1/8 of the image on each side.
        "block_out_channels": [8, 16, 16, 16],
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "in_channels": 3,
        "latent_channels": 4,
        "layers_per_block": 1,
        "norm_num_groups": 4,
        "out_channels": 3,
        "sample_size": 64,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
    }
    if name_or_path:
        cfg["_name_or_path"] = name_or_path
    cfg.update(extra)
    return dict(sorted(cfg.items()))


def sd1():
    unet = {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.6.0",
        "act_fn": "silu",
        "attention_head_dim": 8,
        "block_out_channels": [16, 32],
        "center_input_sample": False,
        "cross_attention_dim": TEXT_HIDDEN,
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": 4,
        "layers_per_block": 2,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": 8,
        "out_channels": 4,
        "sample_size": 8,
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    }
    scheduler = {
        "_class_name": "PNDMScheduler",
        "_diffusers_version": "0.6.0",
        **SD_SCALED_LINEAR,
        "num_train_timesteps": 1000,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "trained_betas": None,
        "clip_sample": False,
    }
    text = clip_text_config(hidden=TEXT_HIDDEN, heads=4, layers=2, act="quick_gelu",
                            projection_dim=TEXT_HIDDEN, with_projection=False, dtype="float32",
                            name_or_path="openai/clip-vit-large-patch14",
                            transformers_version="4.22.0.dev0")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.6.0",
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    # SD 1.x's VAE config has no scaling_factor: the default 0.18215 applies.
    return {"model_index": index, "unet": unet, "vae": _vae("0.6.0"), "scheduler": scheduler,
            "text_encoder": text}


def sd2v():
    unet = {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.10.0.dev0",
        "_name_or_path": "stabilityai/stable-diffusion-2-1",
        "act_fn": "silu",
        # A list: heads per down block (reversed for the up blocks, the last for the mid block).
        "attention_head_dim": [2, 4],
        "block_out_channels": [16, 32],
        "center_input_sample": False,
        "cross_attention_dim": TEXT_HIDDEN,
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "downsample_padding": 1,
        "dual_cross_attention": False,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": 4,
        "layers_per_block": 1,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": 16,
        "num_class_embeds": None,
        "only_cross_attention": False,
        "out_channels": 4,
        "sample_size": 8,
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        "upcast_attention": True,
        "use_linear_projection": True,
    }
    scheduler = {
        "_class_name": "DDIMScheduler",
        "_diffusers_version": "0.8.0",
        **SD_SCALED_LINEAR,
        "clip_sample": False,
        "num_train_timesteps": 1000,
        "prediction_type": "v_prediction",
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "trained_betas": None,
    }
    text = clip_text_config(hidden=TEXT_HIDDEN, heads=2, layers=2, act="gelu",
                            projection_dim=TEXT_HIDDEN, with_projection=False, dtype="float16",
                            name_or_path="stabilityai/stable-diffusion-2-1/text_encoder",
                            transformers_version="4.25.0.dev0")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.10.0.dev0",
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    vae = _vae("0.10.0.dev0", "stabilityai/stable-diffusion-2-1/vae", scaling_factor=0.18215)
    return {"model_index": index, "unet": unet, "vae": vae, "scheduler": scheduler,
            "text_encoder": text}


SDXL_TEXT2_HIDDEN = 48
SDXL_PROJECTION = 40
SDXL_TIME_DIM = 8


def sdxl():
    unet = {
        "_class_name": "UNet2DConditionModel",
        "_diffusers_version": "0.19.0.dev0",
        "act_fn": "silu",
        "addition_embed_type": "text_time",
        "addition_embed_type_num_heads": 64,
        "addition_time_embed_dim": SDXL_TIME_DIM,
        "attention_head_dim": [2, 4],
        "block_out_channels": [16, 32],
        "center_input_sample": False,
        "class_embed_type": None,
        "class_embeddings_concat": False,
        "conv_in_kernel": 3,
        "conv_out_kernel": 3,
        "cross_attention_dim": TEXT_HIDDEN + SDXL_TEXT2_HIDDEN,
        "cross_attention_norm": None,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "downsample_padding": 1,
        "dual_cross_attention": False,
        "encoder_hid_dim": None,
        "encoder_hid_dim_type": None,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": 4,
        "layers_per_block": 1,
        "mid_block_only_cross_attention": None,
        "mid_block_scale_factor": 1,
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "norm_eps": 1e-05,
        "norm_num_groups": 8,
        "num_attention_heads": None,
        "num_class_embeds": None,
        "only_cross_attention": False,
        "out_channels": 4,
        # pooled text embedding + 6 time ids of addition_time_embed_dim each
        "projection_class_embeddings_input_dim": SDXL_PROJECTION + 6 * SDXL_TIME_DIM,
        "resnet_out_scale_factor": 1.0,
        "resnet_skip_time_act": False,
        "resnet_time_scale_shift": "default",
        "sample_size": 8,
        "time_cond_proj_dim": None,
        "time_embedding_act_fn": None,
        "time_embedding_dim": None,
        "time_embedding_type": "positional",
        "timestep_post_act": None,
        "transformer_layers_per_block": [1, 2],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "upcast_attention": None,
        "use_linear_projection": True,
    }
    scheduler = {
        "_class_name": "EulerDiscreteScheduler",
        "_diffusers_version": "0.19.0.dev0",
        **SD_SCALED_LINEAR,
        "clip_sample": False,
        "interpolation_type": "linear",
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "sample_max_value": 1.0,
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "timestep_spacing": "leading",
        "trained_betas": None,
        "use_karras_sigmas": False,
    }
    text = clip_text_config(hidden=TEXT_HIDDEN, heads=4, layers=2, act="quick_gelu",
                            projection_dim=TEXT_HIDDEN, with_projection=False, dtype="bfloat16",
                            name_or_path="stabilityai/stable-diffusion-xl-base-1.0/text_encoder",
                            transformers_version="4.32.0.dev0")
    text2 = clip_text_config(hidden=SDXL_TEXT2_HIDDEN, heads=6, layers=2, act="gelu",
                             projection_dim=SDXL_PROJECTION, with_projection=True,
                             dtype="float16",
                             name_or_path="stabilityai/stable-diffusion-xl-base-1.0/text_encoder_2",
                             transformers_version="4.32.0.dev0")
    index = {
        "_class_name": "StableDiffusionXLPipeline",
        "_diffusers_version": "0.19.0.dev0",
        "force_zeros_for_empty_prompt": True,
        "add_watermarker": None,
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    vae = _vae("0.19.0.dev0", "../sdxl-vae/", scaling_factor=0.13025, force_upcast=True)
    return {"model_index": index, "unet": unet, "vae": vae, "scheduler": scheduler,
            "text_encoder": text, "text_encoder_2": text2}


def tokenizer_files(pad, legacy, ids):
    """tokenizer_config.json and special_tokens_map.json for a CLIPTokenizer.

    `legacy`: the older form (special tokens as AddedToken dicts, SD 1.x); otherwise the newer
    form with added_tokens_decoder (SD 2.x, SDXL). `ids`: {token: id} of the specials and pad.
    """
    def added(content, normalized):
        return {"__type": "AddedToken", "content": content, "lstrip": False,
                "normalized": normalized, "rstrip": False, "single_word": False}

    bos, eos = "<|startoftext|>", "<|endoftext|>"
    if legacy:
        config = {
            "add_prefix_space": False,
            "bos_token": added(bos, True),
            "do_lower_case": True,
            "eos_token": added(eos, True),
            "errors": "replace",
            "model_max_length": 77,
            "name_or_path": "openai/clip-vit-large-patch14",
            "pad_token": pad,
            "special_tokens_map_file": "./special_tokens_map.json",
            "tokenizer_class": "CLIPTokenizer",
            "unk_token": added(eos, True),
        }
        special = {"bos_token": {k: v for k, v in added(bos, True).items() if k != "__type"},
                   "eos_token": {k: v for k, v in added(eos, True).items() if k != "__type"},
                   "pad_token": pad,
                   "unk_token": {k: v for k, v in added(eos, True).items() if k != "__type"}}
        return config, special

    def decoder_entry(content):
        return {"content": content, "lstrip": False, "normalized": content == pad and pad != eos,
                "rstrip": False, "single_word": False, "special": True}

    tokens = sorted({pad, bos, eos}, key=lambda t: ids[t])
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(ids[t]): decoder_entry(t) for t in tokens},
        "bos_token": bos,
        "clean_up_tokenization_spaces": True,
        "do_lower_case": True,
        "eos_token": eos,
        "errors": "replace",
        "model_max_length": 77,
        "pad_token": pad,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": eos,
    }
    plain = {"lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    special = {"bos_token": {"content": bos, **plain}, "eos_token": {"content": eos, **plain},
               "pad_token": {"content": pad, **plain}, "unk_token": {"content": eos, **plain}}
    return config, special
