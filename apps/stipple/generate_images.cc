#include "generate_images.h"

#include <memory>
#include <string>

#include "common/base64.h"
#include "common/digest.h"
#include "common/file.h"
#include "imaging/image_decode.h"

namespace stipple::app {
namespace {

Status BadOption(const std::string& option, const std::string& message) {
  return InvalidArgumentError("option --" + option + ": " + message);
}

Result<std::string> ReadImage(const Config& config, const std::string& option) {
  Result<std::string> bytes = ReadTextFile(config.GetString(option));
  if (!bytes.ok()) return BadOption(option, bytes.status().message());
  return bytes;
}

struct LocalImage {
  std::shared_ptr<const RgbImage> pixels;
  ImageInput input;
};

Result<LocalImage> Decode(const Config& config, const std::string& option) {
  ASSIGN_OR_RETURN(std::string bytes, ReadImage(config, option));
  Result<ImageInfo> info = ProbeImage(bytes);
  if (!info.ok()) return BadOption(option, info.status().message());
  Result<RgbImage> image = DecodeImage(bytes);
  if (!image.ok()) return BadOption(option, image.status().message());
  LocalImage out;
  out.input.sha256 = Sha256Hex(bytes);
  out.input.media_type = std::string(ImageMediaType(info->format));
  out.input.width = image->width;
  out.input.height = image->height;
  out.pixels = std::make_shared<const RgbImage>(std::move(*image));
  return out;
}

std::string SizeText(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

}  // namespace

Status AddImageInputs(const Config& config, boost::json::object& body) {
  for (const char* option : {"image", "mask"}) {
    if (!config.Has(option)) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadImage(config, option));
    Result<ImageInfo> info = ProbeImage(bytes);
    // An unsupported file still goes as PNG: the server (or --local) names the problem.
    const std::string_view type = info.ok() ? ImageMediaType(info->format) : "image/png";
    body[std::string(option) == "image" ? "init_image" : "mask_image"] =
        "data:" + std::string(type) + ";base64," + Base64Encode(bytes);
  }
  if (config.Has("strength")) {
    ASSIGN_OR_RETURN(double strength, config.GetDouble("strength"));
    body["strength"] = strength;
  }
  return Status::Ok();
}

Status ResolveLocalImages(const Config& config, const ModelLimits& model, EngineJob& job) {
  GenerationRequest& request = job.request;
  if (!config.Has("image")) return Status::Ok();
  ASSIGN_OR_RETURN(LocalImage init, Decode(config, "image"));
  const int w = init.input.width, h = init.input.height;
  if (request.width == 0 && request.height == 0) {
    if (!model.AllowsSize(w, h)) {
      return BadOption("image", "is " + SizeText(w, h) + ", not an allowed size for model " +
                                    model.name + " (images are not resized)");
    }
    request.width = w;
    request.height = h;
  } else if (w != request.width || h != request.height) {
    return BadOption("image", "is " + SizeText(w, h) + ", not the requested " +
                                  SizeText(request.width, request.height) +
                                  " (images are not resized)");
  }
  request.init_image = init.input;
  job.init_image = init.pixels;
  if (config.Has("mask")) {
    ASSIGN_OR_RETURN(LocalImage mask, Decode(config, "mask"));
    if (mask.input.width != w || mask.input.height != h) {
      return BadOption("mask", "is " + SizeText(mask.input.width, mask.input.height) +
                                   ", not the image's " + SizeText(w, h));
    }
    request.mask_image = mask.input;
    job.mask_image = mask.pixels;
  }
  return Status::Ok();
}

}  // namespace stipple::app
