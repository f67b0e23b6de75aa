#include "results/result_store.h"

#include <algorithm>

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

namespace {

constexpr std::string_view kInputPrefix = "inp_";

bool IsSha256Hex(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string InputKey(std::string_view sha256_hex) {
  return std::string(kInputPrefix) + std::string(sha256_hex);
}

std::string InputSha256FromKey(std::string_view key) {
  if (!key.starts_with(kInputPrefix) || !IsSha256Hex(key.substr(kInputPrefix.size()))) return {};
  return std::string(key.substr(kInputPrefix.size()));
}

Result<StoredOutput> ResultStore::PutInput(std::string_view bytes) {
  return Put(InputKey(Sha256Hex(bytes)), 0, 0, bytes);
}

Result<OutputBytes> ResultStore::GetInput(const std::string& sha256_hex) {
  if (!IsSha256Hex(sha256_hex)) {
    return InvalidArgumentError("not an input key (64 lowercase hex digits): " + sha256_hex);
  }
  return Get(InputKey(sha256_hex), 0, 0);
}

Status ResultStore::DeleteInput(const std::string& sha256_hex) {
  if (!IsSha256Hex(sha256_hex)) {
    return InvalidArgumentError("not an input key (64 lowercase hex digits): " + sha256_hex);
  }
  return Delete(InputKey(sha256_hex));
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
