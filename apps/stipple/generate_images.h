// `stipple generate --image FILE [--mask FILE] [--strength S]`: the image inputs of a generate
// command, kept apart from the other options.
//  - Both ways: the files go into the request body as base64 data: URLs (their media type
//    sniffed from the bytes), --strength as `strength` — a server resolves them as any client's
//    (docs/http.md, "Image inputs").
//  - --local: the same body is parsed, then ResolveLocalImages decodes the same files into the
//    engine job's pixels with the server's rules (format sniffed, pixel bound, size from the
//    image when none was given and then the model's size rule, never resized, the mask of the
//    init image's size), errors naming --image or --mask.
#pragma once

#include <boost/json/object.hpp>

#include "common/config.h"
#include "common/status.h"
#include "engine/engine.h"

namespace stipple::app {

// The image options' OptionSpec entries are in generate.cc; this adds their fields to `body`.
Status AddImageInputs(const Config& config, boost::json::object& body);

// --local: sets job.init_image / job.mask_image and the request's resolved ImageInputs (and its
// width and height when they were 0).
Status ResolveLocalImages(const Config& config, const ModelLimits& model, EngineJob& job);

}  // namespace stipple::app
