#include "webhook/signing.h"

#include <openssl/hmac.h>

#include <openssl/rand.h>
#include <cstdlib>

#include "common/base64.h"

namespace stipple::webhook {
namespace {

constexpr std::string_view kPrefix = "whsec_";

}  // namespace

Result<SigningSecret> ParseSecret(std::string_view text) {
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    return InvalidArgumentError("a webhook secret must start with 'whsec_'");
  }
  Result<std::string> key = Base64Decode(text.substr(kPrefix.size()));
  if (!key.ok()) return InvalidArgumentError("a webhook secret must be 'whsec_' + base64");
  if (key->size() < 16 || key->size() > 64) {
    return InvalidArgumentError("a webhook secret's key must be 16..64 bytes");
  }
  return SigningSecret{std::string(text), std::move(*key)};
}

SigningSecret GenerateSecret() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    std::abort();  // no randomness: never sign with a guessable key
  }
  return SigningSecret{std::string(kPrefix) + Base64Encode(key), key};
}

std::string Sign(const std::vector<SigningSecret>& secrets, std::string_view msg_id,
                 int64_t timestamp_s, std::string_view body) {
  std::string content;
  content.reserve(msg_id.size() + body.size() + 24);
  content.append(msg_id).append(".").append(std::to_string(timestamp_s)).append(".").append(body);
  std::string header;
  for (const SigningSecret& secret : secrets) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret.key.data(), static_cast<int>(secret.key.size()),
         reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac, &mac_len);
    if (!header.empty()) header += ' ';
    header += "v1,";
    header += Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
  }
  return header;
}

}  // namespace stipple::webhook
