#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

namespace stipple {
namespace {

namespace json = boost::json;

// Guards against a length field that would make us allocate absurd amounts before noticing.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

Status Corrupt(std::string_view name, const std::string& message) {
  return DataLossError("safetensors " + std::string(name) + ": " + message);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// IEEE half of `f`, rounded to nearest, ties to even (HalfToFloat's inverse on every finite half).
uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // infinity, or NaN (kept a quiet NaN)
    return static_cast<uint16_t>(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00);  // rounds past 65504
  auto round = [](uint32_t value, int shift) {  // value >> shift, to nearest, ties to even
    const uint32_t q = value >> shift;
    const uint32_t rem = value & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    return rem > half || (rem == half && (q & 1)) ? q + 1 : q;
  };
  if (abs < 0x38800000u) {                         // under 2^-14: a subnormal half, or zero
    if (abs < 0x33000000u) return sign;            // under 2^-25: rounds to zero
    const auto exp = static_cast<int>(abs >> 23);  // 102..112
    // The value in units of 2^-24 (a half subnormal's step); reaching 0x400 is the least normal.
    return static_cast<uint16_t>(sign | round((abs & 0x7fffffu) | 0x800000u, 126 - exp));
  }
  // Rebias the exponent (127 → 15) and round the mantissa to 10 bits; a carry moves into the
  // exponent, which is the right answer (up to infinity).
  return static_cast<uint16_t>(sign | round(abs - (112u << 23), 13));
}

float Bf16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint64_t ReadLe64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}

// Reads one little-endian element of `size` bytes as float.
float ReadElement(const char* p, int size) {
  if (size == 4) {
    uint32_t bits = 0;
    for (int i = 3; i >= 0; --i) bits = bits << 8 | static_cast<uint8_t>(p[i]);
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1]) << 8);
}

Result<FloatTensor> ParseEntry(std::string_view file, const std::string& key, const json::value& v,
                               std::string_view data, bool header_only) {
  const std::string where = "tensor '" + key + "'";
  const json::object* entry = v.if_object();
  if (entry == nullptr) return Corrupt(file, where + " is not an object");
  const json::value* dtype_v = entry->if_contains("dtype");
  const json::value* shape_v = entry->if_contains("shape");
  const json::value* offsets_v = entry->if_contains("data_offsets");
  if (dtype_v == nullptr || !dtype_v->is_string()) {
    return Corrupt(file, where + ": 'dtype' is missing or not a string");
  }
  if (shape_v == nullptr || !shape_v->is_array()) {
    return Corrupt(file, where + ": 'shape' is missing or not an array");
  }
  if (offsets_v == nullptr || !offsets_v->is_array() || offsets_v->as_array().size() != 2) {
    return Corrupt(file, where + ": 'data_offsets' must be [begin, end]");
  }
  const std::string dtype(dtype_v->as_string());
  int element_size = 0;
  if (dtype == "F32") element_size = 4;
  if (dtype == "F16" || dtype == "BF16") element_size = 2;
  if (element_size == 0) {
    return InvalidArgumentError("safetensors " + std::string(file) + ": " + where + " has dtype " +
                                dtype + "; supported: F32, F16, BF16");
  }
  FloatTensor tensor;
  uint64_t count = 1;
  for (const json::value& d : shape_v->as_array()) {
    if (!d.is_int64() && !d.is_uint64()) return Corrupt(file, where + ": bad shape");
    const int64_t dim = d.is_int64() ? d.as_int64() : static_cast<int64_t>(d.as_uint64());
    if (dim < 0 || (dim > 0 && count > (uint64_t{1} << 40) / static_cast<uint64_t>(dim))) {
      return Corrupt(file, where + ": bad shape");
    }
    count *= static_cast<uint64_t>(dim);
    tensor.shape.push_back(dim);
  }
  uint64_t offsets[2];
  for (int i = 0; i < 2; ++i) {
    const json::value& o = offsets_v->as_array()[i];
    if (o.is_uint64()) {
      offsets[i] = o.as_uint64();
    } else if (o.is_int64() && o.as_int64() >= 0) {
      offsets[i] = static_cast<uint64_t>(o.as_int64());
    } else {
      return Corrupt(file, where + ": bad data_offsets");
    }
  }
  if (offsets[0] > offsets[1]) return Corrupt(file, where + ": data_offsets begin > end");
  if (offsets[1] - offsets[0] != count * static_cast<uint64_t>(element_size)) {
    return Corrupt(file, where + ": data_offsets span " + std::to_string(offsets[1] - offsets[0]) +
                             " bytes but shape and dtype need " +
                             std::to_string(count * element_size));
  }
  if (header_only) return tensor;
  if (offsets[1] > data.size()) {
    return Corrupt(file, where + ": data truncated (needs bytes up to " +
                             std::to_string(offsets[1]) + ", the file has " +
                             std::to_string(data.size()) + ")");
  }
  tensor.values.resize(count);
  const char* p = data.data() + offsets[0];
  for (uint64_t i = 0; i < count; ++i, p += element_size) {
    const float raw = ReadElement(p, element_size);
    if (element_size == 4) {
      tensor.values[i] = raw;
    } else {
      const auto half = static_cast<uint16_t>(raw);
      tensor.values[i] = dtype == "F16" ? HalfToFloat(half) : Bf16ToFloat(half);
    }
  }
  return tensor;
}

}  // namespace

