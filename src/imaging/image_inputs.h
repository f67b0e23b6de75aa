// StoreImageInputs: the ImageInputs of a gateway (service/image_inputs.h) over a ResultStore.
//
// How each input is read:
//  - a data: URL: its base64 text decoded (at most max_bytes of image, checked on the text's
//    length before decoding); the media type the URL declares is not trusted — the format is
//    sniffed from the bytes (imaging/image_decode.h);
//  - an https:// URL: fetched once with webhook::FetchImage (the SSRF guard, redirects
//    re-checked, max_bytes and fetch_timeout) — unless `fetch` is replaced (tests).
// Then probed (format, size from the header: over max_pixels is refused before decoding),
// decoded whole (a truncated or corrupt file is refused now, not on a worker), its size checked
// (see ImageInputs), and only when both inputs passed, stored (ResultStore::PutInput).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "imaging/image_decode.h"
#include "results/result_store.h"
#include "service/image_inputs.h"
#include "webhook/image_fetch.h"

namespace stipple {

struct ImageInputOptions {
  size_t max_bytes = size_t{20} << 20;        // one image's encoded bytes
  int64_t max_pixels = kMaxInputImagePixels;  // one image's width x height
  webhook::ImageFetchOptions fetch_options;   // max_bytes is set from max_bytes above
  // Replaces FetchImage (tests); unset: webhook::FetchImage(url, fetch_options).
  std::function<Result<std::string>(std::string_view url)> fetch;
};

class StoreImageInputs : public ImageInputs {
 public:
  // `results` outlives this object.
  StoreImageInputs(ResultStore& results, ImageInputOptions options);
  Status Resolve(GenerationRequest& request, const ModelLimits& model) override;

 private:
  struct Loaded;
  Result<Loaded> Load(const std::string& field, const ImageInput& input);

  ResultStore& results_;
  ImageInputOptions options_;
};

}  // namespace stipple
