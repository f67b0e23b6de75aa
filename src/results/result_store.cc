#include "results/result_store.h"

#include <openssl/evp.h>

namespace stipple {

Result<std::vector<StoredLease>> ResultStore::ListLeases() {
  return UnimplementedError("this result store does not list its outputs");
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * static_cast<size_t>(length));
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string EtagForSha256(std::string_view sha256_hex) {
  return "\"" + std::string(sha256_hex) + "\"";
}

bool IsValidOutputKey(std::string_view task_id) {
  if (task_id.empty() || task_id.size() > 128) return false;
  for (char c : task_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace stipple
