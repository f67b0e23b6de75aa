#include "results/result_store.h"

namespace stipple {

Result<std::vector<StoredLease>> ResultStore::ListLeases() {
  return UnimplementedError("this result store does not list its outputs");
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
