// The first step of every diffusers config parser (unet, vae, scheduler): `text` as one JSON
// object. kInvalidArgument naming `file_name` when it is not valid JSON or not an object.
#pragma once

#include <boost/json/object.hpp>
#include <string_view>

#include "common/status.h"

namespace stipple {

Result<boost::json::object> ParseConfigObject(std::string_view text, std::string_view file_name);

}  // namespace stipple
