#include "results/result_store.h"

namespace stipple {

Result<std::vector<StoredOutput>> ResultStore::PutBatch(std::span<const OutputToStore> outputs) {
  for (const OutputToStore& out : outputs) {
    if (!IsValidOutputKey(out.task_id)) {
      return InvalidArgumentError("not a valid task id: " + out.task_id);
    }
    if (out.index < 0) return InvalidArgumentError("output index must not be negative");
  }
  std::vector<StoredOutput> stored;
  stored.reserve(outputs.size());
  for (const OutputToStore& out : outputs) {
    ASSIGN_OR_RETURN(StoredOutput record, Put(out.task_id, out.fencing, out.index, out.bytes));
    stored.push_back(std::move(record));
  }
  return stored;
}

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
