// ClipTextConfig: a CLIP text encoder's config.json (Hugging Face's CLIPTextConfig, as diffusers
// folders carry in text_encoder/ and text_encoder_2/).
//
// Read: the fields that change the computation — architectures (CLIPTextModel, or
// CLIPTextModelWithProjection for a projected pooled output), model_type (clip_text_model when
// present), hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
// max_position_embeddings, vocab_size, hidden_act (quick_gelu | gelu), layer_norm_eps and
// projection_dim. A field that is absent takes CLIPTextConfig's default. Every other key
// (dropouts, initializer factors, token ids, torch_dtype, versions...) does not change the output
// and is ignored. Errors: kInvalidArgument naming the file and the field (a FieldError per bad
// field) for a value the engine does not compute (another activation or architecture, a hidden
// size the heads do not divide, a non-positive size).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple {

struct ClipTextConfig {
  bool with_projection = false;  // CLIPTextModelWithProjection
  int hidden_size = 512;
  int intermediate_size = 2048;
  int num_hidden_layers = 12;
  int num_attention_heads = 8;
  int max_position_embeddings = 77;
  int vocab_size = 49408;
  std::string hidden_act = "quick_gelu";  // "quick_gelu" | "gelu" (exact, erf)
  double layer_norm_eps = 1e-5;
  int projection_dim = 512;  // used with_projection only

  int head_dim() const { return hidden_size / num_attention_heads; }
};

// `text` is the file's JSON; `file_name` names it in messages ("text_encoder/config.json").
Result<ClipTextConfig> ParseClipTextConfig(std::string_view text, std::string_view file_name);

}  // namespace stipple
