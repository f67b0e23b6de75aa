// API keys: who may call /v1/*, as which tenant, and whether as an admin (API.md,
// "Authentication and tenants").
//
// The keys file has one key a line, `TENANT KEY [admin]`, where KEY is the key itself or
// `sha256:` + the lowercase or uppercase hex SHA-256 of it; `#` starts a comment. Keys are kept
// only as SHA-256 digests, and a presented key is compared against every digest in constant
// time, so neither the file's plain keys nor the timing of a failed lookup reveal a key.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/status.h"
#include "http/http_message.h"

namespace stipple::http {

class ApiKeys {
 public:
  ApiKeys() = default;  // no keys: the server runs open

  // Parses the file's text; errors name the line.
  static Result<ApiKeys> Parse(std::string_view text);
  static Result<ApiKeys> Load(const std::string& path);

  bool empty() const { return keys_.empty(); }
  size_t size() const { return keys_.size(); }

  // The principal for an `Authorization` header value ("Bearer KEY"), or kUnauthenticated.
  // With no keys: the open principal (tenant "default").
  Result<Principal> Authenticate(std::optional<std::string_view> authorization) const;

 private:
  struct Key {
    Sha256Digest digest;
    std::string tenant;
    bool admin = false;
    std::string key_id;  // "TENANT#LINE": identifies the key without revealing it
  };
  std::vector<Key> keys_;
};

}  // namespace stipple::http
