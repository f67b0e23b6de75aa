// The project's own reader and writer of the safetensors format: an 8-byte little-endian header
// length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
// "__metadata__": {string: string}}, then the tensor bytes (offsets relative to their start).
//
// Torch-free: tensors come back as float buffers with their shapes. F32, F16 and BF16 are read
// (the last two widened to float); the writer writes F32 or F16 (SafetensorsWriteOptions). A tensor
// of another dtype (I64, F64, BOOL, ...) is an error, unless the caller asks to skip such tensors
// (SafetensorsReadOptions): then they are left out and listed in `skipped` (e.g. the I64
// `position_ids` buffer that CLIP text encoders saved by older transformers carry).
//
// Errors, never a crash nor an exception:
//   kNotFound         the file does not exist
//   kDataLoss         the bytes are not a well-formed file: header length beyond the file, header
//                     not JSON or not the expected shape, offsets out of range or not matching
//                     the shape, data truncated
//   kInvalidArgument  a well-formed file this reader cannot use (a dtype other than F32/F16/BF16,
//                     unless skipped)
//   kUnavailable      the file exists but cannot be read
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple {

struct FloatTensor {
  std::vector<int64_t> shape;  // empty: a scalar
  std::vector<float> values;   // row-major, product(shape) values

  int64_t NumElements() const;
};

struct SafetensorsFile {
  std::map<std::string, FloatTensor> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
  // name -> dtype of the tensors left out (only with SafetensorsReadOptions::skip_other_dtypes).
  std::map<std::string, std::string> skipped;
};

struct SafetensorsReadOptions {
  // Leave out tensors whose dtype is not F32, F16 or BF16 (listed in `skipped`) instead of
  // failing.
  bool skip_other_dtypes = false;
  // Read the header only: every tensor comes back with its shape and no values (the data is
  // neither read nor checked). For describing a model without loading it.
  bool header_only = false;
};

// Parses a whole file's bytes. `name` is used in error messages. ReadSafetensorsFile maps the file
// rather than copying it, so the peak memory of a read is about the size of the floats it returns.
Result<SafetensorsFile> ParseSafetensors(std::string_view bytes, std::string_view name = "",
                                         const SafetensorsReadOptions& options = {});
Result<SafetensorsFile> ReadSafetensorsFile(const std::string& path,
                                            const SafetensorsReadOptions& options = {});

struct SafetensorsWriteOptions {
  // "F32" (the values as they are) or "F16" (IEEE half, rounded to nearest, ties to even;
  // beyond ±65504 becomes ±infinity): half the bytes, as the fp16 checkpoints that are
  // published.
  std::string dtype = "F32";
};

// The bytes of a file holding `file`'s tensors in `options.dtype` (names in sorted order,
// 8-byte-aligned data). kInvalidArgument if a tensor's values do not match its shape, or for a
// dtype other than F32 and F16.
Result<std::string> SerializeSafetensors(const SafetensorsFile& file,
                                         const SafetensorsWriteOptions& options = {});
// SerializeSafetensors written to `path` (created or truncated). kUnavailable with the system's
// reason when it cannot be created or written (a full disk: "No space left on device").
Status WriteSafetensorsFile(const std::string& path, const SafetensorsFile& file,
                            const SafetensorsWriteOptions& options = {});

}  // namespace stipple
