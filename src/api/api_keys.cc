#include "api/api_keys.h"

#include <strings.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/hex.h"

namespace stipple::http {
namespace {

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> words;
  std::istringstream in{std::string(line)};
  std::string word;
  while (in >> word) words.push_back(word);
  return words;
}

}  // namespace

Result<ApiKeys> ApiKeys::Parse(std::string_view text) {
  ApiKeys keys;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string> words = Words(line);
    if (words.empty()) continue;
    std::string where = "api keys line " + std::to_string(line_no);
    if (words.size() > 3 || words.size() < 2 || (words.size() == 3 && words[2] != "admin")) {
      return InvalidArgumentError(where + ": expected TENANT KEY [admin]");
    }
    Key key;
    key.tenant = words[0];
    key.admin = words.size() == 3;
    key.key_id = key.tenant + "#" + std::to_string(line_no);
    std::string_view secret = words[1];
    if (secret.starts_with("sha256:")) {
      secret.remove_prefix(7);
      if (secret.size() != 64) return InvalidArgumentError(where + ": sha256: needs 64 hex digits");
      Result<std::string> digest = HexDecode(secret);
      if (!digest.ok()) return InvalidArgumentError(where + ": sha256: needs hex digits");
      std::copy(digest->begin(), digest->end(), key.digest.begin());
    } else {
      key.digest = Sha256(secret);
    }
    keys.keys_.push_back(std::move(key));
  }
  return keys;
}

Result<ApiKeys> ApiKeys::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read the API keys file " + path);
  std::stringstream text;
  text << in.rdbuf();
  Result<ApiKeys> keys = Parse(text.str());
  if (!keys.ok()) return keys.status().WithContext(path);
  return keys;
}

Result<Principal> ApiKeys::Authenticate(std::optional<std::string_view> authorization) const {
  if (keys_.empty()) return Principal{};
  Status missing(StatusCode::kUnauthenticated, "an API key is required: Authorization: Bearer KEY");
  if (!authorization) return missing;
  std::string_view value = *authorization;
  constexpr std::string_view kScheme = "Bearer ";
  if (value.size() <= kScheme.size() ||
      strncasecmp(value.data(), kScheme.data(), kScheme.size()) != 0) {
    return missing;
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  const Sha256Digest digest = Sha256(value);
  // Compare with every key, without stopping at a match: the time does not depend on which key
  // (or whether any) matched.
  const Key* found = nullptr;
  for (const Key& key : keys_) {
    bool equal = ConstantTimeEqual(key.digest, digest);
    if (equal && found == nullptr) found = &key;
  }
  if (found == nullptr) return Status(StatusCode::kUnauthenticated, "unknown API key");
  return Principal{found->tenant, found->admin, found->key_id};
}

}  // namespace stipple::http
