// OpenAI Images API requests as stipple GenerationRequest bodies (docs/http.md,
// "OpenAI-compatible endpoint"): POST /v1/images/generations' JSON and POST /v1/images/edits'
// multipart/form-data. Pure functions of the request: the handlers (openai_handler.cc) submit
// the result through the same admission as POST /v1/tasks. Errors are kInvalidArgument with one
// FieldError naming the OpenAI field (e.g. "size", "image", "mask").
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple::http {

struct OpenAiRequest {
  boost::json::object stipple;  // the GenerationRequest's JSON
  bool url = false;             // response_format "url": answer with output URLs
};

// The JSON body of POST /v1/images/generations.
Result<OpenAiRequest> TranslateGenerationRequest(std::string_view body);

// The multipart/form-data body of POST /v1/images/edits (`content_type` is the request's
// Content-Type, which carries the boundary). Fields: image (or image[], as the openai client
// libraries send it; exactly one image: PNG, JPEG or WebP), mask (a PNG: its fully transparent
// pixels mark what to repaint), prompt, n, size, response_format, model, user, and stipple's
// steps, seed, guidance_scale, negative_prompt, scheduler, clip_skip and strength. The image
// becomes init_image and the mask, converted to white = repaint, mask_image (both data: URLs);
// without a mask, a PNG's own fully transparent pixels are the area to edit, and an image with
// none is edited as a whole (img2img).
Result<OpenAiRequest> TranslateEditRequest(std::string_view content_type, std::string_view body);

}  // namespace stipple::http
