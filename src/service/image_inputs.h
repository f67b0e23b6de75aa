// ImageInputs: the gateway's resolution of a request's image inputs at submit (init_image,
// mask_image), behind an interface of the service layer so that the HTTP layer reaches the
// fetcher (libcurl), the decoders and the result store only through it. The implementation is
// StoreImageInputs (imaging/image_inputs.h).
//
// Contract, for every implementation:
//  - Thread-safe; Resolve blocks (a download, a decode, a result-store write): call it off the
//    I/O threads, before TaskService::Submit.
//  - Resolve turns every unresolved ImageInput of the request (a data: URL or an https:// URL,
//    as the parser left it) into its resolved form — source empty, sha256 of the stored bytes,
//    media_type sniffed from the bytes, width and height decoded — and stores the bytes once by
//    content hash in the result store (ResultStore::PutInput). A request whose width and height
//    are 0 (not given, with an init image) gets the init image's size, then `model`'s size rule.
//  - Every check comes before anything is stored: on an error nothing was stored and the
//    request is unchanged. Errors: kInvalidArgument with one FieldError naming "init_image" or
//    "mask_image" (unreadable, unsupported, too large, a bomb, of the wrong size, a URL that
//    could not be fetched or is forbidden); kUnavailable when the result store is.
//  - A request without image inputs, or with resolved ones, is left as it is (OK).
#pragma once

#include "common/status.h"
#include "core/generation_request.h"

namespace stipple {

class ImageInputs {
 public:
  virtual ~ImageInputs() = default;
  virtual Status Resolve(GenerationRequest& request, const ModelLimits& model) = 0;
};

}  // namespace stipple
