#include "imaging/image_inputs.h"

#include <optional>
#include <utility>

#include "common/base64.h"

namespace stipple {

struct StoreImageInputs::Loaded {
  std::string bytes;
  ImageInfo info;
};

namespace {

Status BadImage(const std::string& field, std::string message) {
  return InvalidArgumentError("invalid request", {{field, std::move(message)}});
}

std::string SizeText(int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

}  // namespace

StoreImageInputs::StoreImageInputs(ResultStore& results, ImageInputOptions options)
    : results_(results), options_(std::move(options)) {
  options_.fetch_options.max_bytes = options_.max_bytes;
}

Result<StoreImageInputs::Loaded> StoreImageInputs::Load(const std::string& field,
                                                        const ImageInput& input) {
  Loaded loaded;
  const std::string& source = input.source;
  if (source.starts_with("data:")) {
    const size_t comma = source.find(',');
    if (comma == std::string::npos) return BadImage(field, "is not a base64 data: URL");
    const std::string_view text = std::string_view(source).substr(comma + 1);
    if (text.size() / 4 * 3 > options_.max_bytes + 3) {
      return BadImage(field, "is larger than " + std::to_string(options_.max_bytes) +
                                 " bytes (the decoded image)");
    }
    Result<std::string> bytes = Base64Decode(text);
    if (!bytes.ok()) return BadImage(field, "is not valid base64 after the data: URL's comma");
    loaded.bytes = std::move(*bytes);
  } else if (source.starts_with("https://")) {
    Result<std::string> bytes = options_.fetch
                                    ? options_.fetch(source)
                                    : webhook::FetchImage(source, options_.fetch_options);
    if (!bytes.ok()) {
      return BadImage(field, "the URL " + bytes.status().message());
    }
    loaded.bytes = std::move(*bytes);
  } else {
    return BadImage(field, "must be a base64 data: URL or an https:// URL");
  }
  if (loaded.bytes.size() > options_.max_bytes) {
    return BadImage(field, "is larger than " + std::to_string(options_.max_bytes) + " bytes");
  }
  Result<ImageInfo> info = ProbeImage(loaded.bytes);
  if (!info.ok()) return BadImage(field, info.status().message());
  loaded.info = *info;
  // DecodeImage refuses an image over the bound from its header, before allocating.
  Result<RgbImage> decoded = DecodeImage(loaded.bytes, options_.max_pixels);
  if (!decoded.ok()) return BadImage(field, decoded.status().message());
  return loaded;
}

Status StoreImageInputs::Resolve(GenerationRequest& request, const ModelLimits& model) {
  const bool init_pending = request.init_image && !request.init_image->resolved();
  const bool mask_pending = request.mask_image && !request.mask_image->resolved();
  if (!init_pending && !mask_pending) return Status::Ok();
  std::optional<Loaded> init, mask;
  if (init_pending) {
    ASSIGN_OR_RETURN(Loaded loaded, Load("init_image", *request.init_image));
    init = std::move(loaded);
  }
  if (mask_pending) {
    ASSIGN_OR_RETURN(Loaded loaded, Load("mask_image", *request.mask_image));
    mask = std::move(loaded);
  }
  const int init_w = init ? init->info.width : request.init_image->width;
  const int init_h = init ? init->info.height : request.init_image->height;
  int width = request.width, height = request.height;
  if (width == 0 && height == 0) {  // not given: the init image's size, under the model's rule
    if (!model.AllowsSize(init_w, init_h)) {
      return BadImage("init_image", "is " + SizeText(init_w, init_h) +
                                        ", not an allowed size for model " + model.name +
                                        " (images are not resized; give one of its sizes)");
    }
    width = init_w;
    height = init_h;
  } else if (init_w != width || init_h != height) {
    return BadImage("init_image", "is " + SizeText(init_w, init_h) + ", not the request's " +
                                      SizeText(width, height) + " (images are not resized)");
  }
  if (mask && (mask->info.width != width || mask->info.height != height)) {
    return BadImage("mask_image", "is " + SizeText(mask->info.width, mask->info.height) +
                                      ", not the init image's " + SizeText(width, height));
  }
  // Every check passed: store, then rewrite the request.
  auto store = [&](Loaded& loaded, ImageInput& input) -> Status {
    ASSIGN_OR_RETURN(StoredOutput stored, results_.PutInput(loaded.bytes));
    input = ImageInput();
    input.sha256 = stored.sha256_hex;
    input.media_type = std::string(ImageMediaType(loaded.info.format));
    input.width = loaded.info.width;
    input.height = loaded.info.height;
    return Status::Ok();
  };
  if (init) RETURN_IF_ERROR(store(*init, *request.init_image));
  if (mask) RETURN_IF_ERROR(store(*mask, *request.mask_image));
  request.width = width;
  request.height = height;
  return Status::Ok();
}

}  // namespace stipple