int64_t FloatTensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<SafetensorsFile> ParseSafetensors(std::string_view bytes, std::string_view name,
                                         const SafetensorsReadOptions& options) {
  if (bytes.size() < 8) return Corrupt(name, "shorter than its 8-byte header length");
  const uint64_t header_len = ReadLe64(bytes.data());
  if (header_len > kMaxHeaderBytes || header_len > bytes.size() - 8) {
    return Corrupt(name, "header length " + std::to_string(header_len) +
                             " does not fit in the file (" + std::to_string(bytes.size()) +
                             " bytes)");
  }
  std::error_code ec;
  json::value header = json::parse(bytes.substr(8, header_len), ec);
  if (ec) return Corrupt(name, "header is not JSON: " + ec.message());
  if (!header.is_object()) return Corrupt(name, "header is not a JSON object");
  const std::string_view data = bytes.substr(8 + header_len);
  SafetensorsFile out;
  for (const auto& [key, value] : header.as_object()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return Corrupt(name, "__metadata__ is not an object");
      for (const auto& [mk, mv] : value.as_object()) {
        if (!mv.is_string()) return Corrupt(name, "__metadata__ values must be strings");
        out.metadata[std::string(mk)] = std::string(mv.as_string());
      }
      continue;
    }
    if (options.skip_other_dtypes && value.is_object()) {
      const json::value* dtype = value.as_object().if_contains("dtype");
      if (dtype != nullptr && dtype->is_string() && dtype->as_string() != "F32" &&
          dtype->as_string() != "F16" && dtype->as_string() != "BF16") {
        out.skipped[std::string(key)] = std::string(dtype->as_string());
        continue;
      }
    }
    ASSIGN_OR_RETURN(FloatTensor tensor,
                     ParseEntry(name, std::string(key), value, data, options.header_only));
    out.tensors[std::string(key)] = std::move(tensor);
  }
  return out;
}

Result<SafetensorsFile> ReadSafetensorsFile(const std::string& path,
                                            const SafetensorsReadOptions& options) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("safetensors " + path + ": no such file");
    return UnavailableError("safetensors " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return UnavailableError("safetensors " + path + ": " + std::strerror(error));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return ParseSafetensors({}, path, options);
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int error = errno;
  ::close(fd);
  if (mapped == MAP_FAILED) {
    return UnavailableError("safetensors " + path + ": cannot map: " + std::strerror(error));
  }
  ::madvise(mapped, size, MADV_SEQUENTIAL);
  Result<SafetensorsFile> parsed =
      ParseSafetensors(std::string_view(static_cast<const char*>(mapped), size), path, options);
  ::munmap(mapped, size);
  return parsed;
}

Result<std::string> SerializeSafetensors(const SafetensorsFile& file,
                                         const SafetensorsWriteOptions& options) {
  if (options.dtype != "F32" && options.dtype != "F16") {
    return InvalidArgumentError("safetensors: cannot write dtype " + options.dtype +
                                "; supported: F32, F16");
  }
  const bool half = options.dtype == "F16";
  const uint64_t element_size = half ? 2 : 4;
  json::object header;
  if (!file.metadata.empty()) {
    json::object meta;
    for (const auto& [k, v] : file.metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {
    if (tensor.NumElements() != static_cast<int64_t>(tensor.values.size())) {
      return InvalidArgumentError("safetensors: tensor '" + name + "' has " +
                                  std::to_string(tensor.values.size()) + " values for its shape");
    }
    json::array shape;
    for (int64_t d : tensor.shape) shape.push_back(d);
    const uint64_t end = offset + tensor.values.size() * element_size;
    header[name] = {
        {"dtype", options.dtype}, {"shape", std::move(shape)}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = json::serialize(header);
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  out += text;
  out.reserve(out.size() + offset);
  for (const auto& [name, tensor] : file.tensors) {
    for (float f : tensor.values) {
      uint32_t bits;
      if (half) {
        bits = FloatToHalf(f);
      } else {
        std::memcpy(&bits, &f, 4);
      }
      for (uint64_t i = 0; i < element_size; ++i) {
        out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
      }
    }
  }
  return out;
}

Status WriteSafetensorsFile(const std::string& path, const SafetensorsFile& file,
                            const SafetensorsWriteOptions& options) {
  ASSIGN_OR_RETURN(std::string bytes, SerializeSafetensors(file, options));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return UnavailableError("safetensors " + path + ": cannot create: " + std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    return UnavailableError("safetensors " + path + ": write failed: " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace stipple
